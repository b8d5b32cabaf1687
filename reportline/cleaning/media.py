"""Audio and video: remuxed by ffmpeg (streams copied, never re-encoded) without any
global, stream or chapter metadata, cover art, subtitles or data tracks (GPS tracks
of action and dash cameras are data tracks). Input and output are memory files.
ffmpeg and ffprobe are found by absolute path and run with fixed argument lists, no shell.
"""

from __future__ import annotations

import json
import shutil
import subprocess  # nosec B404
from dataclasses import dataclass
from typing import Any

from reportline.cleaning.errors import FileRefused, RefusalReason
from reportline.cleaning.memfiles import memory_file, read_all
from reportline.cleaning.model import CleanedFile, CleaningLimits

NO_FFMPEG_SENTENCE = "This server cannot clean audio or video files, so they are not accepted."
# Keys the muxers write themselves; anything else left after cleaning is a failure.
TECHNICAL_TAGS = frozenset(
    {"major_brand", "minor_version", "compatible_brands", "language", "handler_name"}
    | {"vendor_id", "encoder", "duration"}
)
_WEBM_CODECS = frozenset({"vp8", "vp9", "av1", "opus", "vorbis"})


@dataclass(frozen=True)
class Plan:
    """What the cleaned file will be and which input streams go into it."""

    kind: str
    media_type: str
    extension: str
    muxer: str
    streams: tuple[int, ...]
    options: tuple[str, ...] = ()


def clean_media(data: bytes, limits: CleaningLimits) -> CleanedFile:
    """Remux an audio or video file without metadata, verified by probing the result.

    Raises FileRefused (CANNOT_CLEAN without ffmpeg or on a timeout or leftover tag,
    TYPE_NOT_ALLOWED for other containers, UNREADABLE when ffmpeg cannot read it).
    """
    ffmpeg, ffprobe = shutil.which("ffmpeg"), shutil.which("ffprobe")
    if ffmpeg is None or ffprobe is None:
        raise FileRefused(RefusalReason.CANNOT_CLEAN, NO_FFMPEG_SENTENCE)
    with memory_file("evidence-in", data) as source:
        probe = _probe(ffprobe, source, limits)
        plan = plan_remux(probe)
        with memory_file("evidence-out") as target:
            _remux(ffmpeg, source, target, probe, plan, limits)
            _verify(_probe(ffprobe, target, limits))
            cleaned = read_all(target)
    return CleanedFile(
        data=cleaned,
        media_type=plan.media_type,
        kind=plan.kind,
        extension=plan.extension,
        removed=tuple(sorted(metadata_found(probe))),
    )


def _run(args: list[str], fds: tuple[int, ...], limits: CleaningLimits) -> bytes:
    """Run ffmpeg or ffprobe on memory files; stdout, or FileRefused."""
    try:
        done = subprocess.run(  # noqa: S603  # nosec B603
            args,
            pass_fds=fds,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=limits.media_timeout_seconds,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise FileRefused(RefusalReason.CANNOT_CLEAN) from None
    if done.returncode != 0:
        raise FileRefused(RefusalReason.UNREADABLE)
    return done.stdout


def _probe(ffprobe: str, fd: int, limits: CleaningLimits) -> dict[str, Any]:
    args = [ffprobe, "-v", "error", "-protocol_whitelist", "file", "-print_format", "json"]
    args += ["-show_format", "-show_streams", "-show_chapters", f"/dev/fd/{fd}"]
    try:
        probe: dict[str, Any] = json.loads(_run(args, (fd,), limits))
    except ValueError:
        raise FileRefused(RefusalReason.UNREADABLE) from None
    if "format" not in probe:
        raise FileRefused(RefusalReason.UNREADABLE)
    return probe


def _remux(
    ffmpeg: str, source: int, target: int, probe: dict[str, Any], plan: Plan, limits: CleaningLimits
) -> None:
    demuxer = probe["format"]["format_name"].split(",")[0]
    args = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error"]
    args += ["-protocol_whitelist", "file", "-f", demuxer, "-i", f"/dev/fd/{source}"]
    for index in plan.streams:
        args += ["-map", f"0:{index}"]
    args += ["-c", "copy", "-map_metadata", "-1", "-map_chapters", "-1"]
    args += ["-map_metadata:s", "-1", "-fflags", "+bitexact"]
    args += ["-flags:v", "+bitexact", "-flags:a", "+bitexact", *plan.options]
    args += ["-f", plan.muxer, "-y", f"/dev/fd/{target}"]
    _run(args, (source, target), limits)


def plan_remux(probe: dict[str, Any]) -> Plan:
    """Choose the output container from what ffprobe found. Raises FileRefused."""
    streams = probe.get("streams", [])
    video = [s for s in streams if _is_video(s)]
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    if not video and not audio:
        raise FileRefused(RefusalReason.UNREADABLE)
    kind = "video" if video else "audio"
    kept = tuple(int(s["index"]) for s in video + audio)
    codecs = {s.get("codec_name", "") for s in video + audio}
    fmt = probe["format"]["format_name"]
    brand = str(probe["format"].get("tags", {}).get("major_brand", "")).strip()
    choice = _container(fmt, kind, brand, codecs)
    if choice is None:
        raise FileRefused(RefusalReason.TYPE_NOT_ALLOWED)
    media_type, extension, muxer, options = choice
    return Plan(kind, media_type, extension, muxer, kept, options)


def _container(
    fmt: str, kind: str, brand: str, codecs: set[str]
) -> tuple[str, str, str, tuple[str, ...]] | None:
    """(media type, extension, muxer, muxer options) for an allowed container, else None."""
    video = kind == "video"
    if fmt.startswith("mov,mp4"):
        if not video:
            return "audio/mp4", ".m4a", "mp4", ()
        return (
            ("video/quicktime", ".mov", "mov", ())
            if brand == "qt"
            else ("video/mp4", ".mp4", "mp4", ())
        )
    if fmt == "matroska,webm":
        if codecs <= _WEBM_CODECS:
            return (f"{kind}/webm", ".webm", "webm", ())
        return (f"{kind}/x-matroska", ".mkv" if video else ".mka", "matroska", ())
    if video:
        return None
    no_id3 = ("-id3v2_version", "0", "-write_id3v1", "0")
    return {
        "mp3": ("audio/mpeg", ".mp3", "mp3", no_id3),
        "aac": ("audio/aac", ".aac", "adts", ()),
        "ogg": ("audio/ogg", ".opus" if codecs == {"opus"} else ".ogg", "ogg", ()),
        "wav": ("audio/wav", ".wav", "wav", ()),
        "flac": ("audio/flac", ".flac", "flac", ()),
    }.get(fmt)


def _is_video(stream: dict[str, Any]) -> bool:
    attached = stream.get("disposition", {}).get("attached_pic", 0)
    return stream.get("codec_type") == "video" and not attached


def metadata_found(probe: dict[str, Any]) -> set[str]:
    """The codes of what the original carried and the remux leaves out."""
    found: set[str] = set()
    tags = [probe["format"].get("tags", {})] + [s.get("tags", {}) for s in probe["streams"]]
    for key in (k.lower() for t in tags for k in t if k.lower() not in TECHNICAL_TAGS):
        found.add("tags")
        if "location" in key or "xyz" in key or "gps" in key:
            found.add("location")
        if key.endswith(("make", "model")):
            found.add("camera")
    if probe.get("chapters"):
        found.add("chapters")
    for stream in probe["streams"]:
        if stream.get("disposition", {}).get("attached_pic", 0):
            found.add("cover-art")
        elif stream.get("codec_type") not in {"audio", "video"}:
            found.add("extra-streams")
    return found


def _verify(probe: dict[str, Any]) -> None:
    """Refuse rather than store a result that still carries a tag or chapter."""
    tags = [probe["format"].get("tags", {})] + [s.get("tags", {}) for s in probe["streams"]]
    leftover = {k for t in tags for k in t if k.lower() not in TECHNICAL_TAGS}
    if leftover or probe.get("chapters"):
        raise FileRefused(RefusalReason.CANNOT_CLEAN)
