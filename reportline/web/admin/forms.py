"""Supervisor forms."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from wtforms import EmailField, HiddenField, SelectField, StringField, ValidationError
from wtforms.validators import DataRequired

from reportline.services import cases
from reportline.services.errors import NotFound
from reportline.web.forms import ChoiceField, Form, choices, max_length
from reportline.web.triage.forms import MultiCheckboxField


class InviteForm(Form):
    """Add an officer by a one-time enrolment link."""

    email = EmailField(
        _l("E-mail address"),
        validators=[
            DataRequired(message=_l("Enter the officer's e-mail address")),
            max_length(254),
        ],
    )
    role = ChoiceField(
        _l("Role"),
        choices=choices(
            {
                "officer": _l("Officer: reads and works on cases"),
                "supervisor": _l("Supervisor: also manages officers and access"),
            }
        ),
        required_message=_l("Choose a role"),
    )


class RoleForm(Form):
    """An officer's new role (officer pages added since are in English only)."""

    role = ChoiceField(
        "Role",
        choices=choices(
            {
                "officer": "Officer: reads and works on cases",
                "supervisor": "Supervisor: also manages officers and access",
            }
        ),
        required_message="Choose a role",
    )


class FingerprintForm(Form):
    """The officer's key fingerprint as they read it back (English only, like RoleForm)."""

    fingerprint = StringField(
        "Their key fingerprint",
        validators=[DataRequired(message="Type the fingerprint they read to you"), max_length(64)],
    )


class AuditFilterForm(Form):
    """Which entries of the audit log to show (read from the query string, so a view of
    the log can be bookmarked). The view fills in the choices. Officer pages are in
    English only, so nothing here is marked for translation."""

    class Meta(Form.Meta):
        csrf = False

    officer = SelectField("Officer", default="", validate_choice=False)
    case = StringField(
        "Case reference",
        validators=[max_length(20)],
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
    )
    action = SelectField("Action", default="", validate_choice=False)

    def validate_officer(self, field: SelectField) -> None:
        """Only an officer (or the operator) the list offers."""
        if field.data not in {choice.value for choice in field.choices or []}:
            raise ValidationError("Choose an officer from the list")

    def validate_action(self, field: SelectField) -> None:
        """Only an action the list offers."""
        if field.data not in {choice.value for choice in field.choices or []}:
            raise ValidationError("Choose an action from the list")

    def validate_case(self, field: StringField) -> None:
        """A case reference, if any, in the form RL-XXXX-XXXX."""
        if field.data:
            try:
                cases.parse_reference(field.data)
            except NotFound:
                raise ValidationError(
                    "Enter a case reference like RL-3K7D-Q9PX, or leave it empty"
                ) from None

    def case_id(self) -> int | None:
        """The case to filter by (call after `validate`)."""
        return cases.parse_reference(self.case.data) if self.case.data else None


class AccessForm(Form):
    """Who may read a case: the officers chosen, the access state shown (a version), and
    whether this post is the confirmation of a change already reviewed."""

    officers = MultiCheckboxField("Officers who may read this case")
    version = HiddenField()
    lift = HiddenField()
    confirm = HiddenField()

    def chosen(self) -> list[int] | None:
        """The officer ids chosen (None: back to the whole unit); raise ValueError for
        a value that cannot be an officer's id."""
        if self.lift.data == "yes":
            return None
        ids = []
        for value in self.officers.data or []:
            if not re.fullmatch(r"[0-9]{1,15}", str(value)):
                raise ValueError("not an officer id")
            ids.append(int(value))
        return ids
