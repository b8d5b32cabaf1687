"""The triage record: what the unit decides about a case, field by field, sealed.

The record is one JSON document sealed under a key derived from the case
secret (`case:triage`), bound to the case, its version, the officer who wrote
it and when. Every change writes a new version; older ones stay. What the
queue needs in clear (the priority rank, the owner, the deadlines) lives on
the case row; everything here is the substance of the case and is never in
clear (docs/security.md, "Casework").
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from reportline.crypto import aead
from reportline.crypto.context import context
from reportline.crypto.kdf import hkdf
from reportline.services.errors import ServiceError

# National corruption categories (counter-corruption units' usual list). An instance
# may replace them with `national_categories`.
DEFAULT_NATIONAL_CATEGORIES = (
    "Infiltration",
    "Disclosure of information",
    "Perverting the course of justice",
    "Sexual misconduct, including abuse of position for a sexual purpose",
    "Controlled drugs",
    "Theft and fraud",
    "Misuse of force systems",
    "Abuse of authority",
    "Inappropriate association",
    "Vulnerability",
    "Commit, incite, aid or assist an offender",
    "Discrimination: racism, misogyny, homophobia, disability",
    "Bullying and harassment, including discriminatory messaging on social media",
    "Domestic abuse by staff",
    "Other",
)
RELATIONSHIPS = {
    "witness": "Witness",
    "victim": "Victim",
    "colleague": "Colleague",
    "supervisor": "Supervisor",
    "other": "Other",
}
PRIORITY_MEANING = {
    "high": "High: threat to life, serious harm or imminent risk",
    "medium": "Medium",
    "low": "Low",
}
RISK_FLAGS = {
    "victimisation": "Victimisation of the reporter",
    "re_identification": "Re-identification of the reporter in a small team",
    "immediate_risk": "Immediate risk to a victim or the public",
    "access_to_vulnerable": "Subject's access to vulnerable people or sensitive systems",
    "protected_disclosure": "Possible protected disclosure",
    "iopc_referral": "IOPC referral needed",
    "corroboration_needed": "Corroboration needed before action",
}
# The 3x5x2 intelligence grading (College of Policing).
SOURCE_EVALUATION = {"1": "Reliable", "2": "Untested", "3": "Not reliable"}
INTELLIGENCE_ASSESSMENT = {
    "A": "Known to be true without reservation",
    "B": "Known personally to the source but not to the officer",
    "C": "Not personally known to the source but corroborated",
    "D": "Cannot be judged",
    "E": "Suspected to be false or malicious",
}
HANDLING_CODES = {
    "P": "Lawful sharing permitted",
    "C": "Lawful sharing permitted subject to conditions",
}
DECISIONS = {
    "record_only": "Record only",
    "assess_further": "Assess further",
    "investigate": "Investigate",
    "refer": "Refer",
}
OUTCOMES = {
    "substantiated": "Substantiated",
    "not_substantiated": "Not substantiated",
    "no_case_to_answer": "No case to answer",
    "insufficient_information": "Insufficient information",
    "withdrawn": "Withdrawn",
    "duplicate": "Duplicate",
    "flood_or_spam": "Possible flood or spam",
    "other": "Other",
}
# Outcomes left out of statistics (a later piece of work reads this).
OUTCOMES_NOT_COUNTED = ("duplicate", "flood_or_spam")
REFERRAL_BODIES = {
    "professional_standards": "Local professional standards",
    "iopc": "The IOPC",
    "another_force": "Another force",
    "hr": "Human resources",
    "elsewhere": "Elsewhere",
}
LINK_KINDS = {
    "duplicate_of": "Duplicate of",
    "duplicated_by": "Duplicated by",
    "related_to": "Related to",
}
REVERSE_LINK = {"duplicate_of": "duplicated_by", "duplicated_by": "duplicate_of"}


def national_categories(configured: tuple[str, ...]) -> tuple[str, ...]:
    """The categories an instance offers: its `national_categories`, or the usual list."""
    return configured or DEFAULT_NATIONAL_CATEGORIES


MAX_SUBJECTS = 10
MAX_LINKS = 20
MAX_SHORT_TEXT = 120
MAX_LONG_TEXT = 4000


class RecordInvalid(ServiceError):
    """The record was refused; `.problems` maps each field to what is wrong with it."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {why}" for name, why in problems.items()))
        self.problems = problems


@dataclass(frozen=True)
class Subject:
    """A person the report is about."""

    name: str = ""
    number: str = ""
    role: str = ""
    team: str = ""

    @property
    def empty(self) -> bool:
        """Whether nothing was entered for this subject."""
        return not (self.name or self.number or self.role or self.team)


@dataclass(frozen=True)
class Link:
    """A link from this case to another, by the other's id."""

    case_id: int
    kind: str


@dataclass(frozen=True, repr=False)
class TriageRecordData:
    """Everything the triage record holds. Its repr shows no value."""

    categories: tuple[str, ...] = ()
    subjects: tuple[Subject, ...] = ()
    relationship: str = ""
    risk_flags: tuple[str, ...] = ()
    source_evaluation: str = ""
    intelligence_assessment: str = ""
    handling_code: str = ""
    handling_conditions: str = ""
    decision: str = ""
    rationale: str = ""
    # The officer's own account of what is alleged, in neutral words: what a sanitised
    # hand-over gives instead of the reporter's words (services/handover.py).
    allegation_summary: str = ""
    intelligence_ref: str = ""
    investigation_ref: str = ""
    links: tuple[Link, ...] = ()
    outcome: str = ""
    outcome_rationale: str = ""
    referral_body: str = ""
    referral_reference: str = ""

    def __repr__(self) -> str:
        return "TriageRecordData(<sealed content>)"

    def to_json(self) -> bytes:
        """The document that is sealed."""
        document = {"v": 1, **asdict(self)}
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes) -> TriageRecordData:
        """Read a sealed document back (fields a later version added default)."""
        document: dict[str, Any] = json.loads(raw)
        document.pop("v", None)
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in document.items() if k in known}
        values["categories"] = tuple(values.get("categories", ()))
        values["risk_flags"] = tuple(values.get("risk_flags", ()))
        values["subjects"] = tuple(Subject(**s) for s in values.get("subjects", ()))
        values["links"] = tuple(
            Link(int(x["case_id"]), str(x["kind"])) for x in values.get("links", ())
        )
        return cls(**values)

    def with_outcome(
        self, outcome: str, rationale: str, body: str, reference: str
    ) -> TriageRecordData:
        """The record with a closing outcome."""
        return replace(
            self,
            outcome=outcome,
            outcome_rationale=rationale,
            referral_body=body,
            referral_reference=reference,
        )

    def changed_fields(self, before: TriageRecordData) -> list[str]:
        """The names of the fields that differ from `before` (for the audit: no values)."""
        return [
            name
            for name in self.__dataclass_fields__
            if getattr(self, name) != getattr(before, name)
        ]


def validate(data: TriageRecordData, national_categories: tuple[str, ...]) -> None:
    """Raise RecordInvalid naming each field whose value is not allowed."""
    problems: dict[str, str] = {}
    if not set(data.categories) <= set(national_categories) or len(set(data.categories)) != len(
        data.categories
    ):
        problems["categories"] = "Choose categories from the list, each once"
    if data.relationship and data.relationship not in RELATIONSHIPS:
        problems["relationship"] = "Choose the reporter's relationship from the list"
    if not set(data.risk_flags) <= set(RISK_FLAGS) or len(set(data.risk_flags)) != len(
        data.risk_flags
    ):
        problems["risk_flags"] = "Choose risk flags from the list, each once"
    for name, scheme, label in (
        ("source_evaluation", SOURCE_EVALUATION, "a source evaluation of 1, 2 or 3"),
        (
            "intelligence_assessment",
            INTELLIGENCE_ASSESSMENT,
            "an intelligence assessment from A to E",
        ),
        ("handling_code", HANDLING_CODES, "a handling code of P or C"),
        ("decision", DECISIONS, "a decision from the list"),
        ("outcome", OUTCOMES, "an outcome from the list"),
        ("referral_body", REFERRAL_BODIES, "a receiving body from the list"),
    ):
        value = getattr(data, name)
        if value and value not in scheme:
            problems[name] = f"Choose {label}"
    if data.handling_code == "C" and not data.handling_conditions:
        problems["handling_conditions"] = "Say the conditions of sharing under handling code C"
    if len(data.subjects) > MAX_SUBJECTS:
        problems["subjects"] = f"Record at most {MAX_SUBJECTS} subjects"
    for index, subject in enumerate(data.subjects):
        for part in ("name", "number", "role", "team"):
            if len(getattr(subject, part)) > MAX_SHORT_TEXT:
                problems[f"subject_{index}_{part}"] = f"Use {MAX_SHORT_TEXT} characters or fewer"
    for name in ("intelligence_ref", "investigation_ref", "referral_reference"):
        if len(getattr(data, name)) > MAX_SHORT_TEXT:
            problems[name] = f"Use {MAX_SHORT_TEXT} characters or fewer"
    for name in ("rationale", "allegation_summary", "outcome_rationale", "handling_conditions"):
        if len(getattr(data, name)) > MAX_LONG_TEXT:
            problems[name] = f"Use {MAX_LONG_TEXT:,} characters or fewer"
    if len(data.links) > MAX_LINKS or any(link.kind not in LINK_KINDS for link in data.links):
        problems["links"] = "Link at most 20 other cases, each as a duplicate or related case"
    elif len({link.case_id for link in data.links}) != len(data.links):
        problems["links"] = "Link each other case once, as a duplicate or as related"
    if problems:
        raise RecordInvalid(problems)


def record_key(secret_raw: bytes) -> bytes:
    """The key a case's triage record is sealed under (the reporter never holds it)."""
    return hkdf(secret_raw, "case:triage")


def record_context(case_id: int, version: int, officer_id: int, at: datetime) -> bytes:
    """Associated data of one version: the case, the version, who wrote it and when."""
    return context(
        "triage-record", case=case_id, version=version, officer=officer_id, at=at.isoformat()
    )


def seal(secret_raw: bytes, data: TriageRecordData, ad: bytes) -> bytes:
    """Seal a version of the record."""
    return aead.encrypt(record_key(secret_raw), data.to_json(), ad)


def open_record(secret_raw: bytes, sealed: bytes, ad: bytes) -> TriageRecordData:
    """Open a version; raise DecryptionError if it was altered or moved."""
    return TriageRecordData.from_json(aead.decrypt(record_key(secret_raw), sealed, ad))


@dataclass(frozen=True)
class RecordVersion:
    """One version of the record as the case page shows it (None data: failed its check)."""

    version: int
    officer_email: str | None
    recorded_at: datetime | None
    data: TriageRecordData | None = field(repr=False)
    changed: tuple[str, ...] = ()
