"""Languages: English and Welsh on the reporter side, English for officers (for now).

The choice is made by a link and kept in the session cookie, which has no
expiry and identifies nobody: no separate language or tracking cookie.
"""

from __future__ import annotations

from flask import Flask, request, session
from flask_babel import Babel

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


def init_app(app: Flask) -> None:
    """Attach Flask-Babel with the locale selector and our catalogue folder."""
    Babel(app, locale_selector=select_locale, default_translation_directories="translations")
    app.jinja_env.globals["LANGUAGES"] = LANGUAGES
    app.jinja_env.globals["current_language"] = select_locale
