"""The offline recovery key: checking a copy, and replacing it (docs/operating.md).

Replacing it seals every unit key and exclusion key generation the old key
opened, and every restricted case sealed to it, to the new one and deletes the
old key's grants and seals, so the old file opens nothing in this database any
more; a backup taken before still opens with it.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from reportline.crypto.keys import PrivateKey, generate_private_key
from reportline.models import ExclusionKeyGrant, RecoveryKey, UnitKey, UnitKeyGrant
from reportline.services import audit, instance, keyring, restriction
from reportline.services.errors import NoKeyAccess


@dataclass(frozen=True)
class Verified:
    """A recovery key file that opens the active unit key."""

    fingerprint: str
    verified_at: datetime


def _current(
    session: Session, recovery_private: PrivateKey, for_update: bool = False
) -> RecoveryKey:
    fingerprint = recovery_private.public_key().fingerprint
    query = select(RecoveryKey).where(RecoveryKey.fingerprint == fingerprint)
    if for_update:  # a change of access share-locks it before any case row
        query = query.with_for_update().execution_options(populate_existing=True)
    recovery = session.scalars(query).first()
    if recovery is None or recovery.public_key != recovery_private.public_key().raw:
        raise NoKeyAccess("this recovery key does not belong to this instance")
    if recovery.retired_at is not None:
        raise NoKeyAccess(
            f"this recovery key was replaced on {recovery.retired_at:%Y-%m-%d}: it opens only "
            "backups made before then"
        )
    return recovery


def _check_pin(recovery: RecoveryKey, recovery_pin: str | None, *, required: bool) -> None:
    if recovery_pin is None:
        if required:
            raise NoKeyAccess(
                "no recovery key is pinned in the instance config: run `reportline keys "
                "verify-recovery --recovery-key-file PATH` with this key first to pin it"
            )
        return
    if not hmac.compare_digest(instance.recovery_pin(recovery.public_key), recovery_pin):
        raise NoKeyAccess("this is not the recovery key the instance config pins")


def verify(
    session: Session, recovery_private: PrivateKey, now: datetime, pins: instance.Pins
) -> Verified:
    """Check that the key opens every active unit key generation, each the half of its
    public key, and the generations the instance config pins (`pins`) the very keys
    pinned; record when.

    Changes no key. Raises NoKeyAccess for a key of another instance or a
    replaced one, or one that does not open those keys, DecryptionError if a
    grant does not open.
    """
    recovery = _current(session, recovery_private)
    _check_pin(recovery, pins.recovery, required=False)
    opened = keyring.unlock_with_recovery_key(session, recovery_private)
    fingerprints = {
        unit_key_id: opened.get(unit_key_id).public_key().fingerprint
        for unit_key_id in session.scalars(select(UnitKey.id).where(UnitKey.active.is_(True)))
    }
    pinned = {pin for pin in (pins.current, pins.next) if pin is not None}
    claimed = session.execute(
        select(UnitKey.id, UnitKey.fingerprint).where(UnitKey.fingerprint.in_(pinned))
    ).all()
    if pins.current not in fingerprints.values() or any(
        fingerprints.get(unit_key_id, fingerprint) != fingerprint
        for unit_key_id, fingerprint in claimed
    ):
        raise NoKeyAccess("this recovery key does not open the unit key pinned in the config")
    opened_groups = keyring.unlock_group_keys_with_recovery_key(session, recovery_private)
    _check_exclusion_pin(opened_groups, pins.exclusion)
    recovery.verified_at = now
    audit.record(session, "cli", "recovery_key.verified", now, recovery_key=recovery.id)
    return Verified(recovery.fingerprint, now)


def _check_exclusion_pin(opened: dict[int, PrivateKey], pin: str | None) -> None:
    """Raise NoKeyAccess unless the recovery key opened the exclusion key generation the
    config pins (`pin`, when one is pinned)."""
    if pin is not None and pin not in {
        private.public_key().fingerprint for private in opened.values()
    }:
        raise NoKeyAccess("this recovery key does not open the exclusion key pinned in the config")


def replace(
    session: Session,
    old_private: PrivateKey,
    now: datetime,
    recovery_pin: str | None,
    exclusion_pin: str | None = None,
) -> PrivateKey:
    """Make a new recovery key holding every unit and exclusion key generation the old one
    opened; retire the old one and delete its grants. Return the new private key (the
    caller writes it out once, and pins it). Raises NoKeyAccess for a key of another
    instance, a replaced one, one the config (`recovery_pin`) does not pin, or one that
    does not open the pinned exclusion key (`exclusion_pin`)."""
    old = _current(session, old_private, for_update=True)
    _check_pin(old, recovery_pin, required=True)
    opened = keyring.unlock_with_recovery_key(session, old_private)
    opened_groups = keyring.unlock_group_keys_with_recovery_key(session, old_private)
    _check_exclusion_pin(opened_groups, exclusion_pin)
    new_private = generate_private_key()
    new_public = new_private.public_key()
    new = RecoveryKey(public_key=new_public.raw, fingerprint=new_public.fingerprint, created_at=now)
    session.add(new)
    session.flush()
    for unit_key_id, unit_private in sorted(opened.keys.items()):
        keyring.seal_recovery_grant(session, unit_key_id, unit_private, new, now)
    for exclusion_key_id, group_private in sorted(opened_groups.items()):
        keyring.seal_recovery_grant(
            session, exclusion_key_id, group_private, new, now, kind=keyring.EXCLUSION
        )
    session.execute(delete(UnitKeyGrant).where(UnitKeyGrant.recovery_key_id == old.id))
    session.execute(delete(ExclusionKeyGrant).where(ExclusionKeyGrant.recovery_key_id == old.id))
    moved = restriction.move_recovery_seals(session, old.id, old_private, new)
    old.retired_at = now
    audit.record(
        session,
        "cli",
        "recovery_key.replaced",
        now,
        recovery_key=new.id,
        replaced=old.id,
        restricted_cases=moved,
    )
    return new_private
