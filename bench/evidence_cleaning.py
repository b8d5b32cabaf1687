"""Cleaning evidence files, per type: time and peak memory of one `clean_file` each.

    python -m bench.evidence_cleaning --samples DIR           # make the samples (kept)
    python -m bench.evidence_cleaning --measure FILE          # one cleaning, JSON on stdout

`bench.evidence` runs each measurement in a fresh child process, so each peak is that
file's own. The samples are built in code, as a reporter's would look:

- jpeg: a 12 MP photo (gradient + noise, softened, so it compresses like a photo),
  EXIF with camera, GPS and maker note, quality 90
- png: a 4 MP screenshot (2560 x 1600: flat panels and lines of text)
- pdf: about 20 MB, one photo-like JPEG and a page of text per page (pikepdf)
- docx: about 5 MB, a short document with eight embedded photos (EXIF in each)
- mp4: about 40 MB, 60 s of ffmpeg's testsrc (H.264 at 5 Mbit/s) and a tone, tagged

Memory, from /proc: the process's peak RSS (VmHWM, which counts shared memory it
has mapped) above its RSS just before the cleaning, and, sampled every 2 ms, the
memory files (memfds) it holds: ffmpeg's input and output live there, in shared
memory that no process's RSS shows unless it maps them. ffmpeg's and ffprobe's own
peak is the largest child's ru_maxrss.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

SAMPLES = {
    "jpeg": "photo-12mp.jpg",
    "png": "screenshot-4mp.png",
    "pdf": "document-20mb.pdf",
    "docx": "document-5mb.docx",
    "mp4": "video-40mb.mp4",
}


# ---------------------------------------------------------------- samples


def _photo(width: int, height: int, seed: int) -> Any:
    """A picture that compresses like a photo: a gradient, noise, softened."""
    from PIL import Image, ImageChops, ImageFilter

    random.seed(seed)
    noise = Image.effect_noise((width, height), 60)
    ramp = Image.linear_gradient("L").resize((width, height))
    other = ramp.transpose(Image.Transpose.ROTATE_90).resize((width, height))
    channels = (
        ImageChops.blend(noise, ramp, 0.55),
        ImageChops.blend(noise.transpose(Image.Transpose.FLIP_LEFT_RIGHT), other, 0.6),
        ImageChops.blend(noise.transpose(Image.Transpose.FLIP_TOP_BOTTOM), ramp, 0.7),
    )
    return Image.merge("RGB", channels).filter(ImageFilter.GaussianBlur(0.8))


def _exif() -> Any:
    from PIL import ExifTags, Image

    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "BenchPhone"
    exif[ExifTags.Base.Model] = "Model 12"
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (51.0, 30.0, 26.0),
        ExifTags.GPS.GPSLongitudeRef: "W",
        ExifTags.GPS.GPSLongitude: (0.0, 7.0, 39.0),
    }
    exif[ExifTags.IFD.Exif] = {
        ExifTags.Base.MakerNote: b"maker note " * 100,
        ExifTags.Base.BodySerialNumber: "SN-0042",
        ExifTags.Base.DateTimeOriginal: "2026:01:02 03:04:05",
    }
    return exif


def _jpeg(width: int, height: int, seed: int, quality: int = 90) -> bytes:
    out = io.BytesIO()
    _photo(width, height, seed).save(out, "JPEG", quality=quality, exif=_exif())
    return out.getvalue()


def make_png() -> bytes:
    """A 2560 x 1600 screenshot: panels, a sidebar and many lines of text."""
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (2560, 1600), (246, 247, 249))
    draw = ImageDraw.Draw(picture)
    draw.rectangle((0, 0, 2560, 64), fill=(32, 56, 100))
    draw.rectangle((0, 64, 420, 1600), fill=(230, 233, 238))
    rng = random.Random(4)
    words = (
        "the",
        "sergeant",
        "said",
        "he",
        "would",
        "sort",
        "it",
        "then",
        "posted",
        "a",
        "message",
        "in",
        "the",
        "group",
        "chat",
    )
    for row in range(70):
        y = 90 + row * 21
        draw.text((20, y), " ".join(rng.choice(words) for _ in range(4)), fill=(40, 40, 40))
        draw.text((460, y), " ".join(rng.choice(words) for _ in range(22)), fill=(20, 20, 20))
        if row % 9 == 0:
            draw.rectangle((2100, y, 2500, y + 18), fill=(rng.randrange(256), 120, 200))
    out = io.BytesIO()
    picture.save(out, "PNG", exif=_exif())
    return out.getvalue()


def make_pdf(target: int = 20_000_000) -> bytes:
    """Pages of a photo and text each, until the file passes `target` bytes."""
    import pikepdf

    pdf = pikepdf.new()
    pdf.docinfo[pikepdf.Name.Author] = "Bench Author"
    font = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica
        )
    )
    size, page = 0, 0
    while size < target:
        jpeg = _jpeg(1400, 1050, seed=page, quality=85)
        size += len(jpeg) + 3000
        pdf.add_blank_page(page_size=(595, 842))
        image = pikepdf.Stream(pdf, jpeg)
        image.Type, image.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
        image.Width, image.Height, image.BitsPerComponent = 1400, 1050, 8
        image.ColorSpace, image.Filter = pikepdf.Name.DeviceRGB, pikepdf.Name.DCTDecode
        lines = "".join(
            f"(Line {n} of page {page}: what was seen and when.) Tj T* " for n in range(40)
        )
        text = f"BT /F1 10 Tf 12 TL 50 400 Td {lines}ET q 495 371 0 0 50 440 cm /Im0 Do Q"
        current = pdf.pages[page]
        current.Resources = pikepdf.Dictionary(
            XObject=pikepdf.Dictionary(Im0=image), Font=pikepdf.Dictionary(F1=font)
        )
        current.Contents = pdf.make_stream(text.encode())
        page += 1
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


_DOCX_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Default Extension="jpeg" ContentType="image/jpeg"/>
<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-\
officedocument.wordprocessingml.document.main+xml"/>
<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-\
package.core-properties+xml"/>
</Types>"""
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def make_docx(pictures: int = 8) -> bytes:
    """A Word document of a few paragraphs with `pictures` embedded photos."""
    import zipfile

    rels = "".join(
        f'<Relationship Id="rId{n}" Type="{_REL}/image" Target="media/image{n}.jpeg"/>'
        for n in range(1, pictures + 1)
    )
    paragraphs = "".join(
        f"<w:p><w:r><w:t>Paragraph {n}: what happened on the night shift.</w:t></w:r></w:p>"
        for n in range(200)
    )
    parts = {
        "[Content_Types].xml": _DOCX_TYPES,
        "_rels/.rels": f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{_PKG}">'
        f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="word/document.xml"/>'
        f'<Relationship Id="rId2" Type="{_PKG}/metadata/core-properties" '
        'Target="docProps/core.xml"/></Relationships>',
        "word/document.xml": f'<?xml version="1.0" encoding="UTF-8"?><w:document '
        f'xmlns:w="{_W}"><w:body>{paragraphs}</w:body></w:document>',
        "word/_rels/document.xml.rels": f'<?xml version="1.0" encoding="UTF-8"?>'
        f'<Relationships xmlns="{_PKG}">{rels}</Relationships>',
        "docProps/core.xml": '<?xml version="1.0" encoding="UTF-8"?><cp:coreProperties '
        'xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>Bench Author</dc:creator>'
        "</cp:coreProperties>",
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
        for n in range(1, pictures + 1):
            archive.writestr(f"word/media/image{n}.jpeg", _jpeg(1800, 1350, seed=100 + n))
    return out.getvalue()


def make_mp4(path: Path, seconds: int = 60) -> None:
    """60 s of 720p test pattern (H.264, 5 Mbit/s constant) and a tone, with tags."""
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=duration={seconds}:size=1280x720:rate=30",
            "-f",
            "lavfi",
            "-i",
            f"sine=duration={seconds}",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-b:v",
            "5M",
            "-minrate",
            "5M",
            "-maxrate",
            "5M",
            "-bufsize",
            "5M",
            "-x264-params",
            "nal-hrd=cbr",
            "-c:a",
            "aac",
            "-metadata",
            "title=Bench clip",
            "-metadata",
            "location=+51.5012-000.1419/",
            str(path),
        ],
        check=True,
    )


def make_samples(folder: Path) -> dict[str, Path]:
    """Build the samples into `folder` (kept: a later run reuses them); return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    makers = {
        "jpeg": lambda: _jpeg(4000, 3000, seed=1),
        "png": make_png,
        "pdf": make_pdf,
        "docx": make_docx,
    }
    paths = {}
    for kind, name in SAMPLES.items():
        path = folder / name
        if not path.exists():
            print(f"making the {kind} sample", flush=True)
            if kind == "mp4":
                make_mp4(path)
            else:
                path.write_bytes(makers[kind]())
        paths[kind] = path
    return paths


# ---------------------------------------------------------------- one measurement


def status_kib(field: str, pid: str = "self") -> int:
    """A field of /proc/<pid>/status in KiB (VmRSS, VmHWM, RssShmem, ...)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def reset_peak(pid: str = "self") -> None:
    """Reset the process's VmHWM to its current RSS (clear_refs 5)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


class MemfdSampler(threading.Thread):
    """Every 2 ms: the bytes held in this process's memfds and its RssShmem; keeps peaks."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.memfd_peak = 0
        self.shmem_peak_kib = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            held: dict[tuple[int, int], int] = {}  # by inode: a dup'd fd is one file
            for name in os.listdir("/proc/self/fd"):
                try:
                    if os.readlink(f"/proc/self/fd/{name}").startswith("/memfd:"):
                        stat = os.fstat(int(name))
                        held[stat.st_dev, stat.st_ino] = stat.st_blocks * 512
                except OSError:  # closed meanwhile
                    continue
            self.memfd_peak = max(self.memfd_peak, sum(held.values()))
            self.shmem_peak_kib = max(self.shmem_peak_kib, status_kib("RssShmem"))
            self._done.wait(0.002)

    def stop(self) -> None:
        """Stop sampling and wait for the thread."""
        self._done.set()
        self.join()


def measure(path: Path) -> dict[str, Any]:
    """Clean the file once in this process; its time, peaks and what came out."""
    from reportline.cleaning import CleaningLimits, clean_file
    from reportline.config import Settings

    defaults = Settings.__dataclass_fields__
    limits = CleaningLimits(
        max_bytes=defaults["evidence_file_max_bytes"].default,
        max_pixels=defaults["evidence_max_pixels"].default,
    )
    data = path.read_bytes()
    reset_peak()
    base_kib = status_kib("VmRSS")
    sampler = MemfdSampler()
    sampler.start()
    started = time.perf_counter()
    cleaned = clean_file(data, limits)
    seconds = time.perf_counter() - started
    sampler.stop()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "input_bytes": len(data),
        "output_bytes": len(cleaned.data),
        "kind": cleaned.kind,
        "removed": list(cleaned.removed),
        "preview_bytes": len(cleaned.preview or b""),
        "seconds": seconds,
        "rss_before_mib": base_kib / 1024,
        "peak_rss_growth_mib": (status_kib("VmHWM") - base_kib) / 1024,
        "memfd_peak_mib": sampler.memfd_peak / 2**20,
        "rss_shmem_peak_mib": sampler.shmem_peak_kib / 1024,
        "child_peak_rss_mib": children.ru_maxrss / 1024,
        "child_cpu_seconds": children.ru_utime + children.ru_stime,
    }


def main() -> None:
    """Make the samples, or measure one cleaning and print it as JSON."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=Path, help="make the samples in this folder")
    parser.add_argument("--measure", type=Path, help="clean this file once; print JSON")
    args = parser.parse_args()
    if args.samples:
        make_samples(args.samples)
    if args.measure:
        json.dump(measure(args.measure), sys.stdout)


if __name__ == "__main__":
    main()
