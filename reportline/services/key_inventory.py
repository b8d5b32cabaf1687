"""What keys the unit has and who holds them: `reportline keys status` and the keys page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from reportline.crypto.keys import PublicKey
from reportline.models import (
    CaseSeal,
    ExclusionKey,
    ExclusionKeyGrant,
    Officer,
    RecoveryKey,
    UnitKey,
    UnitKeyGrant,
)
from reportline.services import cases, keyring, restriction, rotation


@dataclass(frozen=True)
class UnitKeyLine:
    """One unit key generation."""

    fingerprint: str
    created_at: datetime
    active: bool  # reports may be sealed to it
    retired_at: datetime | None
    holders: tuple[str, ...]  # active officers' e-mail addresses
    recovery_holds: bool
    cases: int  # case secrets sealed to it


@dataclass(frozen=True)
class RecoveryLine:
    """One recovery key (only its public half is known here)."""

    fingerprint: str
    created_at: datetime
    verified_at: datetime | None
    retired_at: datetime | None


@dataclass(frozen=True)
class ExclusionKeyLine:
    """One exclusion key generation."""

    fingerprint: str
    created_at: datetime
    retired_at: datetime | None
    holders: tuple[str, ...]  # active officers' e-mail addresses, by grants that hold
    recovery_holds: bool
    cases: int = 0  # case secrets sealed to it (pending cases)


@dataclass(frozen=True)
class Inventory:
    """Every unit key generation (newest first), recovery key, an unfinished rotation,
    every exclusion key generation (newest first), the restricted cases and the
    re-seals waiting."""

    unit_keys: tuple[UnitKeyLine, ...]
    recovery_keys: tuple[RecoveryLine, ...]
    rotation: rotation.Progress | None
    exclusion_keys: tuple[ExclusionKeyLine, ...] = ()
    # Cases not sealed to the unit key, with who may read them, and the re-seals
    # waiting after password resets.
    restricted: tuple[restriction.RestrictedLine, ...] = ()
    waiting: tuple[restriction.Waiting, ...] = ()

    @property
    def under_retired_keys(self) -> int:
        """Cases whose secret is still sealed to a retired generation (normally 0)."""
        return sum(line.cases for line in self.unit_keys if not line.active)

    @property
    def under_retired_exclusion_keys(self) -> int:
        """Cases still sealed to a retired exclusion key generation (0 after a rotation)."""
        return sum(line.cases for line in self.exclusion_keys if line.retired_at is not None)


def inventory(session: Session) -> Inventory:
    """The unit's keys as they stand."""
    counts: dict[int, int] = dict(
        session.execute(
            select(CaseSeal.holder_id, func.count())
            .where(CaseSeal.holder == cases.UNIT_KEY)
            .group_by(CaseSeal.holder_id)
        ).all()
    )
    holders: dict[int, list[str]] = {}
    for grant, officer in session.execute(
        select(UnitKeyGrant, Officer)
        .join(Officer, Officer.id == UnitKeyGrant.officer_id)
        .where(Officer.active.is_(True))
        .order_by(Officer.email)
    ):
        if keyring.grant_holds(session, officer, grant):
            holders.setdefault(grant.unit_key_id, []).append(officer.email)
    recovery_held = set(
        session.scalars(
            select(UnitKeyGrant.unit_key_id)
            .join(RecoveryKey, RecoveryKey.id == UnitKeyGrant.recovery_key_id)
            .where(RecoveryKey.retired_at.is_(None))
        )
    )
    lines = tuple(
        UnitKeyLine(
            key.fingerprint,
            key.created_at,
            key.active,
            key.retired_at,
            tuple(holders.get(key.id, ())),
            key.id in recovery_held,
            counts.get(key.id, 0),
        )
        for key in session.scalars(select(UnitKey).order_by(UnitKey.id.desc()))
    )
    recovery_lines = tuple(
        RecoveryLine(r.fingerprint, r.created_at, r.verified_at, r.retired_at)
        for r in session.scalars(select(RecoveryKey).order_by(RecoveryKey.id.desc()))
    )
    unfinished = rotation.running(session)
    state = rotation.progress(session, unfinished) if unfinished else None
    return Inventory(
        lines,
        recovery_lines,
        state,
        _exclusion_keys(session),
        tuple(restriction.restricted_cases(session)),
        tuple(restriction.waiting_list(session)),
    )


def _exclusion_keys(session: Session) -> tuple[ExclusionKeyLine, ...]:
    holders: dict[int, list[str]] = {}
    for grant, officer in session.execute(
        select(ExclusionKeyGrant, Officer)
        .join(Officer, Officer.id == ExclusionKeyGrant.officer_id)
        .where(Officer.active.is_(True))
        .order_by(Officer.email)
    ):
        if keyring.grant_holds(session, officer, grant):
            holders.setdefault(grant.exclusion_key_id, []).append(officer.email)
    recovery_held = set(
        session.scalars(
            select(ExclusionKeyGrant.exclusion_key_id)
            .join(RecoveryKey, RecoveryKey.id == ExclusionKeyGrant.recovery_key_id)
            .where(RecoveryKey.retired_at.is_(None))
        )
    )
    counts: dict[int, int] = dict(
        session.execute(
            select(CaseSeal.holder_id, func.count())
            .where(CaseSeal.holder == cases.EXCLUSION_GROUP)
            .group_by(CaseSeal.holder_id)
        ).all()
    )
    return tuple(
        ExclusionKeyLine(
            PublicKey(key.public_key).fingerprint,  # its own, not the column beside it
            key.created_at,
            key.retired_at,
            tuple(holders.get(key.id, ())),
            key.id in recovery_held,
            counts.get(key.id, 0),
        )
        for key in session.scalars(select(ExclusionKey).order_by(ExclusionKey.id.desc()))
    )
