"""One-time links with which an officer sets up their account or a new authenticator.

A supervisor hands the link over in person or by a trusted channel; it works
once and for 72 hours. An "enrol" link lets a new officer choose a password;
a "reset" link (after a lost phone) asks for the officer's current password.
Either then leads to setting up the authenticator app. Signing in with a
password alone never leads there: an account without a second factor cannot
sign in, so a stolen password is not enough to enrol a new authenticator.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from reportline.config import Settings
from reportline.crypto.errors import DecryptionError
from reportline.crypto.kdf import Argon2Cost
from reportline.crypto.keys import PrivateKey
from reportline.models import EnrolmentInvite, Officer, RecoveryCode
from reportline.services import audit, auth, instance, integrity, keyring
from reportline.services.errors import InviteInvalid, LoginFailed, ServiceError
from reportline.services.officers import (
    end_all_sessions,
    new_officer_row,
    set_password,
    unlock_private_key,
)

LINK_LIFETIME = timedelta(hours=72)
ENROL = "enrol"
RESET = "reset"


def new_link(
    session: Session, officer: Officer, purpose: str, now: datetime, integrity_key: bytes
) -> str:
    """A one-time link for `purpose` (ENROL or RESET); the officer's other links stop."""
    session.execute(delete(EnrolmentInvite).where(EnrolmentInvite.officer_id == officer.id))
    token = secrets.token_urlsafe(32)
    token_hash = integrity.link_token_hash(integrity_key, token)
    expires = (now + LINK_LIFETIME).replace(microsecond=0)
    session.add(
        EnrolmentInvite(
            token_hash=token_hash,
            officer_id=officer.id,
            purpose=purpose,
            expires_at=expires,
            mac=integrity.link_mac(
                integrity_key, token_hash, officer.id, purpose, expires.isoformat()
            ),
        )
    )
    session.flush()
    return token


def invite_officer(
    session: Session,
    email: str,
    role: str,
    invited_by: Officer,
    now: datetime,
    integrity_key: bytes,
) -> tuple[Officer, str]:
    """Create an officer without keys and return a one-time enrolment token."""
    officer = new_officer_row(session, email, role, now)
    token = new_link(session, officer, ENROL, now, integrity_key)
    audit.record(session, invited_by.email, "officer.invited", now, officer=officer.id, role=role)
    return officer, token


def renew_enrolment_link(
    session: Session, officer: Officer, by: Officer, now: datetime, integrity_key: bytes
) -> str:
    """A new enrolment link for an invited officer who has not used theirs (lost or
    expired); the old link stops working. Raises ServiceError for anyone else."""
    if not officer.active or officer.has_keys:
        raise ServiceError("only an active officer who has not yet enrolled can get a new link")
    token = new_link(session, officer, ENROL, now, integrity_key)
    audit.record(session, by.email, "officer.enrolment_link_renewed", now, officer=officer.id)
    return token


def reset_second_factor(
    session: Session, officer: Officer, by: Officer, now: datetime, integrity_key: bytes
) -> str:
    """Forget the officer's authenticator and recovery codes; return a one-time reset token.

    Their sessions end at once; until they use the link they cannot sign in.
    Raises ServiceError for oneself, a deactivated officer, or one not yet enrolled
    (they still have their enrolment link).
    """
    if officer.id == by.id:
        raise ServiceError("you cannot reset your own authenticator app")
    if not officer.active or not officer.has_keys:
        raise ServiceError("only an active, enrolled officer's authenticator can be reset")
    officer.totp_seed_sealed = None
    officer.totp_last_step = None
    end_all_sessions(session, officer.id)
    session.execute(delete(RecoveryCode).where(RecoveryCode.officer_id == officer.id))
    token = new_link(session, officer, RESET, now, integrity_key)
    audit.record(session, by.email, "officer.second_factor_reset", now, officer=officer.id)
    return token


def find_link(
    session: Session, token: str, now: datetime, integrity_key: bytes
) -> tuple[Officer, str]:
    """The officer and purpose of a link; raise InviteInvalid if it is unknown, used,
    expired, or not one this instance made."""
    if not token or len(token) > 100 or not token.isascii():
        raise InviteInvalid("unknown link")
    token_hash = integrity.link_token_hash(integrity_key, token)
    invite = session.get(EnrolmentInvite, token_hash)
    if invite is None or invite.expires_at < now:
        raise InviteInvalid("unknown or expired link")
    expected = integrity.link_mac(
        integrity_key,
        token_hash,
        invite.officer_id,
        invite.purpose,
        invite.expires_at.isoformat(),
    )
    if not hmac.compare_digest(invite.mac, expected):
        raise InviteInvalid("this link was not made by this instance")
    officer = session.get(Officer, invite.officer_id)
    usable = (
        officer is not None
        and keyring.state_holds(session, officer)
        and (not officer.has_keys if invite.purpose == ENROL else officer.totp_seed_sealed is None)
    )
    if not usable or officer is None:
        raise InviteInvalid("this link has been used or withdrawn")
    return officer, invite.purpose


def _consume(session: Session, officer: Officer, token_hash: bytes) -> None:
    """Delete the officer's links; raise InviteInvalid (the caller rolls back) unless this
    one was still there: of two requests redeeming it at once, the second waits for the
    first's delete and then finds nothing."""
    deleted = session.scalars(
        delete(EnrolmentInvite)
        .where(EnrolmentInvite.officer_id == officer.id)
        .returning(EnrolmentInvite.token_hash)
    ).all()
    if token_hash not in deleted:
        raise InviteInvalid("this link has been used or withdrawn")


def redeem_enrolment(
    session: Session,
    token: str,
    password: str,
    cost: Argon2Cost,
    now: datetime,
    integrity_key: bytes,
) -> tuple[Officer, PrivateKey]:
    """Set a new officer's password and key pair. Raises WeakPassword, InviteInvalid."""
    officer, purpose = find_link(session, token, now, integrity_key)
    if purpose != ENROL:
        raise InviteInvalid("not an enrolment link")
    private_key = set_password(officer, password, cost, integrity_key)
    _consume(session, officer, integrity.link_token_hash(integrity_key, token))
    audit.record(session, officer.email, "officer.enrolled", now, officer=officer.id)
    return officer, private_key


def redeem_reset(
    session: Session,
    token: str,
    password: str,
    client_address: str | None,
    now: datetime,
    settings: Settings,
) -> tuple[Officer, PrivateKey]:
    """Check the officer's current password on a reset link; return their unlocked key.

    Guarded exactly like sign-in (per account and client, delays, lockout).
    Raises InviteInvalid, Throttled, or LoginFailed for a wrong password or a
    locked account.
    """
    officer, purpose = find_link(session, token, now, instance.integrity_key(settings))
    if purpose != RESET or officer.wrapped_private_key is None:
        raise InviteInvalid("not a reset link")
    guard = auth.login_guard(session, officer.email, client_address, now, settings)
    try:
        private_key = unlock_private_key(officer, password, instance.integrity_key(settings))
    except DecryptionError as exc:
        auth.record_login_failure(session, guard, officer, now, settings)
        raise LoginFailed("wrong password") from exc
    if officer.locked:
        raise LoginFailed("account locked")
    auth.record_login_success(session, guard, settings)
    _consume(session, officer, integrity.link_token_hash(instance.integrity_key(settings), token))
    audit.record(session, officer.email, "officer.reset_link_used", now, officer=officer.id)
    return officer, private_key
