"""Supervisor forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import EmailField
from wtforms.validators import DataRequired

from reportline.web.forms import ChoiceField, Form, choices, max_length


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
