"""Officers: creating them, their passwords and key pairs, invites, deactivation."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session
from zxcvbn import zxcvbn

from reportline.crypto.context import context
from reportline.crypto.errors import DecryptionError
from reportline.crypto.kdf import Argon2Cost
from reportline.crypto.keys import PrivateKey, generate_private_key
from reportline.crypto.password import (
    derive_password_key,
    new_params,
    read_params,
    unwrap_private_key,
    wrap_private_key,
)
from reportline.models import Case, EnrolmentInvite, Officer, OfficerSession
from reportline.models.officer import ROLES
from reportline.services import audit, integrity, keyring, restriction, roles, throttle
from reportline.services.errors import NotFound, ServiceError, WeakPassword
from reportline.services.second_factor import (
    new_recovery_codes,
    new_totp_seed,
    provisioning_uri,
    store_totp_seed,
)

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256
MIN_ZXCVBN_SCORE = 3
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


class OfficerExists(ServiceError):
    """An officer with this e-mail address already exists."""


class InvalidEmail(ServiceError):
    """The e-mail address is not plausible."""


def normalise_email(email: str) -> str:
    """Lower-case and trim an e-mail address; raise InvalidEmail if it cannot be one, or
    is not ASCII (a mail server without SMTPUTF8 cannot take it, so alerts would not)."""
    email = email.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise InvalidEmail("enter an e-mail address like name@example.org")
    if not email.isascii():
        raise InvalidEmail(
            "enter an address made only of the letters a-z, digits and punctuation: "
            "not every mail server can deliver alerts to other addresses"
        )
    return email


def password_problems(password: str, email: str) -> list[str]:
    """Why a password is too weak (empty list when it is acceptable).

    Rules: 12 to 256 characters, and not guessable per zxcvbn (score >= 3),
    which catches common passwords, words, dates and the e-mail address itself.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        return [f"Use at least {MIN_PASSWORD_LENGTH} characters."]
    if len(password) > MAX_PASSWORD_LENGTH:
        return [f"Use at most {MAX_PASSWORD_LENGTH} characters."]
    result = zxcvbn(password[:100], user_inputs=[email, *re.split(r"[@.]", email), "reportline"])
    if result["score"] < MIN_ZXCVBN_SCORE:
        warning = result["feedback"].get("warning") or "This password is too easy to guess."
        return [warning.rstrip(".") + ". Try a few unrelated words together."]
    return []


def officer_key_context(officer_id: int) -> bytes:
    """Associated data for an officer's password-wrapped private key."""
    return context("officer-key", officer=officer_id)


def set_password(
    officer: Officer,
    password: str,
    cost: Argon2Cost,
    integrity_key: bytes,
    private_key: PrivateKey | None = None,
) -> PrivateKey:
    """Check the password rules, then wrap the officer's key (a new one if none given).

    The public key gets a MAC under the instance integrity key (services.integrity).
    """
    problems = password_problems(password, officer.email)
    if problems:
        raise WeakPassword(problems)
    private_key = private_key or generate_private_key()
    params = new_params(cost)
    officer.public_key = private_key.public_key().raw
    officer.wrapped_private_key = wrap_private_key(
        private_key,
        params,
        derive_password_key(password, params),
        officer_key_context(officer.id),
    )
    officer.key_mac = integrity.officer_key_mac(integrity_key, officer.id, officer.public_key)
    return private_key


def unlock_private_key(officer: Officer, password: str, integrity_key: bytes) -> PrivateKey:
    """The officer's private key, unwrapped with their password and checked as their own.

    Raises DecryptionError for a wrong password, or a key pair swapped in the
    database (it would unwrap, but its public key carries no valid MAC).
    """
    if officer.wrapped_private_key is None:
        raise DecryptionError("the officer has no key pair yet")
    key = derive_password_key(password, read_params(officer.wrapped_private_key))
    private_key = unwrap_private_key(
        officer.wrapped_private_key, key, officer_key_context(officer.id)
    )
    check_own_key(officer, private_key, integrity_key)
    return private_key


def rewrap_if_cost_changed(
    officer: Officer, private_key: PrivateKey, password: str, cost: Argon2Cost
) -> bool:
    """After a successful sign-in, re-wrap the officer's key at the configured Argon2id
    cost if it was wrapped at another (the operator changed it); return whether it was.

    Otherwise existing accounts would keep the old cost and unknown ones (checked at
    the new cost) would take a measurably different time to refuse.
    """
    if officer.wrapped_private_key is None or read_params(officer.wrapped_private_key).cost == cost:
        return False
    params = new_params(cost)
    officer.wrapped_private_key = wrap_private_key(
        private_key,
        params,
        derive_password_key(password, params),
        officer_key_context(officer.id),
    )
    return True


def check_own_key(officer: Officer, private_key: PrivateKey, integrity_key: bytes) -> None:
    """Raise DecryptionError unless `private_key` belongs to the officer's MAC'd public key."""
    integrity.check_officer_key(integrity_key, officer)
    if private_key.public_key().raw != officer.public_key:
        raise DecryptionError("the stored public key is not this officer's")


@dataclass(frozen=True)
class NewOfficer:
    """What creating an officer hands back once: their second factor and recovery codes."""

    officer: Officer
    private_key: PrivateKey
    totp_seed: str = field(repr=False)
    totp_uri: str = field(repr=False)
    recovery_codes: list[str] = field(repr=False)


def new_officer_row(session: Session, email: str, role: str, now: datetime) -> Officer:
    """Add an officer without keys; raise OfficerExists, InvalidEmail or for a bad role."""
    if role not in ROLES:
        raise ServiceError(f"role must be one of {', '.join(ROLES)}")
    email = normalise_email(email)
    if session.scalars(select(Officer.id).where(Officer.email == email)).first() is not None:
        raise OfficerExists(f"an officer with e-mail {email} already exists")
    officer = Officer(email=email, role=role, active=True, locked=False, created_on=now.date())
    session.add(officer)
    session.flush()
    roles.set_role(session, officer, role)
    keyring.set_access_state(session, officer, active=True)
    return officer


def create_officer(
    session: Session,
    email: str,
    role: str,
    password: str,
    cost: Argon2Cost,
    now: datetime,
    integrity_key: bytes,
    actor: str = "cli",
) -> NewOfficer:
    """Create an officer with a key pair, a TOTP seed and recovery codes (CLI path)."""
    officer = new_officer_row(session, email, role, now)
    private_key = set_password(officer, password, cost, integrity_key)
    seed = new_totp_seed()
    store_totp_seed(officer, seed)
    codes = new_recovery_codes(session, officer)
    audit.record(session, actor, "officer.created", now, officer=officer.id, role=role)
    return NewOfficer(officer, private_key, seed, provisioning_uri(seed, officer.email), codes)


def end_all_sessions(session: Session, officer_id: int) -> None:
    """Delete every server-side session of the officer: their cookies unlock nothing."""
    session.execute(delete(OfficerSession).where(OfficerSession.officer_id == officer_id))


def check_not_last(
    session: Session, officer: Officer, *, supervisor: bool, key_holder: bool
) -> None:
    """Raise ServiceError if taking the officer away would leave no active (authenticated)
    supervisor, nobody active who holds the unit key, or (`key_holder`) nobody who holds
    the exclusion key. Every active officer's row and
    the target's are locked first, in id order, and read afresh: of two supervisors
    removing each other (or one another's access) at the same moment the second waits
    for the first and then sees its result (SQLite serialises writers anyway)."""
    locked = list(
        session.scalars(
            select(Officer)
            .where(or_(Officer.active.is_(True), Officer.id == officer.id))
            .order_by(Officer.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )
    others = [o for o in locked if o.id != officer.id]
    if (
        supervisor
        and roles.is_supervisor(session, officer)
        and not any(roles.is_supervisor(session, o) for o in others)
    ):
        raise ServiceError("they are the last active supervisor; make another supervisor first")
    if (
        key_holder
        and keyring.holds_unit_key(session, officer.id)
        and not any(keyring.holds_unit_key(session, o.id) for o in others)
    ):
        raise ServiceError(
            "they are the last active officer who can read reports; "
            "give another officer access first"
        )
    if (
        key_holder
        and keyring.holds_group_key(session, officer.id)
        and not any(keyring.holds_group_key(session, o.id) for o in others)
    ):
        raise ServiceError(
            "they are the last supervisor who can read reports with an exclusion; "
            "give another supervisor access to reports first"
        )


def deactivate(session: Session, officer: Officer, by: Officer, now: datetime) -> None:
    """Stop an officer at once: sessions ended, sealed unit key copies deleted."""
    if officer.id == by.id:
        raise ServiceError("you cannot deactivate your own account")
    check_not_last(session, officer, supervisor=True, key_holder=True)
    restriction.refuse_if_last_supervisor_reader(session, officer)
    keyring.set_access_state(session, officer, active=False)
    end_all_sessions(session, officer.id)
    keyring.revoke_unit_key(session, officer)
    restriction.drop_seals(session, officer)
    session.execute(delete(EnrolmentInvite).where(EnrolmentInvite.officer_id == officer.id))
    released = release_cases(session, officer)
    audit.record(
        session, by.email, "officer.deactivated", now, officer=officer.id, cases_released=released
    )


def release_cases(session: Session, officer: Officer) -> int:
    """Return the officer's cases to the unassigned, where supervisors see them (an owner
    must be able to read them); how many."""
    released = session.execute(
        update(Case)
        .where(Case.assignee_id == officer.id)
        .values(assignee_id=None, assignee_declared_on=None)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(released, "rowcount", 0) or 0)


def revoke_access(session: Session, officer: Officer, by: Officer, now: datetime) -> int:
    """Take away the officer's copies of the unit key and hand back their cases; they keep
    their account (and may be given access again). Audited; returns the cases released.

    Raises ServiceError for oneself, an officer who holds no copy, or the last active
    officer who holds the unit key.
    """
    if officer.id == by.id:
        raise ServiceError("you cannot take away your own access; ask another supervisor")
    check_not_last(session, officer, supervisor=False, key_holder=True)
    if not officer.active or not keyring.holds_unit_key(session, officer.id):
        raise ServiceError("they cannot read reports already")
    restriction.refuse_if_last_supervisor_reader(session, officer)
    grants = keyring.revoke_unit_key(session, officer)
    sealed = restriction.drop_seals(session, officer)
    released = release_cases(session, officer)
    audit.record(
        session,
        by.email,
        "officer.access_revoked",
        now,
        officer=officer.id,
        grants_removed=grants,
        restricted_cases=sealed,
        cases_released=released,
    )
    return released


def reactivate(session: Session, officer: Officer, by: Officer, now: datetime) -> None:
    """Let a deactivated officer sign in again, as an officer (a supervisor role is given
    again, audited, by a supervisor), with no access to reports until a supervisor gives
    it. Audited. Raises ServiceError for an active officer."""
    if keyring.state_holds(session, officer):
        raise ServiceError("they are active already")
    keyring.revoke_unit_key(session, officer)
    restriction.drop_seals(session, officer)
    keyring.set_access_state(session, officer, active=True)
    roles.set_role(session, officer, roles.OFFICER)
    audit.record(session, by.email, "officer.reactivated", now, officer=officer.id)


def lift_lockout(
    session: Session, officer: Officer, by: Officer, pepper: bytes, now: datetime
) -> None:
    """Unlock an account locked after too many failed sign-ins, and clear its delay."""
    officer.locked = False
    throttle.clear(session, throttle.account_key("login", officer.email, pepper))
    audit.record(session, by.email, "officer.unlocked", now, officer=officer.id)


def lift_lockout_by_email(session: Session, email: str, pepper: bytes, now: datetime) -> Officer:
    """The operator's way to unlock an account (CLI); raise ServiceError if unknown."""
    officer = session.scalars(select(Officer).where(Officer.email == email.strip().lower())).first()
    if officer is None:
        raise ServiceError(f"no officer with e-mail {email}")
    officer.locked = False
    throttle.clear(session, throttle.account_key("login", officer.email, pepper))
    audit.record(session, "cli", "officer.unlocked", now, officer=officer.id)
    return officer


def get_officer(session: Session, officer_id: int) -> Officer:
    """An officer by id; raise NotFound."""
    officer = session.get(Officer, officer_id)
    if officer is None:
        raise NotFound("no such officer")
    return officer


def list_officers(session: Session) -> list[Officer]:
    """Every officer, active first, then by e-mail."""
    return list(session.scalars(select(Officer).order_by(Officer.active.desc(), Officer.email)))
