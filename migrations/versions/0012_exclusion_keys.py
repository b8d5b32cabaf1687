"""exclusion keys: the exclusion group's key pair and its grants

- `exclusion_keys`: generations of the exclusion group's key pair (public key,
  16-hex fingerprint, made and retired). Reports whose reporter asked to keep
  someone in the unit out are sealed to the one pinned in the instance config
  (`exclusion_key_fingerprint`).
- `exclusion_key_grants`: its private key sealed to a member (a supervisor),
  with a MAC as `unit_key_grants` has, or to the recovery key.

Nothing is made here: `reportline keys init-exclusion` makes the key pair of
an existing instance (migrations never read the instance config).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "exclusion_keys",
        sa.Column("id", BIGINT, nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("fingerprint", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("retired_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exclusion_keys")),
    )
    op.create_index(
        op.f("ix_exclusion_keys_fingerprint"), "exclusion_keys", ["fingerprint"], unique=False
    )
    op.create_table(
        "exclusion_key_grants",
        sa.Column("id", BIGINT, nullable=False),
        sa.Column("exclusion_key_id", BIGINT, nullable=False),
        sa.Column("officer_id", BIGINT, nullable=True),
        sa.Column("recovery_key_id", BIGINT, nullable=True),
        sa.Column("sealed_private_key", sa.LargeBinary(), nullable=False),
        sa.Column("mac", sa.LargeBinary(length=32), nullable=True),
        sa.Column("granted_at", sa.DateTime(), nullable=False),
        sa.Column("granted_by_id", BIGINT, nullable=True),
        sa.CheckConstraint(
            "(officer_id IS NULL) <> (recovery_key_id IS NULL)",
            name=op.f("ck_exclusion_key_grants_one_holder"),
        ),
        sa.ForeignKeyConstraint(
            ["exclusion_key_id"],
            ["exclusion_keys.id"],
            name=op.f("fk_exclusion_key_grants_exclusion_key_id_exclusion_keys"),
        ),
        sa.ForeignKeyConstraint(
            ["granted_by_id"],
            ["officers.id"],
            name=op.f("fk_exclusion_key_grants_granted_by_id_officers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["officer_id"],
            ["officers.id"],
            name=op.f("fk_exclusion_key_grants_officer_id_officers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recovery_key_id"],
            ["recovery_keys.id"],
            name=op.f("fk_exclusion_key_grants_recovery_key_id_recovery_keys"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exclusion_key_grants")),
        sa.UniqueConstraint(
            "exclusion_key_id", "officer_id", name="uq_exclusion_key_grants_officer"
        ),
        sa.UniqueConstraint(
            "exclusion_key_id", "recovery_key_id", name="uq_exclusion_key_grants_recovery"
        ),
    )
    op.create_index(
        op.f("ix_exclusion_key_grants_exclusion_key_id"),
        "exclusion_key_grants",
        ["exclusion_key_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_exclusion_key_grants_officer_id"),
        "exclusion_key_grants",
        ["officer_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_exclusion_key_grants_officer_id"), table_name="exclusion_key_grants")
    op.drop_index(
        op.f("ix_exclusion_key_grants_exclusion_key_id"), table_name="exclusion_key_grants"
    )
    op.drop_table("exclusion_key_grants")
    op.drop_index(op.f("ix_exclusion_keys_fingerprint"), table_name="exclusion_keys")
    op.drop_table("exclusion_keys")
