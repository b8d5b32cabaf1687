"""Officers' roles, authenticated: a role grants something only while its MAC holds.

A database writer could otherwise promote an accomplice to supervisor, who
would then manage officers, give out the unit key and hear of every
unassigned case. `officers.role_mac` is an HMAC under the instance integrity
key (derived from the pepper in the instance config) over the officer's id
and role; the key reaches services in `session.info` like the audit key. A
role whose MAC fails counts as no role at all: the officer keeps what any
officer has (reading needs the unit key, granted separately) and nothing a
supervisor has; a supervisor who meets the check is told why and it is audited.
"""

from __future__ import annotations

import hmac
import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from reportline.models import Officer
from reportline.models.officer import ROLES
from reportline.services import audit, integrity, keyring, restriction
from reportline.services.errors import ServiceError, SetupError

SUPERVISOR = "supervisor"
OFFICER = "officer"
# The migration that adds `officers.role_mac`: the rows it finds get their MAC then.
ROLE_MAC_REVISION = "0008"

log = logging.getLogger(__name__)


def _key(session: Session) -> bytes | None:
    key: bytes | None = session.info.get("integrity_key")
    return key


def set_role(session: Session, officer: Officer, role: str) -> None:
    """Give the (flushed) officer `role` with its MAC; raise ServiceError for an unknown
    role, SetupError for a session without the integrity key."""
    if role not in ROLES:
        raise ServiceError(f"a role is one of {', '.join(ROLES)}")
    key = _key(session)
    if key is None:
        raise SetupError("this database session cannot authenticate roles")
    officer.role = role
    officer.role_mac = integrity.officer_role_mac(key, officer.id, role, officer.access_epoch)


def role_holds(session: Session, officer: Officer) -> bool:
    """Whether the officer's stored role carries its valid MAC."""
    key = _key(session)
    return (
        key is not None
        and officer.role_mac is not None
        and hmac.compare_digest(
            officer.role_mac,
            integrity.officer_role_mac(key, officer.id, officer.role, officer.access_epoch),
        )
    )


def is_supervisor(session: Session, officer: Officer) -> bool:
    """Whether the officer is a supervisor by an authenticated role (and active)."""
    return (
        officer.role == SUPERVISOR
        and role_holds(session, officer)
        and keyring.state_holds(session, officer)
    )


def shown_role(session: Session, officer: Officer) -> str:
    """The role as a supervisor page shows it: `officer`, `supervisor`, or either with
    `_unchecked` when its MAC fails (it then grants nothing)."""
    return officer.role if role_holds(session, officer) else f"{officer.role}_unchecked"


def claims_unchecked_supervisor(session: Session, officer: Officer) -> bool:
    """A supervisor role in the database whose MAC fails: shown as such, grants nothing."""
    return officer.role == SUPERVISOR and not role_holds(session, officer)


def record_failed_check(session: Session, officer: Officer, now: datetime) -> None:
    """Log and audit a supervisor role that failed its check where it was to grant
    something (the caller commits before refusing)."""
    log.warning("officer %s: supervisor role failed its integrity check; refused", officer.id)
    audit.record(session, officer.email, "officer.role_check_failed", now, officer=officer.id)


def _others(session: Session, officer: Officer) -> list[Officer]:
    """The other active, authenticated supervisors, their rows locked so that two
    supervisors demoting each other at once cannot both succeed."""
    others = session.scalars(
        select(Officer)
        .where(Officer.active.is_(True), Officer.id != officer.id)
        .order_by(Officer.id)
        .with_for_update()
    )
    return [o for o in others if is_supervisor(session, o)]


def change_role(session: Session, officer: Officer, role: str, by: Officer, now: datetime) -> None:
    """Make `officer` an officer or a supervisor, MAC'd; audited with the new role.

    Also re-authenticates a role that failed its check. A supervisor made an officer
    loses the exclusion key (`services.exclusion_keys` gives it to one made a
    supervisor). Raises ServiceError for oneself, a deactivated officer, an unknown
    role, a role they already hold, or demoting the last active supervisor or the
    last holder of the exclusion key.
    """
    if role not in ROLES:
        raise ServiceError("choose officer or supervisor")
    if officer.id == by.id:
        raise ServiceError("you cannot change your own role; ask another supervisor")
    if not officer.active:
        raise ServiceError("a deactivated officer's role cannot be changed; reactivate them first")
    if role == officer.role and role_holds(session, officer):
        raise ServiceError(
            f"they are already {'a supervisor' if role == SUPERVISOR else 'an officer'}"
        )
    if role != SUPERVISOR:
        others = _others(session, officer)
        if is_supervisor(session, officer) and not others:
            raise ServiceError("they are the last active supervisor; make another supervisor first")
        if keyring.holds_group_key(session, officer.id) and not any(
            keyring.holds_group_key(session, o.id) for o in others
        ):
            raise ServiceError(
                "they are the last supervisor who can read reports with an exclusion; "
                "give another supervisor access to reports first"
            )
        if is_supervisor(session, officer):
            restriction.refuse_if_last_supervisor_reader(session, officer)
        keyring.revoke_group_keys(session, officer)
    keyring.advance_epoch(session, officer)  # an earlier (role, role_mac) no longer holds
    set_role(session, officer, role)
    audit.record(session, by.email, "officer.role_changed", now, officer=officer.id, role=role)


def change_role_by_email(session: Session, email: str, role: str, now: datetime) -> Officer:
    """The operator's way to set a role (CLI): e.g. when every supervisor's role failed
    its check. One made an officer loses the exclusion key. Raises ServiceError for an
    unknown officer or role."""
    officer = session.scalars(select(Officer).where(Officer.email == email.strip().lower())).first()
    if officer is None:
        raise ServiceError(f"no officer with e-mail {email}")
    if role != SUPERVISOR:
        keyring.revoke_group_keys(session, officer)
    keyring.advance_epoch(session, officer)  # an earlier (role, role_mac) no longer holds
    set_role(session, officer, role)
    audit.record(session, "cli", "officer.role_changed", now, officer=officer.id, role=role)
    return officer


def authenticate_existing_roles(session: Session, now: datetime) -> list[Officer]:
    """MAC the role of every officer who has none: run once, by `reportline db upgrade`,
    when the revision that adds `officers.role_mac` is applied. Audited; returns them
    for the operator to check that nobody was promoted before the upgrade."""
    pending = list(
        session.scalars(select(Officer).where(Officer.role_mac.is_(None)).order_by(Officer.id))
    )
    for officer in pending:
        set_role(session, officer, officer.role)
    if pending:
        audit.record(session, "cli", "officer.roles_authenticated", now, officers=len(pending))
    return pending
