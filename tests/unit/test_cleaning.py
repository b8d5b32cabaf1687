"""Evidence cleaning: pictures and text, type by content, refusals and display names."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import ExifTags, Image, ImageOps

from reportline.cleaning import (
    REMOVED_LABELS,
    CleaningLimits,
    FileRefused,
    RefusalReason,
    clean_file,
    safe_display_name,
)
from tests.unit import cleaning_samples as samples

LIMITS = CleaningLimits(max_bytes=50 * 1024 * 1024, max_pixels=16_000_000)


def refusal(data: bytes, limits: CleaningLimits = LIMITS) -> RefusalReason:
    with pytest.raises(FileRefused) as caught:
        clean_file(data, limits)
    assert str(caught.value)  # a sentence for the reporter
    return caught.value.reason


def test_a_photo_loses_gps_camera_xmp_profile_and_comment_but_keeps_its_pixels() -> None:
    cleaned = clean_file(samples.camera_jpeg(), LIMITS)

    assert (cleaned.kind, cleaned.media_type, cleaned.extension) == ("image", "image/jpeg", ".jpg")
    assert samples.CANARY not in cleaned.data
    assert b"Exif" not in cleaned.data and b"ICC_PROFILE" not in cleaned.data
    picture = Image.open(io.BytesIO(cleaned.data))
    assert picture.size == (60, 40)
    assert not picture.getexif()
    assert not {"exif", "icc_profile", "xmp", "comment"} & set(picture.info)
    assert picture.getpixel((5, 20))[0] > 200 and picture.getpixel((55, 20))[2] > 200
    assert {"location", "camera", "xmp", "colour-profile", "comment"} <= set(cleaned.removed)
    assert set(cleaned.removed) <= set(REMOVED_LABELS)


def test_a_rotated_photo_keeps_only_its_orientation_tag_so_viewers_show_it_upright() -> None:
    cleaned = clean_file(samples.camera_jpeg(orientation=6), LIMITS)

    picture = Image.open(io.BytesIO(cleaned.data))
    assert dict(picture.getexif()) == {ExifTags.Base.Orientation: 6}
    assert samples.CANARY not in cleaned.data
    shown = ImageOps.exif_transpose(picture).convert("RGB")
    assert shown.size == (40, 60)  # orientation 6: turned a quarter clockwise
    top, bottom = shown.getpixel((20, 5)), shown.getpixel((20, 55))
    assert top[0] > 200 and bottom[2] > 200  # the left (red) half is now on top


def test_the_preview_of_a_rotated_photo_is_upright_and_has_no_exif() -> None:
    cleaned = clean_file(samples.camera_jpeg(orientation=6, size=(3200, 1000)), LIMITS)

    assert cleaned.preview is not None
    preview = Image.open(io.BytesIO(cleaned.preview))
    assert preview.size == (500, 1600) and not preview.getexif()


def test_a_photo_comes_with_a_small_preview_without_metadata() -> None:
    cleaned = clean_file(samples.camera_jpeg(size=(3200, 1000)), LIMITS)

    assert cleaned.preview is not None and cleaned.preview_type == "image/jpeg"
    preview = Image.open(io.BytesIO(cleaned.preview))
    assert preview.size == (1600, 500)
    assert not preview.getexif() and samples.CANARY not in cleaned.preview


def test_a_png_loses_its_text_chunks_exif_and_profile() -> None:
    cleaned = clean_file(samples.tagged_png(), LIMITS)

    assert cleaned.media_type == "image/png"
    assert samples.CANARY not in cleaned.data
    picture = Image.open(io.BytesIO(cleaned.data))
    assert picture.size == (60, 40) and not picture.info.get("icc_profile")
    assert {"text-fields", "location", "colour-profile"} <= set(cleaned.removed)


@pytest.mark.parametrize(
    ("fmt", "options", "media_type"),
    [
        ("WEBP", {"quality": 90, "exif": samples.camera_exif().tobytes()}, "image/png"),
        ("GIF", {"comment": b"CanaryGifComment"}, "image/png"),
        ("HEIF", {"exif": samples.camera_exif().tobytes(), "quality": 90}, "image/jpeg"),
        ("AVIF", {"exif": samples.camera_exif().tobytes(), "quality": 90}, "image/jpeg"),
    ],
)
def test_webp_gif_heic_and_avif_are_re_encoded_without_metadata(
    fmt: str, options: dict[str, object], media_type: str
) -> None:
    cleaned = clean_file(samples.picture(fmt, **options), LIMITS)

    assert cleaned.media_type == media_type
    assert samples.CANARY not in cleaned.data
    picture = Image.open(io.BytesIO(cleaned.data))
    assert picture.size == (60, 40) and not picture.getexif()


def test_the_type_is_decided_by_content_so_a_renamed_picture_is_still_a_picture() -> None:
    png = samples.picture("PNG")  # the name it was sent under plays no part
    cleaned = clean_file(png, LIMITS)
    assert cleaned.extension == ".png"
    assert safe_display_name("scan.pdf", cleaned.extension) == "scan.png"


@pytest.mark.parametrize(
    "data",
    [
        b"\x7fELF\x02\x01\x01" + bytes(200),
        b"MZ\x90\x00\x03\x00\x00\x00" + bytes(200),
        b"<!DOCTYPE html><html><script>alert(1)</script></html>",
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>',
        b"  <svg onload=alert(1)>",
        b"text with a \x00 NUL",
        "Latin-1 caf\xe9".encode("latin-1"),
        b"PK\x03\x04" + bytes(100),
    ],
    ids=["elf", "exe", "html", "svg-xml", "svg", "nul", "latin1", "broken-zip"],
)
def test_programs_markup_and_binary_files_are_refused_whatever_their_name(data: bytes) -> None:
    assert refusal(data) in {RefusalReason.TYPE_NOT_ALLOWED, RefusalReason.UNREADABLE}


def test_an_exe_named_like_a_photo_is_refused_as_a_type_not_allowed() -> None:
    assert refusal(b"MZ\x90\x00" + bytes(500)) is RefusalReason.TYPE_NOT_ALLOWED


def test_an_empty_file_is_refused() -> None:
    assert refusal(b"") is RefusalReason.EMPTY


def test_a_file_over_the_size_limit_is_refused_before_any_work() -> None:
    small = CleaningLimits(max_bytes=10, max_pixels=100)
    assert refusal(b"hello, world", small) is RefusalReason.TOO_LARGE


def test_a_small_png_declaring_too_many_pixels_is_refused_before_decoding() -> None:
    bomb = samples.pixel_bomb_png(5000, 5000)
    assert len(bomb) < 100_000
    assert refusal(bomb) is RefusalReason.TOO_MANY_PIXELS


def test_a_picture_pillow_itself_calls_a_bomb_is_refused_as_a_bomb() -> None:
    generous = CleaningLimits(max_bytes=LIMITS.max_bytes, max_pixels=10**10)
    bomb = samples.pixel_bomb_png(20_000, 20_000)
    assert refusal(bomb, generous) is RefusalReason.DECOMPRESSION_BOMB


def test_a_truncated_photo_is_refused_as_unreadable() -> None:
    photo = samples.camera_jpeg(size=(400, 300))
    assert refusal(photo[: len(photo) // 2]) is RefusalReason.UNREADABLE


def test_legacy_office_files_are_refused_with_advice_to_save_as_docx_or_pdf() -> None:
    with pytest.raises(FileRefused) as caught:
        clean_file(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), LIMITS)
    assert caught.value.reason is RefusalReason.LEGACY_OFFICE
    assert ".docx" in str(caught.value) and "PDF" in str(caught.value)


def test_utf8_text_is_kept_as_it_is() -> None:
    text = "Le chef a dit : « payez ».\r\nZweite Zeile\tmit Tab\n".encode()
    cleaned = clean_file(text, LIMITS)
    assert cleaned.data == text
    assert (cleaned.kind, cleaned.media_type, cleaned.extension, cleaned.removed) == (
        "text",
        "text/plain; charset=utf-8",
        ".txt",
        (),
    )


@pytest.mark.parametrize(
    ("declared", "shown"),
    [
        ("../../etc/passwd", "passwd.txt"),
        ("..\\..\\x.jpg", "x.txt"),
        ("C:\\Users\\me\\photo.jpeg", "photo.txt"),
        ("bad\x00na\x1bme\r\n.png", "badname.txt"),
        ("invoice\u202egpj.exe", "invoicegpj.txt"),
        ("...hidden", "hidden.txt"),
        ("", "file.txt"),
        ("/", "file.txt"),
        ("....", "file.txt"),
        ("noextension", "noextension.txt"),
    ],
)
def test_display_names_lose_paths_controls_bidi_overrides_and_their_claimed_extension(
    declared: str, shown: str
) -> None:
    assert safe_display_name(declared, ".txt") == shown


def test_a_very_long_name_is_cut_to_120_characters_keeping_the_real_extension() -> None:
    shown = safe_display_name("a" * 500 + ".exe", ".pdf")
    assert len(shown) == 120 and shown.endswith("a.pdf")


@given(st.text(max_size=300))
def test_any_declared_name_becomes_a_harmless_one(declared: str) -> None:
    shown = safe_display_name(declared, ".jpg")
    assert shown.endswith(".jpg") and 5 <= len(shown) <= 120
    assert "/" not in shown and "\\" not in shown and not shown.startswith(".")
    assert all(ch.isprintable() for ch in shown)
    assert not {"\u202e", "\u202d", "\u2066", "\u2067", "\u2068", "\u200f"} & set(shown)
