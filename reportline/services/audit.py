"""The audit log: officers' and operators' actions, chained so edits show.

Each entry's link is an HMAC, keyed from the instance config, over the
previous link, the entry's position and every field of the entry: altering,
removing or reordering an entry breaks every later link, and someone with the
database alone cannot recompute the chain. (Cutting off the newest entries is
only visible against a copy of the chain's head kept elsewhere.) Reporter
actions are never audited: that would timestamp them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from reportline.models import AuditEntry

GENESIS = bytes(32)


def _audit_key(session: Session) -> bytes:
    key = session.info.get("audit_key")
    if not key:
        raise RuntimeError("this database session has no audit key (see db.make_sessionmaker)")
    return bytes(key)


def _entry_hash(key: bytes, prev_hash: bytes, entry: AuditEntry) -> bytes:
    canonical = json.dumps(
        [entry.id, entry.at.isoformat(), entry.actor, entry.action, entry.case_id, entry.detail],
        separators=(",", ":"),
        ensure_ascii=True,
    ).encode("ascii")
    return hmac.new(key, prev_hash + canonical, hashlib.sha256).digest()


def record(
    session: Session,
    actor: str,
    action: str,
    now: datetime,
    case_id: int | None = None,
    **detail: Any,
) -> AuditEntry:
    """Append an entry. `detail` must hold no report content (ids, statuses, counts only)."""
    if session.get_bind().dialect.name == "postgresql":
        # Serialise appends so two transactions never chain to the same entry.
        session.execute(text("SELECT pg_advisory_xact_lock(7277001)"))
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


def verify_chain(session: Session) -> list[int]:
    """Return the ids of entries whose link is broken (empty when the log is intact)."""
    key = _audit_key(session)
    broken: list[int] = []
    prev_hash = GENESIS
    for position, entry in enumerate(
        session.scalars(select(AuditEntry).order_by(AuditEntry.id)), start=1
    ):
        link = _entry_hash(key, prev_hash, entry)
        if entry.id != position or entry.prev_hash != prev_hash or entry.entry_hash != link:
            broken.append(entry.id)
        prev_hash = entry.entry_hash
    return broken
