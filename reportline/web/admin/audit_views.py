"""The audit log page under /triage/admin/audit: entries newest first, filtered by officer,
case and action, with what is known of the chain's integrity at the top.

Viewing the log is itself audited (`audit.viewed`, naming the filters used). A full
check of the chain runs only when a supervisor asks for it (`services.audit`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as BaseResponse

from reportline.db import begin_read_only
from reportline.models import AuditEntry
from reportline.services import alerts, audit, cases, officers, restriction
from reportline.web.admin.forms import AuditFilterForm
from reportline.web.admin.views import blueprint
from reportline.web.context import now
from reportline.web.database import get_session
from reportline.web.forms import ActionForm, choices
from reportline.web.triage import access

PAGE_SIZE = 50
# Entries after the last full check that a view of the log checks itself: a few
# milliseconds' work (docs/performance.md); beyond it the page says what is unchecked.
VIEW_CHECK_LIMIT = 1_000
OPERATOR = "cli"  # how entries made by operator commands name their actor

# Officer pages are in English only; these are looked up for every row, so they are
# plain strings rather than catalogue entries.
ACTIONS = {
    "officer.signed_in": "Signed in",
    "officer.signed_out": "Signed out",
    "officer.signed_out_everywhere": "Signed out everywhere",
    "officer.locked": "Locked out after failed sign-ins",
    "queue.viewed": "Viewed the queue",
    "case.viewed": "Opened a case",
    "evidence.viewed": "Viewed an evidence file's preview",
    "evidence.downloaded": "Downloaded an evidence file",
    "case.status_changed": "Changed a case's status",
    "case.message_sent": "Wrote to the reporter",
    "case.triage_recorded": "Changed a triage record",
    "case.outcome_recorded": "Recorded an outcome",
    "case.assigned": "Assigned a case",
    "case.unassigned": "Unassigned a case",
    "case.no_conflict_declared": "Declared no conflict of interest",
    "case.note_added": "Added a note",
    "case.note_corrected": "Corrected a note",
    "case.integrity_failed": "Case failed its integrity check",
    "case.exported": "Exported a case for hand-over",
    "case.flood_mark_removed": "Moved a report out of the possible flood",
    "case.deleted": "Deleted a case",
    "cases.scanned": "Checked closed cases for changes",
    "queue_ledger.started": "Started the queue's protected count",
    "queue_ledger.recounted": "Reset the queue's protected count",
    "officer.created": "Created an officer",
    "officer.invited": "Invited an officer",
    "officer.enrolment_link_renewed": "Made a new enrolment link",
    "officer.enrolled": "Completed enrolment",
    "officer.second_factor_enrolled": "Set up a second factor",
    "officer.second_factor_reset": "Reset an officer's second factor",
    "officer.reset_link_used": "Used a second-factor reset link",
    "officer.recovery_codes_replaced": "Replaced recovery codes",
    "officer.granted_unit_key": "Gave an officer the unit key",
    "officer.granted_exclusion_key": "Gave a supervisor the exclusion key",
    "exclusion_key.created": "Made the exclusion key",
    "exclusion_key.rotated": "Rotated the exclusion key",
    "officer.unlocked": "Lifted a lockout",
    "officer.deactivated": "Deactivated an officer",
    "officer.role_changed": "Set an officer's role",
    "officer.role_check_failed": "Was refused: their supervisor role failed its check",
    "officer.roles_authenticated": "Gave existing roles their MAC (upgrade)",
    "officer.password_changed": "Changed their password",
    "officer.password_reset": "Reset an officer's forgotten password",
    "officer.access_revoked": "Took away an officer's access to reports",
    "officer.reactivated": "Reactivated an officer",
    "case.access_changed": "Changed who may read a case (access changed)",
    "case.resealed": "Re-sealed a restricted case to an officer's new key",
    "case.access_recovered": "Sealed a restricted case no supervisor could read (recovery key)",
    "recovery_key.used": "Used the recovery key",
    "recovery_key.verified": "Checked the recovery key",
    "recovery_key.replaced": "Replaced the recovery key",
    "unit_key.rotation_started": "Started a unit key rotation",
    "unit_key.rotated": "Rotated the unit key",
    "instance.initialised": "Set up ReportLine",
    "audit.viewed": "Viewed the audit log",
    audit.VERIFIED: "Checked the whole audit log",
    "officer.alerts_chosen": "Chose their e-mail alerts",
    "alerts.sent": "Sent e-mail alerts",
    "mail.test_sent": "Sent a test e-mail",
}
# Actors that are not officers, as the page names them.
NOT_OFFICERS = {OPERATOR: "Operator (command line)", alerts.ACTOR: "Alert batches"}


@dataclass(frozen=True)
class Row:
    """One entry as the page shows it."""

    entry: AuditEntry
    when: str
    who: str
    action: str
    reference: str | None
    details: str
    hidden: bool = False  # about a case this officer cannot read: no reference, no details


def _who(actor: str) -> str:
    return NOT_OFFICERS.get(actor, actor)


def _when(at: datetime) -> str:
    """As other officer pages show a time (Babel's "d MMM y, HH:mm"), with seconds, in
    English, without Babel's cost for each row."""
    return f"{at.day} {at:%b %Y, %H:%M:%S}"


def _value(key: str, value: Any, emails: dict[int, str]) -> str:
    if key == "officer" and isinstance(value, int):
        return emails.get(value, f"officer {value}")
    if key == "officer" and value == OPERATOR:
        return _who(value)
    if key == "action" and isinstance(value, str):
        return str(ACTIONS.get(value, value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value == {}:
        return "none"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_value(k, v, emails)}" for k, v in sorted(value.items()))
    if isinstance(value, list):
        return ", ".join(str(item).replace("_", " ") for item in value)
    return "—" if value is None else str(value)


def _details(detail: str, emails: dict[int, str]) -> str:
    """An entry's detail in words: ids, counts and names of things, never case content."""
    try:
        parsed = json.loads(detail)
    except ValueError:
        return detail  # an altered entry: the chain check says so; show it as stored
    if not isinstance(parsed, dict):
        return detail
    return "; ".join(
        f"{key.replace('_', ' ')}: {_value(key, value, emails)}" for key, value in parsed.items()
    )


def _row(entry: AuditEntry, emails: dict[int, str], hidden: frozenset[int]) -> Row:
    unnamed = entry.case_id is not None and entry.case_id in hidden
    return Row(
        entry=entry,
        when=_when(entry.at),
        who=_who(entry.actor),
        action=str(ACTIONS.get(entry.action, entry.action)),
        reference=(
            cases.reference(entry.case_id) if entry.case_id is not None and not unnamed else None
        ),
        details="" if unnamed else _details(entry.detail, emails),
        hidden=unnamed,
    )


class _BadPage(Exception):
    """A page link that ReportLine never makes."""


def _entry_id(name: str) -> int | None:
    """`before` or `after` from the query string; raise _BadPage unless a plain id."""
    text = request.args.get(name)
    if text is None:
        return None
    if not (text.isascii() and text.isdigit() and len(text) <= 15):
        raise _BadPage
    return int(text)


def _filter_form(emails: dict[int, str]) -> AuditFilterForm:
    form = AuditFilterForm(formdata=MultiDict(request.args))
    form.officer.choices = choices(
        {"": "Any officer"}
        | NOT_OFFICERS
        | {str(officer_id): email for officer_id, email in emails.items()}
    )
    form.action.choices = choices(
        {"": "Any action"} | dict(sorted(ACTIONS.items(), key=lambda item: item[1]))
    )
    return form


def _actor(form: AuditFilterForm, emails: dict[int, str]) -> str | None:
    chosen = form.officer.data or ""
    if not chosen:
        return None
    return chosen if chosen in NOT_OFFICERS else emails[int(chosen)]


@blueprint.get("/audit")
def audit_log() -> str | tuple[str, int]:
    """The audit log, newest first, filtered by officer, case and action; audited.

    Read in a read-only transaction (on SQLite, without the write lock that reports
    need); the view's own entry is appended after, in a short write.
    """
    db = get_session()
    begin_read_only(db)
    emails = {officer.id: officer.email for officer in officers.list_officers(db)}
    form = _filter_form(emails)
    if not form.validate():
        db.rollback()
        return _page(form), 400
    try:
        before, after = _entry_id("before"), _entry_id("after")
    except _BadPage:
        db.rollback()
        return _page(form, bad_page=True), 400
    filters = audit.EntryFilter(_actor(form, emails), form.action.data or None, form.case_id())
    # A restricted case this officer cannot read does not exist for them here either
    # (docs/security.md, "Restricted cases"): its entries keep their place, unnamed.
    hidden = restriction.visibility(db, access.current_keyring()).hidden
    status = audit.chain_status(db, VIEW_CHECK_LIMIT)
    if filters.case_id is not None and filters.case_id in hidden:
        page = audit.EntryPage([], None, None)
    else:
        page = audit.entry_page(db, filters, PAGE_SIZE, before=before, after=after)
    db.commit()
    used = {"officer": form.officer.data, "action": form.action.data}
    audit.record(
        db,
        g.signed_in.officer.email,
        "audit.viewed",
        now(),
        case_id=filters.case_id,
        filters={
            key: int(value) if value.isdigit() else value for key, value in used.items() if value
        },
        **({"before": before} if before is not None else {}),
        **({"after": after} if after is not None else {}),
    )
    db.commit()
    return _page(
        form,
        status=status,
        page=page,
        rows=[_row(entry, emails, hidden) for entry in page.entries],
        check_form=ActionForm(),
    )


def _page(form: AuditFilterForm, **context: Any) -> str:
    """The page; `form.data` keeps the filters in every link it makes."""
    kept = {
        "officer": form.officer.data or None,
        "case": form.case.data or None,
        "action": form.action.data or None,
    }
    return render_template(
        "admin/audit.html",
        form=form,
        kept=kept,
        who=_who,
        when=_when,
        number="{:,}".format,
        **context,
    )


@blueprint.post("/audit/check")
def check_audit_log() -> BaseResponse:
    """Check the whole chain, batch by batch, and record the result in the log."""
    if not ActionForm().validate():
        abort(400)
    db = get_session()
    walk = audit.ChainWalk()
    # Batch by batch, each read-only, so no lock is held while the whole log is read;
    # the record is written with appends locked, after the entries added meanwhile.
    more = True
    while more:
        begin_read_only(db)
        more = walk.step(db, audit.CHECK_BATCH) == audit.CHECK_BATCH
        db.commit()
    entry = audit.record_full_check(db, g.signed_in.officer.email, now(), walk)
    db.commit()
    if walk.broken:
        flash(f"The whole log was checked: it is broken at entry {walk.broken[0]:,}.", "error")
    else:
        flash(
            f"The whole log was checked: all {walk.seen:,} entries before entry {entry.id:,} "
            "are intact.",
            "success",
        )
    return redirect(url_for("triage.admin.audit_log"), code=303)
