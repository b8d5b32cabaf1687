"""The audit log: officers' and operators' actions, chained so edits show.

Each entry's link is an HMAC, keyed from the instance config, over the
previous link, the entry's position and every field of the entry: altering,
removing or reordering an entry breaks every later link, and someone with the
database alone cannot recompute the chain. (Cutting off the newest entries is
only visible against a copy of the chain's head kept elsewhere.) Reporter
actions are never audited: that would timestamp them.

Checking the whole chain reads every entry (about a second per 100,000), too
slow for every view of the log. A full check is therefore done on request, in
batches, and recorded as an entry of its own (`VERIFIED`), whose link vouches
for what it says; a view of the log checks only the entries after the newest
such record (`chain_status`). A change made to an older entry after that check
shows at the next full check, and the log's page says so.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import datetime
from json.encoder import encode_basestring_ascii
from typing import Any

from sqlalchemy import Row, func, select, text
from sqlalchemy.orm import Session

from reportline.models import AuditEntry

GENESIS = bytes(32)
# The action under which a full check of the chain records what it found.
VERIFIED = "audit.verified"
# Entries a full check reads per transaction (each holds SQLite's write lock briefly).
CHECK_BATCH = 5_000
_APPEND_LOCK = 7277001
# An entry's canonical form is the JSON array json.dumps([id, at, actor, action,
# case_id, detail], separators=(",", ":"), ensure_ascii=True) writes; `_link` spells
# it out with the same C string encoder, at half the cost (a full check links every
# entry of the log).
_text = encode_basestring_ascii


def _audit_key(session: Session) -> bytes:
    key = session.info.get("audit_key")
    if not key:
        raise RuntimeError("this database session has no audit key (see db.make_sessionmaker)")
    return bytes(key)


def _link(
    key: bytes,
    prev_hash: bytes,
    entry_id: int,
    at: datetime,
    actor: str,
    action: str,
    case_id: int | None,
    detail: str,
) -> bytes:
    canonical = (
        f"[{int(entry_id)},{_text(at.isoformat())},{_text(actor)},{_text(action)},"
        f"{'null' if case_id is None else int(case_id)},{_text(detail)}]"
    )
    return hmac.digest(key, prev_hash + canonical.encode("ascii"), hashlib.sha256)


def _entry_hash(key: bytes, prev_hash: bytes, entry: AuditEntry) -> bytes:
    return _link(
        key, prev_hash, entry.id, entry.at, entry.actor, entry.action, entry.case_id, entry.detail
    )


def _lock_appends(session: Session) -> None:
    """Serialise appends so two transactions never chain to the same entry (PostgreSQL;
    SQLite's transactions hold its write lock from their start)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SELECT pg_advisory_xact_lock({_APPEND_LOCK})"))


def record(
    session: Session,
    actor: str,
    action: str,
    now: datetime,
    case_id: int | None = None,
    **detail: Any,
) -> AuditEntry:
    """Append an entry. `detail` must hold no report content (ids, statuses, counts only)."""
    _lock_appends(session)
    key = _audit_key(session)
    last = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).first()
    prev_hash = last.entry_hash if last else GENESIS
    entry = AuditEntry(
        id=(last.id + 1) if last else 1,
        at=now.replace(microsecond=0),
        actor=actor,
        action=action,
        case_id=case_id,
        detail=json.dumps(detail, sort_keys=True, separators=(",", ":")),
        prev_hash=prev_hash,
    )
    entry.entry_hash = _entry_hash(key, prev_hash, entry)
    session.add(entry)
    session.flush()
    return entry


# ---------------------------------------------------------------- checking the chain

# A row of these columns, as read for checking.
EntryRow = Row[int, datetime, str, str, int | None, str, bytes, bytes]

_COLUMNS = (
    AuditEntry.id,
    AuditEntry.at,
    AuditEntry.actor,
    AuditEntry.action,
    AuditEntry.case_id,
    AuditEntry.detail,
    AuditEntry.prev_hash,
    AuditEntry.entry_hash,
)


def _intact(key: bytes, prev_hash: bytes, row: EntryRow) -> bool:
    """Whether a row's stored link is the one its fields and `prev_hash` make."""
    entry_id, at, actor, action, case_id, detail, stored_prev, stored_link = row
    link = _link(key, prev_hash, entry_id, at, actor, action, case_id, detail)
    return hmac.compare_digest(stored_prev, prev_hash) and hmac.compare_digest(stored_link, link)


@dataclass
class ChainWalk:
    """A walk along the chain, oldest first, that can stop and go on (a full check
    commits between batches). `seen` counts the entries behind it, so the next one
    must have id `seen + 1`; `link` is the last one's stored link."""

    seen: int = 0
    link: bytes = GENESIS
    after: int = 0  # the last id read
    broken: list[int] = field(default_factory=list)

    def step(self, session: Session, limit: int, up_to: int | None = None) -> int:
        """Check up to `limit` more entries (only ids up to `up_to`, if given); return
        how many were read (fewer than `limit`: the end was reached)."""
        key = _audit_key(session)
        query = select(*_COLUMNS).where(AuditEntry.id > self.after)
        if up_to is not None:
            query = query.where(AuditEntry.id <= up_to)
        rows = session.execute(query.order_by(AuditEntry.id).limit(limit)).all()
        for row in rows:
            self.seen += 1
            if row.id != self.seen or not _intact(key, self.link, row):
                self.broken.append(row.id)
            self.link, self.after = row.entry_hash, row.id
        return len(rows)


def verify_chain(session: Session) -> list[int]:
    """Return the ids of entries whose link is broken (empty when the log is intact)."""
    walk = ChainWalk()
    while walk.step(session, CHECK_BATCH) == CHECK_BATCH:
        pass
    return walk.broken


def record_full_check(session: Session, actor: str, now: datetime, walk: ChainWalk) -> AuditEntry:
    """Finish a full check (a walk from the first entry, taken in batches) and record it.

    With appends locked, the entries added while it ran are checked too, so the
    record vouches for every entry before it: its `detail` says how many, how
    many were broken and the first of them.
    """
    _lock_appends(session)
    while walk.step(session, CHECK_BATCH) == CHECK_BATCH:
        pass
    return record(
        session,
        actor,
        VERIFIED,
        now,
        entries=walk.seen,
        broken=len(walk.broken),
        first_broken=walk.broken[0] if walk.broken else None,
    )


@dataclass(frozen=True)
class FullCheck:
    """A full check of the chain, as its own entry records it."""

    entry_id: int
    at: datetime
    actor: str
    entries: int  # entries 1 to `entries` were checked
    broken: int
    first_broken: int | None


@dataclass(frozen=True)
class ChainStatus:
    """What is known of the chain now: the last full check, and a check of the entries
    after it made for this view, from `checked_from` to `checked_to` (none if
    `checked_to < checked_from`). `first_broken` is the first broken entry that either
    found, or the record of a full check that fails its own link."""

    length: int
    last_full_check: FullCheck | None
    checked_from: int
    checked_to: int
    first_broken: int | None

    @property
    def broken(self) -> bool:
        """Whether a broken link was found."""
        return self.first_broken is not None

    @property
    def unchecked(self) -> int:
        """The newest entries that neither check has looked at."""
        return self.length - self.checked_to

    @property
    def checked_now(self) -> int:
        """How many entries were checked for this view."""
        return max(0, self.checked_to - self.checked_from + 1)


def _last_full_check(session: Session) -> EntryRow | None:
    return session.execute(
        select(*_COLUMNS)
        .where(AuditEntry.action == VERIFIED)
        .order_by(AuditEntry.id.desc())
        .limit(1)
    ).first()


def chain_status(session: Session, limit: int) -> ChainStatus:
    """The newest full check and a check of up to `limit` entries after it.

    The record of a full check is trusted only if its own link holds (one HMAC:
    nobody without the instance config can forge one), and the walk starts from
    it. Without one, the walk starts at the first entry.
    """
    key = _audit_key(session)
    length = session.scalar(select(func.max(AuditEntry.id))) or 0
    walk = ChainWalk()
    full: FullCheck | None = None
    row = _last_full_check(session)
    if row is not None:
        if not _intact(key, row.prev_hash, row):
            return ChainStatus(length, None, row.id, row.id, row.id)
        found = json.loads(row.detail)
        full = FullCheck(
            row.id, row.at, row.actor, found["entries"], found["broken"], found["first_broken"]
        )
        if full.first_broken is not None:
            return ChainStatus(length, full, row.id + 1, row.id, full.first_broken)
        walk = ChainWalk(seen=row.id, link=row.entry_hash, after=row.id)
    start = walk.after + 1
    walk.step(session, limit, up_to=length)
    return ChainStatus(length, full, start, walk.after, walk.broken[0] if walk.broken else None)


# ---------------------------------------------------------------- reading the log


@dataclass(frozen=True)
class EntryFilter:
    """Which entries to list: by whom (`actor`, as recorded), what and about which case."""

    actor: str | None = None
    action: str | None = None
    case_id: int | None = None

    def conditions(self) -> list[Any]:
        """SQL conditions, each served by an index that ends in the entry id."""
        where = []
        if self.actor is not None:
            where.append(AuditEntry.actor == self.actor)
        if self.action is not None:
            where.append(AuditEntry.action == self.action)
        if self.case_id is not None:
            where.append(AuditEntry.case_id == self.case_id)
        return where


@dataclass(frozen=True)
class EntryPage:
    """Entries newest first, and where the pages beside this one start: pass `newer` as
    `after`, `older` as `before` (None: there are none)."""

    entries: list[AuditEntry]
    newer: int | None
    older: int | None


def _any(session: Session, *where: Any) -> bool:
    return session.scalar(select(AuditEntry.id).where(*where).limit(1)) is not None


def entry_page(
    session: Session,
    filters: EntryFilter,
    size: int,
    before: int | None = None,
    after: int | None = None,
) -> EntryPage:
    """Up to `size` matching entries, newest first: the newest, those just older than
    entry `before`, or those just newer than entry `after`.

    Pages start from an entry id rather than a count of rows, so a page reads only
    its own entries however deep it is, and entries appended meanwhile do not move
    what the next page holds.
    """
    where = filters.conditions()
    if after is not None:
        rows = list(
            session.scalars(
                select(AuditEntry)
                .where(*where, AuditEntry.id > after)
                .order_by(AuditEntry.id)
                .limit(size + 1)
            )
        )
        has_newer = len(rows) > size
        entries = rows[:size][::-1]
        has_older = _any(session, *where, AuditEntry.id <= after)
    else:
        bound = [AuditEntry.id < before] if before is not None else []
        rows = list(
            session.scalars(
                select(AuditEntry)
                .where(*where, *bound)
                .order_by(AuditEntry.id.desc())
                .limit(size + 1)
            )
        )
        has_older = len(rows) > size
        entries = rows[:size]
        has_newer = before is not None and _any(session, *where, AuditEntry.id >= before)
    return EntryPage(
        entries,
        newer=(entries[0].id if entries else (before or 0) - 1) if has_newer else None,
        older=(entries[-1].id if entries else (after or 0) + 1) if has_older else None,
    )
