"""Pictures: decoded with Pillow within a pixel budget, re-encoded without metadata.

JPEG, HEIC/HEIF and AVIF become JPEG; PNG, WebP and GIF become PNG (lossless, so no
second lossy pass over evidence). Only pixels are carried over: EXIF (with GPS
and maker notes), XMP, IPTC, comments, text chunks, thumbnails and the colour
profile are never written (a profile is applied to the pixels first). A JPEG keeps
its pixels as stored plus an EXIF block with only the Orientation tag, so viewers
show it upright without a second full-size copy being made here (issue 14: peak
growth under 64 MiB plus the file's size); PNGs are turned upright.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import IO, cast

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
# EXIF Orientation values other than 1 (upright), the only tag a cleaned JPEG keeps.
_ORIENTATIONS = frozenset(range(2, 9))


@dataclass(frozen=True)
class Reencoded:
    """A cleaned picture: its bytes and format."""

    data: bytes
    media_type: str
    extension: str


def clean_image(data: bytes, max_pixels: int) -> CleanedFile:
    """Re-encode an uploaded picture without metadata (a JPEG keeps only its Orientation
    tag), plus an upright preview.

    Raises FileRefused (TYPE_NOT_ALLOWED, TOO_MANY_PIXELS, DECOMPRESSION_BOMB, UNREADABLE).
    """
    with _open(data, max_pixels) as image:
        removed = _metadata_found(image)
        if getattr(image, "n_frames", 1) > 1:
            removed.add("later-frames")
        if image.format in _TO_JPEG:
            result = _reencode_as_jpeg(image)
            image.close()  # the full-size pixels go before the preview is decoded
            preview = _jpeg_preview(result.data)
        else:
            result, preview = _reencode_as_png(image)
    return CleanedFile(
        data=result.data,
        media_type=result.media_type,
        kind="image",
        extension=result.extension,
        removed=tuple(sorted(removed)),
        preview=preview.data,
        preview_type=preview.media_type,
    )


def _reencode_as_jpeg(image: Image.Image) -> Reencoded:
    """The pixels as they are stored, saved as JPEG with an EXIF block holding only the
    Orientation tag: turning them upright here would hold a second full-size copy."""
    orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    pixels = _pixels(image)
    if pixels is not image:
        image.close()  # a converted copy: the decoded original is not needed any more
    return _save(
        pixels,
        as_jpeg=True,
        keep_quality=pixels.format == "JPEG",
        orientation=orientation if orientation in _ORIENTATIONS else 1,
    )


def _jpeg_preview(cleaned: bytes) -> Reencoded:
    """A preview decoded from the cleaned JPEG at a reduced scale (libjpeg's draft mode,
    so never at full size), turned upright, saved without any metadata."""
    with Image.open(io.BytesIO(cleaned)) as picture:
        # draft picks the largest reduction that still covers the size asked for
        picture.draft("RGB", _preview_size(picture.size))
        upright = ImageOps.exif_transpose(picture)
        upright.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
        return _save(upright, as_jpeg=True)


def _reencode_as_png(image: Image.Image) -> tuple[Reencoded, Reencoded]:
    """The picture (turned upright) and its preview as PNG; the preview is made first so
    it never coexists with the full-size encoded file."""
    ImageOps.exif_transpose(image, in_place=True)
    pixels = _pixels(image)
    if pixels is not image:
        image.close()
    preview = _save(pixels.resize(_preview_size(pixels.size)), as_jpeg=False)
    return _save(pixels, as_jpeg=False), preview


def _preview_size(size: tuple[int, int]) -> tuple[int, int]:
    """The size that fits within PREVIEW_SIDE, keeping the aspect ratio (never enlarged)."""
    width, height = size
    scale = min(1.0, PREVIEW_SIDE / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


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


def _save(
    image: Image.Image, as_jpeg: bool, keep_quality: bool = False, orientation: int = 1
) -> Reencoded:
    """Save pixels with no metadata (a JPEG gets an Orientation-only EXIF block when the
    orientation is not 1): info is not consulted, only explicit options. The image is
    closed once encoded, so its pixels are freed before the encoded bytes are joined."""
    out = _Chunks()
    image.info = {}  # some encoders read comments, profiles or EXIF from info
    if as_jpeg:
        source = image
        if image.mode not in {"RGB", "L"}:
            image = image.convert("RGB")
            source.close()
        exif = _orientation_exif(orientation)
        options: dict[str, object] = {"quality": JPEG_QUALITY, "optimize": False}
        if keep_quality:
            options = {"quality": "keep", "subsampling": "keep"}
        try:
            image.save(out.as_file(), "JPEG", exif=exif, icc_profile=None, **options)
        except (ValueError, OSError):
            out = _Chunks()
            image.save(out.as_file(), "JPEG", exif=exif, icc_profile=None, quality=JPEG_QUALITY)
        image.close()
        return Reencoded(out.joined(), "image/jpeg", ".jpg")
    image.save(out.as_file(), "PNG", icc_profile=None)
    image.close()
    return Reencoded(out.joined(), "image/png", ".png")


class _Chunks(io.RawIOBase):
    """A write-only sink that keeps the encoder's chunks: a growing BytesIO is resized
    as it fills, and each resize can hold the old and new buffers at once."""

    def __init__(self) -> None:
        super().__init__()
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        """Always: this is a sink."""
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        """Keep a copy of the chunk; returns its length."""
        chunk = bytes(data)
        self._chunks.append(chunk)
        return len(chunk)

    def as_file(self) -> IO[bytes]:
        """This sink typed as the file Pillow's save expects (it only writes and flushes)."""
        return cast("IO[bytes]", self)

    def joined(self) -> bytes:
        """All chunks as one bytes object; the chunks are dropped."""
        chunks, self._chunks = self._chunks, []
        return b"".join(chunks)


def _orientation_exif(orientation: int) -> bytes:
    """An EXIF block holding only the Orientation tag (it identifies no one), or nothing."""
    if orientation == 1:
        return b""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    return exif.tobytes()
