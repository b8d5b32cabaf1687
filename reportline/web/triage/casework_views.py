"""Officer pages for the unit's working record of a case: the triage record, who owns the
case, and internal notes. Each refusal shows the problem next to its field and changes
nothing (400; 409 when the case changed meanwhile or failed its checks)."""

from __future__ import annotations

import re
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from reportline.db import begin_read_only
from reportline.models.case import PRIORITIES
from reportline.services import cases, casework, triage, triage_record
from reportline.services.case_checks import CaseTampered
from reportline.services.errors import AccessDenied, NotFound, ServiceError
from reportline.services.officers import get_officer
from reportline.services.triage_record import (
    DECISIONS,
    HANDLING_CODES,
    INTELLIGENCE_ASSESSMENT,
    LINK_KINDS,
    MAX_LINKS,
    MAX_SUBJECTS,
    OUTCOMES,
    PRIORITY_MEANING,
    REFERRAL_BODIES,
    RELATIONSHIPS,
    RISK_FLAGS,
    SOURCE_EVALUATION,
    Link,
    RecordInvalid,
    Subject,
    TriageRecordData,
)
from reportline.web.context import now, settings
from reportline.web.database import get_session
from reportline.web.forms import choices
from reportline.web.triage import access
from reportline.web.triage.forms import AssignForm, NoteForm, TakeForm, TriageRecordForm
from reportline.web.triage.views import _case_page_again, _signed_in, blueprint

PRIORITY_NAMES = {rank: name for name, rank in PRIORITIES.items()}


@blueprint.app_context_processor
def _casework_labels() -> dict[str, Any]:
    """The triage record's schemes, for the case page and the record form."""
    return {
        "TRIAGE": {
            "relationship": RELATIONSHIPS,
            "risk_flags": RISK_FLAGS,
            "source_evaluation": SOURCE_EVALUATION,
            "intelligence_assessment": INTELLIGENCE_ASSESSMENT,
            "handling_code": HANDLING_CODES,
            "decision": DECISIONS,
            "outcome": OUTCOMES,
            "referral_body": REFERRAL_BODIES,
            "link": LINK_KINDS,
            "priority": PRIORITY_MEANING,
        },
        "PRIORITY_NAMES": PRIORITY_NAMES,
        "case_reference": cases.reference,
    }


# ---------------------------------------------------------------- the triage record


@blueprint.route("/cases/<reference>/record", methods=["GET", "POST"])
def edit_record(reference: str) -> BaseResponse | str | tuple[str, int]:
    """The triage record form. "Add another" buttons add a blank subject or link without
    saving (no JavaScript needed); saving writes a new version, refused whole (400) if a
    field is wrong, or (409) if someone saved a newer version since the form was shown."""
    db = get_session()
    case_id = cases.parse_reference(reference)
    # Read without SQLite's write lock; a view of the form is audited in a short write
    # after (a save audits itself).
    begin_read_only(db)
    opened = triage.read_case(db, case_id, access.current_keyring(), now())
    db.commit()
    if request.method != "POST":
        triage.record_case_view(db, opened, _signed_in().officer, now())
        db.commit()
    if not opened.writable or opened.record is None:
        return _case_page_again(reference, 409)
    if request.method != "POST":
        form = _record_form(opened)
        return _record_page(opened, form)
    form = TriageRecordForm()
    _offer_categories(form)
    if "add_subject" in request.form or "add_link" in request.form:
        entries = form.subjects if "add_subject" in request.form else form.links
        if len(entries) < entries.max_entries:
            entries.append_entry()
        return _record_page(opened, form)
    if not form.validate():
        return _record_page(opened, form), 400
    try:
        _refuse_more_entries_than_the_form_holds(form)
        data = _record_from_form(form)
        changed = casework.save_record(
            db,
            access.current_keyring(),
            case_id,
            data,
            form.priority.data or "",
            _version(form),
            triage_record.national_categories(settings().national_categories),
            _signed_in().officer,
            now(),
        )
    except RecordInvalid as exc:
        db.rollback()
        _show_problems(form, exc.problems)
        return _record_page(opened, form), 400
    except NotFound:
        db.rollback()
        _link_error(form, "Link only to cases that exist")
        return _record_page(opened, form), 400
    except casework.StaleForm:
        db.rollback()
        newer = triage.open_case(db, case_id, access.current_keyring(), _signed_in().officer, now())
        db.commit()
        form.version.data = str(newer.triage_version)
        return _record_page(newer, form, stale=True), 409
    except CaseTampered:
        db.rollback()
        return _case_page_again(reference, 409)
    db.commit()
    if changed:
        flash("Triage record saved.", "success")
    else:
        flash("Nothing was changed, so no new version was saved.", "success")
    return redirect(url_for("triage.case", reference=reference, _anchor="record"), code=303)


def _refuse_more_entries_than_the_form_holds(form: TriageRecordForm) -> None:
    """WTForms drops entries past a list's maximum; a post with more is refused whole
    rather than saved cut short. Raises RecordInvalid."""
    for entries, problem in (
        (form.subjects, "subjects"),
        (form.links, "links"),
    ):
        prefix = f"{entries.name}-"
        posted = {
            name[len(prefix) :].split("-", 1)[0] for name in request.form if name.startswith(prefix)
        }
        if len(posted) > entries.max_entries:
            raise RecordInvalid({problem: f"Record at most {entries.max_entries} {problem}"})


def _record_page(opened: triage.OpenedCase, form: TriageRecordForm, stale: bool = False) -> str:
    return render_template("triage/record.html", opened=opened, form=form, stale=stale)


def _offer_categories(form: TriageRecordForm) -> None:
    names = triage_record.national_categories(settings().national_categories)
    form.categories.choices = choices({name: name for name in names})


def _record_form(opened: triage.OpenedCase) -> TriageRecordForm:
    """The form filled in from the newest version, with a blank subject and link to add."""
    record = opened.record or TriageRecordData()
    subjects = [vars(subject) for subject in record.subjects]
    links = [
        {"reference": cases.reference(link.case_id), "kind": link.kind} for link in record.links
    ]
    form = TriageRecordForm(
        formdata=None,
        data={
            "version": str(opened.triage_version),
            "priority": PRIORITY_NAMES.get(opened.priority, ""),
            "categories": list(record.categories),
            "subjects": [*subjects, {}] if len(subjects) < MAX_SUBJECTS else subjects,
            "relationship": record.relationship,
            "risk_flags": list(record.risk_flags),
            "source_evaluation": record.source_evaluation,
            "intelligence_assessment": record.intelligence_assessment,
            "handling_code": record.handling_code,
            "handling_conditions": record.handling_conditions,
            "decision": record.decision,
            "rationale": record.rationale,
            "allegation_summary": record.allegation_summary,
            "intelligence_ref": record.intelligence_ref,
            "investigation_ref": record.investigation_ref,
            "links": [*links, {}] if len(links) < MAX_LINKS else links,
        },
    )
    _offer_categories(form)
    return form


def _version(form: TriageRecordForm) -> int:
    """The version the form was filled from (a tampered value is simply stale)."""
    value = form.version.data or ""
    return int(value) if re.fullmatch(r"[0-9]{1,9}", value) else -1


def _record_from_form(form: TriageRecordForm) -> TriageRecordData:
    """What the officer typed, as a record (the service checks every value); carries over
    the outcome, which only closing the case sets. Raises RecordInvalid for a link that
    is not a case reference."""
    subjects = tuple(
        subject
        for subject in (
            Subject(
                name=(entry.form.name.data or "").strip(),
                number=(entry.form.number.data or "").strip(),
                role=(entry.form.role.data or "").strip(),
                team=(entry.form.team.data or "").strip(),
            )
            for entry in form.subjects
        )
        if not subject.empty
    )
    links: list[Link] = []
    for index, entry in enumerate(form.links):
        text = (entry.form.reference.data or "").strip()
        if not text:
            continue
        try:
            links.append(Link(cases.parse_reference(text), entry.form.kind.data or ""))
        except NotFound:
            raise RecordInvalid(
                {f"link_{index}": "Enter a case reference like RL-ABCD-EFGH"}
            ) from None
    return TriageRecordData(
        categories=tuple(form.categories.data or ()),
        subjects=subjects,
        relationship=form.relationship.data or "",
        risk_flags=tuple(form.risk_flags.data or ()),
        source_evaluation=form.source_evaluation.data or "",
        intelligence_assessment=form.intelligence_assessment.data or "",
        handling_code=form.handling_code.data or "",
        handling_conditions=(form.handling_conditions.data or "").strip(),
        decision=form.decision.data or "",
        rationale=(form.rationale.data or "").strip(),
        allegation_summary=(form.allegation_summary.data or "").strip(),
        intelligence_ref=(form.intelligence_ref.data or "").strip(),
        investigation_ref=(form.investigation_ref.data or "").strip(),
        links=tuple(dict.fromkeys(links)),
    )


def _show_problems(form: TriageRecordForm, problems: dict[str, str]) -> None:
    """Put each of the service's problems next to its field."""
    for name, problem in problems.items():
        if name.startswith("subject_"):
            _, index, part = name.split("_", 2)
            form.subjects[int(index)].form[part].errors = [problem]
        elif name.startswith("link_"):
            form.links[int(name.split("_", 1)[1])].form.reference.errors = [problem]
        elif name == "links":
            _link_error(form, problem)
        elif name == "subjects":
            form.subjects[0].form.name.errors = [problem]
        elif name in form:
            form[name].errors = [problem]


def _link_error(form: TriageRecordForm, problem: str) -> None:
    form.links[0].form.reference.errors = [problem]


# ---------------------------------------------------------------- ownership


@blueprint.post("/cases/<reference>/take")
def take_case(reference: str) -> BaseResponse | tuple[str, int]:
    """An officer takes an unassigned case, declaring no conflict of interest."""
    form = TakeForm()
    if not form.validate():
        return _case_page_again(reference, 400, take_form=form)
    officer = _signed_in().officer
    try:
        casework.assign(
            get_session(), cases.parse_reference(reference), officer, officer, True, now()
        )
    except AccessDenied:
        get_session().rollback()
        form.no_conflict.errors = ["Someone else took this case first"]
        return _case_page_again(reference, 409, take_form=form)
    except casework.CannotOwn:
        get_session().rollback()
        form.no_conflict.errors = ["Only an officer who can read reports can take a case"]
        return _case_page_again(reference, 400, take_form=form)
    return _done(reference, "The case is yours.")


@blueprint.post("/cases/<reference>/assign")
def assign_case(reference: str) -> BaseResponse | tuple[str, int]:
    """A supervisor gives the case to an officer who can read reports."""
    if not _signed_in().supervisor:
        raise AccessDenied("supervisors only")
    db = get_session()
    form = AssignForm()
    try:
        chosen = form.officer_id.data or ""
        if not re.fullmatch(r"[0-9]{1,15}", chosen):
            raise ValueError("not an officer id")
        assignee = get_officer(db, int(chosen))
        casework.assign(
            db, cases.parse_reference(reference), assignee, _signed_in().officer, False, now()
        )
    except (ValueError, NotFound, ServiceError):
        db.rollback()
        form.officer_id.errors = ["Choose an officer who can read reports"]
        return _case_page_again(reference, 400, assign_form=form)
    return _done(reference, "Case assigned. The officer confirms they have no conflict.")


@blueprint.post("/cases/<reference>/declare")
def declare_no_conflict(reference: str) -> BaseResponse | tuple[str, int]:
    """The case's owner confirms they have no conflict of interest in it."""
    form = TakeForm()
    if not form.validate():
        return _case_page_again(reference, 400, take_form=form)
    casework.declare_no_conflict(
        get_session(), cases.parse_reference(reference), _signed_in().officer, now()
    )
    return _done(reference, "Your declaration is recorded.")


@blueprint.post("/cases/<reference>/unassign")
def unassign_case(reference: str) -> BaseResponse:
    """Give the case back to the unassigned (its owner, or a supervisor)."""
    casework.unassign(get_session(), cases.parse_reference(reference), _signed_in().officer, now())
    return _done(reference, "The case is unassigned.")


def _done(reference: str, message: str, anchor: str = "owner") -> BaseResponse:
    get_session().commit()
    flash(message, "success")
    return redirect(url_for("triage.case", reference=reference, _anchor=anchor), code=303)


# ---------------------------------------------------------------- notes


@blueprint.post("/cases/<reference>/notes")
def add_note(reference: str) -> BaseResponse | tuple[str, int]:
    """Add an internal note (sealed; never shown to the reporter)."""
    form = NoteForm()
    if not form.validate():
        return _case_page_again(reference, 400, note_form=form)
    db = get_session()
    try:
        casework.add_note(
            db,
            access.current_keyring(),
            cases.parse_reference(reference),
            form.note.data or "",
            _signed_in().officer,
            now(),
        )
    except casework.NoteInvalid as exc:
        db.rollback()
        form.note.errors = [str(exc).capitalize()]
        return _case_page_again(reference, 400, note_form=form)
    except CaseTampered:
        db.rollback()
        return _case_page_again(reference, 409, note_form=form)
    return _done(reference, "Note added.", anchor="notes")


@blueprint.route("/cases/<reference>/notes/<int:seq>/correct", methods=["GET", "POST"])
def correct_note(reference: str, seq: int) -> BaseResponse | str | tuple[str, int]:
    """Correct one of your own notes: the correction is a new version, the old one stays."""
    db = get_session()
    case_id = cases.parse_reference(reference)
    opened = triage.open_case(db, case_id, access.current_keyring(), _signed_in().officer, now())
    db.commit()
    note = next((n for n in opened.notes if n.seq == seq and n.problem is None), None)
    if note is None:
        abort(404)
    if note.officer_id != _signed_in().officer.id:
        raise AccessDenied("an officer corrects only their own notes")
    if not opened.writable:
        return _case_page_again(reference, 409)
    form = NoteForm() if request.method == "POST" else NoteForm(formdata=None, note=note.text)
    form.note.label.text = "Corrected note"
    if request.method != "POST":
        return render_template("triage/correct_note.html", opened=opened, note=note, form=form)
    status = 400
    if form.validate():
        try:
            casework.add_note(
                db,
                access.current_keyring(),
                case_id,
                form.note.data or "",
                _signed_in().officer,
                now(),
                corrects=seq,
            )
        except casework.NoteInvalid as exc:
            db.rollback()
            form.note.errors = [str(exc).capitalize()]
        except CaseTampered:
            db.rollback()
            return _case_page_again(reference, 409)
        else:
            return _done(reference, "Note corrected. The earlier version is kept.", "notes")
    page = render_template("triage/correct_note.html", opened=opened, note=note, form=form)
    return page, status
