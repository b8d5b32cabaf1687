"""Who may see officer pages: default deny, decided once per request for the blueprint.

Every endpoint under /triage/ requires a fully signed-in, active officer unless
it is listed in PUBLIC_ENDPOINTS or ENROLMENT_ENDPOINTS. Supervisor pages add
their own check. A new route is therefore protected without anyone remembering.
"""

from __future__ import annotations

import dataclasses

from flask import g, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError, validate_csrf
from werkzeug.wrappers import Response as BaseResponse
from wtforms import ValidationError

from reportline.crypto.kdf import hkdf
from reportline.crypto.keys import PrivateKey
from reportline.db import begin_read_only
from reportline.services import auth, cases, devices, instance, keyring, restriction, roles
from reportline.services.errors import AccessDenied, NoKeyAccess, SessionExpired
from reportline.services.keyring import UnitKeyring
from reportline.services.sessions import SessionToken, decode_token
from reportline.web.context import argon2_gate, client_address, now, settings
from reportline.web.database import get_session

PUBLIC_ENDPOINTS = frozenset({"triage.login", "triage.enrol"})
ENROLMENT_ENDPOINTS = frozenset(
    {"triage.second_factor_setup", "triage.second_factor_qr", "triage.logout"}
)
COOKIE_PATH = "/triage"


def cookie_name() -> str:
    """The officer session cookie: path-scoped to /triage, never sent to reporter pages."""
    return "__Secure-rl_officer" if settings().https else "rl_officer"


def set_officer_cookie(response: BaseResponse, token: SessionToken) -> None:
    """Attach the officer session token: HttpOnly, SameSite=Strict, host-only, no expiry."""
    response.set_cookie(
        cookie_name(),
        token.encode(),
        path=COOKIE_PATH,
        secure=settings().https,
        httponly=True,
        samesite="Strict",
    )


def device_cookie_name() -> str:
    """The cookie a browser earns by signing in (services.devices), scoped to /triage."""
    return "__Secure-rl_device" if settings().https else "rl_device"


def set_device_cookie(response: BaseResponse, token: str) -> None:
    """Attach a device token: HttpOnly, SameSite=Strict, kept `officer_device_days`."""
    response.set_cookie(
        device_cookie_name(),
        token,
        max_age=settings().officer_device_days * 86400,
        path=COOKIE_PATH,
        secure=settings().https,
        httponly=True,
        samesite="Strict",
    )


def sign_in_client() -> auth.SignInClient:
    """The browser signing in: its address (a throttle bucket only), its device token."""
    return auth.SignInClient(
        address=client_address(),
        device=devices.read(
            instance.device_key(settings()), request.cookies.get(device_cookie_name())
        ),
        gates=auth.Argon2Gates(device=argon2_gate(True), stranger=argon2_gate(False)),
    )


def clear_officer_cookie(response: BaseResponse) -> None:
    """Remove the officer session cookie."""
    response.delete_cookie(
        cookie_name(),
        path=COOKIE_PATH,
        secure=settings().https,
        httponly=True,
        samesite="Strict",
    )


def load_officer() -> BaseResponse | None:
    """Blueprint before_request: resolve the session, refuse anything not allowed."""
    g.signed_in = None
    endpoint = request.endpoint or ""
    token_value = request.cookies.get(cookie_name())
    db = get_session()
    if token_value:
        try:
            g.signed_in = auth.resume_session(db, decode_token(token_value), now(), settings())
            g.officer_id = g.signed_in.officer.id
            g.csrf_secret = hkdf(g.signed_in.token.key, "officer-session:csrf")
        except SessionExpired:
            g.signed_in = None
        db.commit()
    if endpoint in PUBLIC_ENDPOINTS:
        _check_csrf(g.get("csrf_secret"))
        return None
    signed_in = g.signed_in
    if signed_in is None:
        response = redirect(url_for("triage.login"), code=303)
        if token_value:
            clear_officer_cookie(response)
        return response
    _check_csrf(g.csrf_secret)
    if signed_in.stage == auth.ENROL and endpoint not in ENROLMENT_ENDPOINTS:
        return redirect(url_for("triage.second_factor_setup"), code=303)
    if signed_in.stage != auth.ENROL and endpoint in ENROLMENT_ENDPOINTS - {"triage.logout"}:
        return redirect(url_for("triage.queue"), code=303)
    _hide_unreadable_case()
    return None


def _hide_unreadable_case() -> None:
    """Every route about one case (a `reference` in its URL, here and under admin) is a
    404, as for a missing case, to an officer who cannot open a restricted case; to one
    without the unit key it is the same "awaiting access" page a missing case gives."""
    reference = (request.view_args or {}).get("reference")
    if reference is None:
        return
    case_id = cases.parse_reference(str(reference))  # NotFound for what cannot be one
    db = get_session()
    if not db.in_transaction():
        begin_read_only(db)  # no SQLite write lock for a check that only reads
    try:
        try:
            held = current_keyring()
        except NoKeyAccess:
            if restriction.hidden_from(db, case_id, keyring.UnitKeyring({})):
                raise
            return
        restriction.check_visible(db, case_id, held)
    finally:
        db.rollback()


def _check_csrf(secret: bytes | None) -> None:
    """Check the CSRF token of an officer-side POST, once, for every view.

    With a session, an officer's forms carry tokens signed with a key derived
    from their own session's key, which lives only in their officer cookie: a
    token taken from a reporter page (signed with the site's key) is refused.
    Without one (the sign-in and enrolment pages) the site's key is used; the
    same key signs the page and checks its POST either way.
    Raises CSRFError (a 400 page).
    """
    if request.method != "POST":
        return
    try:
        validate_csrf(request.form.get("csrf_token"), secret_key=secret)
    except ValidationError as exc:
        raise CSRFError(str(exc)) from exc
    g.csrf_valid = True  # the forms need not check again


def require_supervisor() -> tuple[str, int] | None:
    """Nested admin blueprint before_request: supervisors only, by an authenticated role.

    A supervisor role that fails its MAC (services.roles) is refused with its own
    page, logged and audited."""
    signed_in = g.get("signed_in")
    if signed_in is None:
        raise AccessDenied("supervisors only")
    if signed_in.supervisor:
        return None
    db = get_session()
    if not roles.claims_unchecked_supervisor(db, signed_in.officer):
        raise AccessDenied("supervisors only")
    roles.record_failed_check(db, signed_in.officer, now())
    db.commit()
    return role_check_failed()


def role_check_failed() -> tuple[str, int]:
    """The 403 page for a supervisor role that failed its integrity check."""
    page = render_template(
        "error.html",
        status=403,
        title="Your supervisor role could not be checked",
        body=(
            "Your role in the database does not carry the mark this server gives it, so it "
            "may have been changed there. It gives no supervisor access until another "
            "supervisor sets it again on your officer page, or the operator sets it with "
            "the command reportline officer role. This was recorded in the audit log."
        ),
        retry_after=None,
    )
    return page, 403


def current_keyring() -> UnitKeyring:
    """The unit keys this officer holds, and the exclusion group's keys if they hold
    them (a report with an exclusion opens with those), unlocked for this request;
    raise NoKeyAccess."""
    if "keyring" not in g:
        signed_in = g.signed_in
        ring = keyring.unlock_unit_keys(get_session(), signed_in.officer.id, signed_in.private_key)
        g.keyring = dataclasses.replace(ring, group_keys=current_group_keys())
    value: UnitKeyring = g.keyring
    return value


def current_group_keys() -> dict[int, PrivateKey]:
    """The exclusion key generations this officer holds, unlocked for this request ({}
    for anyone outside the exclusion group)."""
    if "group_keys" not in g:
        signed_in = g.signed_in
        g.group_keys = keyring.unlock_group_keys(
            get_session(), signed_in.officer.id, signed_in.private_key
        )
    value: dict[int, PrivateKey] = g.group_keys
    return value


def awaiting_access(_error: NoKeyAccess) -> tuple[str, int]:
    """The page an officer without the unit key sees instead of case data."""
    get_session().rollback()
    return render_template("triage/awaiting_access.html"), 403
