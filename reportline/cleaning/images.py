"""Pictures: decoded with Pillow within a pixel budget, re-encoded without metadata.

JPEG, HEIC/HEIF and AVIF become JPEG; PNG, WebP and GIF become PNG (lossless, so no
second lossy pass over evidence). Only pixels are carried over: EXIF (with GPS
and maker notes), XMP, IPTC, comments, text chunks, thumbnails and the colour
profile are never written (a profile is applied to the pixels first).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import pillow_heif
from PIL import ExifTags, Image, ImageCms, ImageOps

from reportline.cleaning.errors import FileRefused, RefusalReason
from reportline.cleaning.model import CleanedFile

pillow_heif.register_heif_opener()

ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF", "HEIF", "AVIF"})
# Formats browsers and viewers do not all show: re-encoded as JPEG.
_TO_JPEG = frozenset({"JPEG", "HEIF", "AVIF"})
PREVIEW_SIDE = 1600
JPEG_QUALITY = 95
# EXIF tags that name the device: make, model, maker note, serial numbers, lens.
_CAMERA_TAGS = frozenset({0x010F, 0x0110, 0xA431, 0xA434, 0xA435, 0x927C})


@dataclass(frozen=True)
class Reencoded:
    """A cleaned picture: its bytes and format."""

    data: bytes
    media_type: str
    extension: str


def clean_image(data: bytes, max_pixels: int) -> CleanedFile:
    """Re-encode an uploaded picture with orientation applied and no metadata, plus a preview.

    Raises FileRefused (TYPE_NOT_ALLOWED, TOO_MANY_PIXELS, DECOMPRESSION_BOMB, UNREADABLE).
    """
    with _open(data, max_pixels) as image:
        removed = _metadata_found(image)
        if getattr(image, "n_frames", 1) > 1:
            removed.add("later-frames")
        ImageOps.exif_transpose(image, in_place=True)
        pixels = _pixels(image)
        as_jpeg = image.format in _TO_JPEG
        result = _save(pixels, as_jpeg, keep_quality=image.format == "JPEG" and pixels is image)
        pixels.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
        preview = _save(pixels, as_jpeg)
    return CleanedFile(
        data=result.data,
        media_type=result.media_type,
        kind="image",
        extension=result.extension,
        removed=tuple(sorted(removed)),
        preview=preview.data,
        preview_type=preview.media_type,
    )


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """The decoded first frame, refused by its header's size before any decoding.

    Raises FileRefused (TYPE_NOT_ALLOWED, TOO_MANY_PIXELS, DECOMPRESSION_BOMB, UNREADABLE).
    """
    try:
        # Pillow warns on a huge picture as it opens it (and errors on a larger one): the
        # warning is a refusal here, not a log line. catch_warnings is process-wide, but
        # any thread that sees this filter meanwhile only gets a stricter refusal.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
        if image.format not in ALLOWED_FORMATS:
            raise FileRefused(RefusalReason.TYPE_NOT_ALLOWED)
        width, height = image.size
        if width * height > max_pixels:
            raise FileRefused(RefusalReason.TOO_MANY_PIXELS)
        image.seek(0)
        image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise FileRefused(RefusalReason.DECOMPRESSION_BOMB) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise FileRefused(RefusalReason.UNREADABLE) from exc
    return image


def _metadata_found(image: Image.Image) -> set[str]:
    """The codes of the metadata the picture carries (all of it is dropped anyway)."""
    found: set[str] = set()
    exif = image.getexif()
    if exif:
        found.add("exif")
        sub = exif.get_ifd(ExifTags.IFD.Exif)
        if exif.get_ifd(ExifTags.IFD.GPSInfo):
            found.add("location")
        if _CAMERA_TAGS & (set(exif) | set(sub)):
            found.add("camera")
        if exif.get_ifd(ExifTags.IFD.IFD1):
            found.add("thumbnail")
    info = image.info
    if info.get("icc_profile"):
        found.add("colour-profile")
    if "xmp" in info or "XML:com.adobe.xmp" in info:
        found.add("xmp")
    if "comment" in info:
        found.add("comment")
    if getattr(image, "text", None):
        found.add("text-fields")
    if "mpinfo" in info or getattr(image, "mpinfo", None):
        found.add("thumbnail")  # MPF: a second, preview picture in the JPEG
    return found


def _to_srgb(image: Image.Image) -> Image.Image:
    """Apply an embedded colour profile to the pixels so the profile can be dropped
    (in place when the mode allows; an sRGB profile changes nothing and is skipped)."""
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in {"RGB", "RGBA", "L", "CMYK"}:
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if ImageCms.getProfileDescription(source).strip().startswith("sRGB"):
            return image
        out_mode = "RGBA" if image.mode == "RGBA" else "RGB"
        converted = ImageCms.profileToProfile(
            image,
            source,
            ImageCms.createProfile("sRGB"),
            outputMode=out_mode,
            inPlace=out_mode == image.mode,
        )
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image  # a broken profile: the pixels are kept as they are, the profile dropped
    return image if converted is None else converted


def _pixels(image: Image.Image) -> Image.Image:
    """The picture in sRGB in a mode PNG or JPEG can hold (may be the same object)."""
    pixels = _to_srgb(image)
    if pixels.mode == "P" and "transparency" in pixels.info:
        return pixels.convert("RGBA")
    if pixels.mode not in {"1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"}:
        return pixels.convert("RGBA" if "A" in pixels.mode else "RGB")
    return pixels


def _save(image: Image.Image, as_jpeg: bool, keep_quality: bool = False) -> Reencoded:
    """Save pixels with no metadata at all: info is not consulted, only explicit options."""
    out = io.BytesIO()
    image.info = {}  # some encoders read comments, profiles or EXIF from info
    if as_jpeg:
        if image.mode not in {"RGB", "L"}:
            image = image.convert("RGB")
        options: dict[str, object] = {"quality": JPEG_QUALITY, "optimize": False}
        if keep_quality:
            options = {"quality": "keep", "subsampling": "keep"}
        try:
            image.save(out, "JPEG", exif=b"", icc_profile=None, **options)
        except (ValueError, OSError):
            out = io.BytesIO()
            image.save(out, "JPEG", exif=b"", icc_profile=None, quality=JPEG_QUALITY)
        return Reencoded(out.getvalue(), "image/jpeg", ".jpg")
    image.save(out, "PNG", icc_profile=None)
    return Reencoded(out.getvalue(), "image/png", ".png")
