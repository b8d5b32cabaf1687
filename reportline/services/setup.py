"""Setting up an instance: the unit key, the recovery key, the exclusion group's key and
the first supervisor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from reportline.crypto.kdf import Argon2Cost
from reportline.crypto.keys import PrivateKey
from reportline.models import RecoveryKey, UnitKey
from reportline.services import audit, exclusion_keys, keyring, ledger, officers
from reportline.services.errors import SetupError, WeakPassword


@dataclass(frozen=True)
class InitialisedInstance:
    """What `init` hands out once: the first supervisor's enrolment and the recovery key;
    and the fingerprints to pin."""

    supervisor: officers.NewOfficer
    recovery_key: PrivateKey
    unit_key_fingerprint: str
    exclusion_key_fingerprint: str


def initialise(
    session: Session,
    admin_email: str,
    password: str,
    cost: Argon2Cost,
    now: datetime,
    integrity_key: bytes,
) -> InitialisedInstance:
    """Create the unit and recovery keys and the first supervisor, who holds the unit key
    and the exclusion group's key (which the recovery key holds too).

    Raises SetupError if the instance was already initialised, WeakPassword or
    InvalidEmail before anything is created.
    """
    if session.scalars(select(UnitKey.id)).first() is not None:
        raise SetupError("this instance is already initialised")
    email = officers.normalise_email(admin_email)
    problems = officers.password_problems(password, email)
    if problems:
        raise WeakPassword(problems)
    unit_key, unit_private = keyring.create_unit_key(session, now)
    recovery_private = keyring.create_recovery_key(session, unit_key, unit_private, now)
    supervisor = officers.create_officer(
        session, email, "supervisor", password, cost, now, integrity_key
    )
    keyring.grant_unit_key(
        session,
        keyring.UnitKeyring({unit_key.id: unit_private}),
        supervisor.officer,
        None,
        now,
        integrity_key,
    )
    exclusion_key, exclusion_private = exclusion_keys.create_key(session, now)
    exclusion_keys.grant(  # the key pair made just now: nothing to read back
        session,
        {exclusion_key.id: exclusion_private},
        supervisor.officer,
        None,
        now,
        exclusion_keys.fingerprint_of(supervisor.officer),
    )
    recovery = session.scalars(
        select(RecoveryKey).where(RecoveryKey.public_key == recovery_private.public_key().raw)
    ).one()
    exclusion_keys.seal_to_recovery(session, exclusion_key, exclusion_private, recovery, now)
    ledger.start(session)
    audit.record(session, "cli", "instance.initialised", now, unit_key=unit_key.fingerprint)
    return InitialisedInstance(
        supervisor, recovery_private, unit_key.fingerprint, exclusion_key.fingerprint
    )
