"""Whole journeys in Chromium with JavaScript off, driven by the keyboard alone.

A reporter sends a report and reads the receipt; the supervisor signs in and
reads it; the unit and the reporter talk through the follow-up page; another
reporter's receipt never shows someone else's case; a supervisor invites an
officer, replaces the enrolment link and deactivates them after the
confirmation page; an officer works a case from first read to a closed outcome
with a grading, a subject, an owner, a note and feedback. Focus moves by Tab,
Shift+Tab and the arrow keys, choices are made with Space and the arrows, and
forms are sent with Enter: nothing is clicked.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page
from sqlalchemy import select

from reportline.models import Case, CaseSeal
from reportline.services.cases import reference
from tests.conftest import BACKENDS, empty_postgres
from tests.e2e.browser import Browsing
from tests.e2e.keyboard import (
    activate,
    choose_option,
    choose_radio,
    focus_style,
    focused,
    has_focus,
    press_and_wait,
    tab_to,
    tick,
    type_into,
)
from tests.e2e.site import LiveSite, running_site
from tests.helpers import Enrolled, add_reader

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=BACKENDS)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveSite]:
    """The journeys run on every database the suite covers (PostgreSQL when
    REPORTLINE_TEST_DATABASE_URL is set), the page checks on SQLite only."""
    database_url = None
    if request.param == "postgresql":
        database_url = str(request.getfixturevalue("postgres_url"))
        empty_postgres(database_url)
    with running_site(tmp_path_factory.mktemp("instance"), database_url) as live:
        yield live


MAIN_SUBMIT = "main form button[type=submit]"


def send_report(page: Page, what_happened: str) -> str:
    """From the start page to the receipt, by keyboard; return the receipt as typed later."""
    page.goto("/")
    activate(page, "a.button--start")
    choose_radio(page, "category", "corruption")
    type_into(page, "#what_happened", what_happened)
    type_into(page, "#when", "Last Tuesday, about 3am")
    type_into(page, "#where", "Central station custody suite")
    choose_radio(page, "how_known", "saw_or_heard")
    choose_radio(page, "at_risk", "no")
    activate(page, MAIN_SUBMIT)
    words = page.locator("#receipt li").all_inner_texts()
    assert len(words) == 10, f"the receipt page showed {words}"
    return " ".join(words)


def sign_in(page: Page, site: LiveSite, who: Enrolled) -> None:
    """An officer signs in by keyboard, sending the form with Enter from the code field."""
    page.goto("/triage/login")
    type_into(page, "#email", who.email)
    type_into(page, "#password", who.password)
    type_into(page, "#code", site.fresh_code(who))
    press_and_wait(page, "Enter")
    assert page.url.endswith("/triage/"), f"sign-in ended on {page.url}"


def open_case(page: Page, case_reference: str) -> None:
    """From the queue, Tab to the case's link and follow it."""
    activate(page, f"a[href$='/cases/{case_reference}']")
    assert page.locator("h1").inner_text() == case_reference


def follow_up(page: Page, receipt: str) -> None:
    """From the start page, sign in to follow-up with the receipt."""
    page.goto("/")
    activate(page, "main a[href='/follow-up']")
    type_into(page, "#receipt", receipt)
    activate(page, MAIN_SUBMIT)
    assert page.url.endswith("/follow-up/case"), f"follow-up sign-in ended on {page.url}"


def reporter_status(page: Page) -> str:
    """The status the reporter is shown (the first tag on the follow-up page)."""
    return page.locator("main strong.tag").first.inner_text()


def messages(page: Page) -> list[str]:
    """The texts in the conversation, oldest first."""
    return page.locator(".dialogue__text").all_inner_texts()


def test_reporter_sends_a_report_and_reads_the_receipt_by_keyboard(browsing: Browsing) -> None:
    page = browsing.new_page(javascript=False)

    receipt = send_report(page, "Sold PNC checks to a private investigator.")

    assert page.locator("h1").inner_text() == "Your report has been sent"
    assert len(set(receipt.split())) >= 9  # ten words, almost surely distinct
    assert page.locator("[data-print]").is_hidden()  # the print button needs JavaScript


def test_supervisor_signs_in_and_reads_the_report_by_keyboard(
    browsing: Browsing, site: LiveSite
) -> None:
    reporter = browsing.new_page(javascript=False)
    receipt = send_report(reporter, "Leaked a witness address to a suspect's family.")
    case_reference = reference(site.case_id(receipt))

    officer = browsing.new_page(javascript=False)
    sign_in(officer, site, site.supervisor)
    open_case(officer, case_reference)

    report = officer.locator("#report").inner_text()
    assert "Leaked a witness address to a suspect's family." in report
    assert "Central station custody suite" in report


def test_unit_and_reporter_talk_through_follow_up_by_keyboard(
    browsing: Browsing, site: LiveSite
) -> None:
    reporter = browsing.new_page(javascript=False)
    receipt = send_report(reporter, "Took cash from a drugs seizure before it was bagged.")
    officer = browsing.new_page(javascript=False)
    sign_in(officer, site, site.supervisor)
    open_case(officer, reference(site.case_id(receipt)))

    choose_option(officer, "#status", "acknowledged")
    type_into(officer, "#reason", "Read and logged.")
    activate(officer, "form[action$='/status'] button[type=submit]")
    type_into(officer, "#message", "Was anyone else in the room when it happened?")
    activate(officer, "form[action$='/messages'] button[type=submit]")

    follow_up(reporter, receipt)
    assert reporter_status(reporter) == "Acknowledged"
    assert messages(reporter) == ["Was anyone else in the room when it happened?"]
    type_into(reporter, "#message", "Yes, the exhibits officer saw it too.")
    activate(reporter, MAIN_SUBMIT)
    assert messages(reporter)[-1] == "Yes, the exhibits officer saw it too."

    officer.reload()
    assert messages(officer) == [
        "Was anyone else in the room when it happened?",
        "Yes, the exhibits officer saw it too.",
    ]

    someone_else = browsing.new_page(javascript=False)
    other_receipt = send_report(someone_else, "Drove a police car home after drinking.")
    follow_up(someone_else, other_receipt)
    assert other_receipt != receipt
    assert reporter_status(someone_else) == "Received"
    assert messages(someone_else) == []
    page_text = someone_else.locator("main").inner_text()
    assert "anyone else in the room" not in page_text
    assert "exhibits officer" not in page_text


def test_an_officer_works_a_case_from_first_read_to_outcome_by_keyboard(
    browsing: Browsing, site: LiveSite
) -> None:
    reporter = browsing.new_page(javascript=False)
    receipt = send_report(reporter, "A sergeant sends sexual messages to a young PCSO on his team.")
    case_reference = reference(site.case_id(receipt))
    officer = browsing.new_page(javascript=False)
    sign_in(officer, site, site.supervisor)
    open_case(officer, case_reference)

    # Grade it and add a subject.
    activate(officer, "main a[href$='/record']")
    choose_option(officer, "#priority", "high")
    tick(officer, "input[name=categories][value^='Sexual misconduct']")
    tick(officer, "input[name=risk_flags][value=victimisation]")
    type_into(officer, "#subjects-0-name", "Alex Example")
    type_into(officer, "#subjects-0-number", "PS 1187")
    type_into(officer, "#subjects-0-role", "Custody sergeant")
    type_into(officer, "#subjects-0-team", "Team 2, Eastgate")
    choose_option(officer, "#source_evaluation", "1")
    choose_option(officer, "#intelligence_assessment", "A")
    choose_option(officer, "#handling_code", "C")
    type_into(officer, "#handling_conditions", "Unit only until the victim is safeguarded.")
    choose_option(officer, "#decision", "investigate")
    type_into(officer, "#rationale", "Abuse of position for a sexual purpose.")
    activate(officer, "main form button.button:not(.button--secondary)")
    record = officer.locator("main").inner_text()
    for shown in ("High: threat to life", "Sexual misconduct", "Alex Example (PS 1187)", "1: "):
        assert shown in record, shown

    # Take it, note, tell the reporter, close with an outcome.
    tick(officer, "#no_conflict")
    activate(officer, "form[action$='/take'] button[type=submit]")
    type_into(officer, "#note", "Victim supported by the welfare officer.")
    activate(officer, "form[action$='/notes'] button[type=submit]")
    type_into(officer, "#message", "Thank you. We are acting on your report.")
    tick(officer, "#is_feedback")
    activate(officer, "form[action$='/messages'] button[type=submit]")
    choose_option(officer, "#status", "closed")
    type_into(officer, "#reason", "Admitted at interview; dismissed at a hearing.")
    choose_option(officer, "#outcome", "substantiated")
    activate(officer, "form[action$='/status'] button[type=submit]")

    main = officer.locator("main").inner_text()
    for shown in (
        "Closed",
        "Substantiated",
        "Admitted at interview; dismissed at a hearing.",
        "Victim supported by the welfare officer.",
        "You · no conflict of interest declared",
    ):
        assert shown in main, shown
    assert messages(officer) == ["Thank you. We are acting on your report."]
    follow_up(reporter, receipt)
    assert reporter_status(reporter) == "Closed"
    assert "welfare officer" not in reporter.locator("main").inner_text()


def test_supervisor_invites_replaces_the_link_and_deactivates_by_keyboard(
    browsing: Browsing, site: LiveSite
) -> None:
    page = browsing.new_page(javascript=False)
    sign_in(page, site, site.supervisor)
    activate(page, "header a[href='/triage/admin/']")
    activate(page, "main a[href='/triage/admin/officers/new']")
    type_into(page, "#email", "robin.shaw@unit.example")
    choose_radio(page, "role", "officer")
    activate(page, MAIN_SUBMIT)
    first_link = page.locator("#enrolment-link").inner_text()

    activate(page, "main a[href*='/triage/admin/officers/']")  # "Go to their page"
    activate(page, "main form[action$='/enrolment-link'] button[type=submit]", key="Space")
    second_link = page.locator("#enrolment-link").inner_text()
    assert second_link.startswith("http") and second_link != first_link

    activate(page, "main a[href*='/triage/admin/officers/']")
    activate(page, "main a[href$='/deactivate']")
    assert page.locator("h1").inner_text() == "Deactivate this officer?"
    activate(page, "main form[action$='/deactivate'] button[type=submit]", key="Space")
    assert "is deactivated and signed out everywhere" in page.locator("main").inner_text()


def test_an_officer_changes_their_password_by_keyboard_and_only_the_new_one_works(
    browsing: Browsing, site: LiveSite
) -> None:
    officer = site.add_officer("kai.murphy@unit.example")
    page = browsing.new_page(javascript=False)
    sign_in(page, site, officer)
    activate(page, "header a[href='/triage/account']")
    activate(page, "main a[href='/triage/account/password']")
    new_password = "saffron glacier tambourine wharf"
    type_into(page, "#current", "not my password at all")
    type_into(page, "#code", site.fresh_code(officer))
    type_into(page, "#new", new_password)
    type_into(page, "#confirm", new_password)
    activate(page, MAIN_SUBMIT)
    assert "That is not your current password" in page.locator("main").inner_text()

    type_into(page, "#current", officer.password)
    type_into(page, "#code", site.fresh_code(officer))
    type_into(page, "#new", new_password)
    type_into(page, "#confirm", new_password)
    activate(page, MAIN_SUBMIT)
    assert "Your password is changed" in page.locator("main").inner_text()

    other = browsing.new_page(javascript=False)
    other.goto("/triage/login")
    type_into(other, "#email", officer.email)
    type_into(other, "#password", officer.password)
    type_into(other, "#code", site.fresh_code(officer))
    press_and_wait(other, "Enter")
    assert "/triage/login" in other.url  # the old password opens nothing
    sign_in(other, site, Enrolled(officer.email, new_password, officer.totp_seed, 0))


def test_skip_link_is_the_first_stop_and_takes_focus_to_the_main_content(
    browsing: Browsing,
) -> None:
    page = browsing.new_page(javascript=False)
    page.goto("/report")

    page.keyboard.press("Tab")
    assert has_focus(page, "a.skip-link"), focused(page)
    box = page.locator("a.skip-link").bounding_box()
    assert box is not None and box["x"] >= 0 and box["y"] >= 0, "the skip link stays off screen"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert has_focus(page, "#category-0"), f"after skipping, Tab went to {focused(page)}"


REPORT_FORM_CONTROLS = [
    "a[hreflang=cy]",  # a link
    "a.button--leave",  # a link styled as a button
    "#category-0",  # a radio button (the input is transparent; its circle shows focus)
    "#what_happened",  # a text area
    "#when",  # a text field
    MAIN_SUBMIT,  # a button
]
LOGIN_CONTROLS = ["#email", "#password", "#code", MAIN_SUBMIT]


@pytest.mark.parametrize(
    ("path", "controls"),
    [("/report", REPORT_FORM_CONTROLS), ("/triage/login", LOGIN_CONTROLS)],
    ids=["report form", "officer sign-in"],
)
def test_focus_is_visible_on_every_main_form_control(
    browsing: Browsing, path: str, controls: list[str]
) -> None:
    page = browsing.new_page(javascript=False)
    page.goto(path)
    unfocused = {selector: focus_style(page, selector) for selector in controls}

    for selector in controls:
        tab_to(page, selector)
        assert focus_style(page, selector) != unfocused[selector], (
            f"focus on {selector} at {path} looks the same as no focus: {unfocused[selector]}"
        )


def test_shift_tab_goes_back_through_the_form(browsing: Browsing) -> None:
    page = browsing.new_page(javascript=False)
    page.goto("/report")
    tab_to(page, "#where")

    tab_to(page, "#what_happened", backwards=True)
    page.keyboard.press("Shift+Tab")
    assert has_focus(page, "input[name=category]"), focused(page)


@pytest.mark.parametrize("javascript", [False, True], ids=["no-js", "js"])
def test_leaving_shows_a_neutral_page_and_back_does_not_bring_the_report_back(
    browsing: Browsing, javascript: bool
) -> None:
    page = browsing.new_page(javascript=javascript)
    page.goto("/")
    activate(page, "a.button--start")
    type_into(page, "#what_happened", "Half-written account of the sergeant's messages")
    activate(page, "header a[data-leave]")
    assert page.url.endswith("/blank")
    assert "sergeant" not in page.content()
    page.go_back()
    # With JavaScript the report form's history entry was replaced, so Back skips it;
    # without, the form comes back from the server blank (nothing is cached).
    if javascript:
        assert not page.url.endswith("/report"), page.url
    assert "sergeant" not in page.content()
    assert page.locator("#what_happened").count() == 0 or (
        page.locator("#what_happened").input_value() == ""
    )


def test_no_request_leaves_the_site_and_every_response_has_a_csp(
    browsing: Browsing, site: LiveSite
) -> None:
    reporter = browsing.new_page()
    receipt = send_report(reporter, "Lets a friend use his warrant card to get into clubs.")
    follow_up(reporter, receipt)
    officer = browsing.new_page()
    sign_in(officer, site, site.supervisor)
    open_case(officer, reference(site.case_id(receipt)))
    officer.goto("/triage/admin/")
    officer.goto("/triage/account")

    seen = browsing.guard.requests
    assert any(url.endswith("/static/css/reportline.css") for url in seen)
    assert any(url.endswith("/static/js/enhance.js") for url in seen)
    assert browsing.guard.problems == []


def test_a_report_with_an_exclusion_stays_away_from_the_excluded_officer_by_keyboard(
    browsing: Browsing, site: LiveSite
) -> None:
    """A reporter asks that someone not see their report; it arrives pending, sealed to
    the exclusion group; a supervisor restricts it, leaving officer X out; X sees nothing
    of it; the reporter's follow-up page says the request was respected."""
    with site.database() as db:
        db.info.setdefault("settings", site.settings)
        excluded = add_reader(db, site.clock, site.supervisor, "x.excluded@unit.example")
    reporter = browsing.new_page(javascript=False)
    reporter.goto("/")
    activate(reporter, "a.button--start")
    choose_radio(reporter, "category", "corruption")
    type_into(reporter, "#what_happened", "Tipped off a dealer before a warrant.")
    choose_radio(reporter, "how_known", "saw_or_heard")
    choose_radio(reporter, "at_risk", "no")
    type_into(reporter, "#exclude", "DS Example, who sits in the unit")
    activate(reporter, MAIN_SUBMIT)
    assert reporter.locator("#exclusion-received").is_visible()
    receipt = " ".join(reporter.locator("#receipt li").all_inner_texts())
    case_id = site.case_id(receipt)
    case_reference = reference(case_id)
    with site.database() as db:
        case = db.get(Case, case_id)
        assert case is not None and case.access == "pending"
        holders = set(db.execute(select(CaseSeal.holder).where(CaseSeal.case_id == case_id)))
        assert {h for (h,) in holders} == {"exclusion_group", "recovery"}

    officer = browsing.new_page(javascript=False)
    sign_in(officer, site, site.supervisor)
    assert officer.locator("#awaiting-access").is_visible()
    open_case(officer, case_reference)
    assert "DS Example, who sits in the unit" in officer.locator("#report").inner_text()
    activate(officer, f"main a[href$='/cases/{case_reference}/access']")
    tick(officer, f"input[name=officers][value='{site.supervisor.officer_id}']")
    activate(officer, "main form button[type=submit]", key="Space")
    assert officer.locator("h1").inner_text() == "Confirm who may read this case"
    activate(officer, "main form button.button--warning", key="Space")

    outsider = browsing.new_page(javascript=False)
    sign_in(outsider, site, excluded)
    assert case_reference not in outsider.locator("main").inner_text()
    assert not outsider.locator("#awaiting-access").count()
    outsider.goto("/triage/?status=all")
    assert case_reference not in outsider.locator("main").inner_text()
    response = outsider.goto(f"/triage/cases/{case_reference}")
    assert response is not None and response.status == 404

    follow_up(reporter, receipt)
    text = reporter.locator("#exclusion").inner_text()
    assert "Your request was respected" in text and "x.excluded" not in text
