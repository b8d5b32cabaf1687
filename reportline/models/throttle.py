"""Counters that slow down guessing, shared by every worker process."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from reportline.db import Base


class ThrottleBucket(Base):
    """Failed attempts for one key (a coarse client bucket, an account, or everyone)."""

    __tablename__ = "throttle_buckets"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[datetime]
    next_allowed_at: Mapped[datetime | None]


class ThrottleSalt(Base):
    """The random key that maps a client address to a bucket during one hour.

    Old salts are deleted, after which no bucket can be linked to an address.
    """

    __tablename__ = "throttle_salts"

    hour: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    salt: Mapped[bytes] = mapped_column(LargeBinary(32))
