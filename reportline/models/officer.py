"""Officers: who may use the triage side, their wrapped keys and second factor."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from reportline.db import Base

ROLES = ("officer", "supervisor")


class Officer(Base):
    """A member of the unit. Keys are null until the officer has chosen a password."""

    __tablename__ = "officers"
    __table_args__ = (CheckConstraint("role IN ('officer', 'supervisor')", name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(default=True)
    public_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    # HMAC under the instance integrity key over (id, public key): nobody is
    # given the unit key sealed to a public key swapped in the database.
    key_mac: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    # HMAC under the same key over (id, role): a role written in the database
    # alone grants nothing (services.roles).
    role_mac: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    # Raised by every revoke, deactivation, reactivation and reset; HMAC under the same
    # key over (id, active, access_epoch): a grant counts only while its MAC names the
    # current epoch, so grants and `active` put back from a backup open nothing.
    access_epoch: Mapped[int] = mapped_column(default=0, server_default="0")
    state_mac: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    wrapped_private_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_seed_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_last_step: Mapped[int | None]
    locked: Mapped[bool] = mapped_column(default=False)
    created_on: Mapped[date]

    @property
    def has_keys(self) -> bool:
        """Whether the officer has chosen a password (and so has a key pair)."""
        return self.wrapped_private_key is not None


class RecoveryCode(Base):
    """A one-time second-factor recovery code, stored only as SHA-256."""

    __tablename__ = "recovery_codes"

    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    officer_id: Mapped[int] = mapped_column(
        ForeignKey("officers.id", ondelete="CASCADE"), index=True
    )


class EnrolmentInvite(Base):
    """A one-time link: a new officer's enrolment, or setting up a new second factor."""

    __tablename__ = "enrolment_invites"
    __table_args__ = (CheckConstraint("purpose IN ('enrol', 'reset')", name="purpose"),)

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    officer_id: Mapped[int] = mapped_column(
        ForeignKey("officers.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(8))
    expires_at: Mapped[datetime]
    # token_hash and this MAC are keyed with the instance integrity key: a link
    # planted in the database, or re-pointed at another officer, does not work.
    mac: Mapped[bytes] = mapped_column(LargeBinary(32))
