"""The unit key ("the key"), the exclusion group's key, who holds them, and the offline
recovery key."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from reportline.db import Base


class UnitKey(Base):
    """A generation of the unit key pair. Reports are sealed to the active one."""

    __tablename__ = "unit_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    # Submissions find the pinned key by it, one indexed row per report.
    fingerprint: Mapped[str] = mapped_column(String(16), index=True, unique=True)
    # False once retired by a rotation: nothing is sealed to it any more.
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]


class RecoveryKey(Base):
    """The public half of the recovery key; its private half is offline."""

    __tablename__ = "recovery_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    fingerprint: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    # The last `reportline keys verify-recovery` of this key.
    verified_at: Mapped[datetime | None]
    # Replaced by `keys new-recovery`: nothing new is sealed to it.
    retired_at: Mapped[datetime | None]


class UnitKeyGrant(Base):
    """The unit private key sealed to one holder: an officer or the recovery key."""

    __tablename__ = "unit_key_grants"
    __table_args__ = (
        CheckConstraint("(officer_id IS NULL) <> (recovery_key_id IS NULL)", name="one_holder"),
        UniqueConstraint("unit_key_id", "officer_id", name="uq_unit_key_grants_officer"),
        UniqueConstraint("unit_key_id", "recovery_key_id", name="uq_unit_key_grants_recovery"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_key_id: Mapped[int] = mapped_column(ForeignKey("unit_keys.id"), index=True)
    officer_id: Mapped[int | None] = mapped_column(
        ForeignKey("officers.id", ondelete="CASCADE"), index=True
    )
    recovery_key_id: Mapped[int | None] = mapped_column(ForeignKey("recovery_keys.id"))
    sealed_private_key: Mapped[bytes] = mapped_column(LargeBinary)
    # An officer's grant: HMAC under the instance integrity key over (officer, unit key,
    # SHA-256 of sealed_private_key, the officer's access epoch); null for the recovery key.
    mac: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    granted_at: Mapped[datetime]
    granted_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("officers.id", ondelete="SET NULL")
    )


class ExclusionKey(Base):
    """A generation of the exclusion group's key pair: a report whose reporter asked to keep
    someone in the unit out is sealed to the one pinned in the instance config
    (`exclusion_key_fingerprint`), never to the unit key (docs/crypto.md)."""

    __tablename__ = "exclusion_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    fingerprint: Mapped[str] = mapped_column(String(16), index=True, unique=True)
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]


class ExclusionKeyGrant(Base):
    """The exclusion group's private key sealed to one holder: a member (a supervisor)
    or the recovery key. An officer's grant carries a MAC as a unit key grant does."""

    __tablename__ = "exclusion_key_grants"
    __table_args__ = (
        CheckConstraint("(officer_id IS NULL) <> (recovery_key_id IS NULL)", name="one_holder"),
        UniqueConstraint("exclusion_key_id", "officer_id", name="uq_exclusion_key_grants_officer"),
        UniqueConstraint(
            "exclusion_key_id", "recovery_key_id", name="uq_exclusion_key_grants_recovery"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    exclusion_key_id: Mapped[int] = mapped_column(ForeignKey("exclusion_keys.id"), index=True)
    officer_id: Mapped[int | None] = mapped_column(
        ForeignKey("officers.id", ondelete="CASCADE"), index=True
    )
    recovery_key_id: Mapped[int | None] = mapped_column(ForeignKey("recovery_keys.id"))
    sealed_private_key: Mapped[bytes] = mapped_column(LargeBinary)
    # HMAC under the integrity key over (officer, exclusion key, SHA-256 of
    # sealed_private_key, the officer's access epoch); null for the recovery key.
    mac: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    granted_at: Mapped[datetime]
    granted_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("officers.id", ondelete="SET NULL")
    )


# Who a case secret may be sealed to: a unit key generation, an officer (a restricted
# case), the recovery key (a restricted case), an exclusion group key (docs/crypto.md).
SEAL_HOLDERS = ("unit_key", "officer", "recovery", "exclusion_group")


class CaseSeal(Base):
    """A case secret sealed to one holder; `holder_id` is the unit key generation's,
    officer's, recovery key's or exclusion group's id.

    A narrow table of its own, so a rotation re-seals without rewriting case rows.
    """

    __tablename__ = "case_seals"
    __table_args__ = (
        CheckConstraint(
            "holder IN ('unit_key', 'officer', 'recovery', 'exclusion_group')", name="holder"
        ),
        # The cases sealed to one holder: what a rotation walks.
        Index("ix_case_seals_holder", "holder", "holder_id", "case_id"),
        {"sqlite_with_rowid": False},
    )

    case_id: Mapped[int] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    holder: Mapped[str] = mapped_column(String(16), primary_key=True)
    holder_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)


class KeyRotation(Base):
    """A unit key rotation: unfinished while `finished_at` is null (it is then resumed)."""

    __tablename__ = "key_rotations"

    id: Mapped[int] = mapped_column(primary_key=True)
    from_unit_key_id: Mapped[int] = mapped_column(ForeignKey("unit_keys.id"))
    to_unit_key_id: Mapped[int] = mapped_column(ForeignKey("unit_keys.id"))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    # How many case seals were under the old key when it began: the progress bar's total.
    total: Mapped[int]


class ResealWaiting(Base):
    """A restricted case whose seal to an officer was lost with their key pair (a password
    reset): a supervisor who can read the case seals it to their new key. `mac` (under
    the integrity key, `integrity.reseal_waiting_mac`) stops a database writer listing a
    case as waiting for themselves; a row without one holds nothing."""

    __tablename__ = "reseal_waiting"
    __table_args__ = ({"sqlite_with_rowid": False},)

    case_id: Mapped[int] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    officer_id: Mapped[int] = mapped_column(
        ForeignKey("officers.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    since: Mapped[date]
    mac: Mapped[bytes | None] = mapped_column(LargeBinary(32))
