"""Officer sign-in, second-factor enrolment and officer sessions.

A sign-in costs one Argon2id run and one TOTP check whether or not the account
exists, is locked or the password is right, and every failure gets the same
answer. Throttling happens before the expensive work; the expensive work runs
outside any database transaction and waits for a slot in a gate of this
process (`reportline.services.limits`).

Failures count against one of two budgets. A browser that brings a device
token earned by signing in to this account before (`services.devices`) has
its own budget and its own Argon2id lane; everyone else shares the account's
stranger budget (and a coarse client bucket) and the stranger lane. Strangers
are slowed down, never able to lock the account: only failures from the
account's own devices lock it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from reportline.config import Settings
from reportline.crypto import aead
from reportline.crypto.errors import DecryptionError
from reportline.crypto.kdf import hkdf
from reportline.crypto.keys import PrivateKey, generate_private_key, open_sealed, seal
from reportline.crypto.password import (
    WrapParams,
    derive_password_key,
)
from reportline.models import Officer, OfficerSession
from reportline.services import audit, devices, instance, keyring, roles, second_factor, throttle
from reportline.services.devices import DeviceToken
from reportline.services.errors import LoginFailed, SessionExpired
from reportline.services.limits import WorkGate
from reportline.services.officers import (
    check_own_key,
    end_all_sessions,
    normalise_email,
    rewrap_if_cost_changed,
    unlock_private_key,
)
from reportline.services.sessions import (
    SessionToken,
    b64,
    new_token,
    open_payload,
    seal_payload,
    unb64,
)

SESSION_PURPOSE = "officer-session"
ACTIVE = "active"
ENROL = "enrol"
LAST_SEEN_GRANULARITY = timedelta(seconds=30)


@dataclass(frozen=True)
class SignInResult:
    """A successful sign-in: the new session's token and what stage it is at.

    `device_token` is a new device token for the browser when it brought none
    for this account (the caller sets it as a cookie).
    """

    token: SessionToken
    stage: str
    officer: Officer
    device_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Argon2Gates:
    """This process's Argon2id lanes: one for known devices, one for strangers."""

    device: WorkGate
    stranger: WorkGate


@dataclass
class SignedInOfficer:
    """The officer behind a live session, with their private key unlocked."""

    officer: Officer
    private_key: PrivateKey
    stage: str
    token: SessionToken
    row: OfficerSession
    pending_totp_seed: str | None = field(default=None, repr=False)
    # A supervisor by an authenticated role (services.roles), checked on each request.
    supervisor: bool = False


@cache
def _decoy() -> tuple[PrivateKey, bytes]:
    """A key and a sealed blob that never open together, to spend a real sign-in's work."""
    return generate_private_key(), seal(b"decoy", generate_private_key().public_key(), b"decoy")


def _decoy_params(email: str, settings: Settings) -> WrapParams:
    """A stable salt per unknown address, so repeated tries look like one real account."""
    key = hkdf(settings.receipt_pepper, "login:decoy-salt")
    salt = hmac.new(key, email.encode(), hashlib.sha256).digest()[:16]
    return WrapParams(salt=salt, cost=instance.argon2_cost(settings))


@dataclass
class SignInAttempt:
    """A sign-in between its three steps (`begin_sign_in`, `check_password`,
    `finish_sign_in`). The expensive middle step runs outside any database
    transaction: on SQLite a transaction holds the one write lock, and an
    Argon2id run inside it would keep every reporter waiting."""

    email: str
    officer: Officer | None
    device: DeviceToken | None
    guard: LoginGuard
    usable: bool
    lane: WorkGate
    wrapped_key: bytes | None = field(default=None, repr=False)


def begin_sign_in(
    session: Session, email: str, client: SignInClient, now: datetime, settings: Settings
) -> SignInAttempt:
    """Look the account up and count the attempt against its budgets; raise Throttled
    (counting nothing) while a delay runs. The caller commits, ending the transaction,
    before `check_password`."""
    try:
        email = normalise_email(email)
    except Exception:
        email = email.strip().lower()[:254]
    officer = session.scalars(select(Officer).where(Officer.email == email)).first()
    device = client.device if officer and client.device_belongs_to(officer.id) else None
    guard = login_guard(session, email, client.address, now, settings, device)
    usable = bool(
        officer
        and keyring.state_holds(session, officer)
        and not officer.locked
        and officer.has_keys
    )
    return SignInAttempt(
        email=email,
        officer=officer,
        device=device,
        guard=guard,
        usable=usable,
        lane=client.gates.device if device else client.gates.stranger,
        wrapped_key=officer.wrapped_private_key if officer else None,
    )


def check_password(attempt: SignInAttempt, password: str, settings: Settings) -> PrivateKey | None:
    """Run Argon2id (for real and unknown accounts alike) in the attempt's lane, with no
    database work; the officer's private key, or None. Raises Throttled when no slot
    frees up in time (nothing was checked, nothing counted)."""
    with attempt.lane.slot():
        return _check_password(
            attempt.officer if attempt.usable else None, attempt.email, password, settings
        )


def finish_sign_in(
    session: Session,
    attempt: SignInAttempt,
    private_key: PrivateKey | None,
    password: str,
    code: str,
    now: datetime,
    settings: Settings,
) -> SignInResult:
    """Check the second factor and record the outcome: a session, or a counted failure.

    The account's row is locked now (PostgreSQL; SQLite runs one writer at a time),
    so attempts racing on one account take turns here, and each sees the lockout and
    used codes of the one before; each was counted against its budgets before its
    password was checked (`login_guard`). Raises LoginFailed for anything wrong; the
    caller commits what was recorded.
    """
    officer = None
    if attempt.officer is not None:
        officer = session.scalars(
            select(Officer)
            .where(Officer.id == attempt.officer.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).first()
    still_usable = bool(
        officer
        and keyring.state_holds(session, officer)
        and not officer.locked
        and officer.wrapped_private_key == attempt.wrapped_key
    )
    if not still_usable:
        private_key = None
    factor = _check_second_factor(session, officer, private_key, code, now)
    if officer is None or private_key is None or factor is None:
        record_login_failure(session, attempt.guard, officer, now, settings)
        raise LoginFailed("sign-in failed")
    record_login_success(session, attempt.guard, settings)
    rewrap_if_cost_changed(officer, private_key, password, instance.argon2_cost(settings))
    token = start_session(session, officer, private_key, ACTIVE, now)
    audit.record(session, officer.email, "officer.signed_in", now, factor=factor)
    new_device = (
        None if attempt.device else devices.issue(instance.device_key(settings), officer.id)
    )
    return SignInResult(token, ACTIVE, officer, new_device)


@dataclass(frozen=True)
class SignInClient:
    """What the web layer knows of the browser signing in: its address (for a coarse
    throttle bucket only), the device token it brought, and this process's gates."""

    address: str | None
    device: DeviceToken | None
    gates: Argon2Gates

    def device_belongs_to(self, officer_id: int) -> bool:
        """Whether the browser brought a device token earned for this account."""
        return self.device is not None and self.device.officer_id == officer_id


def _check_password(
    officer: Officer | None, email: str, password: str, settings: Settings
) -> PrivateKey | None:
    if officer is not None and officer.wrapped_private_key is not None:
        try:
            return unlock_private_key(officer, password, instance.integrity_key(settings))
        except DecryptionError:
            return None
    key = derive_password_key(password, _decoy_params(email, settings))
    with contextlib.suppress(DecryptionError):
        aead.decrypt(key.key, _decoy()[1][1:80], b"decoy")
    return None


def _check_second_factor(
    session: Session,
    officer: Officer | None,
    private_key: PrivateKey | None,
    code: str,
    now: datetime,
) -> str | None:
    """Which second factor was right ("totp" or "recovery_code"), else None.

    Always does a TOTP computation. An account without a second factor cannot
    sign in: it sets one up through a one-time link (services.enrolment).
    """
    if officer is None or private_key is None or officer.totp_seed_sealed is None:
        decoy_key, decoy_blob = _decoy()
        with contextlib.suppress(DecryptionError):
            open_sealed(decoy_blob, decoy_key, b"other")
        second_factor.matching_step(second_factor.dummy_seed(), code, now)
        return None
    seed = second_factor.open_totp_seed(officer, private_key)
    if second_factor.looks_like_recovery_code(code):
        second_factor.matching_step(seed, "", now)
        return "recovery_code" if second_factor.use_recovery_code(session, officer, code) else None
    return "totp" if second_factor.accept_totp(session, officer, seed, code, now) else None


@dataclass(frozen=True)
class LoginGuard:
    """The throttle keys that guard one password check.

    A known device is guarded by its own budget alone; a stranger by the
    account's stranger budget and the client's coarse bucket.
    """

    own_budget: str
    client: str | None
    known_device: bool


def login_guard(
    session: Session,
    email: str,
    client_address: str | None,
    now: datetime,
    settings: Settings,
    device: DeviceToken | None = None,
) -> LoginGuard:
    """Count a password check on `email` against its budgets before it runs; raise
    Throttled (counting nothing) while any of them waits out a delay."""
    if device is not None:
        guard = LoginGuard(f"login:device:{device.bucket_name}", None, known_device=True)
    else:
        guard = LoginGuard(
            own_budget=throttle.account_key("login", email, settings.receipt_pepper),
            client=throttle.client_key(
                session, "login", client_address, now, throttle.OFFICER_BUCKET_BITS
            ),
            known_device=False,
        )
    throttle.reserve(session, _budgets(guard, settings), now)
    return guard


def _budgets(guard: LoginGuard, settings: Settings) -> list[tuple[str, int, int]]:
    """(key, free attempts, longest delay) of each budget a guard counts against."""
    delay = settings.throttle_max_delay_seconds
    budgets = [(guard.own_budget, settings.login_free_attempts, delay)]
    if guard.client:
        budgets.append((guard.client, settings.login_free_attempts * 3, delay))
    return budgets


def record_login_failure(
    session: Session,
    guard: LoginGuard,
    officer: Officer | None,
    now: datetime,
    settings: Settings,
) -> None:
    """Settle a failed password or code (already counted by `login_guard`): lock an
    existing account after too many failures from its own devices (strangers are only
    ever slowed down)."""
    failures = throttle.failures(session, guard.own_budget, now)
    if (
        guard.known_device
        and officer is not None
        and failures >= settings.login_lockout_after
        and not officer.locked
    ):
        officer.locked = True
        audit.record(session, officer.email, "officer.locked", now, failures=failures)


def record_login_success(session: Session, guard: LoginGuard, settings: Settings) -> None:
    """A right password and code: its own budget starts afresh, and the shared client
    bucket takes the attempt back (colleagues behind one proxy sign in all day)."""
    throttle.clear(session, guard.own_budget)
    if guard.client:
        throttle.forgive(session, guard.client, settings.login_free_attempts * 3)


def start_session(
    session: Session,
    officer: Officer,
    private_key: PrivateKey,
    stage: str,
    now: datetime,
    pending_totp_seed: str | None = None,
) -> SessionToken:
    """Create a server-side session holding the officer's private key, sealed."""
    token = new_token()
    payload = {"key": b64(private_key.raw), "totp": pending_totp_seed}
    session.add(
        OfficerSession(
            id_hash=token.id_hash,
            officer_id=officer.id,
            stage=stage,
            sealed=seal_payload(token, SESSION_PURPOSE, payload),
            created_at=now,
            last_seen_at=now,
        )
    )
    session.flush()
    return token


def resume_session(
    session: Session, token: SessionToken, now: datetime, settings: Settings
) -> SignedInOfficer:
    """The officer behind a token; raise SessionExpired if it ended, idled or aged out."""
    row = session.get(OfficerSession, token.id_hash)
    if row is None:
        raise SessionExpired("no such session")
    idle = timedelta(minutes=settings.officer_idle_minutes)
    absolute = timedelta(hours=settings.officer_absolute_hours)
    officer = session.get(Officer, row.officer_id)
    if (
        officer is None
        or not officer.active
        or now - row.last_seen_at > idle
        or now - row.created_at > absolute
    ):
        session.delete(row)
        session.flush()
        raise SessionExpired("session ended")
    payload = open_payload(token, SESSION_PURPOSE, row.sealed)
    private_key = PrivateKey(unb64(payload["key"]))
    try:
        check_own_key(officer, private_key, instance.integrity_key(settings))
    except DecryptionError as exc:
        # A session row minted in the database holds some other key: refuse it.
        session.delete(row)
        session.flush()
        raise SessionExpired("session key does not belong to this officer") from exc
    if now - row.last_seen_at >= LAST_SEEN_GRANULARITY:
        row.last_seen_at = now
    return SignedInOfficer(
        officer=officer,
        private_key=private_key,
        stage=row.stage,
        token=token,
        row=row,
        pending_totp_seed=payload.get("totp"),
        supervisor=roles.is_supervisor(session, officer),
    )


def end_session(session: Session, token: SessionToken) -> None:
    """Delete the server-side half of a session; the cookie then unlocks nothing."""
    row = session.get(OfficerSession, token.id_hash)
    if row is not None:
        session.delete(row)
        session.flush()


def sign_out(session: Session, signed_in: SignedInOfficer, now: datetime) -> None:
    """End this session (its cookie then unlocks nothing) and audit it."""
    end_session(session, signed_in.token)
    audit.record(session, signed_in.officer.email, "officer.signed_out", now)


def sign_out_everywhere(session: Session, officer: Officer, now: datetime) -> None:
    """End every session of the officer, on every device, and audit it."""
    end_all_sessions(session, officer.id)
    audit.record(session, officer.email, "officer.signed_out_everywhere", now)


def replace_recovery_codes(session: Session, officer: Officer, now: datetime) -> list[str]:
    """New recovery codes for the officer (the old ones stop working); shown once."""
    codes = second_factor.new_recovery_codes(session, officer)
    audit.record(session, officer.email, "officer.recovery_codes_replaced", now)
    return codes


def begin_totp_enrolment(session: Session, signed_in: SignedInOfficer) -> str:
    """The seed being set up in this enrolment session (created once, then kept)."""
    if signed_in.pending_totp_seed:
        return signed_in.pending_totp_seed
    seed = second_factor.new_totp_seed()
    signed_in.row.sealed = seal_payload(
        signed_in.token, SESSION_PURPOSE, {"key": b64(signed_in.private_key.raw), "totp": seed}
    )
    signed_in.pending_totp_seed = seed
    session.flush()
    return seed


def complete_totp_enrolment(
    session: Session, signed_in: SignedInOfficer, code: str, now: datetime
) -> tuple[SessionToken, list[str]] | None:
    """Confirm the new seed with a code; on success return a fresh active session and codes."""
    seed = signed_in.pending_totp_seed
    officer = signed_in.officer
    if seed is None or second_factor.matching_step(seed, code, now) is None:
        return None
    second_factor.store_totp_seed(officer, seed)
    second_factor.accept_totp(session, officer, seed, code, now)
    codes = second_factor.new_recovery_codes(session, officer)
    end_session(session, signed_in.token)
    token = start_session(session, officer, signed_in.private_key, ACTIVE, now)
    audit.record(session, officer.email, "officer.second_factor_enrolled", now)
    return token, codes
