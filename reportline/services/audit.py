"""The audit log: officers' and operators' actions, hash-chained so edits show.

Each entry's hash covers the previous entry's hash and every field of the
entry, so altering, removing or reordering an entry breaks every later link.
Reporter actions are never audited: that would timestamp them.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from reportline.models import AuditEntry

GENESIS = bytes(32)


def _entry_hash(prev_hash: bytes, entry: AuditEntry) -> bytes:
    canonical = json.dumps(
        [entry.at.isoformat(), entry.actor, entry.action, entry.case_id, entry.detail],
        separators=(",", ":"),
        ensure_ascii=True,
    ).encode("ascii")
    return hashlib.sha256(prev_hash + canonical).digest()


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
    last = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).first()
    prev_hash = last.entry_hash if last else GENESIS
    entry = AuditEntry(
        at=now.replace(microsecond=0),
        actor=actor,
        action=action,
        case_id=case_id,
        detail=json.dumps(detail, sort_keys=True, separators=(",", ":")),
        prev_hash=prev_hash,
    )
    entry.entry_hash = _entry_hash(prev_hash, entry)
    session.add(entry)
    session.flush()
    return entry


def verify_chain(session: Session) -> list[int]:
    """Return the ids of entries whose link is broken (empty when the log is intact)."""
    broken: list[int] = []
    prev_hash = GENESIS
    for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.id)):
        if entry.prev_hash != prev_hash or entry.entry_hash != _entry_hash(prev_hash, entry):
            broken.append(entry.id)
        prev_hash = entry.entry_hash
    return broken
