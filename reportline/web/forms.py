"""Form pieces shared by every blueprint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFProtect
from wtforms import RadioField, ValidationError
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length

# Checks the token of every POST before any view runs. Views that take long
# typed text are exempted and check the token through their own form instead,
# so an expired token re-shows the form with the text kept, never a bare error.
csrf = CSRFProtect()


class ChoiceField(RadioField):
    """A radio group that names a tampered or missing value in our own words."""

    def __init__(self, *args: Any, required_message: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, validate_choice=False, **kwargs)
        self.required_message = required_message or _l("Choose one option")

    def pre_validate(self, form: Any) -> None:
        """Refuse an empty or unknown value with the field's own message."""
        if self.data not in {choice.value for choice in self.choices or []}:
            raise ValidationError(self.required_message)


def choices(labels: Mapping[str, Any]) -> list[SelectChoice]:
    """Select or radio options from a mapping of value to (lazily translated) label."""
    return [SelectChoice(value, label) for value, label in labels.items()]


def max_length(limit: int) -> Length:
    """A length limit whose message says the limit in characters."""
    return Length(max=limit, message=_l("Use %(limit)s characters or fewer", limit=f"{limit:,}"))


class ActionForm(FlaskForm):
    """A form with nothing but its CSRF token: buttons that change something."""
