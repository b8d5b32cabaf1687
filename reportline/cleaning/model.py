"""The limits a cleaning obeys, what it returns, and the vocabulary of what it removed."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CleaningLimits:
    """Bounds on the work and memory one file may cost."""

    max_bytes: int  # largest file that is cleaned (settings.evidence_file_max_bytes)
    max_pixels: int  # largest picture decoded (settings.evidence_max_pixels)
    max_unzipped_bytes: int = 256 * 1024 * 1024  # zip-based formats: total uncompressed
    max_zip_ratio: int = 100  # per member and overall
    max_zip_members: int = 5000
    media_timeout_seconds: float = 120.0  # one ffmpeg or ffprobe run


@dataclass(frozen=True)
class CleanedFile:
    """A file rewritten without identifying metadata; the original is not kept."""

    data: bytes
    media_type: str
    kind: str  # "image" | "pdf" | "document" | "text" | "audio" | "video"
    extension: str
    removed: tuple[str, ...]  # codes from REMOVED_LABELS, sorted
    preview: bytes | None = None
    preview_type: str | None = None


# Code -> short English description of what was removed, for the web layer to translate.
REMOVED_LABELS: dict[str, str] = {
    "location": "GPS position or other location",
    "camera": "camera or phone make, model, serial number and maker notes",
    "exif": "other EXIF details (dates, settings, software)",
    "xmp": "XMP metadata",
    "colour-profile": "embedded colour profile (colours converted to sRGB)",
    "thumbnail": "embedded thumbnail or preview picture",
    "comment": "comments embedded in the file",
    "text-fields": "text fields embedded in the picture",
    "later-frames": "frames after the first of an animated picture",
    "document-info": "document properties (title, subject, producer, template, ...)",
    "document-id": "document identifiers",
    "author": "author and last editor names",
    "company": "company and manager names",
    "custom-properties": "custom document properties",
    "comment-authors": "names and initials of comment authors",
    "tracked-change-authors": "names of the people who made tracked changes",
    "edit-times": "creation, modification and printing dates, total editing time",
    "revision-ids": "revision identifiers that link edits to editing sessions",
    "file-paths": "local file paths, which can contain user names",
    "image-metadata": "metadata inside pictures in the document (EXIF, XMP, comments)",
    "annotation-authors": "names of the people who annotated the PDF",
    "scripts": "scripts and automatic actions",
    "attachments": "files attached inside the document",
    "tags": "title, artist, date and other tags",
    "chapters": "chapter titles",
    "cover-art": "embedded cover art",
    "extra-streams": "subtitle, data and attachment streams (e.g. GPS tracks)",
}
