"""The supervisors' mail page under /triage/admin/mail: whether alerts are set up, when
each kind of batch last went, to how many officers, what failed, and a test mail.

The SMTP password is never shown, only whether a login is used. Officer pages
are in English only (docs/translations.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import flash, g, redirect, render_template, url_for
from werkzeug.wrappers import Response as BaseResponse

from reportline.models import AlertBatch
from reportline.services import alert_delivery, alert_mail
from reportline.services.alert_schedule import Schedule
from reportline.services.mail import FAILURES, MailFailed
from reportline.web.admin.views import blueprint
from reportline.web.context import now, settings
from reportline.web.database import get_session
from reportline.web.forms import ActionForm

BATCHES = {
    "regular": "Regular batches",
    "digest": "Daily summaries",
    "urgent": "Urgent alerts",
}


@dataclass(frozen=True)
class BatchRow:
    """One kind of batch as the page shows it."""

    name: str
    sent_at: str | None
    mails_sent: int
    mails_failed: int
    failed_at: str | None
    failure: str | None


def _local(at: datetime | None) -> str | None:
    """A stored (UTC) time in the unit's time zone, e.g. "23 Nov 2026, 10:00 GMT"."""
    if at is None:
        return None
    local = at.replace(tzinfo=UTC).astimezone(ZoneInfo(settings().timezone))
    return f"{local.day} {local:%b %Y, %H:%M %Z}"


def _rows() -> list[BatchRow]:
    db = get_session()
    rows = []
    for kind, name in BATCHES.items():
        batch = db.get(AlertBatch, kind)
        rows.append(
            BatchRow(
                name,
                _local(batch.sent_at) if batch else None,
                batch.mails_sent if batch else 0,
                batch.mails_failed if batch else 0,
                _local(batch.failed_at) if batch else None,
                FAILURES.get(batch.failure or "") if batch else None,
            )
        )
    return rows


@blueprint.get("/mail")
def mail() -> str:
    """Whether mail is set up (never the password), the batches and their failures."""
    waiting, failing = alert_delivery.waiting(get_session())
    schedule = Schedule.from_settings(settings())
    return render_template(
        "admin/mail.html",
        config=settings(),
        schedule=schedule.describe(),
        next_batch=_local(schedule.next_regular(now())),
        rows=_rows(),
        waiting=waiting,
        failing=failing,
        me=g.signed_in.officer.email,
        form=ActionForm(),
    )


@blueprint.post("/mail/test")
def send_test_mail() -> BaseResponse:
    """Send a test mail to the supervisor's own address; audited either way."""
    if not ActionForm().validate():
        return redirect(url_for("triage.admin.mail"), code=303)
    db = get_session()
    officer = g.signed_in.officer
    try:
        alert_mail.send_test_mail(db, settings(), officer, now())
    except MailFailed as exc:
        db.commit()
        flash(f"The test mail was not sent: {exc}.", "error")
    else:
        db.commit()
        flash(f"A test mail is on its way to {officer.email}.", "success")
    return redirect(url_for("triage.admin.mail"), code=303)
