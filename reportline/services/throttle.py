"""Slowing down officer password guessing: attempts per device, per account and per
coarse client bucket.

Counters live in the database so every worker process and app server shares
them. Each attempt is counted before its expensive work (`reserve`), and a
success is taken back; after a number of free attempts each further one
doubles the wait (2 s, 4 s, 8 s ... up to a cap), and attempts during the wait
are refused before any work is done. Reporters are never counted: a wrong
receipt costs a millisecond (`reportline.services.follow_up`).

Clients are never identified by their address. An address is mapped to one
of 4,096 buckets by a keyed hash whose key is random, lives for one hour and
is then deleted; after the hour nobody can say which addresses a bucket held.
Stored times are whole minutes but for the end of a delay.
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
OFFICER_BUCKET_BITS = 12


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


def reserve(session: Session, budgets: list[tuple[str, int, int]], now: datetime) -> list[int]:
    """Count an attempt against each (key, free attempts, longest delay) before its work.

    Every bucket is locked first and checked: if any is waiting out a delay, nothing
    is counted and Throttled is raised. Otherwise each counts one more attempt (and
    starts its next delay once past its free ones), so attempts racing in parallel
    use up the budget before, not after, their expensive work. A success is then
    forgiven (`forgive`). Returns the attempts counted per key, in order.
    """
    buckets = [_locked_bucket(session, key, now) for key, _free, _delay in budgets]
    check(session, [key for key, _free, _delay in budgets], now)
    counted = []
    for bucket, (_key, free_attempts, max_delay) in zip(buckets, budgets, strict=True):
        if now - bucket.window_started_at > WINDOW:
            bucket.failures = 0
            bucket.window_started_at = now.replace(second=0, microsecond=0)
        bucket.failures += 1
        excess = bucket.failures - free_attempts
        if excess > 0:
            bucket.next_allowed_at = now + timedelta(seconds=min(2 ** min(excess, 20), max_delay))
        counted.append(bucket.failures)
    session.flush()
    return counted


def forgive(session: Session, key: str, free_attempts: int) -> None:
    """Take back one counted attempt (it succeeded), lifting a delay it started."""
    bucket = session.get(ThrottleBucket, key, with_for_update=True)
    if bucket is None:
        return
    bucket.failures = max(0, bucket.failures - 1)
    if bucket.failures == 0:
        session.delete(bucket)  # nothing to remember
    elif bucket.failures <= free_attempts:
        bucket.next_allowed_at = None
    session.flush()


def _locked_bucket(session: Session, key: str, now: datetime) -> ThrottleBucket:
    """The bucket for `key`, locked, made if missing (another worker may win the race)."""
    bucket = session.get(ThrottleBucket, key, with_for_update=True)
    if bucket is None:
        try:
            with session.begin_nested():
                session.add(
                    ThrottleBucket(
                        key=key, failures=0, window_started_at=now.replace(second=0, microsecond=0)
                    )
                )
        except IntegrityError:  # another worker created it first: use theirs
            pass
        bucket = session.get(ThrottleBucket, key, with_for_update=True, populate_existing=True)
        if bucket is None:  # inserted above by us or by a concurrent worker: cannot happen
            raise RuntimeError("throttle bucket vanished")
    return bucket


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
