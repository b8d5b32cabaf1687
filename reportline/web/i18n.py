"""Languages: English and Welsh on the reporter side, English for officers (for now).

The choice is made by a link and kept in the session cookie, which has no
expiry and identifies nobody: no separate language or tracking cookie.
"""

from __future__ import annotations

from babel.support import Translations
from flask import Flask, g, request, session
from flask_babel import Babel, get_translations

LANGUAGES = {"en": "English", "cy": "Cymraeg"}
OFFICER_LANGUAGES = {"en"}
DEFAULT = "en"


def select_locale() -> str:
    """The language of this response."""
    chosen = session.get("lang", DEFAULT)
    if chosen not in LANGUAGES:
        return DEFAULT
    if (request.blueprint or "").startswith("triage") and chosen not in OFFICER_LANGUAGES:
        return DEFAULT
    return str(chosen)


def _translations() -> Translations:
    """This request's catalogue, looked up once (Flask-Babel looks it up on every string)."""
    translations: Translations | None = g.get("_reportline_translations")
    if translations is None:
        translations = g._reportline_translations = get_translations()
    return translations


def _gettext(string: str) -> str:
    return str(_translations().ugettext(string))


def _ngettext(singular: str, plural: str, number: int) -> str:
    return str(_translations().ungettext(singular, plural, number))


def _pgettext(context: str, string: str) -> str:
    return str(_translations().upgettext(context, string))


def _npgettext(context: str, singular: str, plural: str, number: int) -> str:
    return str(_translations().unpgettext(context, singular, plural, number))


def init_app(app: Flask) -> None:
    """Attach Flask-Babel with the locale selector and our catalogue folder."""
    Babel(app, locale_selector=select_locale, default_translation_directories="translations")
    # Templates translate dozens of strings per page: use the per-request catalogue.
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        _gettext, _ngettext, newstyle=True, pgettext=_pgettext, npgettext=_npgettext
    )
    app.jinja_env.globals["LANGUAGES"] = LANGUAGES
    app.jinja_env.globals["current_language"] = select_locale
