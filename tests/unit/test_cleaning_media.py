"""Evidence cleaning: audio and video through ffmpeg in memory, the virus scan, no temp files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from reportline.cleaning import (
    CleaningLimits,
    FileRefused,
    RefusalReason,
    clean_file,
    scan_with_clamav,
)
from reportline.cleaning.memfiles import memory_file
from tests.unit import cleaning_samples as samples

LIMITS = CleaningLimits(max_bytes=50 * 1024 * 1024, max_pixels=16_000_000)


def probe(data: bytes) -> dict:
    ffprobe = shutil.which("ffprobe")
    assert ffprobe is not None
    with memory_file("probe", data) as fd:
        args = [ffprobe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams"]
        done = subprocess.run(
            [*args, f"/dev/fd/{fd}"], pass_fds=(fd,), capture_output=True, check=True
        )
    return json.loads(done.stdout)


@pytest.mark.parametrize(
    ("muxer", "location_box", "media_type", "extension"),
    [("mp4", b"loci", "video/mp4", ".mp4"), ("mov", b"\xa9xyz", "video/quicktime", ".mov")],
)
def test_a_video_loses_its_title_artist_and_location_and_keeps_its_streams(
    muxer: str, location_box: bytes, media_type: str, extension: str
) -> None:
    original = samples.tagged_mp4(muxer)
    assert location_box in original  # the sample really carries a location
    cleaned = clean_file(original, LIMITS)

    assert (cleaned.kind, cleaned.media_type, cleaned.extension) == ("video", media_type, extension)
    assert samples.CANARY not in cleaned.data and location_box not in cleaned.data
    assert b"+51.5012" not in cleaned.data
    assert b"Lavf" not in cleaned.data  # no encoder tag either
    found = probe(cleaned.data)
    assert "title" not in found["format"].get("tags", {})
    assert sorted(s["codec_type"] for s in found["streams"]) == ["audio", "video"]
    assert float(found["format"]["duration"]) == pytest.approx(1.0, abs=0.2)
    assert {"tags", "location"} <= set(cleaned.removed)


def test_an_mp3_loses_its_id3_tags() -> None:
    cleaned = clean_file(samples.tagged_mp3(), LIMITS)

    assert (cleaned.kind, cleaned.media_type, cleaned.extension) == ("audio", "audio/mpeg", ".mp3")
    assert samples.CANARY not in cleaned.data and not cleaned.data.startswith(b"ID3")
    assert "tags" in cleaned.removed


def test_without_ffmpeg_audio_and_video_are_refused_as_not_cleanable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    mp3 = samples.tagged_mp3()
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: no ffmpeg, no ffprobe
    with pytest.raises(FileRefused) as caught:
        clean_file(mp3, LIMITS)
    assert caught.value.reason is RefusalReason.CANNOT_CLEAN
    assert "audio or video" in str(caught.value)


def test_cleaning_writes_no_temporary_file_even_when_ffmpeg_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    samples_in = [samples.tagged_mp4(), samples.camera_jpeg(), samples.tagged_pdf()]
    samples_in.append(samples.zipped(samples.docx_parts()))
    spy = tmp_path / "tmp"
    spy.mkdir()
    monkeypatch.setenv("TMPDIR", str(spy))
    for data in samples_in:
        clean_file(data, LIMITS)
    assert list(spy.iterdir()) == []


def fake_scanner(tmp_path: Path, name: str, output: str, status: int) -> None:
    script = tmp_path / name
    script.write_text(f"#!/bin/sh\ncat >/dev/null\necho '{output}'\nexit {status}\n")
    script.chmod(0o755)


def test_a_scanner_detection_refuses_the_file_as_malware(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake_scanner(tmp_path, "clamdscan", "stream: Eicar-Test-Signature FOUND", 1)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(FileRefused) as caught:
        scan_with_clamav(b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR")
    assert caught.value.reason is RefusalReason.MALWARE


def test_a_clean_scan_is_reported_as_scanned(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake_scanner(tmp_path, "clamdscan", "stream: OK", 0)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert scan_with_clamav(b"harmless") is True


def test_no_scanner_means_not_scanned_rather_than_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert scan_with_clamav(b"harmless") is False


def test_a_scanner_that_cannot_work_means_not_scanned(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake_scanner(tmp_path, "clamdscan", "ERROR: Could not connect to clamd", 2)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert scan_with_clamav(b"harmless") is False


@pytest.mark.parametrize(
    ("args", "muxer", "media_type", "extension", "kind"),
    [
        (["-c:a", "pcm_s16le"], "wav", "audio/wav", ".wav", "audio"),
        (["-c:a", "flac"], "flac", "audio/flac", ".flac", "audio"),
        (["-c:a", "libvorbis"], "ogg", "audio/ogg", ".ogg", "audio"),
        (["-c:a", "libopus"], "ogg", "audio/ogg", ".opus", "audio"),
        (["-c:a", "aac"], "ipod", "audio/mp4", ".m4a", "audio"),
        (["-c:a", "libopus"], "webm", "audio/webm", ".webm", "audio"),
    ],
    ids=["wav", "flac", "ogg", "opus", "m4a", "webm-audio"],
)
def test_each_audio_container_is_kept_and_loses_its_tags(
    args: list[str], muxer: str, media_type: str, extension: str, kind: str
) -> None:
    original = samples.ffmpeg_output(
        ["-f", "lavfi", "-i", "sine=duration=1", *args, *samples.TAGS], muxer
    )
    assert samples.CANARY in original
    cleaned = clean_file(original, LIMITS)

    assert (cleaned.kind, cleaned.media_type, cleaned.extension) == (kind, media_type, extension)
    assert samples.CANARY not in cleaned.data
    assert [s["codec_type"] for s in probe(cleaned.data)["streams"]] == ["audio"]


def test_a_webm_video_keeps_its_streams_and_loses_its_tags() -> None:
    original = samples.ffmpeg_output(
        [
            *("-f", "lavfi", "-i", "testsrc=duration=1:size=160x120:rate=10"),
            *("-c:v", "libvpx", "-b:v", "200k", *samples.TAGS),
        ],
        "webm",
    )
    cleaned = clean_file(original, LIMITS)

    assert (cleaned.kind, cleaned.media_type, cleaned.extension) == ("video", "video/webm", ".webm")
    assert samples.CANARY not in cleaned.data


def test_a_video_with_a_subtitle_track_loses_the_track() -> None:
    with memory_file("subtitles", b"1\n00:00:00,000 --> 00:00:01,000\nCanarySubtitle\n") as fd:
        original = samples.ffmpeg_output(
            [
                *("-f", "lavfi", "-i", "testsrc=duration=1:size=160x120:rate=10"),
                *("-f", "srt", "-i", f"/dev/fd/{fd}", "-map", "0", "-map", "1"),
                *("-c:v", "mpeg4", "-c:s", "srt"),
            ],
            "matroska",
            pass_fds=(fd,),
        )
    cleaned = clean_file(original, LIMITS)

    assert (cleaned.media_type, cleaned.extension) == ("video/x-matroska", ".mkv")
    assert samples.CANARY not in cleaned.data and "extra-streams" in cleaned.removed
