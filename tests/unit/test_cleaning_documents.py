"""Evidence cleaning: PDF, Office and OpenDocument files lose the names and dates they carry."""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Callable

import pikepdf
import pytest
from PIL import Image

from reportline.cleaning import (
    REMOVED_LABELS,
    CleaningLimits,
    FileRefused,
    RefusalReason,
    clean_file,
)
from tests.unit import cleaning_samples as samples

LIMITS = CleaningLimits(max_bytes=50 * 1024 * 1024, max_pixels=16_000_000)


def refusal(data: bytes, limits: CleaningLimits = LIMITS) -> FileRefused:
    with pytest.raises(FileRefused) as caught:
        clean_file(data, limits)
    return caught.value


def test_a_pdf_loses_its_info_xmp_id_annotation_author_and_picture_exif() -> None:
    original = samples.tagged_pdf()
    cleaned = clean_file(original, LIMITS)

    assert (cleaned.kind, cleaned.media_type, cleaned.extension) == (
        "pdf",
        "application/pdf",
        ".pdf",
    )
    assert samples.CANARY not in cleaned.data
    with (
        pikepdf.open(io.BytesIO(original)) as before,
        pikepdf.open(io.BytesIO(cleaned.data)) as pdf,
    ):
        assert pikepdf.Name.Info not in pdf.trailer
        assert pikepdf.Name.Metadata not in pdf.Root
        assert pdf.trailer.ID[0] != before.trailer.ID[0]
        assert pikepdf.Name.T not in pdf.pages[0].Annots[0]
        assert len(pdf.pages) == 1
        image = pdf.pages[0].Resources.XObject.Im0
        picture = Image.open(io.BytesIO(image.read_raw_bytes()))
        assert picture.size == (60, 40) and not picture.getexif()
    assert {"author", "document-info", "xmp", "document-id", "annotation-authors"} <= set(
        cleaned.removed
    )
    assert "image-metadata" in cleaned.removed


def test_a_password_protected_pdf_is_refused_with_advice_to_remove_the_password() -> None:
    refused = refusal(samples.tagged_pdf(encrypt=True))
    assert refused.reason is RefusalReason.UNREADABLE
    assert "password" in str(refused)


@pytest.mark.parametrize("kept", [0.05, 0.5, 0.95])
def test_a_truncated_pdf_is_refused_as_unreadable(kept: float) -> None:
    pdf = samples.tagged_pdf()
    assert refusal(pdf[: int(len(pdf) * kept)]).reason is RefusalReason.UNREADABLE


def test_a_word_document_loses_every_name_its_dates_and_revision_ids() -> None:
    cleaned = clean_file(samples.zipped(samples.docx_parts()), LIMITS)

    assert (cleaned.kind, cleaned.extension) == ("document", ".docx")
    assert cleaned.media_type.endswith("wordprocessingml.document")
    parts = samples.unzipped(cleaned.data)
    assert [name for name, data in parts.items() if samples.CANARY in data] == []
    assert not {"docProps/custom.xml", "docProps/thumbnail.jpeg", "word/people.xml"} & set(parts)
    assert b"people.xml" not in parts["word/_rels/document.xml.rels"]
    assert b"custom.xml" not in parts["[Content_Types].xml"]
    assert b"thumbnail" not in parts["_rels/.rels"]
    document = parts["word/document.xml"]
    assert b"Evidence text stays." in document and b"<w:ins" in document
    assert b"w:date" not in document and b"rsid" not in document
    assert b"Comment text stays." in parts["word/comments.xml"]
    assert b"rsids" not in parts["word/settings.xml"]
    assert b"<Pages>1</Pages>" in parts["docProps/app.xml"]
    expected = {"author", "company", "custom-properties", "thumbnail", "comment-authors"}
    expected |= {"tracked-change-authors", "edit-times", "revision-ids", "file-paths"}
    assert expected | {"image-metadata"} <= set(cleaned.removed)


def test_a_picture_inside_a_word_document_loses_its_gps_and_keeps_its_size() -> None:
    cleaned = clean_file(samples.zipped(samples.docx_parts()), LIMITS)

    picture = Image.open(io.BytesIO(samples.unzipped(cleaned.data)["word/media/image1.jpeg"]))
    assert picture.format == "JPEG" and picture.size == (60, 40) and not picture.getexif()


def test_a_macro_enabled_document_is_refused_with_advice() -> None:
    parts = samples.docx_parts(samples.DOCM_MAIN)
    parts["word/vbaProject.bin"] = b"\xd0\xcf\x11\xe0 macro"
    refused = refusal(samples.zipped(parts))
    assert refused.reason is RefusalReason.MACRO_DOCUMENT
    assert ".docx" in str(refused)


def test_a_macro_project_hidden_in_a_docx_is_refused() -> None:
    parts = samples.docx_parts()
    parts["word/vbaProject.bin"] = b"macro"
    assert refusal(samples.zipped(parts)).reason is RefusalReason.MACRO_DOCUMENT


def test_a_plain_zip_archive_is_refused() -> None:
    archive = samples.zipped({"notes.txt": b"hello", "photo.jpg": samples.camera_jpeg()})
    assert refusal(archive).reason is RefusalReason.TYPE_NOT_ALLOWED


def test_a_docx_hiding_a_zip_bomb_is_refused_before_it_is_unpacked() -> None:
    parts = samples.docx_parts()
    parts["word/media/huge.bin"] = bytes(40 * 1024 * 1024)  # packs to ~40 kB
    assert refusal(samples.zipped(parts)).reason is RefusalReason.DECOMPRESSION_BOMB


def test_a_docx_unpacking_to_more_than_the_total_limit_is_refused() -> None:
    small = CleaningLimits(max_bytes=LIMITS.max_bytes, max_pixels=100_000, max_unzipped_bytes=4096)
    data = samples.zipped(samples.docx_parts())
    assert refusal(data, small).reason is RefusalReason.DECOMPRESSION_BOMB


def test_a_docx_with_too_many_members_is_refused() -> None:
    small = CleaningLimits(max_bytes=LIMITS.max_bytes, max_pixels=100_000, max_zip_members=5)
    data = samples.zipped(samples.docx_parts())
    assert refusal(data, small).reason is RefusalReason.DECOMPRESSION_BOMB


def test_a_member_that_understates_its_size_is_refused() -> None:
    parts = samples.docx_parts()
    parts["word/media/big.bin"] = bytes(3 * 1024 * 1024)
    data = bytearray(samples.zipped(parts))
    # Declare 1 kB in the central directory for the 3 MB member: the ratio check passes.
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        member = archive.getinfo("word/media/big.bin")
    entry = _central_entry(bytes(data), member.filename)
    struct.pack_into("<I", data, entry + 24, 1024)
    # zipfile stops at the declared size and the CRC then fails; counting is a second guard.
    assert refusal(bytes(data)).reason is RefusalReason.UNREADABLE


def _central_entry(data: bytes, name: str) -> int:
    """Offset of the central directory record for ``name``."""
    pos = data.find(b"PK\x01\x02")
    while pos != -1:
        name_length = struct.unpack_from("<H", data, pos + 28)[0]
        if data[pos + 46 : pos + 46 + name_length].decode() == name:
            return pos
        pos = data.find(b"PK\x01\x02", pos + 4)
    raise AssertionError(name)


def test_a_document_with_a_doctype_is_refused() -> None:
    parts = samples.docx_parts()
    parts["word/document.xml"] = (
        b'<?xml version="1.0"?><!DOCTYPE w [<!ENTITY a "aaaaaaaaaa">]><w:document '
        b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">&a;</w:document>'
    )
    assert refusal(samples.zipped(parts)).reason is RefusalReason.UNREADABLE


def test_a_workbook_loses_comment_authors_persons_and_its_saved_path() -> None:
    cleaned = clean_file(samples.zipped(samples.xlsx_parts()), LIMITS)

    assert (cleaned.extension, cleaned.kind) == (".xlsx", "document")
    parts = samples.unzipped(cleaned.data)
    assert [name for name, data in parts.items() if samples.CANARY in data] == []
    assert b"Cell note stays." in parts["xl/comments1.xml"]
    assert b"Payments" in parts["xl/workbook.xml"]
    assert {"comment-authors", "file-paths"} <= set(cleaned.removed)


def test_a_presentation_loses_its_comment_authors() -> None:
    cleaned = clean_file(samples.zipped(samples.pptx_parts()), LIMITS)

    assert cleaned.extension == ".pptx"
    assert samples.CANARY not in samples.unzipped(cleaned.data)["ppt/commentAuthors.xml"]
    assert "comment-authors" in cleaned.removed


def test_an_opendocument_text_loses_its_metadata_authors_printer_and_thumbnail() -> None:
    cleaned = clean_file(samples.zipped(samples.odt_parts()), LIMITS)

    assert (cleaned.extension, cleaned.media_type) == (".odt", samples.ODT)
    parts = samples.unzipped(cleaned.data)
    assert [name for name, data in parts.items() if samples.CANARY in data] == []
    with zipfile.ZipFile(io.BytesIO(cleaned.data)) as archive:
        first = archive.infolist()[0]
    assert (first.filename, first.compress_type) == ("mimetype", zipfile.ZIP_STORED)
    assert "Thumbnails/thumbnail.png" not in parts
    assert b"Thumbnails" not in parts["META-INF/manifest.xml"]
    content = parts["content.xml"]
    assert b"Evidence text stays." in content and b"Note stays." in content
    assert b"document-statistic" in parts["meta.xml"]
    picture = Image.open(io.BytesIO(parts["Pictures/photo.jpg"]))
    assert picture.size == (60, 40) and not picture.getexif()
    expected = {"author", "edit-times", "thumbnail", "comment-authors", "tracked-change-authors"}
    assert expected | {"document-info", "image-metadata"} <= set(cleaned.removed)


def test_an_opendocument_with_macros_is_refused() -> None:
    refused = refusal(samples.zipped(samples.odt_parts(macro=True)))
    assert refused.reason is RefusalReason.MACRO_DOCUMENT


def test_a_password_protected_opendocument_is_refused_as_unreadable() -> None:
    refused = refusal(samples.zipped(samples.odt_parts(encrypted=True)))
    assert refused.reason is RefusalReason.UNREADABLE and "password" in str(refused)


def test_a_workbook_embedded_in_a_word_document_is_cleaned_too() -> None:
    parts = samples.docx_parts()
    parts["word/embeddings/Chart_Data.xlsx"] = samples.zipped(samples.xlsx_parts())
    cleaned = clean_file(samples.zipped(parts), LIMITS)

    inner = samples.unzipped(samples.unzipped(cleaned.data)["word/embeddings/Chart_Data.xlsx"])
    assert [name for name, data in inner.items() if samples.CANARY in data] == []
    assert b"Payments" in inner["xl/workbook.xml"]


def test_an_embedded_object_from_another_program_cannot_be_cleaned_so_is_refused() -> None:
    parts = samples.docx_parts()
    parts["word/embeddings/oleObject1.bin"] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600)
    refused = refusal(samples.zipped(parts))
    assert refused.reason is RefusalReason.CANNOT_CLEAN and "PDF" in str(refused)


@pytest.mark.parametrize(
    "build",
    [
        samples.camera_jpeg,
        samples.tagged_png,
        samples.tagged_pdf,
        lambda: samples.zipped(samples.docx_parts()),
        lambda: samples.zipped(samples.xlsx_parts()),
        lambda: samples.zipped(samples.odt_parts()),
    ],
    ids=["jpeg", "png", "pdf", "docx", "xlsx", "odt"],
)
def test_what_was_removed_is_named_in_the_vocabulary_the_web_layer_translates(
    build: Callable[[], bytes],
) -> None:
    removed = clean_file(build(), LIMITS).removed
    assert removed and list(removed) == sorted(set(removed))
    assert set(removed) <= set(REMOVED_LABELS)


def test_every_refusal_reason_has_a_sentence_for_the_reporter() -> None:
    for reason in RefusalReason:
        assert str(FileRefused(reason)).endswith(".")


def test_a_pdf_loses_its_scripts_and_attached_files() -> None:
    pdf = pikepdf.open(io.BytesIO(samples.tagged_pdf()))
    script = pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.alert(1)"))
    pdf.Root.OpenAction = pdf.make_indirect(script)
    attached = pikepdf.AttachedFileSpec(pdf, b"CanaryAttachment", filename="note.txt")
    pdf.attachments["note.txt"] = attached
    out = io.BytesIO()
    pdf.save(out)
    cleaned = clean_file(out.getvalue(), LIMITS)

    assert b"app.alert" not in cleaned.data and samples.CANARY not in cleaned.data
    with pikepdf.open(io.BytesIO(cleaned.data)) as result:
        assert pikepdf.Name.OpenAction not in result.Root and not result.attachments
    assert {"scripts", "attachments"} <= set(cleaned.removed)


def _annotated_pdf(**annotation: object) -> bytes:
    import io

    import pikepdf

    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(200, 200))
    page = pdf.pages[0]
    note = pikepdf.Dictionary(Type=pikepdf.Name.Annot, Rect=[10, 10, 30, 30], **annotation)
    page.Annots = pdf.make_indirect(pikepdf.Array([pdf.make_indirect(note)]))
    page.LastModified = pikepdf.String("D:20261203181502+01'00'")
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def test_a_pdf_loses_the_dates_of_its_annotations_and_pages() -> None:
    import pikepdf

    data = _annotated_pdf(
        Subtype=pikepdf.Name.Text,
        M=pikepdf.String("D:20261203181502+01'00'"),
        CreationDate=pikepdf.String("D:20261203181502+01'00'"),
    )
    cleaned = clean_file(data, LIMITS)
    assert b"20261203181502" not in cleaned.data
    assert "edit-times" in cleaned.removed


def test_a_digitally_signed_pdf_is_refused_with_advice_to_print_it_to_a_new_pdf() -> None:
    import pikepdf

    signature = pikepdf.Dictionary(
        Type=pikepdf.Name.Sig,
        Name=pikepdf.String("SIGNERNAMECANARY"),
        Location=pikepdf.String("LOCCANARY"),
        ByteRange=[0, 10, 20, 30],
        Contents=pikepdf.String("0000"),
    )
    data = _annotated_pdf(Subtype=pikepdf.Name.Text, V=signature)
    with pytest.raises(FileRefused) as refused:
        clean_file(data, LIMITS)
    assert "digitally signed" in str(refused.value)
