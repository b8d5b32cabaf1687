"""Officer-side forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    EmailField,
    FieldList,
    FormField,
    HiddenField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, ValidationError

from reportline.services.casework import MAX_NOTE_LENGTH
from reportline.services.dialogue import MAX_MESSAGE_LENGTH
from reportline.services.handover_zip import MIN_PASSPHRASE_LENGTH
from reportline.services.officers import MAX_PASSWORD_LENGTH
from reportline.services.triage import MAX_REASON_LENGTH
from reportline.services.triage_record import (
    DECISIONS,
    HANDLING_CODES,
    INTELLIGENCE_ASSESSMENT,
    LINK_KINDS,
    MAX_LINKS,
    MAX_LONG_TEXT,
    MAX_SHORT_TEXT,
    MAX_SUBJECTS,
    OUTCOMES,
    PRIORITY_MEANING,
    REFERRAL_BODIES,
    RELATIONSHIPS,
    RISK_FLAGS,
    SOURCE_EVALUATION,
)
from reportline.web.forms import ChoiceField, Form, choices, max_length
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
    """Move a case to another status, with a reason kept inside the unit; closing also
    records the outcome (and, for a referred case, where it went)."""

    status = SelectField(_l("New status"), choices=choices(STATUS), validate_choice=True)
    reason = TextAreaField(
        _l("Reason (seen only by the unit)"), validators=[max_length(MAX_REASON_LENGTH)]
    )
    # Officer pages are in English: officer-only text below is not marked for translation.
    outcome = SelectField(
        "Outcome (when closing)", choices=choices({"": "Choose an outcome", **OUTCOMES}), default=""
    )
    referral_body = SelectField(
        "Referred to (a referred case)",
        choices=choices({"": "Choose where it was referred", **REFERRAL_BODIES}),
        default="",
    )
    referral_reference = StringField("Their reference", validators=[max_length(MAX_SHORT_TEXT)])


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
    is_feedback = BooleanField(
        "This message is the feedback the reporter is owed (it meets the 3-month deadline)"
    )


def graded(scale: dict[str, str]) -> list[SelectChoice]:
    """A grading scale's options, each shown with its code, after "Not graded"."""
    return choices({"": "Not graded", **{code: f"{code}: {text}" for code, text in scale.items()}})


class MultiCheckboxField(SelectMultipleField):
    """Several options, each a checkbox (rendered by the `checkboxes` component)."""

    def pre_validate(self, form: object) -> None:
        """Leave unknown values to the service, which names them next to the field."""


class SubjectForm(Form):
    """One person the report is about."""

    class Meta(Form.Meta):
        csrf = False

    name = StringField("Name", validators=[max_length(MAX_SHORT_TEXT)])
    number = StringField("Staff or collar number", validators=[max_length(MAX_SHORT_TEXT)])
    role = StringField("Role", validators=[max_length(MAX_SHORT_TEXT)])
    team = StringField("Team", validators=[max_length(MAX_SHORT_TEXT)])


class LinkForm(Form):
    """A link to another case by its reference."""

    class Meta(Form.Meta):
        csrf = False

    reference = StringField("Case reference", validators=[max_length(20)])
    kind = SelectField("Link", choices=choices(LINK_KINDS), default=next(iter(LINK_KINDS)))


class TriageRecordForm(Form):
    """The triage record: every field the unit records about a case (sealed)."""

    version = HiddenField()
    priority = SelectField(
        "Priority",
        choices=choices({"": "Not set", **PRIORITY_MEANING}),
        default="",
        validate_choice=True,
    )
    categories = MultiCheckboxField("National corruption categories")
    subjects = FieldList(FormField(SubjectForm), min_entries=1, max_entries=MAX_SUBJECTS)
    relationship = SelectField(
        "The reporter's relationship to it",
        choices=choices({"": "Not recorded", **RELATIONSHIPS}),
        default="",
    )
    risk_flags = MultiCheckboxField("Risk flags", choices=choices(RISK_FLAGS))
    source_evaluation = SelectField(
        "Source evaluation",
        choices=graded(SOURCE_EVALUATION),
        default="",
    )
    intelligence_assessment = SelectField(
        "Intelligence assessment",
        choices=graded(INTELLIGENCE_ASSESSMENT),
        default="",
    )
    handling_code = SelectField(
        "Handling code",
        choices=graded(HANDLING_CODES),
        default="",
    )
    handling_conditions = TextAreaField(
        "Conditions of sharing (handling code C)", validators=[max_length(MAX_LONG_TEXT)]
    )
    decision = SelectField(
        "Triage decision", choices=choices({"": "Not decided yet", **DECISIONS}), default=""
    )
    rationale = TextAreaField("Rationale for the decision", validators=[max_length(MAX_LONG_TEXT)])
    allegation_summary = TextAreaField(
        "Summary of the allegation", validators=[max_length(MAX_LONG_TEXT)]
    )
    intelligence_ref = StringField(
        "Intelligence record reference", validators=[max_length(MAX_SHORT_TEXT)]
    )
    investigation_ref = StringField(
        "Investigation reference", validators=[max_length(MAX_SHORT_TEXT)]
    )
    links = FieldList(FormField(LinkForm), min_entries=1, max_entries=MAX_LINKS)


class AssignForm(Form):
    """A supervisor gives a case to an officer who can read reports."""

    officer_id = SelectField("Give this case to", coerce=str)


class TakeForm(Form):
    """An officer takes an unassigned case, declaring no conflict of interest."""

    no_conflict = BooleanField(
        "I have no conflict of interest in this case: I have no personal or working "
        "relationship with anyone it concerns that could affect my judgement",
        validators=[DataRequired(message="Confirm that you have no conflict of interest")],
    )


class NoteForm(Form):
    """An internal note (never seen by the reporter)."""

    note = TextAreaField(
        "Note (seen only by the unit)",
        validators=[DataRequired(message="Write the note"), max_length(MAX_NOTE_LENGTH)],
    )


# The longest passphrase taken (the zip's AES key is derived from it).
MAX_PASSPHRASE_LENGTH = 256


class ExportForm(Form):
    """Export the case for hand-over: which variant, what a sanitised one adds back, and
    an optional passphrase (typed twice) that encrypts the archive. The passphrase is
    never stored or logged."""

    variant = ChoiceField(
        "What to export",
        choices=choices(
            {
                "sanitised": "Sanitised: the triage record, your summary of the allegation, "
                "the history and the outcome",
                "full": "Full: also the report in the reporter's words and the conversation",
            }
        ),
        default="sanitised",
        required_message="Choose a sanitised or a full export",
    )
    include_words = BooleanField("Include the reporter's words (sanitised export)")
    include_conversation = BooleanField("Include the conversation (sanitised export)")
    passphrase = PasswordField(
        "Passphrase (optional; needed for anything that leaves the unit)",
        validators=[max_length(MAX_PASSPHRASE_LENGTH)],
    )
    confirm = PasswordField(
        "Type the passphrase again",
        validators=[
            EqualTo("passphrase", message="The two passphrases are not the same"),
        ],
    )

    def validate_passphrase(self, field: PasswordField) -> None:
        """A passphrase, if given, has at least MIN_PASSPHRASE_LENGTH characters."""
        if field.data and len(field.data) < MIN_PASSPHRASE_LENGTH:
            raise ValidationError(
                f"Use a passphrase of at least {MIN_PASSPHRASE_LENGTH} characters"
            )
