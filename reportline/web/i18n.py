"""Languages: English and Welsh on the reporter side, English for officers (for now).

The choice is made by a link and kept in the session cookie, which has no
expiry and identifies nobody: no separate language or tracking cookie.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Any

from babel.dates import format_date
from babel.support import Translations
from flask import Flask, g, request, session
from flask_babel import Babel, get_locale, get_translations
from flask_babel import format_date as babel_format_date

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


@lru_cache(maxsize=4096)
def _format_day(value: date, pattern: str, locale: str) -> str:
    return str(format_date(value, pattern, locale=locale))


def dateformat(value: Any, pattern: str = "medium") -> str:
    """Flask-Babel's `dateformat` filter for a calendar day, remembered: a queue page
    shows fifty dates, and Babel takes tens of microseconds to format each. A day has
    no time zone, so the day, the pattern and the language decide the text."""
    if type(value) is not date:  # datetimes keep Flask-Babel's (time-zone aware) filter
        return str(babel_format_date(value, pattern))
    return _format_day(value, pattern, str(get_locale()))


def init_app(app: Flask) -> None:
    """Attach Flask-Babel with the locale selector and our catalogue folder."""
    Babel(app, locale_selector=select_locale, default_translation_directories="translations")
    # Templates translate dozens of strings per page: use the per-request catalogue.
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        _gettext, _ngettext, newstyle=True, pgettext=_pgettext, npgettext=_npgettext
    )
    app.jinja_env.filters["dateformat"] = dateformat
    app.jinja_env.globals["LANGUAGES"] = LANGUAGES
    app.jinja_env.globals["current_language"] = select_locale
