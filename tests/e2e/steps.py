"""How to reach each page state: the steps behind the recipes in pages.py.

Every `Reach` function takes a fresh browser page, the live site and the
sample state, and leaves the page showing one page of ReportLine in one
state. They may click and fill: they are about reaching a state. Keyboard-only
use is proven separately, in test_journeys.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from playwright.sync_api import Page

from reportline.services.cases import reference
from reportline.services.triage_record import Subject, TriageRecordData
from tests.e2e.site import LiveSite, unused_receipt
from tests.helpers import Enrolled
from tests.unit.cleaning_samples import camera_jpeg


@dataclass(frozen=True)
class Sample:
    """State every recipe may rely on, arranged once per server."""

    followed_up_receipt: str  # acknowledged, with a question and an answer
    followed_up_reference: str
    altered_reference: str  # a case whose first message was changed in the database


Reach = Callable[[Page, LiveSite, Sample], None]


def arrange_sample(site: LiveSite) -> Sample:
    """A few reports, one of them well into a conversation with the unit."""
    site.submit_report(category="bullying", at_risk="yes", what_happened="Shouted at a PCSO.")
    site.submit_report(category="dishonesty", what_happened="Claimed overtime not worked.")
    receipt = site.submit_report(
        category="discrimination",
        what_happened="He shared a racist meme in the shift group chat on Friday night.",
        files=[(camera_jpeg(size=(480, 320)), "IMG_2231.jpg", "The meme in the group chat")],
    )
    site.supervisor_acts(receipt, status="acknowledged")
    site.supervisor_acts(
        receipt, message="Thank you. Do you know if anyone saved a copy of the message?"
    )
    site.reporter_replies(receipt, "Yes, a PC on C shift took a screenshot of it.")
    site.supervisor_records(
        receipt,
        TriageRecordData(
            categories=("Discrimination: racism, misogyny, homophobia, disability",),
            subjects=(Subject("Sam Example", "PC 2231", "Response officer", "C shift"),),
            risk_flags=("re_identification",),
            source_evaluation="2",
            intelligence_assessment="B",
            handling_code="P",
            decision="investigate",
            rationale="Screenshot exists; the group chat has eight members.",
        ),
        note="Ask the C shift inspector who administers the group chat.",
    )
    for n in range(3):
        site.submit_report(possible_flood=True, what_happened=f"aaaaaaaaaaaa {n}")
    altered = site.submit_report(category="other", what_happened="Took home seized cash.")
    site.supervisor_acts(altered, message="Which exhibit number was it?")
    site.alter_a_message(altered)
    return Sample(receipt, reference(site.case_id(receipt)), reference(site.case_id(altered)))


# ---------------------------------------------------------------- small steps


def submit(page: Page, form: str = "main form") -> None:
    """Press the form's submit button and wait for the answer."""
    with page.expect_navigation():
        page.locator(f"{form} button[type=submit]").first.click()


def fill_report(page: Page, **answers: str) -> None:
    """Answer the report form (category, what happened, how known, at risk, ...)."""
    answers = {
        "category": "corruption",
        "what_happened": "Looked up an ex-partner's address on the command system.",
        "how_known": "saw_or_heard",
        "at_risk": "not_sure",
        **answers,
    }
    for name, value in answers.items():
        if name in {"category", "how_known", "at_risk"}:
            page.check(f"input[name={name}][value={value}]")
        else:
            page.fill(f"#{name}", value)


def follow_up_with(page: Page, receipt: str) -> None:
    """Type a receipt into the follow-up sign-in page and send it."""
    page.goto("/follow-up")
    page.fill("#receipt", receipt)
    submit(page)


def sign_in(page: Page, site: LiveSite, who: Enrolled, code: str | None = None) -> None:
    """An officer signs in with e-mail, password and a fresh authenticator code."""
    page.goto("/triage/login")
    page.fill("#email", who.email)
    page.fill("#password", who.password)
    page.fill("#code", site.fresh_code(who) if code is None else code)
    submit(page)


def as_supervisor(path: str) -> Reach:
    """A recipe: the supervisor signs in and opens `path`."""

    def reach(page: Page, site: LiveSite, _sample: Sample) -> None:
        sign_in(page, site, site.supervisor)
        page.goto(path)

    return reach


def visit(path: str) -> Reach:
    """A recipe: open `path`."""

    def reach(page: Page, _site: LiveSite, _sample: Sample) -> None:
        page.goto(path)

    return reach


def choose_password(page: Page, site: LiveSite, email: str, confirm: str = "") -> None:
    """Open a fresh enrolment link and choose a password."""
    page.goto(f"/triage/enrol/{site.invite(email)}")
    password = "copper whistle orchard seven"
    page.fill("#password", password)
    page.fill("#confirm", confirm or password)
    submit(page)


# ---------------------------------------------------------------- reporter pages


def send_report(page: Page, _site: LiveSite, _sample: Sample) -> None:
    """A reporter sends a report and sees the receipt."""
    page.goto("/report")
    fill_report(
        page,
        category="discrimination",
        what_happened="Sergeant posts jokes about disabled people in the team chat.",
        when="Most weeks since March",
        where="Response team group chat",
        at_risk="yes",
    )
    submit(page)


def send_report_with_exclusion(page: Page, _site: LiveSite, _sample: Sample) -> None:
    """A reporter asks that someone in the unit not see their report."""
    page.goto("/report")
    fill_report(page, exclude="DS Example, who sits in the unit")
    submit(page)


def follow_up_exclusion(page: Page, site: LiveSite, sample: Sample) -> None:
    """The follow-up page of a report whose exclusion waits for a supervisor."""
    send_report_with_exclusion(page, site, sample)
    receipt = " ".join(page.locator("#receipt li").all_inner_texts())
    follow_up_with(page, receipt)


def report_form_sent_empty(page: Page, _site: LiveSite, _sample: Sample) -> None:
    page.goto("/report")
    submit(page)


def report_already_sent(page: Page, site: LiveSite, _sample: Sample) -> None:
    # The same form sent again after its receipt is no longer kept (a tab left open).
    page.goto("/report")
    spent = page.locator("input[name=submission]").input_value()
    fill_report(page)
    submit(page)
    site.forget_kept_receipts()
    page.goto("/report")
    page.locator("input[name=submission]").evaluate("(field, value) => field.value = value", spent)
    fill_report(page)
    submit(page)


def report_form_honeypot_filled(page: Page, _site: LiveSite, _sample: Sample) -> None:
    # What a script that fills in every field gets: the form again, with its text.
    page.goto("/report")
    fill_report(page, where="Custody suite")
    page.locator("input[name=homepage]").evaluate("field => field.value = 'http://x.example'")
    submit(page)


def follow_up_wrong_receipt(page: Page, _site: LiveSite, _sample: Sample) -> None:
    follow_up_with(page, unused_receipt())


def follow_up_misspelt_receipt(page: Page, _site: LiveSite, sample: Sample) -> None:
    words = sample.followed_up_receipt.split()
    words[3] = words[3][:-1] + ("x" if words[3][-1] != "x" else "z")
    follow_up_with(page, " ".join(words))


def follow_up_case(page: Page, _site: LiveSite, sample: Sample) -> None:
    follow_up_with(page, sample.followed_up_receipt)


def follow_up_reply_empty(page: Page, _site: LiveSite, sample: Sample) -> None:
    follow_up_with(page, sample.followed_up_receipt)
    submit(page, "main form[action$='/follow-up/case']")


def use_welsh_link(page: Page) -> None:
    """Follow the header's link to the Welsh version, as a reporter would."""
    page.goto("/")
    href = page.locator("a[hreflang=cy]").get_attribute("href")
    assert href, "the header has no link to the Welsh version"
    page.goto(href)


def landing_in_welsh(page: Page, _site: LiveSite, _sample: Sample) -> None:
    use_welsh_link(page)


# ---------------------------------------------------------------- officer pages


def login_failed(page: Page, site: LiveSite, _sample: Sample) -> None:
    sign_in(page, site, site.supervisor, code="000000")


def case_page(page: Page, site: LiveSite, sample: Sample) -> None:
    sign_in(page, site, site.supervisor)
    page.goto(f"/triage/cases/{sample.followed_up_reference}")


def evidence_file(page: Page, site: LiveSite, sample: Sample) -> None:
    """The page of the sample case's photo, its preview loaded (and its download, which
    is an attachment, never a page)."""
    sign_in(page, site, site.supervisor)
    url = f"/triage/cases/{sample.followed_up_reference}/evidence/1"
    download = page.request.get(f"{url}/download")
    assert download.headers["content-disposition"].startswith("attachment;")
    page.goto(url)
    page.wait_for_function("document.querySelector('figure img').complete")


def triage_record(page: Page, site: LiveSite, sample: Sample) -> None:
    sign_in(page, site, site.supervisor)
    page.goto(f"/triage/cases/{sample.followed_up_reference}/record")


def triage_record_refused(page: Page, site: LiveSite, sample: Sample) -> None:
    """A link to a case that does not exist: refused with the problem by its field, 400."""
    triage_record(page, site, sample)
    page.fill("#links-0-reference", "RL-0000-0001")
    with page.expect_navigation():
        page.get_by_role("button", name="Save the triage record").click()


def case_access(page: Page, site: LiveSite, sample: Sample) -> None:
    sign_in(page, site, site.supervisor)
    page.goto(f"/triage/admin/cases/{sample.followed_up_reference}/access")


def case_access_review(page: Page, site: LiveSite, sample: Sample) -> None:
    """The confirmation step: who loses access and who gains it (nothing changed yet)."""
    case_access(page, site, sample)
    page.locator("input[name=officers]").first.check()
    with page.expect_navigation():
        page.get_by_role("button", name="Continue").click()


def case_access_refused(page: Page, site: LiveSite, sample: Sample) -> None:
    """Nobody chosen: refused with the reason, 400."""
    case_access(page, site, sample)
    for box in page.locator("input[name=officers]").all():
        box.uncheck()
    with page.expect_navigation():
        page.get_by_role("button", name="Continue").click()


def correct_note(page: Page, site: LiveSite, sample: Sample) -> None:
    sign_in(page, site, site.supervisor)
    page.goto(f"/triage/cases/{sample.followed_up_reference}/notes/1/correct")


def case_message_empty(page: Page, site: LiveSite, sample: Sample) -> None:
    sign_in(page, site, site.supervisor)
    page.goto(f"/triage/cases/{sample.followed_up_reference}")
    submit(page, "main form[action$='/messages']")


def officer_detail(page: Page, site: LiveSite, _sample: Sample) -> None:
    officer_id = site.add_officer("jordan.price@unit.example").officer_id
    sign_in(page, site, site.supervisor)
    page.goto(f"/triage/admin/officers/{officer_id}")


def invite_sent_empty(page: Page, site: LiveSite, _sample: Sample) -> None:
    sign_in(page, site, site.supervisor)
    page.goto("/triage/admin/officers/new")
    submit(page)


def invite_link(page: Page, site: LiveSite, _sample: Sample) -> None:
    sign_in(page, site, site.supervisor)
    page.goto("/triage/admin/officers/new")
    page.fill("#email", "sam.evans@unit.example")
    page.check("input[name=role][value=officer]")
    submit(page)


def enrol(page: Page, site: LiveSite, _sample: Sample) -> None:
    page.goto(f"/triage/enrol/{site.invite('alex.morgan@unit.example')}")


def enrol_passwords_differ(page: Page, site: LiveSite, _sample: Sample) -> None:
    choose_password(page, site, "casey.hughes@unit.example", confirm="copper whistle orchard")


def second_factor(page: Page, site: LiveSite, _sample: Sample) -> None:
    choose_password(page, site, "dana.okafor@unit.example")


def second_factor_wrong_code(page: Page, site: LiveSite, _sample: Sample) -> None:
    choose_password(page, site, "eli.roberts@unit.example")
    page.fill("#code", "000000")
    submit(page, "main form[action$='/second-factor']")


def recovery_codes(page: Page, site: LiveSite, _sample: Sample) -> None:
    choose_password(page, site, "frankie.shah@unit.example")
    seed = page.locator(".secret").inner_text().strip()
    code = site.fresh_code(Enrolled("", "", seed, 0))
    page.fill("#code", code)
    submit(page, "main form[action$='/second-factor']")


def officer_reset_link(page: Page, site: LiveSite, _sample: Sample) -> None:
    confirm_reset(page, site, _sample, "ines.patel@unit.example")
    submit(page, "main form[action$='/reset-second-factor']")


def confirm_reset(page: Page, site: LiveSite, _sample: Sample, email: str = "") -> None:
    """The page that asks before an officer's authenticator app is reset."""
    officer_id = site.add_officer(email or "lee.carter@unit.example").officer_id
    sign_in(page, site, site.supervisor)
    page.goto(f"/triage/admin/officers/{officer_id}")
    page.click("main a[href$='/reset-second-factor']")


def confirm_deactivate(page: Page, site: LiveSite, _sample: Sample) -> None:
    """The page that asks before an officer is deactivated."""
    officer_id = site.add_officer("morgan.reed@unit.example").officer_id
    sign_in(page, site, site.supervisor)
    page.goto(f"/triage/admin/officers/{officer_id}")
    page.click("main a[href$='/deactivate']")


def officer_action(
    link_suffix: str, email: str, deactivated: bool = False, reader: bool = False
) -> Reach:
    """A recipe: the supervisor opens an officer's page and follows an action's link
    (for a `reader`, first giving them the unit key; a `deactivated` one, first
    deactivating them)."""

    def reach(page: Page, site: LiveSite, _sample: Sample) -> None:
        officer_id = site.add_officer(email).officer_id
        sign_in(page, site, site.supervisor)
        page.goto(f"/triage/admin/officers/{officer_id}")
        if reader:
            submit(page, "main form[action$='/grant']")
        if deactivated:
            page.click("main a[href$='/deactivate']")
            submit(page, "main form[action$='/deactivate']")
        with page.expect_navigation():
            page.click(f"main a[href$='{link_suffix}']")

    return reach


def role_refused(page: Page, site: LiveSite, sample: Sample) -> None:
    """The role form sent without a choice (the current role is ticked at first)."""
    officer_action("/role", "quinn.baker@unit.example")(page, site, sample)
    page.evaluate(
        "() => document.querySelectorAll('input[name=role]').forEach(r => r.checked = false)"
    )
    submit(page, "main form[action$='/role']")


def password_change(page: Page, site: LiveSite, _sample: Sample) -> None:
    officer = site.add_officer("harper.lewis@unit.example")
    sign_in(page, site, officer)
    page.goto("/triage/account/password")


def password_change_refused(page: Page, site: LiveSite, sample: Sample) -> None:
    """The password form with a wrong current password and new passwords that differ."""
    officer = site.add_officer("rowan.ellis@unit.example")
    sign_in(page, site, officer)
    page.goto("/triage/account/password")
    page.fill("#current", "not my password at all")
    page.fill("#code", site.fresh_code(officer))
    page.fill("#new", "saffron glacier tambourine wharf")
    page.fill("#confirm", "saffron glacier tambourine")
    submit(page)


def open_reset_link(page: Page, site: LiveSite, email: str) -> None:
    """An officer who lost their phone opens the link a supervisor gave them."""
    officer_id = site.add_officer(email).officer_id
    page.goto(f"/triage/enrol/{site.reset_link(officer_id)}")


def reset_authenticator(page: Page, site: LiveSite, _sample: Sample) -> None:
    open_reset_link(page, site, "jo.walsh@unit.example")


def reset_authenticator_wrong_password(page: Page, site: LiveSite, _sample: Sample) -> None:
    open_reset_link(page, site, "kit.brennan@unit.example")
    page.fill("#password", "not my password at all")
    submit(page)


def awaiting_access(page: Page, site: LiveSite, _sample: Sample) -> None:
    sign_in(page, site, site.add_officer("gwen.lloyd@unit.example"))


def forbidden(page: Page, site: LiveSite, _sample: Sample) -> None:
    sign_in(page, site, site.add_officer("harri.jones@unit.example"))
    page.goto("/triage/admin/")


def case_altered(page: Page, site: LiveSite, sample: Sample) -> None:
    """A case whose message was changed in the database: shown, marked, read-only."""
    sign_in(page, site, site.supervisor)
    page.goto(f"/triage/cases/{sample.altered_reference}")
