"""Officer-side forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import EmailField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, EqualTo

from reportline.services.dialogue import MAX_MESSAGE_LENGTH
from reportline.services.officers import MAX_PASSWORD_LENGTH
from reportline.services.triage import MAX_REASON_LENGTH
from reportline.web.forms import Form, choices, max_length
from reportline.web.labels import STATUS


class LoginForm(Form):
    """E-mail, password and second factor on one page: one generic answer to any mistake."""

    email = EmailField(_l("E-mail address"), validators=[DataRequired(), max_length(254)])
    password = PasswordField(
        _l("Password"), validators=[DataRequired(), max_length(MAX_PASSWORD_LENGTH)]
    )
    code = StringField(
        _l("Code from your authenticator app, or a recovery code"),
        validators=[max_length(40)],
    )


class SecondFactorForm(Form):
    """Confirm a new authenticator with its first code."""

    code = StringField(
        _l("Code from your authenticator app"),
        validators=[DataRequired(message=_l("Enter the 6-digit code")), max_length(12)],
    )


class ChoosePasswordForm(Form):
    """A new officer chooses their password (enrolment link)."""

    password = PasswordField(
        _l("Choose a password"),
        validators=[DataRequired(message=_l("Choose a password")), max_length(MAX_PASSWORD_LENGTH)],
    )
    confirm = PasswordField(
        _l("Type the password again"),
        validators=[EqualTo("password", message=_l("The two passwords are not the same"))],
    )


class ConfirmPasswordForm(Form):
    """An officer proves who they are before setting up a new authenticator."""

    password = PasswordField(
        _l("Your current password"),
        validators=[
            DataRequired(message=_l("Enter your current password")),
            max_length(MAX_PASSWORD_LENGTH),
        ],
    )


class StatusForm(Form):
    """Move a case to another status, with a reason kept inside the unit."""

    status = SelectField(_l("New status"), choices=choices(STATUS), validate_choice=True)
    reason = TextAreaField(
        _l("Reason (seen only by the unit)"), validators=[max_length(MAX_REASON_LENGTH)]
    )


class MessageForm(Form):
    """Write to the reporter (sealed so only they and the unit can read it)."""

    message = TextAreaField(
        _l("Message to the reporter"),
        validators=[DataRequired(message=_l("Write your message")), max_length(MAX_MESSAGE_LENGTH)],
    )
    kind = SelectField(
        _l("Type of message"),
        choices=choices(
            {
                "message": _l("Message or question"),
                "outcome": _l("Outcome to share with the reporter"),
            }
        ),
        validate_choice=True,
    )
