"""The exclusion group's key: who holds it, and making it (docs/security.md, "Exclusions").

A reporter may ask that someone in the unit not see their report. Such a report
is sealed to the exclusion group's key, never to the unit key. The group is the
supervisors: an officer is a member while their supervisor role carries its MAC
(`roles.is_supervisor`) and they hold the unit key. Each member holds the
group's private key sealed to their own public key, granted and checked as the
unit key is (`keyring.seal_grant`, `keyring.grant_holds`), and so does the
pinned recovery key. Its fingerprint is pinned in the instance config
(`exclusion_key_fingerprint`); reports are sealed only to the pinned key
(`keyring.PinnedExclusionKey`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from reportline.crypto.errors import DecryptionError
from reportline.crypto.keys import PrivateKey, PublicKey, generate_private_key
from reportline.models import ExclusionKey, ExclusionKeyGrant, Officer, RecoveryKey
from reportline.services import audit, integrity, keyring, roles, rotation
from reportline.services.errors import ServiceError, SetupError


def is_member(session: Session, officer: Officer) -> bool:
    """Whether the officer belongs to the exclusion group: an active supervisor by an
    authenticated role who holds the unit key by a grant whose MAC holds. A role
    written in the database alone makes nobody a member."""
    return (
        officer.public_key is not None
        and roles.is_supervisor(session, officer)
        and keyring.holds_unit_key(session, officer.id)
    )


def holds_a_copy(session: Session, officer_id: int) -> bool:
    """Whether a copy of the current exclusion key is sealed to the officer, by any grant
    row (one whose MAC no longer holds may have been opened before): a removal that
    ends it calls for a rotation (`exclusion_rotation`)."""
    return (
        session.scalars(
            select(ExclusionKeyGrant.id)
            .join(ExclusionKey, ExclusionKey.id == ExclusionKeyGrant.exclusion_key_id)
            .where(ExclusionKeyGrant.officer_id == officer_id, ExclusionKey.retired_at.is_(None))
            .limit(1)
        ).first()
        is not None
    )


def _plain(fingerprint: str) -> str:
    return "".join(c for c in fingerprint.lower() if c in "0123456789abcdef")


def fingerprint_of(officer: Officer) -> str:
    """The fingerprint of the public key the officer's grants are sealed to ("" for none)."""
    return PublicKey(officer.public_key).fingerprint if officer.public_key else ""


def check_fingerprint(officer: Officer, typed: str | None) -> None:
    """Refuse (ServiceError) unless `typed` is the fingerprint of the officer's public key,
    read back by the officer from their own account page: the key's MAC alone does not
    stop someone who can write the database and read the config (docs/security.md,
    "Exclusions")."""
    if not typed or _plain(typed) != _plain(fingerprint_of(officer)):
        raise ServiceError(
            f"the fingerprint given for {officer.email} is not their key's "
            f"({fingerprint_of(officer)}): ask them to read theirs from their account page"
        )


def grant(
    session: Session,
    group_keys: Mapping[int, PrivateKey],
    officer: Officer,
    granted_by: Officer | None,
    now: datetime,
    fingerprint: str | None,
) -> int:
    """Seal each exclusion key generation in `group_keys` (the granter's, unlocked) to a
    member's public key, whose `fingerprint` the granter typed; return how many were
    sealed (a grant that holds is kept). Audited. Raises ServiceError for someone who is
    not a member or a fingerprint that is not their key's, DecryptionError if their
    public key was swapped in the database."""
    if not is_member(session, officer):
        raise ServiceError(
            "only a supervisor who can read reports can read reports with an exclusion"
        )
    check_fingerprint(officer, fingerprint)
    integrity.check_officer_key(keyring.session_integrity_key(session), officer)
    sealed = keyring.seal_missing_grants(
        session, group_keys, officer, now, granted_by, kind=keyring.EXCLUSION
    )
    if sealed:
        audit.record(
            session,
            granted_by.email if granted_by else "cli",
            "officer.granted_exclusion_key",
            now,
            officer=officer.id,
        )
    return sealed


def grant_with_recovery_key(
    session: Session,
    recovery_private: PrivateKey,
    officer: Officer,
    now: datetime,
    fingerprint: str | None,
) -> int:
    """`reportline recover`: give a member the exclusion key opened with the recovery key
    (after the unit key), given their key's `fingerprint`; 0 for anyone else or when
    there is no exclusion key. Raises ServiceError for a wrong or missing fingerprint,
    NoKeyAccess for a recovery key of another instance."""
    opened = keyring.unlock_group_keys_with_recovery_key(session, recovery_private)
    if not opened or not is_member(session, officer):
        return 0
    return grant(session, opened, officer, None, now, fingerprint)


def create_key(session: Session, now: datetime) -> tuple[ExclusionKey, PrivateKey]:
    """Generate an exclusion key pair. The caller seals the private half to the members
    and the recovery key, pins the fingerprint, and forgets the private half."""
    private_key = generate_private_key()
    public_key = private_key.public_key()
    row = ExclusionKey(
        public_key=public_key.raw, fingerprint=public_key.fingerprint, created_at=now
    )
    session.add(row)
    session.flush()
    return row, private_key


@dataclass(frozen=True)
class NewExclusionKey:
    """What `keys init-exclusion` made: the key's fingerprint (to pin) and its holders."""

    fingerprint: str
    holders: tuple[str, ...]


def initialise(
    session: Session,
    now: datetime,
    recovery_pin: str | None,
    fingerprints: Mapping[str, str],
) -> NewExclusionKey:
    """Make the exclusion key of an existing instance (`reportline keys init-exclusion`):
    sealed to every member and to the recovery key the config pins, the private half
    then forgotten. `fingerprints` maps each member's e-mail to their key's fingerprint
    as they read it back; every member must be in it. Needs no secret. The caller pins
    the fingerprint before it commits.

    Raises SetupError if an exclusion key exists already, no supervisor is a member
    (none would read such reports), or a member's fingerprint is missing or wrong (the
    message lists each member's); RotationRefused if the config pins no recovery key
    or the database lacks it.
    """
    if session.scalars(select(ExclusionKey.id).limit(1)).first() is not None:
        raise SetupError(
            "this instance has an exclusion key already (`reportline keys status` shows it)"
        )
    recovery = rotation.pinned_recovery_key(session, recovery_pin)
    members = []
    key = keyring.session_integrity_key(session)
    for officer in session.scalars(
        select(Officer).where(Officer.active.is_(True)).order_by(Officer.id)
    ):
        if not is_member(session, officer):
            continue
        try:
            integrity.check_officer_key(key, officer)
        except DecryptionError:
            continue  # a public key swapped in the database is never sealed to
        members.append(officer)
    if not members:
        raise SetupError(
            "no supervisor can read reports: give a supervisor the unit key first, so that "
            "someone reads reports with an exclusion"
        )
    unconfirmed = [
        o for o in members if _plain(fingerprints.get(o.email, "")) != _plain(fingerprint_of(o))
    ]
    if unconfirmed:
        raise SetupError(
            "confirm each holder's key fingerprint, read from their account page: "
            + " ".join(f"--fingerprint {o.email}={fingerprint_of(o)}" for o in members)
        )
    row, private_key = create_key(session, now)
    for officer in members:
        keyring.seal_grant(session, row.id, private_key, officer, now, kind=keyring.EXCLUSION)
    seal_to_recovery(session, row, private_key, recovery, now)
    audit.record(
        session, "cli", "exclusion_key.created", now, exclusion_key=row.id, holders=len(members)
    )
    return NewExclusionKey(row.fingerprint, tuple(officer.email for officer in members))


def seal_to_recovery(
    session: Session,
    row: ExclusionKey,
    private_key: PrivateKey,
    recovery: RecoveryKey,
    now: datetime,
) -> None:
    """Seal an exclusion key generation to the recovery key."""
    keyring.seal_recovery_grant(session, row.id, private_key, recovery, now, kind=keyring.EXCLUSION)
    session.flush()
