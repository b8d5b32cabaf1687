"""The officer's own e-mail alert choices, under /triage/account/alerts.

Officer pages are in English only (docs/translations.md): nothing here is
marked for translation.
"""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse
from wtforms import ValidationError

from reportline.services import alert_recipients
from reportline.services.alert_recipients import KINDS, Preferences
from reportline.services.alert_schedule import Schedule
from reportline.web.context import now, settings
from reportline.web.database import get_session
from reportline.web.forms import ChoiceField, Form, choices
from reportline.web.triage.forms import MultiCheckboxField
from reportline.web.triage.views import blueprint

AS_THEY_COME, DAILY = "as_they_come", "daily"


def kind_labels(supervisor: bool) -> dict[str, str]:
    """What each kind of alert covers, in the officer's own terms."""
    unassigned = " and on unassigned cases" if supervisor else ""
    return {
        "new_reports": "New reports",
        "replies": f"Replies from reporters on cases assigned to you{unassigned}",
        "deadlines": (
            "Deadlines: cases due or overdue for acknowledgement or feedback, once a day"
            + (" (yours and unassigned ones)" if supervisor else " (yours)")
        ),
        "urgent": (
            "Urgent: a reporter says someone is at risk now (within 15 minutes, day or night)"
        ),
    }


class AlertPreferencesForm(Form):
    """What to be told about, and how often."""

    kinds = MultiCheckboxField("What should ReportLine e-mail you about?")
    how_often = ChoiceField(
        "How often?",
        choices=choices(
            {
                AS_THEY_COME: "At each batch, when there is something new",
                DAILY: "In one summary a day, at the first batch of the day",
            }
        ),
        required_message="Choose how often",
    )

    def validate_kinds(self, field: MultiCheckboxField) -> None:
        """Only the kinds the page offers."""
        if not set(field.data or ()) <= set(KINDS):
            raise ValidationError("Choose from the kinds of alert listed")

    def chosen(self) -> Preferences:
        """The preferences the form holds (validated)."""
        kinds = set(self.kinds.data or ())
        return Preferences(
            **{kind: kind in kinds for kind in KINDS}, daily_digest=self.how_often.data == DAILY
        )


@blueprint.route("/account/alerts", methods=["GET", "POST"])
def alert_preferences() -> BaseResponse | str | tuple[str, int]:
    """Choose what ReportLine e-mails you about: new reports, replies on your cases,
    deadlines, urgent reports; as they come or in a daily summary; or nothing."""
    db = get_session()
    officer = g.signed_in.officer
    form = AlertPreferencesForm()
    form.kinds.choices = choices(kind_labels(g.signed_in.supervisor))
    status = 200
    if request.method == "POST":
        if form.validate():
            alert_recipients.save_preferences(db, officer, form.chosen(), now())
            db.commit()
            flash("Your alert choices are saved.", "success")
            return redirect(url_for("triage.alert_preferences"), code=303)
        status = 400
    else:
        current = alert_recipients.preferences_of(db, officer.id)
        form.kinds.data = [kind for kind in KINDS if getattr(current, kind)]
        form.how_often.data = DAILY if current.daily_digest else AS_THEY_COME
    page = render_template(
        "triage/alerts.html",
        form=form,
        mail_on=settings().mail_configured,
        schedule=Schedule.from_settings(settings()).describe(),
    )
    return page, status
