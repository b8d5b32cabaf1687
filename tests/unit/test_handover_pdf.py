"""The hand-over summary PDF prints names in any script the unit meets, on as many A4
pages as it needs, each marked, and its metadata names nothing but ReportLine."""

from __future__ import annotations

import io
from datetime import date

from pypdf import PdfReader

from reportline.services.handover import (
    LEFT_OUT_CONVERSATION,
    LEFT_OUT_WORDS,
    ConversationLine,
    HandoverDocument,
    HistoryLine,
    Section,
)
from reportline.services.handover_pdf import MARKING, build_summary_pdf
from reportline.services.triage_record import TriageRecordData

NAMES = (
    "Gwenllïan ap Dafydd",  # Welsh
    "Siôn Ŵyn Ŷr",
    "Zażółć Gęślą-Jaźń",  # Polish
    "Αλέξανδρος Παπαδόπουλος",  # Greek
    "Сергей Иванов",  # Cyrillic
    "Dorotėja Šimkutė",  # Lithuanian
)


def _document(
    variant: str = "sanitised", long: bool = False, summary: str | None = None
) -> HandoverDocument:
    if summary is None:
        summary = "; ".join(NAMES) + (" A long account of what is alleged." * 400 if long else "")
    return HandoverDocument(
        reference="RL-ABCD-EFGH",
        variant=variant,
        generated_on=date(2026, 12, 3),
        exported_by="officer@unit.example",
        report=[],
        triage=[Section("Subjects", "\n".join(NAMES))],
        allegation_summary=summary,
        history=[HistoryLine(date(2026, 11, 2), "Acknowledged", "officer@unit.example", "")],
        conversation=[ConversationLine(date(2026, 11, 3), "Unit", "Thank you")],
        outcome=[],
        omitted=[LEFT_OUT_WORDS, LEFT_OUT_CONVERSATION] if variant == "sanitised" else [],
        evidence=[],
    )


def _pages(pdf: bytes) -> list[str]:
    return [" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf)).pages]


def test_names_in_welsh_polish_greek_and_cyrillic_read_back_as_typed() -> None:
    text = " ".join(_pages(build_summary_pdf(_document())))
    for name in NAMES:
        assert name in text, name


def test_a_long_summary_runs_onto_more_a4_pages_each_marked_with_the_case() -> None:
    pdf = build_summary_pdf(_document(long=True))
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) > 2
    for number, page in enumerate(_pages(pdf), start=1):
        assert page.count(MARKING) == 2 and "RL-ABCD-EFGH" in page
        assert f"Page {number} of {len(reader.pages)}" in page
        assert "3 December 2026" in page
    box = reader.pages[0].mediabox
    assert (round(float(box.width) / 72 * 25.4), round(float(box.height) / 72 * 25.4)) == (210, 297)


def test_only_a_sanitised_summary_has_the_box_of_what_was_left_out_on_its_first_page() -> None:
    first = _pages(build_summary_pdf(_document()))[0]
    assert "Left out of this export" in first and LEFT_OUT_CONVERSATION in first
    assert "Left out" not in " ".join(_pages(build_summary_pdf(_document("full"))))


def test_the_metadata_names_only_reportline_and_the_day() -> None:
    metadata = PdfReader(io.BytesIO(build_summary_pdf(_document()))).metadata
    assert metadata is not None
    assert metadata["/Producer"] == "ReportLine" and metadata["/Creator"] == "ReportLine"
    assert "/Author" not in metadata
    assert metadata["/CreationDate"] == "D:20261203000000Z"


def test_a_record_sealed_before_the_allegation_summary_existed_reads_it_as_empty() -> None:
    older = TriageRecordData.from_json(b'{"v":1,"decision":"investigate","rationale":"On"}')
    assert older.allegation_summary == "" and older.decision == "investigate"
    page = " ".join(_pages(build_summary_pdf(_document(summary=older.allegation_summary))))
    assert "No summary was recorded." in page
