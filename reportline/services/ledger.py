"""The queue ledger: a MAC'd count of the cases that need the unit's attention.

A case needs attention while it is open or holds reporter replies no officer
has read: the default queue view and its flood group list exactly these. A
database writer could take a case out of that view by editing its status; the
case's own state MAC would then fail, but only where the case is shown, and
it is no longer shown. So every change that moves a case into or out of the
set also moves this count, under a MAC keyed from the instance config, in the
same transaction; the default view compares the count with what it finds and
says when they differ. Checking costs two index counts, whatever the size of
the archive of closed cases.

What it cannot see: a writer who also restores an older copy of this row,
from a moment when the set held exactly the cases it holds now. That is
as much as deleting the case outright, which a database writer can always do
(docs/security.md).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import Enum
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from reportline.crypto.context import context
from reportline.models import Case, QueueLedger

LEDGER_ID = 1


class LedgerState(Enum):
    """What comparing the ledger with the queue found."""

    AGREES = "agrees"
    CASES_MISSING = "cases have left the queue without a recorded decision"
    UNEXPECTED_CASES = "the queue holds cases the ledger never counted"
    ALTERED = "the ledger itself was altered"
    ABSENT = "the ledger is missing"


@dataclass(frozen=True)
class LedgerCheck:
    """The ledger's state, and how many cases it counts against how many were found."""

    state: LedgerState
    counted: int | None
    found: int

    @property
    def difference(self) -> int:
        """Cases counted but not found (negative: found but not counted)."""
        return (self.counted or 0) - self.found


def needs_attention(case: Case) -> bool:
    """Whether a case belongs in the default queue view or its flood group."""
    return case.status != "closed" or case.unread_by_unit > 0


def _key(session: Session) -> bytes:
    key = session.info.get("ledger_key")
    if not key:
        raise RuntimeError("this database session has no ledger key (see db.make_sessionmaker)")
    return bytes(key)


def _mac(key: bytes, count: int) -> bytes:
    return hmac.new(key, context("queue-ledger", attention=count), hashlib.sha256).digest()


def _intact(key: bytes, row: QueueLedger) -> bool:
    return hmac.compare_digest(row.mac, _mac(key, row.attention))


def start(session: Session, count: int = 0) -> None:
    """Create the ledger (at `init`, or when a supervisor recounts after a warning)."""
    key = _key(session)
    row = session.get(QueueLedger, LEDGER_ID, with_for_update=True)
    if row is None:
        session.add(QueueLedger(id=LEDGER_ID, attention=count, mac=_mac(key, count)))
    else:
        row.attention, row.mac = count, _mac(key, count)
    session.flush()


def adjust(session: Session, before: bool, after: bool) -> None:
    """Record that a case moved into (False -> True) or out of the set; call it in the
    transaction that moves the case. A missing or altered ledger is left as found, so
    the queue keeps saying so (counting on from a forged value would launder it)."""
    if before == after:
        return
    key = _key(session)
    step = 1 if after else -1
    # Usually one statement: move the count on from the value this process last wrote,
    # only if the row still holds exactly that count and its MAC. A row that matches
    # is intact whatever the remembered value was, so a stale one costs a statement,
    # never a wrong count; the row is locked from then until commit, like FOR UPDATE.
    seen = _last_written
    if seen is not None and _write(session, key, *seen, seen[0] + step):
        return
    row = session.get(QueueLedger, LEDGER_ID, with_for_update=True, populate_existing=True)
    if row is None or not _intact(key, row):
        return
    if not _write(session, key, row.attention, row.mac, row.attention + step):
        raise RuntimeError("the queue ledger changed under its row lock")
    session.expire(row)


# (count, MAC) this process last wrote: a guess at the row, checked by `_write`.
_last_written: tuple[int, bytes] | None = None
_LEDGER = cast(Table, QueueLedger.__table__)
_MOVE = (
    update(_LEDGER)
    .where(
        _LEDGER.c.id == LEDGER_ID,
        _LEDGER.c.attention == bindparam("old_count"),
        _LEDGER.c.mac == bindparam("old_mac"),
    )
    .values(attention=bindparam("new_count"), mac=bindparam("new_mac"))
    .returning(_LEDGER.c.id)
)


def _write(session: Session, key: bytes, count: int, mac: bytes, new_count: int) -> bool:
    """Set the ledger to `new_count` if it holds `count` and `mac`; return whether it did."""
    global _last_written
    new_mac = _mac(key, new_count)
    moved = session.execute(
        _MOVE, {"old_count": count, "old_mac": mac, "new_count": new_count, "new_mac": new_mac}
    ).first()
    if moved is not None:
        _last_written = (new_count, new_mac)
    return moved is not None


def ledger_columns() -> tuple[Any, Any]:
    """Scalar subqueries for the ledger's count and MAC, to read with other counts."""
    where = QueueLedger.id == LEDGER_ID
    return (
        select(QueueLedger.attention).where(where).scalar_subquery(),
        select(QueueLedger.mac).where(where).scalar_subquery(),
    )


def compare(session: Session, counted: int | None, mac: bytes | None, found: int) -> LedgerCheck:
    """The ledger's state given its stored count and MAC and what the queue found (read
    in one snapshot: `ledger_columns` beside the counts, PostgreSQL giving each
    statement its own)."""
    if counted is None or mac is None:
        return LedgerCheck(LedgerState.ABSENT, None, found)
    if not hmac.compare_digest(mac, _mac(_key(session), counted)):
        return LedgerCheck(LedgerState.ALTERED, None, found)
    if counted > found:
        return LedgerCheck(LedgerState.CASES_MISSING, counted, found)
    if counted < found:
        return LedgerCheck(LedgerState.UNEXPECTED_CASES, counted, found)
    return LedgerCheck(LedgerState.AGREES, counted, found)
