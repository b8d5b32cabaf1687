"""Slowing down guessing: failed attempts per client, per account and overall.

Counters live in the database so every worker process and app server shares
them. After a number of free failures each further failure doubles the wait
(2 s, 4 s, 8 s ... up to a cap); attempts during the wait are refused before
any expensive work is done.

Clients are never identified by their address. An address is mapped to a
bucket by a keyed hash whose key is random, lives for one hour and is then
deleted. Reporter-side buckets are deliberately coarse (64 of them): on an
intranet of a few thousand machines each bucket holds dozens, so even someone
who copies the database and the hour's key within the hour cannot tell which
machine made a failed attempt; after the hour nobody can say which addresses
a bucket held. Stored times are whole minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from reportline.crypto.kdf import hkdf
from reportline.models import ThrottleBucket, ThrottleSalt
from reportline.services.errors import Throttled

WINDOW = timedelta(hours=1)
REPORTER_BUCKET_BITS = 6
OFFICER_BUCKET_BITS = 12
GLOBAL = "global"


def _hour(now: datetime) -> int:
    return int(now.replace(tzinfo=UTC).timestamp()) // 3600


def client_key(
    session: Session, purpose: str, address: str | None, now: datetime, bits: int
) -> str:
    """The throttle key of the client bucket (one of 2**bits) an address falls into this hour."""
    hour = _hour(now)
    session.execute(delete(ThrottleSalt).where(ThrottleSalt.hour < hour))
    salt_row = session.get(ThrottleSalt, hour)
    if salt_row is None:
        salt_row = _new_salt(session, hour)
    digest = hmac.new(salt_row.salt, (address or "").encode("utf-8"), hashlib.sha256).digest()
    bucket = int.from_bytes(digest[:2], "big") >> (16 - bits)
    # The hour is part of the key: when the salt changes, a bucket's delay stays with
    # that hour's bucket instead of passing to a new, random set of machines.
    return f"{purpose}:client:{hour:x}:{bucket:04x}"


def _new_salt(session: Session, hour: int) -> ThrottleSalt:
    """Create this hour's salt (another process may win the race)."""
    try:
        with session.begin_nested():
            session.add(ThrottleSalt(hour=hour, salt=secrets.token_bytes(32)))
    except IntegrityError:
        pass
    salt_row = session.get(ThrottleSalt, hour)
    if salt_row is None:  # inserted above by us or by a concurrent worker: cannot happen
        raise RuntimeError("throttle salt vanished")
    return salt_row


def account_key(purpose: str, account: str, pepper: bytes) -> str:
    """The throttle key for one account name (existing or not: both are throttled alike)."""
    key = hkdf(pepper, "throttle:account")
    digest = hmac.new(key, account.strip().lower().encode("utf-8"), hashlib.sha256)
    return f"{purpose}:account:{digest.hexdigest()[:24]}"


def global_key(purpose: str) -> str:
    """The throttle key shared by every client for one purpose."""
    return f"{purpose}:{GLOBAL}"


def check(session: Session, keys: list[str], now: datetime) -> None:
    """Raise Throttled if any of `keys` is still waiting out a delay."""
    wait = 0
    for bucket in session.scalars(select(ThrottleBucket).where(ThrottleBucket.key.in_(keys))):
        if bucket.next_allowed_at is not None and bucket.next_allowed_at > now:
            wait = max(wait, int((bucket.next_allowed_at - now).total_seconds()) + 1)
    if wait:
        raise Throttled(wait)


def failures(session: Session, key: str, now: datetime) -> int:
    """Failures counted against `key` in its current window (0 if none or expired)."""
    bucket = session.get(ThrottleBucket, key)
    if bucket is None or now - bucket.window_started_at > WINDOW:
        return 0
    return bucket.failures


def record_failure(
    session: Session, key: str, now: datetime, free_attempts: int, max_delay_seconds: int
) -> int:
    """Count a failure against `key` and set its next delay; return failures in the window."""
    minute = now.replace(second=0, microsecond=0)
    bucket = session.get(ThrottleBucket, key, with_for_update=True)
    if bucket is None:
        try:
            with session.begin_nested():
                session.add(ThrottleBucket(key=key, failures=0, window_started_at=minute))
        except IntegrityError:  # another worker created it first: use theirs
            pass
        bucket = session.get(ThrottleBucket, key, with_for_update=True, populate_existing=True)
        if bucket is None:  # inserted above by us or by a concurrent worker: cannot happen
            raise RuntimeError("throttle bucket vanished")
    elif now - bucket.window_started_at > WINDOW and (
        bucket.next_allowed_at is None or bucket.next_allowed_at <= now
    ):
        bucket.failures = 0
        bucket.window_started_at = minute
    bucket.failures += 1
    excess = bucket.failures - free_attempts
    if excess > 0:
        delay = min(2 ** min(excess, 20), max_delay_seconds)
        bucket.next_allowed_at = now + timedelta(seconds=delay)
    session.flush()
    return bucket.failures


def clear(session: Session, key: str) -> None:
    """Forget failures for `key` (after a success, or when a supervisor lifts a lockout)."""
    session.execute(delete(ThrottleBucket).where(ThrottleBucket.key == key))


def purge(session: Session, now: datetime) -> int:
    """Delete buckets whose window and delay are both over; return how many."""
    result = session.execute(
        delete(ThrottleBucket).where(
            ThrottleBucket.window_started_at < now - WINDOW,
            (ThrottleBucket.next_allowed_at.is_(None)) | (ThrottleBucket.next_allowed_at < now),
        )
    )
    session.execute(delete(ThrottleSalt).where(ThrottleSalt.hour < _hour(now)))
    return int(getattr(result, "rowcount", 0) or 0)
