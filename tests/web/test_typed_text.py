"""Text is kept as typed, but control characters are dropped on the way in and characters
that hide or reorder text cannot spoof what an officer or reporter reads."""

from __future__ import annotations

from flask.testing import FlaskClient
from markupsafe import Markup

from reportline.services.text import clean_text
from reportline.web.display import free_text
from tests.helpers import (
    Enrolled,
    first_reference,
    follow_up_sign_in,
    officer_writes,
    submit_report,
)

RLO = "\u202e"
ZERO_WIDTH_SPACE = "\u200b"


def test_control_characters_are_removed_but_line_breaks_and_tabs_stay() -> None:
    assert clean_text("a\x00b\x07c\x1b[31md\x7fe\x85f") == "abc[31mdef"
    assert clean_text("one\r\ntwo\rthree\tfour\n") == "one\ntwo\nthree\tfour\n"


def test_a_report_full_of_control_characters_is_stored_and_shown_without_them(
    reporter: FlaskClient, supervisor: FlaskClient, unit: Enrolled
) -> None:
    submit_report(reporter, what_happened="Said\x00 it\x1b[2J in the\x07 canteen\r\nThen left")
    page = supervisor.get(f"/triage/cases/{first_reference(supervisor)}").get_data(as_text=True)
    assert "Said it[2J in the canteen\nThen left" in page
    assert "\x00" not in page and "\x1b" not in page and "\x07" not in page


def test_reordering_and_invisible_characters_are_isolated_and_named_on_every_page(
    reporter: FlaskClient, supervisor: FlaskClient, unit: Enrolled
) -> None:
    receipt = submit_report(reporter, who_involved=f"PC{ZERO_WIDTH_SPACE}4521 {RLO}htimS")
    reference = first_reference(supervisor)
    page = supervisor.get(f"/triage/cases/{reference}").get_data(as_text=True)
    assert RLO not in page and ZERO_WIDTH_SPACE not in page
    assert 'title="right-to-left override (U+202E)">U+202E</abbr>' in page
    assert 'title="zero-width space (U+200B)">U+200B</abbr>' in page
    assert "<bdi>PC<abbr" in page  # the typed text is isolated from the page around it

    officer_writes(supervisor, reference, f"Is it {RLO}fdp.exe?")
    follow_up_sign_in(reporter, receipt)
    reporter_page = reporter.get("/follow-up/case").get_data(as_text=True)
    assert RLO not in reporter_page and ">U+202E</abbr>fdp.exe?" in reporter_page


def test_markers_are_escaped_text_and_emoji_sequences_are_left_alone() -> None:
    shown = free_text(f"<b>{RLO}</b>")
    assert isinstance(shown, Markup)
    assert str(shown).startswith("<bdi>&lt;b&gt;<abbr") and "&lt;/b&gt;</bdi>" in str(shown)
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert str(free_text(family)) == f"<bdi>{family}</bdi>"
    assert "U+200D" in str(free_text("ad\u200dmin"))  # a joiner hidden inside a word is named


def test_every_format_character_and_blank_letter_is_named() -> None:
    for hidden in ("\U000e0041", "\u206a", "\ufff9", "\u3164", "\u2061"):
        shown = str(free_text(f"a{hidden}b"))
        assert hidden not in shown and f"U+{ord(hidden):04X}</abbr>" in shown
