"""Supervisor pages under /triage/admin/: officers, their access and second factor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.wrappers import Response as BaseResponse

from reportline.crypto.keys import PublicKey
from reportline.models import Officer
from reportline.services import (
    audit,
    case_checks,
    cases,
    enrolment,
    exclusion_keys,
    flood_review,
    instance,
    keyring,
    officers,
    passwords,
    queue,
    restriction,
    roles,
)
from reportline.services.case_checks import CaseTampered
from reportline.services.errors import ServiceError
from reportline.web.admin.forms import FingerprintForm, InviteForm, RoleForm
from reportline.web.context import now, settings
from reportline.web.database import get_session
from reportline.web.forms import ActionForm
from reportline.web.triage import access

blueprint = Blueprint("admin", __name__, url_prefix="/admin")
# Offered after a revoke or a deactivation, with a link to the keys page (base.html).
ROTATION_OFFER = (
    "A copy of the unit key they may have kept still opens the reports it opened. "
    "Rotate the unit key so that it opens none that arrive later."
)
# Offered after any action that took a copy of the exclusion key away.
EXCLUSION_ROTATION_OFFER = (
    "They held the exclusion key: a copy they may have kept opens reports with an exclusion. "
    "Rotate the exclusion key so that it opens none that arrive later."
)
blueprint.before_request(access.require_supervisor)


def _officer(officer_id: int) -> Officer:
    return officers.get_officer(get_session(), officer_id)


@blueprint.get("/")
def officers_list() -> str:
    """Every officer, with their role, state and whether they hold the unit key."""
    db = get_session()
    everyone = officers.list_officers(db)
    holders = {o.id for o in everyone if keyring.holds_unit_key(db, o.id)}
    # Set up (new, reactivated, or with a new key after a password reset) but unable
    # to read: a supervisor must give them the unit key.
    waiting = [o for o in everyone if o.active and o.totp_seed_sealed and o.id not in holders]
    return render_template(
        "admin/officers.html",
        officers=everyone,
        holders=holders,
        waiting=waiting,
        shown_roles={o.id: roles.shown_role(db, o) for o in everyone},
    )


@blueprint.route("/officers/new", methods=["GET", "POST"])
def invite() -> str | tuple[str, int]:
    """Add an officer: the page shows a one-time enrolment link to pass on securely."""
    form = InviteForm()
    if request.method == "POST" and form.validate():
        db = get_session()
        try:
            officer, token = enrolment.invite_officer(
                db,
                form.email.data or "",
                form.role.data or "",
                g.signed_in.officer,
                now(),
                instance.integrity_key(settings()),
            )
        except ServiceError as exc:
            db.rollback()
            form.email.errors = [str(exc).capitalize()]
        else:
            db.commit()
            link = url_for("triage.enrol", token=token, _external=True)
            return render_template(
                "admin/invited.html", officer=officer, link=link, purpose="enrol"
            )
    status = 400 if request.method == "POST" else 200
    return render_template("admin/invite.html", form=form), status


@blueprint.get("/officers/<int:officer_id>")
def officer_detail(officer_id: int) -> str:
    """One officer and the actions a supervisor can take."""
    db = get_session()
    officer = _officer(officer_id)
    return render_template(
        "admin/officer.html",
        officer=officer,
        fingerprint=PublicKey(officer.public_key).fingerprint if officer.public_key else "",
        holds_key=keyring.holds_unit_key(db, officer.id),
        holds_exclusion_key=keyring.holds_group_key(db, officer.id),
        exclusion_member=exclusion_keys.is_member(db, officer),
        can_give_exclusion_key=bool(access.current_group_keys()),
        shown_role=roles.shown_role(db, officer),
        form=ActionForm(),
        fingerprint_form=FingerprintForm(),
        is_self=officer.id == g.signed_in.officer.id,
    )


def _act(
    officer_id: int, action: Callable[[Officer, Officer], str], offer_rotation: bool = False
) -> BaseResponse:
    """Do `action(officer, me)`, which returns what to tell the supervisor, and go back
    to the officer's page; a refusal changes nothing and says why. `offer_rotation`:
    after success, also offer a unit key rotation (the keys page); an exclusion key
    rotation is offered whenever the action took their copy of that key away."""
    db = get_session()
    officer = _officer(officer_id)
    held_exclusion_key = exclusion_keys.holds_a_copy(db, officer.id)
    try:
        message = action(officer, g.signed_in.officer)
    except ServiceError as exc:
        db.rollback()
        flash(_("Nothing was changed: %(why)s.", why=str(exc)), "error")
    else:
        lost_exclusion_key = held_exclusion_key and not exclusion_keys.holds_a_copy(db, officer.id)
        db.commit()
        flash(message, "success")
        if offer_rotation:
            flash(ROTATION_OFFER, "rotate")
        if lost_exclusion_key:
            flash(EXCLUSION_ROTATION_OFFER, "rotate-exclusion")
    return redirect(url_for("triage.admin.officer_detail", officer_id=officer_id), code=303)


def _confirm(officer: Officer, action: str, **extra: Any) -> str:
    """The page that says what an action on an officer will do, and does it. Every
    action is for another officer; reactivation is for a deactivated one, a password
    reset for either (the service refuses anything else that does not apply, saying
    why)."""
    allowed = officer.id != g.signed_in.officer.id and (
        action == "reset_password" or officer.active == (action != "reactivate")
    )
    return render_template(
        "admin/confirm.html", officer=officer, action=action, allowed=allowed, **extra
    )


@blueprint.get("/officers/<int:officer_id>/deactivate")
def confirm_deactivate(officer_id: int) -> str:
    """What deactivating does, and the button that does it."""
    return _confirm(_officer(officer_id), "deactivate")


@blueprint.post("/officers/<int:officer_id>/deactivate")
def deactivate(officer_id: int) -> BaseResponse:
    """Deactivate an officer: sessions ended and sealed key copies deleted at once, for good."""

    def deactivate_officer(officer: Officer, me: Officer) -> str:
        officers.deactivate(get_session(), officer, me, now())
        done = _("%(email)s is deactivated and signed out everywhere.", email=officer.email)
        return done

    return _act(officer_id, deactivate_officer, offer_rotation=True)


def _show_new_link(officer_id: int, purpose: str) -> str | BaseResponse:
    """Make a one-time link ("enrol" or "reset") for the officer and show it once, or
    say on their page why nothing was changed."""
    db = get_session()
    officer = _officer(officer_id)
    make = {
        "enrol": enrolment.renew_enrolment_link,
        "reset": enrolment.reset_second_factor,
        "password": passwords.reset_forgotten_password,
    }[purpose]
    held_exclusion_key = exclusion_keys.holds_a_copy(db, officer.id)
    try:
        token = make(db, officer, g.signed_in.officer, now(), instance.integrity_key(settings()))
    except ServiceError as exc:
        db.rollback()
        flash(_("Nothing was changed: %(why)s.", why=str(exc)), "error")
        return redirect(url_for("triage.admin.officer_detail", officer_id=officer_id), code=303)
    if held_exclusion_key and not exclusion_keys.holds_a_copy(db, officer.id):
        flash(EXCLUSION_ROTATION_OFFER, "rotate-exclusion")  # a password reset
    db.commit()
    link = url_for("triage.enrol", token=token, _external=True)
    return render_template("admin/invited.html", officer=officer, link=link, purpose=purpose)


@blueprint.post("/officers/<int:officer_id>/enrolment-link")
def renew_enrolment_link(officer_id: int) -> str | BaseResponse:
    """A new one-time enrolment link for an officer who lost theirs or let it expire."""
    return _show_new_link(officer_id, "enrol")


@blueprint.get("/officers/<int:officer_id>/reset-second-factor")
def confirm_reset_second_factor(officer_id: int) -> str:
    """What resetting an officer's authenticator does, and the button that does it."""
    return _confirm(_officer(officer_id), "reset")


@blueprint.post("/officers/<int:officer_id>/reset-second-factor")
def reset_second_factor(officer_id: int) -> str | BaseResponse:
    """Lost phone: forget the officer's authenticator and show a one-time link to set up
    a new one (they confirm their password there)."""
    return _show_new_link(officer_id, "reset")


@blueprint.post("/officers/<int:officer_id>/unlock")
def unlock(officer_id: int) -> BaseResponse:
    """Lift a lockout after too many failed sign-ins."""

    def lift_lockout(officer: Officer, me: Officer) -> str:
        officers.lift_lockout(get_session(), officer, me, settings().receipt_pepper, now())
        return _("%(email)s can sign in again.", email=officer.email)

    return _act(officer_id, lift_lockout)


@blueprint.post("/officers/<int:officer_id>/grant")
def grant(officer_id: int) -> BaseResponse:
    """Give an officer the unit key, sealed to their own public key; and a supervisor the
    exclusion key too (services.exclusion_keys)."""

    def grant_unit_key(officer: Officer, me: Officer) -> str:
        db = get_session()
        if not set(access.current_keyring().keys) <= keyring.held_generations(db, officer):
            keyring.grant_unit_key(
                db,
                access.current_keyring(),
                officer,
                me,
                now(),
                instance.integrity_key(settings()),
            )
        return _("%(email)s can now read reports.", email=officer.email)

    return _act(officer_id, grant_unit_key)


@blueprint.post("/officers/<int:officer_id>/grant-exclusion")
def grant_exclusion(officer_id: int) -> BaseResponse:
    """Give a supervisor the exclusion key, sealed to their public key, once the granter
    typed that key's fingerprint as the supervisor read it back (services.exclusion_keys)."""
    form = FingerprintForm()

    def grant_exclusion_key(officer: Officer, me: Officer) -> str:
        if not form.validate():
            raise ServiceError("type the key fingerprint they read to you")
        exclusion_keys.grant(
            get_session(), access.current_group_keys(), officer, me, now(), form.fingerprint.data
        )
        return f"{officer.email} can now read reports with an exclusion."

    return _act(officer_id, grant_exclusion_key)


@blueprint.get("/officers/<int:officer_id>/revoke")
def confirm_revoke_access(officer_id: int) -> str:
    """What taking away an officer's access to reports does, and the button that does it."""
    return _confirm(_officer(officer_id), "revoke")


@blueprint.post("/officers/<int:officer_id>/revoke")
def revoke_access(officer_id: int) -> BaseResponse:
    """Delete the officer's copies of the unit key; they keep their account."""

    def revoke(officer: Officer, me: Officer) -> str:
        officers.revoke_access(get_session(), officer, me, now())
        return f"{officer.email} can no longer read reports. They can still sign in."

    return _act(officer_id, revoke, offer_rotation=True)


@blueprint.get("/officers/<int:officer_id>/reactivate")
def confirm_reactivate(officer_id: int) -> str:
    """What reactivating a deactivated officer does, and the button that does it."""
    return _confirm(_officer(officer_id), "reactivate")


@blueprint.post("/officers/<int:officer_id>/reactivate")
def reactivate(officer_id: int) -> BaseResponse:
    """Let a deactivated officer sign in again (without access to reports)."""

    def reactivate_officer(officer: Officer, me: Officer) -> str:
        officers.reactivate(get_session(), officer, me, now())
        return f"{officer.email} can sign in again. Give them access to reports when they need it."

    return _act(officer_id, reactivate_officer)


@blueprint.get("/officers/<int:officer_id>/reset-password")
def confirm_reset_password(officer_id: int) -> str:
    """What resetting a forgotten password does, and the button that does it: with how
    many restricted cases wait for a re-seal, and how many no other supervisor reads."""
    officer = _officer(officer_id)
    db = get_session()
    return _confirm(
        officer,
        "reset_password",
        restricted=len(restriction.officer_cases(db, officer.id)),
        unmanaged=restriction.cases_left_without_supervisor(db, officer),
    )


@blueprint.post("/officers/<int:officer_id>/reset-password")
def reset_password(officer_id: int) -> str | BaseResponse:
    """Forgotten password: forget the officer's key pair and show a one-time link with
    which they choose a new password (a new key pair) and authenticator."""
    return _show_new_link(officer_id, "password")


@blueprint.route("/officers/<int:officer_id>/role", methods=["GET", "POST"])
def change_role(officer_id: int) -> str | tuple[str, int] | BaseResponse:
    """Make an officer a supervisor or an officer (also sets again a role that failed
    its check). A missing or unknown role is refused next to the field."""
    officer = _officer(officer_id)
    if request.method != "POST":
        return _confirm(officer, "role", form=RoleForm(data={"role": officer.role}))
    # Without a default: a form sent with no role ticked must not fall back to the current one.
    form = RoleForm()
    if not form.validate():
        return _confirm(officer, "role", form=form), 400

    def set_role(officer: Officer, me: Officer) -> str:
        db = get_session()
        roles.change_role(db, officer, form.role.data or "", me, now())
        made = "a supervisor" if form.role.data == "supervisor" else "an officer"
        if exclusion_keys.is_member(db, officer) and not keyring.holds_group_key(db, officer.id):
            # Never granted silently: the exclusion key waits for their fingerprint.
            made += "; give them access to reports with an exclusion below"
        return f"{officer.email} is now {made}."

    return _act(officer_id, set_role)


@blueprint.post("/flood")
def review_flood() -> BaseResponse:
    """Release, close or delete the flood-marked reports a supervisor selected."""
    form = ActionForm()
    if not form.validate():
        abort(400)
    action = request.form.get("action", "")
    if action not in {"release", "close", "delete"}:
        abort(400)
    references = request.form.getlist("case")[: settings().queue_page_size]
    back = redirect(url_for("triage.queue", status="flood"), code=303)
    if not references:
        flash(_("Select at least one report first."), "error")
        return back
    if action == "delete" and request.form.get("confirm_delete") != "yes":
        flash(_("Nothing was deleted: tick the box to confirm that you have read them."), "error")
        return back
    db = get_session()
    try:
        case_ids = [cases.parse_reference(reference) for reference in references]
        do = {
            "release": flood_review.release,
            "close": flood_review.close,
            "delete": flood_review.delete,
        }[action]
        done = do(db, access.current_keyring(), case_ids, g.signed_in.officer, now())
    except (ServiceError, CaseTampered) as exc:
        db.rollback()
        flash(_("Nothing was changed: %(why)s.", why=str(exc)), "error")
        return back
    db.commit()
    messages = {
        "release": ngettext(
            "%(num)s report moved to the queue.", "%(num)s reports moved to the queue.", done
        ),
        "close": ngettext("%(num)s report closed.", "%(num)s reports closed.", done),
        "delete": ngettext("%(num)s report deleted.", "%(num)s reports deleted.", done),
    }
    flash(messages[action], "success")
    return back


@blueprint.get("/integrity")
def integrity() -> str:
    """The queue ledger's state, and a way to find cases altered in the database."""
    db = get_session()
    return render_template(
        "admin/integrity.html",
        ledger=queue.ledger_state(db),
        form=ActionForm(),
        scan=None,
    )


@blueprint.post("/integrity/scan")
def scan_closed_cases() -> str:
    """Check the next batch of closed cases (their state MACs), and list any that fail."""
    form = ActionForm()
    if not form.validate():
        abort(400)
    after = request.form.get("after", "0")
    db = get_session()
    scan = case_checks.scan_closed_cases(
        db,
        access.current_keyring(),
        after=int(after) if after.isdigit() and len(after) <= 15 else 0,
    )
    audit.record(db, g.signed_in.officer.email, "cases.scanned", now(), checked=scan.checked)
    db.commit()
    return render_template(
        "admin/integrity.html", ledger=queue.ledger_state(db), form=ActionForm(), scan=scan
    )


@blueprint.post("/integrity/recount")
def recount_queue() -> BaseResponse:
    """After the altered cases are found: make the ledger count what the queue holds."""
    form = ActionForm()
    if not form.validate():
        abort(400)
    db = get_session()
    counted = queue.recount_ledger(db, g.signed_in.officer, now())
    db.commit()
    flash(
        ngettext(
            "The count now holds %(num)s case that needs attention.",
            "The count now holds %(num)s cases that need attention.",
            counted,
        ),
        "success",
    )
    return redirect(url_for("triage.admin.integrity"), code=303)
