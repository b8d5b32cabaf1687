"""Reporter-side forms: the report, the receipt sign-in, a reply."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import DataRequired

from reportline.services.dialogue import MAX_MESSAGE_LENGTH
from reportline.services.submissions import FIELD_LIMITS
from reportline.web.forms import ChoiceField, Form, choices, max_length
from reportline.web.labels import AT_RISK, CATEGORY, HOW_KNOWN


def _strip(value: str | None) -> str:
    return (value or "").strip()


class ReportForm(Form):
    """The report itself. Every problem is named next to its field."""

    category = ChoiceField(
        _l("What is your report about?"),
        choices=choices(CATEGORY),
        required_message=_l("Choose what your report is about"),
    )
    what_happened = TextAreaField(
        _l("What happened?"),
        filters=[_strip],
        validators=[
            DataRequired(message=_l("Tell us what happened")),
            max_length(FIELD_LIMITS["what_happened"]),
        ],
    )
    when = StringField(
        _l("When did it happen? (optional)"),
        filters=[_strip],
        validators=[max_length(FIELD_LIMITS["when"])],
    )
    where = StringField(
        _l("Where did it happen? (optional)"),
        filters=[_strip],
        validators=[max_length(FIELD_LIMITS["where"])],
    )
    who_involved = TextAreaField(
        _l("Who is involved? (optional)"),
        filters=[_strip],
        validators=[max_length(FIELD_LIMITS["who_involved"])],
    )
    how_known = ChoiceField(
        _l("How do you know about it?"),
        choices=choices(HOW_KNOWN),
        required_message=_l("Choose how you know about it"),
    )
    how_known_detail = TextAreaField(
        _l("Anything more about how you know (optional)"),
        filters=[_strip],
        validators=[max_length(FIELD_LIMITS["how_known_detail"])],
    )
    at_risk = ChoiceField(
        _l("Is anyone at risk of harm now?"),
        choices=choices(AT_RISK),
        required_message=_l("Say whether anyone is at risk of harm now"),
    )
    at_risk_detail = TextAreaField(
        _l("Who is at risk, and how? (optional)"),
        filters=[_strip],
        validators=[max_length(FIELD_LIMITS["at_risk_detail"])],
    )
    exclude = TextAreaField(
        _l(
            "Is there anyone in the anti-corruption unit who should not see this report? (optional)"
        ),
        filters=[_strip],
        validators=[max_length(FIELD_LIMITS["exclude"])],
    )
    # The form's one-time value (services.form_tickets): one form makes one report.
    submission = HiddenField()
    # Hidden from people (and from screen readers and the keyboard); scripts that fill
    # in every field fill it in too. Filled in, the form is shown again to check.
    homepage = StringField(_l("Leave this empty"))
    # The answer to the optional proof of work, found by the page's script.
    proof = HiddenField()


class ReceiptForm(Form):
    """Sign in to follow-up with the receipt."""

    receipt = TextAreaField(_l("Your receipt"))


class ReplyForm(Form):
    """A reporter's reply or added information."""

    message = TextAreaField(
        _l("Your message"),
        filters=[_strip],
        validators=[
            DataRequired(message=_l("Write your message")),
            max_length(MAX_MESSAGE_LENGTH),
        ],
    )
