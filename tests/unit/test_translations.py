"""The Welsh catalogue covers every message in the source, correctly, and the app uses it.

Messages are extracted in-process with the repository's babel.cfg and the same
keywords as the documented `pybabel extract` command (docs/translations.md), so
an English string that is added or changed without a Welsh translation fails here.
"""

from __future__ import annotations

import gettext
import re
from collections import Counter
from pathlib import Path

import pytest
from babel import Locale
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from flask.testing import FlaskClient
from markupsafe import escape

ROOT = Path(__file__).resolve().parents[2]
BABEL_CFG = ROOT / "babel.cfg"
TEMPLATE = ROOT / "reportline" / "translations" / "messages.pot"
WELSH = ROOT / "reportline" / "translations" / "cy" / "LC_MESSAGES" / "messages.po"

# The same keywords as `pybabel extract -k _l -k lazy_gettext`.
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "lazy_pgettext": ((1, "c"), 2)}

# CLDR's plural categories for Welsh, in the order of the catalogue's forms.
WELSH_PLURAL_CATEGORIES = ("zero", "one", "two", "few", "many", "other")

# `%(name)s`-style placeholders, `%%n` (the character counter's number, filled
# in by JavaScript) and any other `%` escape or bare conversion.
PLACEHOLDER = re.compile(r"%%n|%\([^)]*\)[-#0 +]*\d*(?:\.\d+)?[a-zA-Z]|%%|%[-#0 +]*\d*[a-zA-Z]")

# A message is its context (for pgettext) and its English: singular, then plural if any.
MessageKey = tuple[str | None, tuple[str, ...]]


def _key(message: Message) -> MessageKey:
    english = (message.id,) if isinstance(message.id, str) else tuple(message.id)
    return message.context, english


def _describe(key: MessageKey) -> str:
    context, english = key
    return (f"[{context}] " if context else "") + " / ".join(english)


def _in_package(path: str) -> bool:
    """Walk only the package: the rest of the repository holds no messages."""
    relative = Path(path).resolve().relative_to(ROOT)
    return relative.parts[0] == "reportline" and not relative.name.startswith((".", "_"))


@pytest.fixture(scope="module")
def source_messages() -> dict[MessageKey, Message]:
    """Every message the current templates and Python code mark for translation."""
    with BABEL_CFG.open() as config:
        method_map, options_map = parse_mapping_cfg(config, str(BABEL_CFG))
    catalogue = Catalog()
    for filename, lineno, message, comments, context in extract_from_dir(
        str(ROOT),
        method_map,
        options_map,
        keywords=KEYWORDS,
        directory_filter=_in_package,
    ):
        catalogue.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    messages = {_key(m): m for m in catalogue if m.id}
    assert messages, "extraction found no messages: is babel.cfg right?"
    return messages


@pytest.fixture(scope="module")
def welsh() -> Catalog:
    """The Welsh catalogue as committed."""
    with WELSH.open("rb") as po_file:
        return read_po(po_file, locale="cy")


def _welsh_messages(catalogue: Catalog) -> dict[MessageKey, Message]:
    return {_key(m): m for m in catalogue if m.id}


def _placeholders(text: str) -> Counter[str]:
    return Counter(PLACEHOLDER.findall(text))


def _forms(message: Message) -> list[str]:
    """The translation, one string per plural form; an untranslated entry has one empty form."""
    if isinstance(message.string, str):
        return [message.string]
    return list(message.string or [""])


# ---------------------------------------------------------------- coverage


def test_every_message_in_the_source_has_an_entry_in_the_welsh_catalogue(
    source_messages: dict[MessageKey, Message], welsh: Catalog
) -> None:
    missing = sorted(map(_describe, source_messages.keys() - _welsh_messages(welsh).keys()))
    assert not missing, (
        "messages with no Welsh entry (extract, update and translate as docs/translations.md "
        "says):\n" + "\n".join(missing)
    )


def test_the_welsh_catalogue_holds_no_message_the_source_no_longer_uses(
    source_messages: dict[MessageKey, Message], welsh: Catalog
) -> None:
    stale = sorted(map(_describe, _welsh_messages(welsh).keys() - source_messages.keys()))
    assert not stale, "run `pybabel update` to retire these entries:\n" + "\n".join(stale)


def test_the_committed_message_template_matches_the_source(
    source_messages: dict[MessageKey, Message],
) -> None:
    with TEMPLATE.open("rb") as pot_file:
        template = {_key(m) for m in read_po(pot_file) if m.id}
    assert template == source_messages.keys(), "run `pybabel extract` to refresh messages.pot"


# ---------------------------------------------------------------- quality


def test_no_welsh_entry_is_fuzzy_or_empty_in_any_plural_form(welsh: Catalog) -> None:
    assert not welsh.fuzzy, "the catalogue header is marked fuzzy"
    problems = []
    for key, message in _welsh_messages(welsh).items():
        forms = _forms(message)
        if message.fuzzy:
            problems.append(f"fuzzy: {_describe(key)}")
        if message.pluralizable and len(forms) != welsh.num_plurals:
            problems.append(f"{len(forms)} of {welsh.num_plurals} plural forms: {_describe(key)}")
        if not all(form.strip() for form in forms):
            problems.append(f"empty: {_describe(key)}")
    assert not problems, "\n".join(problems)


def test_welsh_plural_forms_follow_the_six_cldr_categories(welsh: Catalog) -> None:
    assert welsh.num_plurals == len(WELSH_PLURAL_CATEGORIES)
    form_of = gettext.c2py(welsh.plural_expr)
    cldr = Locale.parse("cy").plural_form
    wrong = [n for n in range(1001) if form_of(n) != WELSH_PLURAL_CATEGORIES.index(cldr(n))]
    assert not wrong, f"Plural-Forms header picks the wrong form for n in {wrong[:10]}"


def test_each_welsh_translation_keeps_the_placeholders_of_its_english_message(
    welsh: Catalog,
) -> None:
    problems = []
    for key, message in _welsh_messages(welsh).items():
        english = key[1]
        expected = _placeholders(english[-1])
        if any(_placeholders(text) != expected for text in english):
            problems.append(f"singular and plural English differ: {_describe(key)}")
        for form in _forms(message):
            if _placeholders(form) != expected:
                problems.append(f"{dict(expected)} != {dict(_placeholders(form))}: {form}")
    assert not problems, "\n".join(problems)


def test_each_welsh_format_string_formats_without_error(welsh: Catalog) -> None:
    problems = []
    for message in _welsh_messages(welsh).values():
        if not message.python_format:
            continue
        for form in _forms(message):
            names = re.findall(r"%\(([^)]*)\)", form)
            try:
                form % {name: 2 for name in names}  # raises if a placeholder is malformed
            except (KeyError, ValueError, TypeError) as error:
                problems.append(f"{error!r}: {form}")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- in the app


def _in_welsh(reporter: FlaskClient, path: str) -> str:
    switched = reporter.get(f"/language/cy?next={path}")
    assert switched.status_code == 303
    response = reporter.get(path)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_landing_page_is_in_welsh_once_a_reporter_chooses_cymraeg(
    reporter: FlaskClient, welsh: Catalog
) -> None:
    heading = escape(welsh["Report misconduct in confidence"].string)
    page = _in_welsh(reporter, "/")
    assert '<html lang="cy">' in page
    assert f"<h1>{heading}</h1>" in page, "is messages.mo compiled? run `pip install -e .`"
    assert "Report misconduct in confidence" not in page


def test_the_report_form_shows_its_lazily_translated_labels_in_welsh(
    reporter: FlaskClient, welsh: Catalog
) -> None:
    page = _in_welsh(reporter, "/report")
    for english in ("What is your report about?", "Bullying or harassment", "I'm not sure"):
        assert escape(welsh[english].string) in page, english
    assert "What is your report about?" not in page
