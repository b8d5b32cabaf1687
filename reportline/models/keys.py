"""The unit key ("the key"), who holds it, and the offline recovery key."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from reportline.db import Base


class UnitKey(Base):
    """A generation of the unit key pair. Reports are sealed to the active one."""

    __tablename__ = "unit_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    fingerprint: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]


class RecoveryKey(Base):
    """The public half of the recovery key; its private half is offline."""

    __tablename__ = "recovery_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    fingerprint: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]


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
    granted_at: Mapped[datetime]
    granted_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("officers.id", ondelete="SET NULL")
    )
