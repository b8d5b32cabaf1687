"""An officer's password over time: changed by them, or reset by a supervisor when forgotten.

The password wraps the officer's private key and nothing else (security.md,
key events). Changing it re-wraps the same key, so every grant sealed to the
officer's public key stays good. A forgotten password cannot be recovered: a
reset forgets the key pair, and the officer enrols again with a new one and
must be given the unit key again; their restricted cases wait for a supervisor
to re-seal them (services.restriction). No case depends on one officer's key alone.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session

from reportline.config import Settings
from reportline.crypto.errors import DecryptionError
from reportline.models import Officer, OfficerSession, RecoveryCode
from reportline.services import (
    audit,
    auth,
    enrolment,
    instance,
    keyring,
    officers,
    restriction,
    second_factor,
)
from reportline.services.auth import SignedInOfficer
from reportline.services.devices import DeviceToken
from reportline.services.errors import LoginFailed, ServiceError, WeakPassword


class WrongCode(LoginFailed):
    """The second-factor code given to confirm a change is wrong."""


def change_password(
    session: Session,
    signed_in: SignedInOfficer,
    current: str,
    code: str,
    new: str,
    client: tuple[str | None, DeviceToken | None],
    now: datetime,
    settings: Settings,
) -> None:
    """Re-wrap the signed-in officer's private key under `new` and end their other
    sessions, in the caller's transaction; audited.

    The current password and a current authenticator code are required; a wrong
    one counts against sign-in throttling (`client` is the browser's address and
    device token). Raises WeakPassword (nothing checked yet), Throttled,
    LoginFailed for a wrong password and its subclass WrongCode for a wrong code.
    """
    officer = signed_in.officer
    problems = officers.password_problems(new, officer.email)
    if not problems and new == current:
        problems = ["Choose a password other than your current one."]
    if problems:
        raise WeakPassword(problems)
    address, device = client
    guard = auth.login_guard(session, officer.email, address, now, settings, device)
    integrity_key = instance.integrity_key(settings)
    try:
        private_key = officers.unlock_private_key(officer, current, integrity_key)
    except DecryptionError as exc:
        auth.record_login_failure(session, guard, officer, now, settings)
        raise LoginFailed("wrong password") from exc
    seed = second_factor.open_totp_seed(officer, private_key)
    if not second_factor.accept_totp(session, officer, seed, code, now):
        auth.record_login_failure(session, guard, officer, now, settings)
        raise WrongCode("wrong code")
    auth.record_login_success(session, guard, settings)
    officers.set_password(
        officer, new, instance.argon2_cost(settings), integrity_key, private_key=private_key
    )
    ended = session.execute(
        delete(OfficerSession).where(
            OfficerSession.officer_id == officer.id,
            OfficerSession.id_hash != signed_in.row.id_hash,
        )
    )
    audit.record(
        session,
        officer.email,
        "officer.password_changed",
        now,
        other_sessions_ended=int(getattr(ended, "rowcount", 0) or 0),
    )


def reset_forgotten_password(
    session: Session, officer: Officer, by: Officer, now: datetime, integrity_key: bytes
) -> str:
    """Forget the officer's key pair, second factor and unit key copies, end their
    sessions, hand their cases back, and return a one-time enrolment token with which
    they choose a new password (a new key pair) and authenticator. Audited.

    A deactivated officer may be reset too (after a stolen laptop: their saved
    password and authenticator stop working before they are reactivated); the
    link works once they are active again. Raises ServiceError for oneself, an
    officer not yet enrolled, or the last active officer who holds the unit key.
    """
    if officer.id == by.id:
        raise ServiceError("you cannot reset your own password; change it on your account page")
    if not officer.has_keys:
        raise ServiceError("only an officer who has set up their account can be reset")
    officers.check_not_last(session, officer, supervisor=False, key_holder=True)
    grants = keyring.revoke_unit_key(session, officer)
    # Their seals on restricted cases open only with the key pair forgotten here.
    waiting = restriction.await_reseal(session, officer, now)
    officer.public_key = None
    officer.key_mac = None
    officer.wrapped_private_key = None
    officer.totp_seed_sealed = None
    officer.totp_last_step = None
    session.execute(delete(RecoveryCode).where(RecoveryCode.officer_id == officer.id))
    officers.end_all_sessions(session, officer.id)
    released = officers.release_cases(session, officer)
    token = enrolment.new_link(session, officer, enrolment.ENROL, now, integrity_key)
    audit.record(
        session,
        by.email,
        "officer.password_reset",
        now,
        officer=officer.id,
        grants_removed=grants,
        restricted_waiting=waiting,
        cases_released=released,
    )
    return token
