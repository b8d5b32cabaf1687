"""The hand-over summary as a PDF (A4), built in memory with fpdf2.

The text is set in DejaVu Sans, embedded (subset) from the package's own copy
(reportline/fonts/, with its licence), so names in Welsh, Polish, Greek,
Cyrillic and other scripts print as typed on any machine. Arabic and Hebrew
letters print but are not joined or ordered right to left (that needs a text
shaping library this does not use). Every page carries the protective marking
above and below. The PDF's metadata names only ReportLine: no author (the
exporting officer is named on the page, where a recipient redacting it before
passing it on sees it; metadata would keep it unseen), no time of day, no
machine.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from reportline.services.handover import (
    NEVER_EXPORTED,
    HandoverDocument,
    Section,
    evidence_path,
)

# The protective marking printed at the top and bottom of every page.
MARKING = "OFFICIAL-SENSITIVE"
FONT_DIR = Path(__file__).resolve().parent.parent / "fonts"
FONT = "DejaVuSans"
PRODUCER = "ReportLine"
LINE = 5.0  # mm between lines of body text
VARIANT_NAMES = {"sanitised": "Sanitised", "full": "Full"}


class _Summary(FPDF):
    """A4 pages with the marking, the case and the date above, the page number below."""

    def __init__(self, doc: HandoverDocument) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.doc = doc
        self.add_font(FONT, "", str(FONT_DIR / "DejaVuSans.ttf"))
        self.add_font(FONT, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
        self.set_margins(20, 20, 20)
        self.set_auto_page_break(auto=True, margin=22)
        self.alias_nb_pages()

    def header(self) -> None:
        """The marking, then the case, the variant and the day it was generated."""
        self.set_font(FONT, "B", 10)
        self.cell(0, 5, MARKING, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, "", 9)
        line = (
            f"Case {self.doc.reference} · {VARIANT_NAMES[self.doc.variant]} hand-over · "
            f"generated {_day(self.doc)}"
        )
        self.cell(0, 5, line, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.line(self.l_margin, self.get_y() + 1, self.w - self.r_margin, self.get_y() + 1)
        self.ln(5)

    def footer(self) -> None:
        """The marking again, and the page of how many."""
        self.set_y(-15)
        self.set_font(FONT, "", 8)
        self.cell(0, 4, f"Page {self.page_no()} of {{nb}}", align="C")
        self.set_y(-11)
        self.set_font(FONT, "B", 10)
        self.cell(0, 5, MARKING, align="C")


def _day(doc: HandoverDocument) -> str:
    return f"{doc.generated_on.day} {doc.generated_on:%B %Y}"


def build_summary_pdf(doc: HandoverDocument) -> bytes:
    """The summary of `doc` as PDF bytes: as many pages as it needs."""
    pdf = _Summary(doc)
    pdf.set_producer(PRODUCER)
    pdf.set_creator(PRODUCER)
    pdf.set_title(f"Case {doc.reference}: hand-over summary")
    # The day only, as everywhere else a case is dated.
    pdf.set_creation_date(datetime.combine(doc.generated_on, time(0), tzinfo=UTC))
    pdf.add_page()
    _title(pdf, doc)
    if doc.omitted:
        _left_out_box(pdf, doc)
    _heading(pdf, "Summary of the allegation")
    _paragraph(pdf, doc.allegation_summary or "No summary was recorded.")
    if doc.report:
        _heading(pdf, "The report, in the reporter's words")
        _sections(pdf, doc.report)
    _heading(pdf, "Triage record")
    _sections(pdf, doc.triage)
    _heading(pdf, "History")
    _history(pdf, doc)
    if doc.conversation:
        _heading(pdf, "Conversation with the reporter")
        for message in doc.conversation:
            _label(pdf, f"{message.author}, {message.on.isoformat() if message.on else '—'}")
            _paragraph(pdf, message.text)
    _heading(pdf, "Outcome")
    if doc.outcome:
        _sections(pdf, doc.outcome)
    else:
        _paragraph(pdf, "Not closed yet.")
    _heading(pdf, "Evidence files")
    _evidence(pdf, doc)
    return bytes(pdf.output())


def _title(pdf: FPDF, doc: HandoverDocument) -> None:
    pdf.set_font(FONT, "B", 16)
    pdf.cell(0, 9, f"Case {doc.reference}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, "", 10)
    pdf.multi_cell(
        0,
        LINE,
        f"{VARIANT_NAMES[doc.variant]} hand-over summary, generated {_day(doc)} "
        f"by {doc.exported_by}. {NEVER_EXPORTED}",
        align="L",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.ln(3)


def _left_out_box(pdf: FPDF, doc: HandoverDocument) -> None:
    """A framed list of what this export leaves out (the first page of a sanitised one)."""
    text = "Left out of this export, at the unit's choice:\n" + "\n".join(
        f"• {item}" for item in doc.omitted
    )
    pdf.set_font(FONT, "B", 10)
    pdf.set_line_width(0.6)
    pdf.multi_cell(0, 6, text, border=1, padding=3, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_line_width(0.2)
    pdf.ln(3)


def _heading(pdf: FPDF, text: str) -> None:
    pdf.ln(2)
    pdf.set_font(FONT, "B", 12)
    pdf.cell(0, 7, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _label(pdf: FPDF, text: str) -> None:
    pdf.set_font(FONT, "B", 9)
    pdf.multi_cell(0, LINE, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _paragraph(pdf: FPDF, text: str) -> None:
    pdf.set_font(FONT, "", 10)
    pdf.multi_cell(0, LINE, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1.5)


def _sections(pdf: FPDF, sections: list[Section]) -> None:
    for section in sections:
        _label(pdf, section.label)
        _paragraph(pdf, section.text)


def _history(pdf: FPDF, doc: HandoverDocument) -> None:
    if not doc.history:
        _paragraph(pdf, "No status changes yet.")
    for line in doc.history:
        _label(pdf, f"{line.on.isoformat() if line.on else '—'}: {line.status}, {line.officer}")
        if line.reason:
            _paragraph(pdf, line.reason)


def _evidence(pdf: FPDF, doc: HandoverDocument) -> None:
    """Each file's name, type, size and SHA-256 (its description only where the
    reporter's words are included: the reporter wrote it)."""
    if not doc.evidence:
        _paragraph(pdf, "None.")
    for index, file in enumerate(doc.evidence, start=1):
        _label(pdf, evidence_path(index, file))
        details = f"{file.media_type}, {file.size:,} bytes\nSHA-256 {file.sha256}"
        if doc.report and file.description:
            details += f"\n{file.description}"
        _paragraph(pdf, details)
