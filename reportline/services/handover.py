"""Handing a case over: what an export to an investigator, the IOPC or a lawyer holds.

An export is a zip of a PDF summary, the evidence files and a manifest giving the
size and SHA-256 of each. It comes in two variants: `full` (the report in the
reporter's words, the triage record, the history, the conversation and the
outcome) and `sanitised` (the triage record with the officer's own summary of the
allegation, the history and the outcome; the reporter's words and the
conversation only if the officer asks for them, and the summary says on its
first page what was left out). Neither ever holds the internal notes or the
reporter's answer naming who in the unit should not see the report: that answer
protects the reporter inside the unit and means nothing to a recipient, and
naming it could point at the reporter.

Everything is assembled in memory from an opened case before anything is sent,
so the manifest's hash can go into the audit entry committed before the
response starts (the hash names no value; a recipient proves the files are
those handed over by hashing the manifest and asking the unit to compare).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from reportline.models.case import PRIORITIES
from reportline.services import audit, evidence
from reportline.services.cases import parse_reference, reference
from reportline.services.evidence_store import ChunkStore
from reportline.services.handover_zip import ZipEntry
from reportline.services.triage import OpenedCase
from reportline.services.triage_record import (
    DECISIONS,
    HANDLING_CODES,
    INTELLIGENCE_ASSESSMENT,
    LINK_KINDS,
    OUTCOMES,
    PRIORITY_MEANING,
    REFERRAL_BODIES,
    RELATIONSHIPS,
    RISK_FLAGS,
    SOURCE_EVALUATION,
    TriageRecordData,
)

VARIANTS = ("sanitised", "full")
MANIFEST_FORMAT = "reportline-handover/1"
SUMMARY_NAME = "summary.pdf"
MANIFEST_NAME = "manifest.json"
# What each variant may leave out, as the summary's first page says it.
LEFT_OUT_WORDS = "The report in the reporter's own words"
LEFT_OUT_CONVERSATION = "The conversation with the reporter"
# Said in every export alike, so that it tells nothing about this case.
NEVER_EXPORTED = (
    "Internal notes, and anything the reporter said about who in the unit should not "
    "see the report, are never part of a hand-over."
)
# The summary is in English, as officer pages are (docs/translations.md); these
# mirror the report form's questions and answers (web/labels.py).
REPORT_QUESTIONS = (
    ("what_happened", "What happened"),
    ("when", "When it happened"),
    ("where", "Where it happened"),
    ("who_involved", "Who is involved"),
    ("how_known_detail", "More about how they know"),
    ("at_risk_detail", "Who is at risk, and how"),
)
REPORT_CATEGORIES = {
    "discrimination": "Discriminatory or offensive messages or behaviour",
    "sexual_misconduct": "Sexual misconduct, or abuse of position for a sexual purpose",
    "bullying": "Bullying or harassment",
    "corruption": "Corruption, bribery, or misuse of police information or systems",
    "dishonesty": "Dishonesty or fraud",
    "drugs_criminal_associations": "Drugs or criminal associations",
    "other": "Something else",
}
HOW_KNOWN = {
    "saw_or_heard": "Saw or heard it themselves",
    "told": "Someone told them about it",
    "documents": "Has seen messages, records or documents",
    "other": "Another way",
}
AT_RISK = {"yes": "Yes", "no": "No", "not_sure": "Not sure"}
STATUS_NAMES = {
    "received": "Received",
    "acknowledged": "Acknowledged",
    "assessing": "Being assessed",
    "investigating": "Under investigation",
    "referred": "Referred",
    "closed": "Closed",
}


class Section(NamedTuple):
    """A labelled piece of text of the summary."""

    label: str
    text: str


@dataclass(frozen=True)
class HistoryLine:
    """A status change: when, to what, by whom and why."""

    on: date | None
    status: str
    officer: str
    reason: str = field(repr=False)


@dataclass(frozen=True)
class ConversationLine:
    """A message of the dialogue: when, from whom, and what it said."""

    on: date | None
    author: str
    text: str = field(repr=False)


@dataclass(frozen=True)
class HandoverFile:
    """An evidence file, its size and SHA-256 known before it is streamed."""

    name: str
    media_type: str
    size: int
    sha256: str
    description: str = field(repr=False)
    chunks: Callable[[], Iterable[bytes]] = field(repr=False)


@dataclass(frozen=True, repr=False)
class HandoverDocument:
    """Everything an export holds besides the evidence's bytes. Its repr shows no value."""

    reference: str
    variant: str
    generated_on: date
    exported_by: str
    report: list[Section]
    triage: list[Section]
    allegation_summary: str
    history: list[HistoryLine]
    conversation: list[ConversationLine]
    outcome: list[Section]
    omitted: list[str]
    evidence: list[HandoverFile]

    def __repr__(self) -> str:
        return f"HandoverDocument({self.reference}, {self.variant}, <content>)"


class CannotHandOver(ValueError):
    """The case cannot be exported as it stands (it failed a check), or the variant
    asked for does not exist."""


def evidence_for_handover(store: ChunkStore, opened: OpenedCase) -> list[HandoverFile]:
    """The case's evidence files, each with the size and SHA-256 sealed when it arrived,
    read chunk by chunk (each checked) only when the archive reaches it. A file that
    failed its check is left out (`assemble` refuses a case with any fault anyway)."""
    return [
        HandoverFile(
            name=item.description.name,
            media_type=item.description.media_type,
            size=item.description.size,
            sha256=item.description.sha256,
            description=item.description.description,
            chunks=partial(evidence.read_part, store, item),
        )
        for item in opened.evidence
        if item.readable and item.description is not None
    ]


def assemble(
    opened: OpenedCase,
    variant: str,
    include_words: bool,
    include_conversation: bool,
    evidence: Sequence[HandoverFile],
    officer_email: str,
    today: date,
) -> HandoverDocument:
    """The hand-over document of an opened case. A `full` export holds the reporter's
    words and the conversation whatever the two choices say.

    Raises CannotHandOver for an unknown variant, or a case that failed any check
    (what is handed over must be what the unit holds, whole).
    """
    if variant not in VARIANTS:
        raise CannotHandOver("choose a sanitised or a full export")
    if opened.faults or opened.report is None or opened.record is None:
        raise CannotHandOver("the case failed its integrity check")
    words = variant == "full" or include_words
    conversation = variant == "full" or include_conversation
    omitted = [
        *([] if words else [LEFT_OUT_WORDS]),
        *([] if conversation else [LEFT_OUT_CONVERSATION]),
    ]
    record = opened.record
    return HandoverDocument(
        reference=opened.reference,
        variant=variant,
        generated_on=today,
        exported_by=officer_email,
        report=_report_sections(opened.report) if words else [],
        triage=_triage_sections(record, opened),
        allegation_summary=record.allegation_summary,
        history=_history(opened),
        conversation=_conversation(opened) if conversation else [],
        outcome=_outcome_sections(record),
        omitted=omitted,
        evidence=list(evidence),
    )


def _report_sections(report: dict[str, Any]) -> list[Section]:
    """The report's answers, question by question. Only the questions listed are read:
    the answer naming who should not see the report is never among them."""
    sections = [Section("Category", REPORT_CATEGORIES.get(report.get("category", ""), ""))]
    for key, label in REPORT_QUESTIONS:
        if key == "how_known_detail":
            sections.append(
                Section("How they know", HOW_KNOWN.get(report.get("how_known", ""), ""))
            )
        if key == "at_risk_detail":
            sections.append(
                Section("Anyone at risk now", AT_RISK.get(report.get("at_risk", ""), ""))
            )
        sections.append(Section(label, str(report.get(key, ""))))
    return [section for section in sections if section.text]


def _graded(value: str, scale: dict[str, str]) -> str:
    return f"{value}: {scale[value]}" if value in scale else ""


def _triage_sections(record: TriageRecordData, opened: OpenedCase) -> list[Section]:
    """The triage record, field by field (empty fields left out)."""
    priorities = {rank: name for name, rank in PRIORITIES.items()}
    subjects = "\n".join(
        ", ".join(part for part in (s.name, s.number, s.role, s.team) if part)
        for s in record.subjects
    )
    links = "\n".join(
        f"{LINK_KINDS.get(link.kind, link.kind)} {reference(link.case_id)}" for link in record.links
    )
    sections = [
        Section("Received", opened.received_on.isoformat()),
        Section("Status", STATUS_NAMES.get(opened.status, opened.status)),
        Section("Priority", PRIORITY_MEANING.get(priorities.get(opened.priority, ""), "")),
        Section("National corruption categories", "; ".join(record.categories)),
        Section("Subjects", subjects),
        Section("The reporter's relationship", RELATIONSHIPS.get(record.relationship, "")),
        Section("Risk flags", "; ".join(RISK_FLAGS.get(f, f) for f in record.risk_flags)),
        Section("Source evaluation", _graded(record.source_evaluation, SOURCE_EVALUATION)),
        Section(
            "Intelligence assessment",
            _graded(record.intelligence_assessment, INTELLIGENCE_ASSESSMENT),
        ),
        Section("Handling code", _graded(record.handling_code, HANDLING_CODES)),
        Section("Conditions of sharing", record.handling_conditions),
        Section("Triage decision", DECISIONS.get(record.decision, "")),
        Section("Rationale", record.rationale),
        Section("Intelligence record", record.intelligence_ref),
        Section("Investigation", record.investigation_ref),
        Section("Linked cases", links),
    ]
    return [section for section in sections if section.text]


def _outcome_sections(record: TriageRecordData) -> list[Section]:
    sections = [
        Section("Outcome", OUTCOMES.get(record.outcome, "")),
        Section("Why this outcome", record.outcome_rationale),
        Section("Referred to", REFERRAL_BODIES.get(record.referral_body, "")),
        Section("Their reference", record.referral_reference),
    ]
    return [section for section in sections if section.text]


def _history(opened: OpenedCase) -> list[HistoryLine]:
    return [
        HistoryLine(
            on=entry.changed_at.date() if entry.changed_at else None,
            status=STATUS_NAMES.get(entry.to_status, entry.to_status),
            officer=entry.officer_email or "Former officer",
            reason=entry.reason,
        )
        for entry in opened.history
    ]


def _conversation(opened: OpenedCase) -> list[ConversationLine]:
    return [
        ConversationLine(
            on=entry.sent_on,
            author="Reporter" if entry.author == "reporter" else "Unit",
            text=entry.text,
        )
        for entry in opened.dialogue
    ]


# ---------------------------------------------------------------- the archive


def evidence_path(index: int, file: HandoverFile) -> str:
    """Where an evidence file goes in the archive: evidence/NN.ext. The name the reporter
    gave it is only in the summary and the manifest: a zip's entry names are not
    encrypted, even under a passphrase, and a file's name may say who sent it."""
    suffix = re.sub(r"[^a-z0-9]", "", file.name.rpartition(".")[2].lower())[:8]
    return (
        f"evidence/{index:02d}.{suffix}" if "." in file.name and suffix else f"evidence/{index:02d}"
    )


def manifest(doc: HandoverDocument, pdf_bytes: bytes) -> bytes:
    """The manifest (UTF-8 JSON): the case, variant, date, what was left out, and the
    path, size and SHA-256 of the summary and of every evidence file."""
    files = [
        {
            "path": SUMMARY_NAME,
            "size": len(pdf_bytes),
            "sha256": hashlib.sha256(pdf_bytes).hexdigest(),
        },
        *(
            {
                "path": evidence_path(index, file),
                "name": file.name,
                "size": file.size,
                "sha256": file.sha256,
                "media_type": file.media_type,
            }
            for index, file in enumerate(doc.evidence, start=1)
        ),
    ]
    document = {
        "format": MANIFEST_FORMAT,
        "reference": doc.reference,
        "variant": doc.variant,
        "generated_on": doc.generated_on.isoformat(),
        "omitted": doc.omitted,
        "files": files,
    }
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def manifest_sha256(manifest_bytes: bytes) -> str:
    """The manifest's SHA-256 in hex, as the audit entry records it."""
    return hashlib.sha256(manifest_bytes).hexdigest()


def record_export(
    session: Session,
    doc: HandoverDocument,
    manifest_bytes: bytes,
    encrypted: bool,
    actor: str,
    now: datetime,
) -> None:
    """Audit an export before it is sent: the variant, what a sanitised one added back,
    whether it is encrypted, and the manifest's SHA-256 (a hash, not a value: it lets
    a recipient prove the files are those handed over)."""
    audit.record(
        session,
        actor,
        "case.exported",
        now,
        case_id=parse_reference(doc.reference),
        variant=doc.variant,
        words=LEFT_OUT_WORDS not in doc.omitted,
        conversation=LEFT_OUT_CONVERSATION not in doc.omitted,
        encrypted=encrypted,
        files=1 + len(doc.evidence),
        manifest_sha256=manifest_sha256(manifest_bytes),
    )


def export_entries(doc: HandoverDocument, pdf: bytes, manifest: bytes) -> list[ZipEntry]:
    """The archive's files in order: the summary, the evidence, then the manifest.
    Evidence other than text is stored as it is (media is compressed already)."""
    return [
        ZipEntry(SUMMARY_NAME, lambda: (pdf,)),
        *(
            ZipEntry(evidence_path(index, file), file.chunks, file.media_type.startswith("text/"))
            for index, file in enumerate(doc.evidence, start=1)
        ),
        ZipEntry(MANIFEST_NAME, lambda: (manifest,)),
    ]
