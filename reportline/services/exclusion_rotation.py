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

from reportline.crypto.errors import DecryptionError
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
    given the new one, how many cases were re-sealed, the members left out (their
    public key fails its MAC) and the seals left under an older key (unopenable)."""

    from_fingerprint: str
    to_fingerprint: str
    holders: tuple[str, ...]
    resealed: int
    left_out: tuple[str, ...] = ()
    kept: int = 0


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


def _holders(session: Session, current_id: int) -> tuple[list[Officer], list[Officer]]:
    """The members holding the current generation by a grant that holds, row-locked so a
    removal committing meanwhile waits and then takes the new key away too; and those
    left out because their public key fails its MAC (swapped in the database): one
    such row must not stop the rotation that takes a removed member's copy away."""
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
    kept, left_out = [], []
    for officer in holders:
        try:
            integrity.check_officer_key(key, officer)
        except DecryptionError:
            left_out.append(officer)
        else:
            kept.append(officer)
    return kept, left_out


def _reseal(
    session: Session, group_keys: Mapping[int, PrivateKey], new: ExclusionKey
) -> tuple[int, int]:
    """Move every case seal of an older generation to `new`; return how many moved and
    how many were left where they are: a seal under a generation `group_keys` lacks, or
    one that does not open (altered or planted), stays under its generation, whose
    grants stay. So a planted seal cannot stop the rotation, which is for reports that
    arrive later. The cases are locked first, so a change of access committing
    meanwhile (which deletes the seal) is seen, never undone."""
    older = (CaseSeal.holder == cases.EXCLUSION_GROUP) & (CaseSeal.holder_id != new.id)
    session.execute(
        select(Case.id)
        .where(Case.id.in_(select(CaseSeal.case_id).where(older)))
        .order_by(Case.id)
        .with_for_update()
    ).all()
    public = PublicKey(new.public_key)
    moved = kept = 0
    for row in session.scalars(select(CaseSeal).where(older).order_by(CaseSeal.case_id)).all():
        private = group_keys.get(row.holder_id)
        try:
            if private is None:
                raise DecryptionError("no key for this generation")
            raw = open_sealed(
                row.sealed,
                private,
                cases.seal_context(row.case_id, cases.EXCLUSION_GROUP, row.holder_id),
            )
        except DecryptionError:
            kept += 1
            continue
        secret = cases.CaseSecret(raw)
        session.add(cases.seal_to(row.case_id, cases.EXCLUSION_GROUP, new.id, secret, public))
        session.delete(row)
        moved += 1
    session.flush()
    return moved, kept


def warnings(done: Rotated) -> list[str]:
    """What a supervisor must look into after a rotation that left something out."""
    found = []
    if done.left_out:
        found.append(
            f"not given the new key, their public key failing its check (altered in the "
            f"database?): {', '.join(done.left_out)}"
        )
    if done.kept:
        found.append(
            f"{done.kept} case seal{'s' if done.kept != 1 else ''} could not be opened and "
            "stayed under an older exclusion key (altered or planted in the database?)"
        )
    return found


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
    the current key, DecryptionError for an altered pinned row; nothing is changed
    then. Seals it cannot open and members whose key fails its MAC are left out and
    named (`warnings`).
    """
    current = pinned_current(session, pins.exclusion)
    recovery = pinned_recovery_key(session, pins.recovery)
    opened = group_keys.get(current.id)
    if opened is None or opened.public_key().fingerprint != current.fingerprint:
        raise NoKeyAccess("the key given does not open the current exclusion key")
    holders, left_out = _holders(session, current.id)
    new, new_private = exclusion_keys.create_key(session, now)
    for officer in holders:
        keyring.seal_grant(session, new.id, new_private, officer, now, kind=keyring.EXCLUSION)
    exclusion_keys.seal_to_recovery(session, new, new_private, recovery, now)
    resealed, kept = _reseal(session, group_keys, new)
    current.retired_at = now
    audit.record(
        session,
        actor,
        "exclusion_key.rotated",
        now,
        exclusion_key=new.id,
        holders=len(holders),
        left_out=len(left_out),
        seals_kept=kept,
    )
    session.flush()
    return Rotated(
        current.fingerprint,
        new.fingerprint,
        tuple(officer.email for officer in holders),
        resealed,
        tuple(officer.email for officer in left_out),
        kept,
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
    pins = settle(session, instance_path)
    rotated = rotate(session, group_keys, actor, now, pins)
    # The new key as `_next` first: if this process dies before or after the commit,
    # servers take the pinned key while it is current, else the next one
    # (`keyring.PinnedExclusionKey`), and the next run settles the config.
    instance.pin_exclusion_key(instance_path, pins.exclusion, rotated.to_fingerprint)
    session.commit()  # if it fails, `_next` stays: servers and `settle` ask the database
    instance.pin_exclusion_key(instance_path, rotated.to_fingerprint)
    return rotated


def settle(session: Session, instance_path: Path) -> instance.Pins:
    """Finish the config of a rotation that was interrupted between its two writes: pin
    the `_next` key if the database holds it as current (the rotation committed), else
    drop it. Returns the pins as they are then."""
    pins = instance.read_pins(instance_path)
    if pins.exclusion_next is None:
        return pins
    row = session.scalars(
        select(ExclusionKey).where(ExclusionKey.fingerprint == pins.exclusion_next)
    ).first()
    committed = row is not None and row.retired_at is None
    if committed:
        assert row is not None
        integrity.check_pinned_key(pins.exclusion_next, row.public_key, "the exclusion key")
    instance.pin_exclusion_key(instance_path, pins.exclusion_next if committed else pins.exclusion)
    return instance.read_pins(instance_path)
