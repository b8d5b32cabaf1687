"""Reporter-side pages: landing, report form and receipt, follow-up, leaving.

No page here needs JavaScript, sets any cookie but the session cookie, or
records anything about the visitor.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_wtf.csrf import generate_csrf
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from reportline.crypto.errors import DecryptionError
from reportline.crypto.keys import PublicKey
from reportline.crypto.receipt import WORD_COUNT, MalformedReceipt, ReceiptProblem
from reportline.services import (
    evidence,
    flood,
    follow_up,
    form_tickets,
    instance,
    restriction,
    submissions,
    uploads,
)
from reportline.services.case_checks import CaseTampered
from reportline.services.dialogue import MessageInvalid
from reportline.services.errors import ReceiptNotFound, ServiceError, SessionExpired, Throttled
from reportline.services.evidence_store import DatabaseChunkStore
from reportline.services.sessions import decode_token
from reportline.web.context import (
    flood_meter,
    follow_up_gate,
    now,
    pinned_exclusion_key,
    pinned_unit_key,
    settings,
    submission_keys,
    today,
)
from reportline.web.database import get_session
from reportline.web.errors import render_too_large
from reportline.web.forms import csrf
from reportline.web.i18n import LANGUAGES
from reportline.web.page_cache import render_cached, slot
from reportline.web.reporter import evidence_input
from reportline.web.reporter.forms import ReceiptForm, ReplyForm, ReportForm
from reportline.web.security import accepts_files

blueprint = Blueprint("reporter", __name__)

REPORTER_KEY = "reporter"
REPORTER_IDLE_KEY = "reporter_idle_until"


@blueprint.get("/")
def landing() -> str:
    """What this line is for, what happens next, and how anonymity is protected."""
    return render_cached("reporter/landing.html")


@blueprint.route("/report", methods=["GET", "POST"])
@accepts_files
@csrf.exempt  # checked by ReportForm.validate(), which keeps what was typed
def report() -> str | tuple[str, int] | Response:
    """The report form; on success the report is committed, then the receipt shown once.

    Every refusal re-shows the form with everything typed (`_report_again`).
    """
    ticket_key = instance.form_ticket_key(settings())
    evidence_input.allow_uploads()
    if request.method != "POST":
        return render_cached(
            "reporter/report.html",
            slots={
                "csrf_value": generate_csrf(),
                "submission_value": form_tickets.issue(ticket_key, now()),
            },
            context=lambda: {
                "form": ReportForm(formdata=None),
                **_exclusion_context(),
                **evidence_input.slot_context(evidence_input.empty_slots()),
            },
            # The exclusion question reads differently while no exclusion key is pinned.
            variant="" if pinned_exclusion_key().is_pinned() else "no-exclusion-key",
        )
    form = ReportForm()
    slots = evidence_input.read_slots()
    ticket = form_tickets.read(ticket_key, form.submission.data)
    if not form.validate() | (not evidence_input.check_descriptions(slots)):
        return _report_again(form, ticket, slots), 400
    lifetime = timedelta(hours=settings().form_lifetime_hours)
    if ticket is None or ticket.age(now()) > lifetime:
        return _report_again(form, None, slots, notice="expired"), 400
    if form.homepage.data:
        form.homepage.data = ""
        return _report_again(form, ticket, slots, notice="check"), 400
    if ticket.age(now()) < timedelta(seconds=settings().min_form_seconds):
        return _report_again(form, ticket, slots, notice="check"), 400
    db = get_session()
    possible_flood = flood_meter().arrive() and not flood.proof_is_valid(
        ticket.text, form.proof.data, settings().proof_of_work_bits
    )
    if possible_flood and flood.held_count(db) >= settings().flood_max_reports:
        # A copy of a form that was stored gets its receipt, never "not stored".
        try:
            repeated = submissions.repeated_submission(db, ticket, submission_keys())
        except submissions.FormAlreadySent as exc:
            if exc.spent:
                return render_template("reporter/already_sent.html"), 409
            page, status = _report_again(form, ticket, slots, notice="busy"), 503
            return Response(page, status, headers={"Retry-After": "300"})
        return _receipt_page(repeated)
    draft = submissions.ReportDraft(
        **{name: form[name].data or "" for name in submissions.REPORT_FIELDS}
    )
    exclusion = None
    if draft.exclude:
        exclusion = _exclusion_seals(db)
        if exclusion is None:
            return _report_again(form, ticket, slots, notice="no-exclusion"), 503
    store = DatabaseChunkStore(db)
    prepared = evidence_input.store_files(db, store, slots)
    if prepared is None:
        return _report_again(form, ticket, slots, notice="file"), 400
    try:
        evidence.verify_stored(db, store, prepared)
        submitted = submissions.submit_report(
            db,
            draft,
            ticket,
            submission_keys(),
            pinned_unit_key(),
            today(),
            possible_flood,
            urgent_alert_at=now() if settings().mail_configured else None,
            exclusion=exclusion,
            evidence=prepared,
        )
    except submissions.FormAlreadySent:
        db.rollback()
        evidence.discard_unattached(db, store, prepared)
        db.commit()
        return render_template("reporter/already_sent.html"), 409
    except evidence.EvidenceLost:
        db.rollback()
        return _report_again(form, ticket, slots, notice="file-lost"), 503
    db.commit()
    if prepared:
        # A copy of a form that was stored before keeps that report: these are not used.
        evidence.discard_unattached(db, store, prepared)
        db.commit()
    return _receipt_page(submitted, prepared)


def _exclusion_context() -> dict[str, object]:
    """What the exclusion question says besides its static text: whether the unit can
    take such a request now, and the route outside the unit (settings)."""
    return {
        "exclusion_open": pinned_exclusion_key().is_pinned(),
        "exclusion_route_text": settings().exclusion_route_text,
        "exclusion_route_url": settings().exclusion_route_url,
    }


def _exclusion_seals(db: Session) -> submissions.ExclusionSeals | None:
    """The pinned exclusion key and recovery key a report with an exclusion is sealed
    to, or None when either is not pinned (or its pin does not hold): such a report is
    then refused, never sealed to the unit key."""
    try:
        exclusion_key_id, exclusion_public = pinned_exclusion_key().get(db)
        recovery = restriction.pinned_recovery_key(
            db, instance.read_pins(settings().instance_path).recovery
        )
    except (ServiceError, DecryptionError):
        return None
    return submissions.ExclusionSeals(
        exclusion_key_id, exclusion_public, recovery.id, PublicKey(recovery.public_key)
    )


def _receipt_page(
    submitted: submissions.Submitted, files: Sequence[evidence.PreparedFile] = ()
) -> str:
    """The receipt, shown once per report (and again to a copy of its form, for minutes).

    With files, it also says what was removed from each (rendered, not cached).
    """
    receipt = submitted.receipt
    if files:
        return render_template(
            "reporter/receipt.html",
            receipt_words=list(receipt.words),
            at_risk=submitted.at_risk,
            excluded=submitted.excluded,
            files=[item.description for item in files],
        )
    return render_cached(
        "reporter/receipt.html",
        slots={f"word{i}": word for i, word in enumerate(receipt.words)},
        context=lambda: {
            "receipt_words": [slot(f"word{i}") for i in range(len(receipt.words))],
            "at_risk": submitted.at_risk,
            "excluded": submitted.excluded,
        },
        variant=("at-risk" if submitted.at_risk else "")
        + ("-excluded" if submitted.excluded else ""),
    )


def _report_again(
    form: ReportForm,
    ticket: form_tickets.FormTicket | None,
    slots: Sequence[evidence_input.Slot],
    notice: str | None = None,
) -> str:
    """The report form again with everything typed: under its own ticket (so the minimum
    time keeps counting from the first fetch), or a fresh one if it had none or expired."""
    form.submission.data = (
        ticket.text if ticket else form_tickets.issue(instance.form_ticket_key(settings()), now())
    )
    return render_template(
        "reporter/report.html",
        form=form,
        notice=notice,
        lifetime_hours=settings().form_lifetime_hours,
        **_exclusion_context(),
        **evidence_input.slot_context(slots),
    )


def _receipt_problem_message(problem: ReceiptProblem) -> str:
    if problem.kind == "empty":
        return _(
            "Enter your receipt: the %(count)s words you were given when you sent your report.",
            count=WORD_COUNT,
        )
    if problem.kind == "count":
        return ngettext(
            "A receipt has %(expected)s words. You entered %(num)s word.",
            "A receipt has %(expected)s words. You entered %(num)s words.",
            problem.count,
            expected=WORD_COUNT,
        )
    message = _(
        "Word %(position)s, “%(word)s”, is not one of the receipt words. Check its spelling.",
        position=problem.position,
        word=problem.word,
    )
    if problem.suggestions:
        message += " " + _("Did you mean “%(words)s”?", words="”, “".join(problem.suggestions))
    return message


@blueprint.get("/too-large")
def too_large() -> tuple[str, int]:
    """What a proxy shows for a body over its limit (nginx: error_page 413)."""
    return render_too_large(settings())


@blueprint.route("/follow-up", methods=["GET", "POST"])
def follow_up_sign_in() -> BaseResponse | str | tuple[str, int]:
    """Sign in with the receipt. Typos are explained; a wrong receipt is simply wrong."""
    form = ReceiptForm()
    if request.method != "POST" or not form.validate():
        return render_template("reporter/follow_up_sign_in.html", form=form)
    db = get_session()
    try:
        with follow_up_gate().slot():
            token = follow_up.sign_in(db, form.receipt.data or "", now(), settings())
    except MalformedReceipt as exc:
        form.receipt.errors = [_receipt_problem_message(exc.problem)]
        return render_template("reporter/follow_up_sign_in.html", form=form), 400
    except ReceiptNotFound:
        form.receipt.errors = [
            _(
                "We could not find a report with this receipt. Check each "
                "word against your note and try again."
            )
        ]
        return render_template("reporter/follow_up_sign_in.html", form=form), 400
    except Throttled as exc:
        form.receipt.errors = [
            ngettext(
                "The service is busy. Wait %(num)s second, then try again.",
                "The service is busy. Wait %(num)s seconds, then try again.",
                exc.retry_after,
            )
        ]
        page = render_template("reporter/follow_up_sign_in.html", form=form)
        return Response(page, 503, headers={"Retry-After": str(exc.retry_after)})
    db.commit()
    _start_reporter_session(token.encode())
    return redirect(url_for("reporter.follow_up_case"), code=303)


def _start_reporter_session(token: str) -> None:
    """Replace the whole session (no fixation), keeping only the chosen language."""
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language
    session[REPORTER_KEY] = token
    _extend_idle_timeout()


def _extend_idle_timeout() -> None:
    # The idle deadline lives in the signed cookie, so staying active writes nothing
    # to the database (see services.follow_up). Minutes are enough precision.
    idle = timedelta(minutes=settings().reporter_session_minutes)
    session[REPORTER_IDLE_KEY] = (now() + idle).strftime("%Y-%m-%dT%H:%M")


def _signed_in_reporter() -> follow_up.SignedInReporter | None:
    """The signed-in reporter, or None (their session is then forgotten)."""
    try:
        if session.get(REPORTER_IDLE_KEY, "") < now().strftime("%Y-%m-%dT%H:%M"):
            raise SessionExpired("idle too long")
        reporter = follow_up.resume(get_session(), decode_token(session.get(REPORTER_KEY)), now())
    except SessionExpired:
        session.pop(REPORTER_KEY, None)
        session.pop(REPORTER_IDLE_KEY, None)
        return None
    _extend_idle_timeout()
    return reporter


@blueprint.route("/follow-up/case", methods=["GET", "POST"])
@accepts_files
@csrf.exempt  # checked by ReplyForm.validate(), which keeps what was typed
def follow_up_case() -> BaseResponse | str | tuple[str, int]:
    """The case as the reporter sees it: status, dates, conversation, and a reply box."""
    reporter = _signed_in_reporter()
    if reporter is None:
        flash(_("Your follow-up session has ended. Enter your receipt to continue."), "info")
        return redirect(url_for("reporter.follow_up_sign_in"), code=303)
    db = get_session()
    form = ReplyForm()
    slots = evidence_input.empty_slots()
    evidence_input.allow_uploads()
    status = 200
    if request.method == "POST":
        slots = evidence_input.read_slots()
        if form.validate() & evidence_input.check_descriptions(slots):
            status = _send_reply(db, reporter, form, slots)
            if status == 303:
                flash(_("Your message has been sent to the unit."), "success")
                return redirect(url_for("reporter.follow_up_case"), code=303)
        else:
            status = 400
    return _follow_up_page(db, reporter, form, slots), status


def _send_reply(
    db: Session,
    reporter: follow_up.SignedInReporter,
    form: ReplyForm,
    slots: Sequence[evidence_input.Slot],
) -> int:
    """Store the reply's files, then the reply; return 303 once committed, or the status
    of the page that says what went wrong (nothing of the reply is then kept)."""
    store = DatabaseChunkStore(db)
    prepared = evidence_input.store_files(
        db, store, slots, already=evidence.report_bytes(db, reporter.case.id)
    )
    if prepared is None:
        return 422  # a file that cannot be taken (an expired form is a 400)
    status = 303
    try:
        evidence.verify_stored(db, store, prepared)
        follow_up.reply(db, reporter, form.message.data or "", today(), prepared)
    except MessageInvalid:
        form.message.errors = [_("Write your message")]
        status = 400
    except CaseTampered:
        status = 409  # the page says part of the record cannot be shown
    except evidence.EvidenceLost:
        slots[0].error = _(
            "Your files were removed while the form was being sent. Choose them again."
        )
        status = 503
    if status != 303:
        db.rollback()
        evidence.discard_unattached(db, store, prepared)
    db.commit()
    if status == 303 and prepared:
        # Said in general words: a flashed message travels in the session cookie, which
        # is signed, not encrypted, so it must not carry a file's name.
        flash(
            _(
                "Hidden details such as location and author names were removed from "
                "your files before they were stored."
            ),
            "info",
        )
    return status


def _follow_up_page(
    db: Session,
    reporter: follow_up.SignedInReporter,
    form: ReplyForm,
    slots: Sequence[evidence_input.Slot],
) -> str:
    page = follow_up.view(db, reporter)
    return render_template(
        "reporter/follow_up_case.html",
        view=page,
        form=form,
        **evidence_input.slot_context(slots),
    )


@blueprint.post("/evidence/chunk")
def upload_chunk() -> tuple[Response, int]:
    """One chunk of a file sent ahead of its form by static/js/evidence.js, sealed the
    moment it arrives (services.uploads). The CSRF token comes in a header."""
    db = get_session()
    try:
        token = uploads.parse_token(request.headers.get("X-Upload-Token"))
        index = _chunk_index(request.headers.get("X-Chunk-Index"))
        data = request.get_data(cache=False)
        evidence.check_room(db, evidence_input.limits(), len(data))
        received = uploads.add_chunk(
            db, token, index, data, today(), settings().evidence_file_max_bytes
        )
    except uploads.UploadTooLarge:
        db.rollback()
        uploads.discard(db, token)  # what came of it is of no use now
        db.commit()
        message = evidence_input.limit_message(
            evidence.EvidenceLimitReached("file", settings().evidence_file_max_bytes)
        )
        return jsonify(error=message), 413
    except evidence.EvidenceLimitReached as exc:
        db.rollback()
        return jsonify(error=evidence_input.limit_message(exc)), 507
    except uploads.UploadInvalid:
        db.rollback()
        return jsonify(error=_("This file did not arrive whole. Choose it again.")), 400
    try:
        db.commit()
    except IntegrityError:  # the same chunk sent twice at once: the first one stands
        db.rollback()
        return jsonify(error=_("This file did not arrive whole. Choose it again.")), 400
    return jsonify(received=received), 200


def _chunk_index(text: str | None) -> int:
    """A chunk's index from its header. Raises UploadInvalid."""
    if not text or not text.isascii() or not text.isdigit() or len(text) > 6:
        raise uploads.UploadInvalid("no chunk index")
    return int(text)


@blueprint.get("/leave")
def leave() -> BaseResponse:
    """End any follow-up session, ask the browser to forget this site, go somewhere neutral."""
    try:
        token = decode_token(session.get(REPORTER_KEY))
    except SessionExpired:
        pass
    else:
        db = get_session()
        follow_up.end(db, token)
        db.commit()
    session.clear()
    target = settings().leave_url
    if target == "/leave":
        target = url_for("reporter.neutral")
    response = redirect(target, code=303)
    response.headers["Clear-Site-Data"] = '"cache", "cookies", "storage"'
    return response


@blueprint.get("/blank")
def neutral() -> str:
    """A page with nothing on it that says what this site is."""
    return render_template("reporter/neutral.html")


# A plain path only: browsers read a backslash as a slash and drop tabs and
# newlines, so "/" + backslash + "evil.example" would lead off-site.
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9._~-]+(?:/[A-Za-z0-9._~-]+)*/?|/")


def _safe_next(target: str | None) -> str:
    """The reporter page to return to after switching language, or the landing page."""
    landing = url_for("reporter.landing")
    if not target or not _PLAIN_PATH.fullmatch(target):
        return landing
    try:
        endpoint, _args = current_app.url_map.bind("localhost").match(target, method="GET")
    except HTTPException:  # not a page, not a GET page, or a redirect
        return landing
    return target if str(endpoint).startswith("reporter.") else landing


@blueprint.get("/language/<code>")
def language(code: str) -> BaseResponse:
    """Switch language (kept in the session cookie only) and go back to the page."""
    if code not in LANGUAGES:
        abort(404)
    session["lang"] = code
    return redirect(_safe_next(request.args.get("next")), code=303)
