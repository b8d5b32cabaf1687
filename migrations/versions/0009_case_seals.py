"""case seals: each case secret in a narrow table of its own; key rotations

- `case_seals`: a case secret sealed to one holder (so far a unit key
  generation), moved here from `cases.sealed_case_secret`; a rotation
  re-seals these rows without rewriting case rows. Associated data is
  unchanged (`case-key|case=C|unit_key=U`), so rows move as they are.
- `cases.sealed_case_secret` goes; `cases.unit_key_id` stays, meaning the
  generation the case arrived under (its state MAC covers it).
- `key_rotations`: a unit key rotation, unfinished until `finished_at`.
- `unit_keys` gains `retired_at` and an index on `fingerprint`;
  `recovery_keys` gains `verified_at` and `retired_at`.

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-03 07:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "case_seals",
        sa.Column("case_id", BIGINT, autoincrement=False, nullable=False),
        sa.Column("holder", sa.String(length=16), nullable=False),
        sa.Column("holder_id", BIGINT, autoincrement=False, nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint(
            "holder IN ('unit_key', 'officer', 'recovery', 'exclusion_group')",
            name=op.f("ck_case_seals_holder"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_seals_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("case_id", "holder", "holder_id", name=op.f("pk_case_seals")),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_case_seals_holder", "case_seals", ["holder", "holder_id", "case_id"], unique=False
    )
    op.execute(
        "INSERT INTO case_seals (case_id, holder, holder_id, sealed) "
        "SELECT id, 'unit_key', unit_key_id, sealed_case_secret FROM cases"
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("sealed_case_secret")
    op.create_table(
        "key_rotations",
        sa.Column("id", BIGINT, nullable=False),
        sa.Column("from_unit_key_id", BIGINT, nullable=False),
        sa.Column("to_unit_key_id", BIGINT, nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("total", BIGINT, nullable=False),
        sa.ForeignKeyConstraint(
            ["from_unit_key_id"],
            ["unit_keys.id"],
            name=op.f("fk_key_rotations_from_unit_key_id_unit_keys"),
        ),
        sa.ForeignKeyConstraint(
            ["to_unit_key_id"],
            ["unit_keys.id"],
            name=op.f("fk_key_rotations_to_unit_key_id_unit_keys"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_rotations")),
    )
    with op.batch_alter_table("unit_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retired_at", sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_unit_keys_fingerprint"), ["fingerprint"], unique=False)
    with op.batch_alter_table("recovery_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("verified_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("retired_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recovery_keys", schema=None) as batch_op:
        batch_op.drop_column("retired_at")
        batch_op.drop_column("verified_at")
    with op.batch_alter_table("unit_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_unit_keys_fingerprint"))
        batch_op.drop_column("retired_at")
    op.drop_table("key_rotations")
    # The old schema holds one seal per case, to the generation `unit_key_id` names.
    # A case rotated since keeps its newest seal and names that generation; its state
    # MAC (which covers `unit_key_id`) then flags it, so rotate only forwards.
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sealed_case_secret", sa.LargeBinary(), nullable=True))
    op.execute(
        "UPDATE cases SET unit_key_id = (SELECT max(holder_id) FROM case_seals "
        "WHERE case_seals.case_id = cases.id AND holder = 'unit_key') "
        "WHERE NOT EXISTS (SELECT 1 FROM case_seals WHERE case_seals.case_id = cases.id "
        "AND holder = 'unit_key' AND holder_id = cases.unit_key_id)"
    )
    op.execute(
        "UPDATE cases SET sealed_case_secret = (SELECT sealed FROM case_seals "
        "WHERE case_seals.case_id = cases.id AND holder = 'unit_key' "
        "AND holder_id = cases.unit_key_id)"
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.alter_column("sealed_case_secret", existing_type=sa.LargeBinary(), nullable=False)
    op.drop_index("ix_case_seals_holder", table_name="case_seals")
    op.drop_table("case_seals")
