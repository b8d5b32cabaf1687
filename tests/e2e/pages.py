"""The page registry: a recipe for reaching every page of ReportLine in a given state.

Each recipe names the GET endpoints it goes through and the template of the
page it ends on; running it proves both (the app records what it served).
The registry is checked against the URL map and the templates folder, so a
page added later without a recipe fails the suite. Error states and pages
shown only in answer to a form (the receipt, recovery codes, the enrolment
link) have recipes of their own.

Recipes may click and fill: they are about reaching a state. Keyboard-only
use is proven separately, in test_journeys.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from playwright.sync_api import Page

from reportline.services.cases import reference
from tests.e2e.site import LiveSite, unused_receipt
from tests.helpers import Enrolled

REPORTER = "reporter"
OFFICER = "officer"


@dataclass(frozen=True)
class Sample:
    """State every recipe may rely on, arranged once per server."""

    followed_up_receipt: str  # acknowledged, with a question and an answer
    followed_up_reference: str


Reach = Callable[[Page, LiveSite, Sample], None]


@dataclass(frozen=True)
class Recipe:
    """How to reach one page in one state."""

    name: str  # also the screenshot's file name: keep it stable
    side: str
    endpoints: frozenset[str]  # GET endpoints this recipe goes through
    template: str  # of the page it ends on
    status: int
    reach: Reach
    languages: tuple[str, ...] = field(default=("en",))

    def __str__(self) -> str:
        return self.name


def arrange_sample(site: LiveSite) -> Sample:
    """A few reports, one of them well into a conversation with the unit."""
    site.submit_report(category="bullying", at_risk="yes", what_happened="Shouted at a PCSO.")
    site.submit_report(category="dishonesty", what_happened="Claimed overtime not worked.")
    receipt = site.submit_report(
        category="discrimination",
        what_happened="He shared a racist meme in the shift group chat on Friday night.",
    )
    site.supervisor_acts(receipt, status="acknowledged")
    site.supervisor_acts(
        receipt, message="Thank you. Do you know if anyone saved a copy of the message?"
    )
    site.reporter_replies(receipt, "Yes, a PC on C shift took a screenshot of it.")
    return Sample(receipt, reference(site.case_id(receipt)))


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


def report_form_sent_empty(page: Page, _site: LiveSite, _sample: Sample) -> None:
    page.goto("/report")
    submit(page)


def report_form_sent_twice(page: Page, _site: LiveSite, _sample: Sample) -> None:
    # The same form open in two tabs: only the newest one may file a report.
    page.goto("/report")
    other_tab = page.context.new_page()
    other_tab.goto("/report")
    other_tab.close()
    fill_report(page)
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
    officer_id = site.add_officer("ines.patel@unit.example").officer_id
    sign_in(page, site, site.supervisor)
    page.goto(f"/triage/admin/officers/{officer_id}")
    submit(page, "main form[action$='/reset-second-factor']")


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


def _recipe(
    name: str,
    side: str,
    endpoints: set[str],
    template: str,
    reach: Reach,
    status: int = 200,
    languages: tuple[str, ...] | None = None,
) -> Recipe:
    if languages is None:
        languages = ("en", "cy") if side == REPORTER else ("en",)
    return Recipe(name, side, frozenset(endpoints), template, status, reach, languages)


RECIPES: list[Recipe] = [
    # reporter side
    _recipe("landing", REPORTER, {"reporter.landing"}, "reporter/landing.html", visit("/")),
    _recipe(
        "landing-cymraeg",
        REPORTER,
        {"reporter.landing", "reporter.language"},
        "reporter/landing.html",
        landing_in_welsh,
        languages=("en",),  # it ends in Welsh already
    ),
    _recipe("report-form", REPORTER, {"reporter.report"}, "reporter/report.html", visit("/report")),
    _recipe(
        "report-form-errors",
        REPORTER,
        {"reporter.report"},
        "reporter/report.html",
        report_form_sent_empty,
        400,
    ),
    _recipe(
        "report-form-sent-twice",
        REPORTER,
        {"reporter.report"},
        "reporter/report.html",
        report_form_sent_twice,
        409,
    ),
    _recipe("receipt", REPORTER, {"reporter.report"}, "reporter/receipt.html", send_report),
    _recipe(
        "follow-up-sign-in",
        REPORTER,
        {"reporter.follow_up_sign_in"},
        "reporter/follow_up_sign_in.html",
        visit("/follow-up"),
    ),
    _recipe(
        "follow-up-wrong-receipt",
        REPORTER,
        {"reporter.follow_up_sign_in"},
        "reporter/follow_up_sign_in.html",
        follow_up_wrong_receipt,
        400,
    ),
    _recipe(
        "follow-up-misspelt-receipt",
        REPORTER,
        {"reporter.follow_up_sign_in"},
        "reporter/follow_up_sign_in.html",
        follow_up_misspelt_receipt,
        400,
    ),
    _recipe(
        "follow-up-case",
        REPORTER,
        {"reporter.follow_up_sign_in", "reporter.follow_up_case"},
        "reporter/follow_up_case.html",
        follow_up_case,
    ),
    _recipe(
        "follow-up-reply-errors",
        REPORTER,
        {"reporter.follow_up_case"},
        "reporter/follow_up_case.html",
        follow_up_reply_empty,
        400,
    ),
    _recipe("not-found", REPORTER, set(), "error.html", visit("/no-such-page"), 404),
    _recipe(
        "leave",
        REPORTER,
        {"reporter.leave", "reporter.neutral"},
        "reporter/neutral.html",
        visit("/leave"),
        languages=("en",),  # leaving forgets everything, the language too
    ),
    _recipe("blank", REPORTER, {"reporter.neutral"}, "reporter/neutral.html", visit("/blank")),
    # officer side
    _recipe("login", OFFICER, {"triage.login"}, "triage/login.html", visit("/triage/login")),
    _recipe("login-failed", OFFICER, {"triage.login"}, "triage/login.html", login_failed, 401),
    _recipe("queue", OFFICER, {"triage.queue"}, "triage/queue.html", as_supervisor("/triage/")),
    _recipe(
        "queue-empty",
        OFFICER,
        {"triage.queue"},
        "triage/queue.html",
        as_supervisor("/triage/?status=closed"),
    ),
    _recipe(
        "case",
        OFFICER,
        {"triage.case"},
        "triage/case.html",
        case_page,
    ),
    _recipe(
        "case-message-errors", OFFICER, {"triage.case"}, "triage/case.html", case_message_empty, 400
    ),
    _recipe(
        "case-not-found",
        OFFICER,
        {"triage.case"},
        "error.html",
        as_supervisor("/triage/cases/RL-0000-0001"),
        404,
    ),
    _recipe(
        "account",
        OFFICER,
        {"triage.account"},
        "triage/account.html",
        as_supervisor("/triage/account"),
    ),
    _recipe(
        "officers",
        OFFICER,
        {"triage.admin.officers_list"},
        "admin/officers.html",
        as_supervisor("/triage/admin/"),
    ),
    _recipe(
        "officer", OFFICER, {"triage.admin.officer_detail"}, "admin/officer.html", officer_detail
    ),
    _recipe(
        "invite-form",
        OFFICER,
        {"triage.admin.invite"},
        "admin/invite.html",
        as_supervisor("/triage/admin/officers/new"),
    ),
    _recipe(
        "invite-form-errors",
        OFFICER,
        {"triage.admin.invite"},
        "admin/invite.html",
        invite_sent_empty,
        400,
    ),
    _recipe("invite-link", OFFICER, {"triage.admin.invite"}, "admin/invited.html", invite_link),
    _recipe("enrol", OFFICER, {"triage.enrol"}, "triage/enrol.html", enrol),
    _recipe(
        "enrol-errors", OFFICER, {"triage.enrol"}, "triage/enrol.html", enrol_passwords_differ, 400
    ),
    _recipe(
        "officer-reset-link",
        OFFICER,
        {"triage.admin.officer_detail"},
        "admin/invited.html",
        officer_reset_link,
    ),
    _recipe(
        "reset-authenticator", OFFICER, {"triage.enrol"}, "triage/enrol.html", reset_authenticator
    ),
    _recipe(
        "reset-authenticator-errors",
        OFFICER,
        {"triage.enrol"},
        "triage/enrol.html",
        reset_authenticator_wrong_password,
        400,
    ),
    _recipe(
        "enrol-link-invalid",
        OFFICER,
        {"triage.enrol"},
        "triage/enrol_invalid.html",
        visit("/triage/enrol/no-such-link"),
        404,
    ),
    _recipe(
        "second-factor",
        OFFICER,
        {"triage.enrol", "triage.second_factor_setup", "triage.second_factor_qr"},
        "triage/second_factor.html",
        second_factor,
    ),
    _recipe(
        "second-factor-errors",
        OFFICER,
        {"triage.second_factor_setup"},
        "triage/second_factor.html",
        second_factor_wrong_code,
        400,
    ),
    _recipe(
        "recovery-codes",
        OFFICER,
        {"triage.second_factor_setup"},
        "triage/recovery_codes.html",
        recovery_codes,
    ),
    _recipe(
        "awaiting-access",
        OFFICER,
        {"triage.queue"},
        "triage/awaiting_access.html",
        awaiting_access,
        403,
    ),
    _recipe(
        "officer-forbidden",
        OFFICER,
        {"triage.admin.officers_list"},
        "error.html",
        forbidden,
        403,
    ),
]
