"""A supervisor's decisions on flood-marked reports (`services.flood`): release, close, delete.

Each acts on cases one by one, checks each case with the unit key first (a case
whose flood mark or status was changed in the database is refused, so a
genuine report cannot be deleted by planting a mark), and audits each case on
its own entry.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from reportline.models import Case, Officer
from reportline.services import audit, cases, ledger, restriction, triage
from reportline.services.errors import NotFound, ServiceError
from reportline.services.keyring import UnitKeyring

FLOOD_CLOSE_REASON = "Closed by a supervisor as part of a flood of reports."


def _flood_case(session: Session, keyring: UnitKeyring, case_id: int) -> Case:
    """A flood-marked case, locked, its state checked with the case key."""
    case = cases.get_case(session, case_id, for_update=True)
    if not case.possible_flood or restriction.hidden_from(session, case.id, keyring):
        raise NotFound("not a flood-marked case")
    triage.intact_keys(session, case, keyring)  # refuses a case that failed a check
    return case


def _lock_in_order(session: Session, case_ids: Iterable[int]) -> list[int]:
    """Lock every selected case, in id order, before touching any: a writer locks one
    case and then the ledger, so taking them one by one could deadlock with it."""
    ids = sorted(set(case_ids))
    session.scalars(select(Case.id).where(Case.id.in_(ids)).order_by(Case.id).with_for_update())
    return ids


def release(
    session: Session, keyring: UnitKeyring, case_ids: Iterable[int], by: Officer, now: datetime
) -> int:
    """A supervisor judged these genuine: they join the queue. Returns how many."""
    released = 0
    for case_id in _lock_in_order(session, case_ids):
        case = _flood_case(session, keyring, case_id)
        secret = cases.open_case_secret(case, keyring)
        case.possible_flood = False
        cases.seal_state(case, secret.mac_key())
        audit.record(session, by.email, "case.flood_mark_removed", now, case_id=case.id)
        released += 1
    session.flush()
    return released


def close(
    session: Session, keyring: UnitKeyring, case_ids: Iterable[int], by: Officer, now: datetime
) -> int:
    """A supervisor judged these junk: each is closed with a recorded reason (it stays
    in the flood group). Returns how many; cases already closed are left alone."""
    closed = 0
    for case_id in _lock_in_order(session, case_ids):
        case = _flood_case(session, keyring, case_id)
        if case.status == "closed":
            continue
        triage.change_status(session, keyring, case.id, "closed", FLOOD_CLOSE_REASON, by, now)
        closed += 1
    return closed


def delete(
    session: Session, keyring: UnitKeyring, case_ids: Iterable[int], by: Officer, now: datetime
) -> int:
    """Remove closed flood-marked cases for good (their space counts against the
    ceiling). Anything else is refused. Each deletion is audited. Returns how many."""
    deleted = 0
    for case_id in _lock_in_order(session, case_ids):
        case = _flood_case(session, keyring, case_id)
        if case.status != "closed":
            raise ServiceError("only a closed flood-marked case can be deleted; close it first")
        ledger.adjust(session, before=ledger.needs_attention(case), after=False)
        session.delete(case)
        audit.record(session, by.email, "case.deleted", now, case_id=case_id, reason="flood")
        deleted += 1
    session.flush()
    return deleted
