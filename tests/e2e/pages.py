"""The page registry: a recipe for reaching every page of ReportLine in a given state.

Each recipe names the GET endpoints it goes through and the template of the
page it ends on; running it proves both (the app records what it served).
The registry is checked against the URL map and the templates folder, so a
page added later without a recipe fails the suite. Error states and pages
shown only in answer to a form (the receipt, recovery codes, the enrolment
link) have recipes of their own. The steps themselves are in steps.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.e2e import steps
from tests.e2e.steps import Reach, as_supervisor, visit

REPORTER = "reporter"
OFFICER = "officer"


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
        steps.landing_in_welsh,
        languages=("en",),  # it ends in Welsh already
    ),
    _recipe("report-form", REPORTER, {"reporter.report"}, "reporter/report.html", visit("/report")),
    _recipe(
        "report-form-errors",
        REPORTER,
        {"reporter.report"},
        "reporter/report.html",
        steps.report_form_sent_empty,
        400,
    ),
    _recipe(
        "report-already-sent",
        REPORTER,
        {"reporter.report"},
        "reporter/already_sent.html",
        steps.report_already_sent,
        409,
    ),
    _recipe(
        "report-form-check-again",
        REPORTER,
        {"reporter.report"},
        "reporter/report.html",
        steps.report_form_honeypot_filled,
        400,
    ),
    _recipe("receipt", REPORTER, {"reporter.report"}, "reporter/receipt.html", steps.send_report),
    _recipe(
        "receipt-exclusion",
        REPORTER,
        {"reporter.report"},
        "reporter/receipt.html",
        steps.send_report_with_exclusion,
    ),
    _recipe(
        "follow-up-exclusion",
        REPORTER,
        {"reporter.report", "reporter.follow_up_sign_in", "reporter.follow_up_case"},
        "reporter/follow_up_case.html",
        steps.follow_up_exclusion,
    ),
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
        steps.follow_up_wrong_receipt,
        400,
    ),
    _recipe(
        "follow-up-misspelt-receipt",
        REPORTER,
        {"reporter.follow_up_sign_in"},
        "reporter/follow_up_sign_in.html",
        steps.follow_up_misspelt_receipt,
        400,
    ),
    _recipe(
        "follow-up-case",
        REPORTER,
        {"reporter.follow_up_sign_in", "reporter.follow_up_case"},
        "reporter/follow_up_case.html",
        steps.follow_up_case,
    ),
    _recipe(
        "follow-up-reply-errors",
        REPORTER,
        {"reporter.follow_up_case"},
        "reporter/follow_up_case.html",
        steps.follow_up_reply_empty,
        400,
    ),
    _recipe("not-found", REPORTER, set(), "error.html", visit("/no-such-page"), 404),
    _recipe("too-large", REPORTER, {"reporter.too_large"}, "error.html", visit("/too-large"), 413),
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
    _recipe(
        "login-failed", OFFICER, {"triage.login"}, "triage/login.html", steps.login_failed, 401
    ),
    _recipe("queue", OFFICER, {"triage.queue"}, "triage/queue.html", as_supervisor("/triage/")),
    _recipe(
        "queue-empty",
        OFFICER,
        {"triage.queue"},
        "triage/queue.html",
        as_supervisor("/triage/?status=closed"),
    ),
    _recipe(
        "queue-filtered",
        OFFICER,
        {"triage.queue"},
        "triage/queue.html",
        as_supervisor(
            "/triage/?status=open&priority=high&flag=re_identification&sort=due"
            "&category=discrimination-racism-misogyny-homophobia-disability"
        ),
    ),
    _recipe(
        "queue-mine",
        OFFICER,
        {"triage.queue"},
        "triage/queue.html",
        as_supervisor("/triage/?status=open&assignee=mine"),
    ),
    _recipe(
        "queue-filter-errors",
        OFFICER,
        {"triage.queue"},
        "triage/queue.html",
        as_supervisor("/triage/?priority=urgent&sort=reference"),
        400,
    ),
    _recipe(
        "case",
        OFFICER,
        {"triage.case"},
        "triage/case.html",
        steps.case_page,
    ),
    _recipe(
        "triage-record",
        OFFICER,
        {"triage.edit_record"},
        "triage/record.html",
        steps.triage_record,
    ),
    _recipe(
        "triage-record-errors",
        OFFICER,
        {"triage.edit_record"},
        "triage/record.html",
        steps.triage_record_refused,
        400,
    ),
    _recipe(
        "correct-note",
        OFFICER,
        {"triage.correct_note"},
        "triage/correct_note.html",
        steps.correct_note,
    ),
    _recipe("case-altered", OFFICER, {"triage.case"}, "triage/case.html", steps.case_altered),
    _recipe(
        "evidence-file",
        OFFICER,
        {"triage.evidence_file", "triage.evidence_preview", "triage.evidence_download"},
        "triage/evidence.html",
        steps.evidence_file,
    ),
    _recipe(
        "queue-flood",
        OFFICER,
        {"triage.queue"},
        "triage/queue.html",
        as_supervisor("/triage/?status=flood"),
    ),
    _recipe(
        "integrity",
        OFFICER,
        {"triage.admin.integrity"},
        "admin/integrity.html",
        as_supervisor("/triage/admin/integrity"),
    ),
    _recipe(
        "audit-log",
        OFFICER,
        {"triage.admin.audit_log"},
        "admin/audit.html",
        as_supervisor("/triage/admin/audit"),
    ),
    _recipe(
        "audit-log-errors",
        OFFICER,
        {"triage.admin.audit_log"},
        "admin/audit.html",
        as_supervisor("/triage/admin/audit?case=RL-NOPE&action=nothing"),
        400,
    ),
    _recipe(
        "case-message-errors",
        OFFICER,
        {"triage.case"},
        "triage/case.html",
        steps.case_message_empty,
        400,
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
        "alerts",
        OFFICER,
        {"triage.alert_preferences"},
        "triage/alerts.html",
        as_supervisor("/triage/account/alerts"),
    ),
    _recipe(
        "mail",
        OFFICER,
        {"triage.admin.mail"},
        "admin/mail.html",
        as_supervisor("/triage/admin/mail"),
    ),
    _recipe(
        "case-access",
        OFFICER,
        {"triage.admin.case_access"},
        "admin/access.html",
        steps.case_access,
    ),
    _recipe(
        "case-access-review",
        OFFICER,
        {"triage.admin.case_access"},
        "admin/access.html",
        steps.case_access_review,
    ),
    _recipe(
        "case-access-refused",
        OFFICER,
        {"triage.admin.case_access"},
        "admin/access.html",
        steps.case_access_refused,
        400,
    ),
    _recipe(
        "keys",
        OFFICER,
        {"triage.admin.keys"},
        "admin/keys.html",
        as_supervisor("/triage/admin/keys"),
    ),
    _recipe(
        "officers",
        OFFICER,
        {"triage.admin.officers_list"},
        "admin/officers.html",
        as_supervisor("/triage/admin/"),
    ),
    _recipe(
        "officer",
        OFFICER,
        {"triage.admin.officer_detail"},
        "admin/officer.html",
        steps.officer_detail,
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
        steps.invite_sent_empty,
        400,
    ),
    _recipe(
        "invite-link", OFFICER, {"triage.admin.invite"}, "admin/invited.html", steps.invite_link
    ),
    _recipe("enrol", OFFICER, {"triage.enrol"}, "triage/enrol.html", steps.enrol),
    _recipe(
        "enrol-errors",
        OFFICER,
        {"triage.enrol"},
        "triage/enrol.html",
        steps.enrol_passwords_differ,
        400,
    ),
    _recipe(
        "officer-reset-link",
        OFFICER,
        {"triage.admin.officer_detail", "triage.admin.confirm_reset_second_factor"},
        "admin/invited.html",
        steps.officer_reset_link,
    ),
    _recipe(
        "officer-reset-confirm",
        OFFICER,
        {"triage.admin.officer_detail", "triage.admin.confirm_reset_second_factor"},
        "admin/confirm.html",
        steps.confirm_reset,
    ),
    _recipe(
        "officer-revoke-confirm",
        OFFICER,
        {"triage.admin.officer_detail", "triage.admin.confirm_revoke_access"},
        "admin/confirm.html",
        steps.officer_action("/revoke", "avery.stone@unit.example", reader=True),
    ),
    _recipe(
        "officer-password-reset-confirm",
        OFFICER,
        {"triage.admin.officer_detail", "triage.admin.confirm_reset_password"},
        "admin/confirm.html",
        steps.officer_action("/reset-password", "blake.moss@unit.example"),
    ),
    _recipe(
        "officer-reactivate-confirm",
        OFFICER,
        {"triage.admin.officer_detail", "triage.admin.confirm_reactivate"},
        "admin/confirm.html",
        steps.officer_action("/reactivate", "cameron.lyle@unit.example", deactivated=True),
    ),
    _recipe(
        "officer-role",
        OFFICER,
        {"triage.admin.officer_detail", "triage.admin.change_role"},
        "admin/confirm.html",
        steps.officer_action("/role", "devon.hart@unit.example"),
    ),
    _recipe(
        "officer-role-errors",
        OFFICER,
        {"triage.admin.officer_detail", "triage.admin.change_role"},
        "admin/confirm.html",
        steps.role_refused,
        400,
    ),
    _recipe(
        "password-change",
        OFFICER,
        {"triage.change_password"},
        "triage/password.html",
        steps.password_change,
    ),
    _recipe(
        "password-change-errors",
        OFFICER,
        {"triage.change_password"},
        "triage/password.html",
        steps.password_change_refused,
        400,
    ),
    _recipe(
        "officer-deactivate-confirm",
        OFFICER,
        {"triage.admin.officer_detail", "triage.admin.confirm_deactivate"},
        "admin/confirm.html",
        steps.confirm_deactivate,
    ),
    _recipe(
        "reset-authenticator",
        OFFICER,
        {"triage.enrol"},
        "triage/enrol.html",
        steps.reset_authenticator,
    ),
    _recipe(
        "reset-authenticator-errors",
        OFFICER,
        {"triage.enrol"},
        "triage/enrol.html",
        steps.reset_authenticator_wrong_password,
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
        steps.second_factor,
    ),
    _recipe(
        "second-factor-errors",
        OFFICER,
        {"triage.second_factor_setup"},
        "triage/second_factor.html",
        steps.second_factor_wrong_code,
        400,
    ),
    _recipe(
        "recovery-codes",
        OFFICER,
        {"triage.second_factor_setup"},
        "triage/recovery_codes.html",
        steps.recovery_codes,
    ),
    _recipe(
        "awaiting-access",
        OFFICER,
        {"triage.queue"},
        "triage/awaiting_access.html",
        steps.awaiting_access,
        403,
    ),
    _recipe(
        "officer-forbidden",
        OFFICER,
        {"triage.admin.officers_list"},
        "error.html",
        steps.forbidden,
        403,
    ),
]
