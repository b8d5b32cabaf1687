"""Form pieces shared by every blueprint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import current_app, g, request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFProtect, generate_csrf
from wtforms import PasswordField, RadioField, StringField, ValidationError
from wtforms.fields.choices import SelectChoice
from wtforms.fields.core import UnboundField
from wtforms.validators import Length

from reportline.services.text import clean_text

# Checks the token of every POST before any view runs. Views that take long
# typed text are exempted and check the token through their own form instead,
# so an expired token re-shows the form with the text kept, never a bare error.
csrf = CSRFProtect()


_FROM_REQUEST = object()


def _clean(value: object) -> object:
    return clean_text(value) if isinstance(value, str) else value


class Form(FlaskForm):
    """Every form's base: reads only the posted fields, and cleans typed text.

    Flask-WTF would also read uploaded files and JSON bodies into fields, so a
    file part or a number where text belongs reached `str` methods (a 500 on
    every form). Here a form sees only `request.form`: such a field is simply
    missing. Text fields (not passwords) lose control characters on the way in
    (`reportline.services.text.clean_text`), before any length is checked.
    """

    class Meta(FlaskForm.Meta):
        """Text fields get the cleaning filter first; officer forms sign their CSRF token
        with the officer session's own key (`reportline.web.triage.access`)."""

        @property
        def csrf_secret(self) -> Any:
            """The officer session's CSRF key when there is one, else the site's."""
            return g.get("csrf_secret") or current_app.secret_key

        def bind_field(self, form: Any, unbound_field: UnboundField, options: Any) -> Any:
            """Bind a field, putting `clean_text` before its own filters."""
            field_class = unbound_field.field_class
            if issubclass(field_class, StringField) and not issubclass(field_class, PasswordField):
                filters = [_clean, *unbound_field.kwargs.get("filters", ())]
                unbound_field = UnboundField(
                    field_class,
                    *unbound_field.args,
                    **{**unbound_field.kwargs, "filters": filters},
                )
            return super().bind_field(form, unbound_field, options)

    def __init__(self, formdata: Any = _FROM_REQUEST, **kwargs: Any) -> None:
        if formdata is _FROM_REQUEST:
            formdata = request.form if self.is_submitted() else None
        super().__init__(formdata=formdata, **kwargs)


def csrf_token_for_page() -> str:
    """The CSRF token a template puts in a form without a form class (the sign-out
    button): bound to the officer session on officer pages, like every form's."""
    return generate_csrf(secret_key=g.get("csrf_secret"))


def page_number(text: str | None) -> int:
    """A page number from a query string: 1 unless it is a plain, sane positive number."""
    if text and text.isascii() and text.isdigit() and len(text) <= 9:
        return max(int(text), 1)
    return 1


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


class ActionForm(Form):
    """A form with nothing but its CSRF token: buttons that change something."""
