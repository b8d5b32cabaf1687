"""Exclusion key rotation: a new exclusion key for the same members, and every report
sealed to an older one re-sealed to it (docs/security.md, "Exclusions").

A supervisor removed from the group (demoted, revoked, deactivated, password reset)
loses their grant, but may have kept the private key; after a rotation that copy
opens no report that arrives later.

Only 'pending' cases are sealed to the exclusion key (setting their access moves
them to officers or the unit key), so they are few, and it is all one
transaction: make the new generation, seal it to every member who holds the
current one by a grant that holds and to the pinned recovery key, re-seal every
case, retire the current generation. No batches and nothing to resume: a crash
leaves the old key or the new, and every pending case readable by every member
either way. The caller holds the rotation lock (`rotation.RotationLock`, one key
rotation at a time) and writes the new pin to the instance config before it
commits, putting the old pin back if the commit fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from reportline.crypto.keys import PrivateKey, PublicKey, open_sealed
from reportline.models import Case, CaseSeal, ExclusionKey, ExclusionKeyGrant, Officer
from reportline.services import audit, cases, exclusion_keys, instance, integrity, keyring
from reportline.services.errors import NoKeyAccess, SetupError
from reportline.services.rotation import RotationRefused, pinned_recovery_key

BUSY = "another key rotation (of the unit key or the exclusion key) is running: wait for it"
NO_KEY = "this instance has no exclusion key yet: make it with `reportline keys init-exclusion`"


@dataclass(frozen=True)
class Rotated:
    """What a rotation did: the retired and the new key's fingerprints, the members
    given the new one, and how many cases were re-sealed."""

    from_fingerprint: str
    to_fingerprint: str
    holders: tuple[str, ...]
    resealed: int


def pinned_current(session: Session, pin: str | None) -> ExclusionKey:
    """The current exclusion key generation, the one `pin` (the config's) names, row-locked
    so that a report being sealed to it commits first (`keyring.PinnedExclusionKey`
    reads it FOR SHARE). Raises SetupError without an exclusion key, RotationRefused
    for a pin the database does not hold as current, DecryptionError for a row whose
    public key is not the pinned one."""
    if session.scalars(select(ExclusionKey.id).limit(1)).first() is None:
        raise SetupError(NO_KEY)
    current = (
        None
        if pin is None
        else session.scalars(
            select(ExclusionKey)
            .where(ExclusionKey.fingerprint == pin)
            .order_by(ExclusionKey.id.desc())
            .limit(1)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).first()
    )
    if pin is None or current is None or current.retired_at is not None:
        raise RotationRefused(
            "the instance config pins no current exclusion key: nothing was changed "
            '(docs/operating.md, "A key the config does not know")'
        )
    integrity.check_pinned_key(pin, current.public_key, "the exclusion key")
    return current


def _holders(session: Session, current_id: int) -> list[Officer]:
    """The members holding the current generation by a grant that holds, row-locked so a
    removal committing meanwhile waits and then takes the new key away too. Raises
    DecryptionError if one's public key was swapped in the database."""
    locked = session.execute(
        select(Officer, ExclusionKeyGrant)
        .join(ExclusionKeyGrant, ExclusionKeyGrant.officer_id == Officer.id)
        .where(ExclusionKeyGrant.exclusion_key_id == current_id, Officer.active.is_(True))
        .order_by(Officer.id)
        .with_for_update(of=Officer)
        .execution_options(populate_existing=True)
    ).all()
    holders = [
        officer
        for officer, grant in locked
        if keyring.grant_holds(session, officer, grant)
        and exclusion_keys.is_member(session, officer)
    ]
    key = keyring.session_integrity_key(session)
    for officer in holders:
        integrity.check_officer_key(key, officer)
    return holders


def _reseal(session: Session, group_keys: Mapping[int, PrivateKey], new: ExclusionKey) -> int:
    """Move every case seal of an older generation to `new`; return how many moved.
    The cases are locked first, so a change of access committing meanwhile (which
    deletes the seal) is seen, never undone. Raises NoKeyAccess for a seal under a
    generation `group_keys` lacks, DecryptionError for an altered seal."""
    older = (CaseSeal.holder == cases.EXCLUSION_GROUP) & (CaseSeal.holder_id != new.id)
    session.execute(
        select(Case.id)
        .where(Case.id.in_(select(CaseSeal.case_id).where(older)))
        .order_by(Case.id)
        .with_for_update()
    ).all()
    public = PublicKey(new.public_key)
    moved = 0
    for row in session.scalars(select(CaseSeal).where(older).order_by(CaseSeal.case_id)).all():
        private = group_keys.get(row.holder_id)
        if private is None:
            raise NoKeyAccess(
                "a case is sealed to an exclusion key the key given does not open: use the "
                "recovery key (`reportline keys rotate-exclusion --recovery-key-file PATH`)"
            )
        raw = open_sealed(
            row.sealed,
            private,
            cases.seal_context(row.case_id, cases.EXCLUSION_GROUP, row.holder_id),
        )
        secret = cases.CaseSecret(raw)
        session.add(cases.seal_to(row.case_id, cases.EXCLUSION_GROUP, new.id, secret, public))
        session.delete(row)
        moved += 1
    session.flush()
    return moved


def rotate(
    session: Session,
    group_keys: Mapping[int, PrivateKey],
    actor: str,
    now: datetime,
    pins: instance.Pins,
) -> Rotated:
    """Rotate the exclusion key in the caller's transaction; audited (no case ids).

    `group_keys` are the exclusion key generations the caller opened (a member's
    own, or the recovery key's); `pins` the instance config's. The old key's grants
    stay: no report is sealed to it afterwards.
    Raises SetupError without an exclusion key, RotationRefused for a current key or
    recovery key the config does not pin, NoKeyAccess if `group_keys` does not open
    the current key (or an older one a case is still sealed to), DecryptionError for
    an altered row; nothing is changed then.
    """
    current = pinned_current(session, pins.exclusion)
    recovery = pinned_recovery_key(session, pins.recovery)
    opened = group_keys.get(current.id)
    if opened is None or opened.public_key().fingerprint != current.fingerprint:
        raise NoKeyAccess("the key given does not open the current exclusion key")
    holders = _holders(session, current.id)
    new, new_private = exclusion_keys.create_key(session, now)
    for officer in holders:
        keyring.seal_grant(session, new.id, new_private, officer, now, kind=keyring.EXCLUSION)
    exclusion_keys.seal_to_recovery(session, new, new_private, recovery, now)
    resealed = _reseal(session, group_keys, new)
    current.retired_at = now
    audit.record(
        session, actor, "exclusion_key.rotated", now, exclusion_key=new.id, holders=len(holders)
    )
    session.flush()
    return Rotated(
        current.fingerprint,
        new.fingerprint,
        tuple(officer.email for officer in holders),
        resealed,
    )


def rotate_and_pin(
    session: Session,
    group_keys: Mapping[int, PrivateKey],
    actor: str,
    now: datetime,
    instance_path: Path,
) -> Rotated:
    """`rotate` with the instance config's pins, then commit, the new pin written first
    and put back if the commit fails (the other way round a committed key would have
    no pin). Raises as `rotate`, having changed nothing."""
    pins = instance.read_pins(instance_path)
    rotated = rotate(session, group_keys, actor, now, pins)
    instance.pin_exclusion_key(instance_path, rotated.to_fingerprint)
    try:
        session.commit()
    except Exception:
        instance.pin_exclusion_key(instance_path, pins.exclusion)
        raise
    return rotated
