"""Who may be told about a case, and what each officer wants to be told.

`may_be_alerted` is the one place that decides who may hear of activity in a
case or an urgent mark. Every alert goes through it: new reports, replies,
deadlines and urgent batches all group what they count by the case's
*audience* and ask it who belongs to each. Today a case's audience is the unit
key generation its secret is sealed to, and everyone who holds that key may
read it. A case that is not the unit's (restricted, or pending) has an audience
of its own, written as minus its id: the officers it is sealed to, or while
pending the members of the exclusion group it is sealed to, so no alert counts
it for an officer outside the case. An urgent mark names no case: a report with
an exclusion marks the exclusion key generation it is sealed to, whose members
`exclusion_group_members` gives (the same rule as for a pending case).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import case, select, text
from sqlalchemy.orm import Session

from reportline.models import (
    AlertPreference,
    Case,
    CaseSeal,
    ExclusionKeyGrant,
    Officer,
    UnitKey,
    UnitKeyGrant,
)
from reportline.services import audit, keyring, roles

# A case's audience: the unit key generation it arrived under (Case.unit_key_id), or for
# a case that is not the unit's, minus its id (its own readers).
Audience = int


def audience_of() -> Any:
    """The audience of a case, as a column to group counts by."""
    return case((Case.access == "unit", Case.unit_key_id), else_=-Case.id)


def every_audience(session: Session) -> list[Audience]:
    """Every audience there is: each unit key generation and each case that is not the
    unit's (few)."""
    units = session.scalars(select(UnitKey.id)).all()
    apart = session.scalars(select(Case.id).where(text("cases.access <> 'unit'"))).all()
    return [*units, *(-case_id for case_id in apart)]


@dataclass(frozen=True)
class Preferences:
    """What an officer is sent. Urgent alerts always go at once, never in a digest."""

    new_reports: bool = True
    replies: bool = True
    deadlines: bool = True
    urgent: bool = True
    daily_digest: bool = False

    @property
    def nothing(self) -> bool:
        """Whether the officer asked for no alerts at all."""
        return not (self.new_reports or self.replies or self.deadlines or self.urgent)


KINDS = tuple(f.name for f in fields(Preferences) if f.name != "daily_digest")


@dataclass(frozen=True, repr=False)
class Recipient:
    """An officer who may be alerted, with their choices. The address stays out of reprs
    (and so out of any log line that prints one)."""

    officer_id: int
    email: str
    is_supervisor: bool
    preferences: Preferences

    def __repr__(self) -> str:
        return f"Recipient(officer_id={self.officer_id}, {self.preferences!r})"

    def owns(self, assignee_id: int) -> bool:
        """Whether activity on a case owned by `assignee_id` (0: nobody) is theirs to hear
        of: their own cases, and for supervisors the unassigned ones."""
        return assignee_id == self.officer_id or (assignee_id == 0 and self.is_supervisor)


def may_be_alerted(
    session: Session, audiences: Iterable[Audience]
) -> dict[Audience, list[Recipient]]:
    """For each audience, the officers who may be told of activity in its cases: every
    active officer holding that unit key generation by a grant whose MAC holds (a
    deactivated officer's copy is deleted; their authenticated state is checked), or
    for a case's own audience, the active officers it is sealed to.
    THE rule for every alert."""
    wanted = sorted(set(audiences))
    found: dict[Audience, list[Recipient]] = {audience: [] for audience in wanted}
    if not wanted:
        return found
    apart = [-audience for audience in wanted if audience < 0]
    if apart:
        sealed = session.execute(
            select(CaseSeal.case_id, Officer, AlertPreference)
            .join(Officer, Officer.id == CaseSeal.holder_id)
            .outerjoin(AlertPreference, AlertPreference.officer_id == Officer.id)
            .where(
                CaseSeal.holder == "officer",
                CaseSeal.case_id.in_(apart),
                Officer.active.is_(True),
            )
            .order_by(Officer.id)
        )
        for case_id, officer, chosen in sealed:
            if keyring.state_holds(session, officer):
                found[-case_id].append(_recipient(session, officer, chosen))
        pending = session.execute(
            select(CaseSeal.case_id, CaseSeal.holder_id).where(
                CaseSeal.holder == "exclusion_group", CaseSeal.case_id.in_(apart)
            )
        ).all()
        groups = exclusion_group_members(session, {key_id for _case, key_id in pending})
        for case_id, key_id in pending:
            found[-case_id].extend(groups[key_id])
    rows = session.execute(
        select(UnitKeyGrant, Officer, AlertPreference)
        .join(Officer, Officer.id == UnitKeyGrant.officer_id)
        .outerjoin(AlertPreference, AlertPreference.officer_id == Officer.id)
        .where(UnitKeyGrant.unit_key_id.in_(wanted), Officer.active.is_(True))
        .order_by(Officer.id)
    )
    for grant, officer, chosen in rows:
        if not keyring.grant_holds(session, officer, grant):
            continue
        audience = grant.unit_key_id
        found[audience].append(_recipient(session, officer, chosen))
    return found


def exclusion_group_members(
    session: Session, exclusion_key_ids: Iterable[int]
) -> dict[int, list[Recipient]]:
    """For each exclusion key generation, the active officers holding it by a grant whose
    MAC holds: the audience of a pending case sealed to it, and of the urgent mark of a
    report with an exclusion. Never anyone by the unit key alone."""
    wanted = sorted(set(exclusion_key_ids))
    found: dict[int, list[Recipient]] = {key_id: [] for key_id in wanted}
    if not wanted:
        return found
    rows = session.execute(
        select(ExclusionKeyGrant, Officer, AlertPreference)
        .join(Officer, Officer.id == ExclusionKeyGrant.officer_id)
        .outerjoin(AlertPreference, AlertPreference.officer_id == Officer.id)
        .where(ExclusionKeyGrant.exclusion_key_id.in_(wanted), Officer.active.is_(True))
        .order_by(Officer.id)
    )
    for grant, officer, chosen in rows:
        if keyring.grant_holds(session, officer, grant):
            found[grant.exclusion_key_id].append(_recipient(session, officer, chosen))
    return found


def _recipient(session: Session, officer: Officer, chosen: AlertPreference | None) -> Recipient:
    return Recipient(
        officer.id, officer.email, roles.is_supervisor(session, officer), _preferences(chosen)
    )


def _preferences(row: AlertPreference | None) -> Preferences:
    if row is None:
        return Preferences()
    return Preferences(**{f.name: getattr(row, f.name) for f in fields(Preferences)})


def preferences_of(session: Session, officer_id: int) -> Preferences:
    """An officer's choices (the defaults until they choose)."""
    return _preferences(session.get(AlertPreference, officer_id))


def save_preferences(
    session: Session, officer: Officer, chosen: Preferences, now: datetime
) -> None:
    """Keep an officer's choices, audited (the action only)."""
    row = session.get(AlertPreference, officer.id)
    if row is None:
        row = AlertPreference(officer_id=officer.id)
        session.add(row)
    for f in fields(Preferences):
        setattr(row, f.name, getattr(chosen, f.name))
    session.flush()
    audit.record(session, officer.email, "officer.alerts_chosen", now)
