"""Officer pages: sign-in, second factor, the queue, a case, and the officer's account."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from reportline.db import begin_read_only
from reportline.services import (
    auth,
    cases,
    casework,
    dialogue,
    enrolment,
    instance,
    restriction,
    second_factor,
    triage,
    triage_record,
)
from reportline.services.case_checks import CaseTampered
from reportline.services.errors import (
    InvalidTransition,
    InviteInvalid,
    LoginFailed,
    NoKeyAccess,
    Throttled,
    WeakPassword,
)
from reportline.services.queue import read_queue, record_view
from reportline.services.queue_filters import HEADLINE_VIEWS, assignable_officers
from reportline.services.triage_record import RecordInvalid
from reportline.web.context import client_address, now, settings, today
from reportline.web.database import get_session
from reportline.web.forms import ActionForm, choices, page_number
from reportline.web.labels import STATUS
from reportline.web.triage import access
from reportline.web.triage.forms import (
    AssignForm,
    ChoosePasswordForm,
    ConfirmPasswordForm,
    ExportForm,
    LoginForm,
    MessageForm,
    NoteForm,
    SecondFactorForm,
    StatusForm,
    TakeForm,
)
from reportline.web.triage.queue_forms import QueueFilterForm, rendered_filters

blueprint = Blueprint("triage", __name__, url_prefix="/triage")
blueprint.before_request(access.load_officer)
blueprint.register_error_handler(NoKeyAccess, access.awaiting_access)


def _signed_in() -> auth.SignedInOfficer:
    signed_in: auth.SignedInOfficer = g.signed_in
    return signed_in


def _signed_in_response(result_token: auth.SessionToken, endpoint: str) -> BaseResponse:
    response = redirect(url_for(endpoint), code=303)
    access.set_officer_cookie(response, result_token)
    return response


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse | str | tuple[str, int]:
    """Sign in with e-mail, password and second factor; one vague answer to any mistake."""
    form = LoginForm()
    if g.signed_in is not None and g.signed_in.stage == auth.ACTIVE:
        return redirect(url_for("triage.queue"), code=303)
    if request.method != "POST" or not form.validate():
        status = 400 if request.method == "POST" else 200
        return render_template("triage/login.html", form=form), status
    db = get_session()
    try:
        attempt = auth.begin_sign_in(
            db, form.email.data or "", access.sign_in_client(), now(), settings()
        )
        db.commit()  # no transaction, so no lock, while Argon2id runs
        private_key = auth.check_password(attempt, form.password.data or "", settings())
        result = auth.finish_sign_in(
            db,
            attempt,
            private_key,
            form.password.data or "",
            form.code.data or "",
            now(),
            settings(),
        )
    except LoginFailed:
        db.commit()
        return render_template("triage/login.html", form=form, failed=True), 401
    except Throttled as exc:
        db.commit()
        page = render_template("triage/login.html", form=form, retry_after=exc.retry_after)
        return Response(page, 429, headers={"Retry-After": str(exc.retry_after)})
    if g.signed_in is not None:  # a half-finished session in this browser: end it
        auth.end_session(db, g.signed_in.token)
    db.commit()
    _fresh_browser_session()
    response = _signed_in_response(result.token, "triage.queue")
    if result.device_token:
        access.set_device_cookie(response, result.device_token)
    return response


def _fresh_browser_session() -> None:
    """New CSRF token and nothing else carried over from before sign-in (no fixation)."""
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language


@blueprint.post("/logout")
def logout() -> BaseResponse:
    """End this session: the server-side key is deleted, so the cookie unlocks nothing."""
    db = get_session()
    auth.sign_out(db, _signed_in(), now())
    db.commit()
    response = redirect(url_for("triage.login"), code=303)
    access.clear_officer_cookie(response)
    flash(_("You have signed out."), "success")
    return response


@blueprint.post("/logout-everywhere")
def logout_everywhere() -> BaseResponse:
    """End every session of this officer, on every device."""
    db = get_session()
    auth.sign_out_everywhere(db, _signed_in().officer, now())
    db.commit()
    response = redirect(url_for("triage.login"), code=303)
    access.clear_officer_cookie(response)
    flash(_("You have signed out on every device."), "success")
    return response


@blueprint.route("/second-factor", methods=["GET", "POST"])
def second_factor_setup() -> str | tuple[str, int] | BaseResponse:
    """Set up the authenticator app (first sign-in, or after a supervisor reset it)."""
    db = get_session()
    signed_in = _signed_in()
    seed = auth.begin_totp_enrolment(db, signed_in)
    db.commit()
    form = SecondFactorForm()
    status = 200
    if request.method == "POST" and form.validate():
        outcome = auth.complete_totp_enrolment(db, signed_in, form.code.data or "", now())
        if outcome is not None:
            token, codes = outcome
            db.commit()
            response = make_response(render_template("triage/recovery_codes.html", codes=codes))
            access.set_officer_cookie(response, token)
            return response
        form.code.errors = [
            _("That code was not right. Check the time on your phone and try the newest code.")
        ]
        status = 400
    elif request.method == "POST":
        status = 400
    return render_template("triage/second_factor.html", form=form, seed=seed), status


@blueprint.get("/second-factor/qr.svg")
def second_factor_qr() -> Response:
    """The QR code of the authenticator key being set up, drawn here (no outside service)."""
    db = get_session()
    signed_in = _signed_in()
    seed = auth.begin_totp_enrolment(db, signed_in)
    db.commit()
    uri = second_factor.provisioning_uri(seed, signed_in.officer.email)
    return Response(second_factor.qr_svg(uri), mimetype="image/svg+xml")


@blueprint.route("/enrol/<token>", methods=["GET", "POST"])
def enrol(token: str) -> str | tuple[str, int] | BaseResponse:
    """A one-time link: a new officer chooses a password, or an officer who lost their
    authenticator confirms theirs; both then set up the authenticator app."""
    db = get_session()
    try:
        officer, purpose = enrolment.find_link(db, token, now(), instance.integrity_key(settings()))
    except InviteInvalid:
        return render_template("triage/enrol_invalid.html"), 404
    form: ChoosePasswordForm | ConfirmPasswordForm = (
        ChoosePasswordForm() if purpose == enrolment.ENROL else ConfirmPasswordForm()
    )
    if request.method == "POST" and form.validate():
        try:
            if purpose == enrolment.ENROL:
                officer, private_key = enrolment.redeem_enrolment(
                    db,
                    token,
                    form.password.data or "",
                    instance.argon2_cost(settings()),
                    now(),
                    instance.integrity_key(settings()),
                )
            else:
                officer, private_key = enrolment.redeem_reset(
                    db, token, form.password.data or "", client_address(), now(), settings()
                )
        except WeakPassword as exc:
            form.password.errors = list(exc.problems)
        except InviteInvalid:
            return render_template("triage/enrol_invalid.html"), 404
        except LoginFailed:
            db.commit()  # the failure counts against sign-in throttling
            form.password.errors = [_("That is not your current password.")]
        else:
            session_token = auth.start_session(db, officer, private_key, auth.ENROL, now())
            db.commit()
            _fresh_browser_session()
            return _signed_in_response(session_token, "triage.second_factor_setup")
    status = 400 if request.method == "POST" else 200
    return render_template(
        "triage/enrol.html", form=form, email=officer.email, purpose=purpose
    ), status


@blueprint.get("/")
def queue() -> str | tuple[str, int]:
    """The queue in the view its URL names (status, filters, sort, page), with the counts
    of the views officers use most, the flood group and the ledger's check. An unknown
    value is a 400 naming its field.

    Everything is read first, in a read-only transaction (no SQLite write lock while
    cases are opened); the audit entry is appended after, in a short write of its own.
    """
    db = get_session()
    begin_read_only(db)
    categories = triage_record.national_categories(settings().national_categories)
    form = QueueFilterForm(assignable_officers(db), categories)
    if not form.validate():
        db.rollback()
        return render_template(
            "triage/queue.html", form=form, filters_html=rendered_filters(form), page=None
        ), 400
    officer = _signed_in().officer
    page = read_queue(
        db,
        access.current_keyring(),
        officer,
        today(),
        form.view(),
        page=page_number(request.args.get("page")),
        page_size=settings().queue_page_size,
        categories=categories,
    )
    db.commit()
    record_view(db, officer, now(), page)
    db.commit()
    return render_template(
        "triage/queue.html",
        form=form,
        filters_html=rendered_filters(form),
        page=page,
        headline_views=HEADLINE_VIEWS,
        flood_form=ActionForm(),
    )


@blueprint.get("/cases/<reference>")
def case(reference: str) -> str:
    """One case: the decrypted report, the dialogue, the status history and actions.

    Read in a read-only transaction, then audited in a short write; a case with unread
    replies is opened again in one locked write transaction that marks them read.
    """
    db = get_session()
    case_id = cases.parse_reference(reference)
    officer = _signed_in().officer
    begin_read_only(db)
    opened = triage.read_case(db, case_id, access.current_keyring(), now())
    db.commit()
    if opened.unread_replies and not opened.faults:
        opened = triage.open_case(db, case_id, access.current_keyring(), officer, now())
    else:
        triage.record_case_view(db, opened, officer, now())
    db.commit()
    begin_read_only(db)  # what the page still reads (the owners a supervisor may choose)
    return _render_case(opened)


def _render_case(opened: triage.OpenedCase, **forms: Any) -> str:
    """The case page; `forms` (message_form, status_form, note_form, take_form,
    assign_form, export_form) keep what was typed after a refusal, blank ones are made."""
    status_form = forms.get("status_form") or StatusForm(formdata=None)
    status_form.status.choices = choices({s: STATUS[s] for s in opened.next_statuses})
    assign_form = forms.get("assign_form") or AssignForm(formdata=None)
    me = _signed_in().officer
    db = get_session()
    if _signed_in().supervisor:
        owners = casework.eligible_owners(db, opened.case_id)
        assign_form.officer_id.choices = choices({str(o.id): o.email for o in owners})
    case_row = cases.get_case(db, opened.case_id)
    case_access = {
        "access": case_row.access,
        "readers": [opened.officer_emails.get(i, "") for i in restriction.readers(db, case_row.id)],
        "waiting": [opened.officer_emails.get(i, "") for i in restriction.waiting(db, case_row.id)],
    }
    return render_template(
        "triage/case.html",
        opened=opened,
        me=me,
        supervisor=_signed_in().supervisor,
        message_form=forms.get("message_form") or MessageForm(formdata=None),
        status_form=status_form,
        note_form=forms.get("note_form") or NoteForm(formdata=None),
        take_form=forms.get("take_form") or TakeForm(formdata=None),
        assign_form=assign_form,
        export_form=forms.get("export_form") or ExportForm(formdata=None),
        case_access=case_access,
    )


def _case_page_again(reference: str, status: int, **forms: Any) -> tuple[str, int]:
    """The case page again after a refused action: what was typed kept, the problem shown."""
    db = get_session()
    opened = triage.open_case(
        db, cases.parse_reference(reference), access.current_keyring(), _signed_in().officer, now()
    )
    db.commit()
    return _render_case(opened, **forms), status


@blueprint.post("/cases/<reference>/status")
def change_status(reference: str) -> BaseResponse | tuple[str, int]:
    """Move the case to another status; a refusal is shown on the case page with what
    was typed kept and the problem named next to its field."""
    db = get_session()
    form = StatusForm()
    status = 400
    if form.validate():
        try:
            if form.status.data == "closed":
                casework.close_with_outcome(
                    db,
                    access.current_keyring(),
                    cases.parse_reference(reference),
                    form.outcome.data or "",
                    form.reason.data or "",
                    form.referral_body.data or "",
                    form.referral_reference.data or "",
                    _signed_in().officer,
                    now(),
                )
            else:
                triage.change_status(
                    db,
                    access.current_keyring(),
                    cases.parse_reference(reference),
                    form.status.data or "",
                    form.reason.data or "",
                    _signed_in().officer,
                    now(),
                )
        except InvalidTransition as exc:
            db.rollback()
            form.status.errors = [
                _("This case cannot move to that status now: %(why)s.", why=str(exc))
            ]
        except dialogue.MessageInvalid as exc:
            db.rollback()
            form.reason.errors = [str(exc).capitalize() + "."]
        except RecordInvalid as exc:
            db.rollback()
            for name, problem in exc.problems.items():
                form[name].errors = [problem]
        except CaseTampered:
            db.rollback()
            status = 409  # the case page says what failed and offers no forms
        else:
            db.commit()
            flash(_("Status changed."), "success")
            return redirect(url_for("triage.case", reference=reference), code=303)
    return _case_page_again(reference, status, status_form=form)


@blueprint.post("/cases/<reference>/messages")
def write_message(reference: str) -> BaseResponse | tuple[str, int]:
    """Send a message to the reporter; they read it when they next sign in."""
    db = get_session()
    form = MessageForm()
    if not form.validate():
        return _case_page_again(reference, 400, message_form=form)
    try:
        triage.write_to_reporter(
            db,
            access.current_keyring(),
            cases.parse_reference(reference),
            form.message.data or "",
            _signed_in().officer,
            now(),
            kind=form.kind.data or "message",
            is_feedback=bool(form.is_feedback.data),
        )
    except CaseTampered:
        db.rollback()
        return _case_page_again(reference, 409, message_form=form)
    db.commit()
    flash(
        _("Message sent. The reporter will see it when they next check with their receipt."),
        "success",
    )
    return redirect(url_for("triage.case", reference=reference, _anchor="dialogue"), code=303)


@blueprint.get("/account")
def account() -> str:
    """The officer's own account: sessions, recovery codes, signing out everywhere."""
    db = get_session()
    officer = _signed_in().officer
    return render_template(
        "triage/account.html",
        officer=officer,
        remaining_codes=second_factor.remaining_recovery_codes(db, officer),
        fingerprint=_signed_in().private_key.public_key().fingerprint,
        form=ActionForm(),
    )


@blueprint.post("/account/recovery-codes")
def new_recovery_codes() -> str:
    """Replace the officer's recovery codes; the new ones are shown once."""
    db = get_session()
    codes = auth.replace_recovery_codes(db, _signed_in().officer, now())
    db.commit()
    return render_template("triage/recovery_codes.html", codes=codes)
