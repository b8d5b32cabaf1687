"""restricted cases: who may read a case, and seals lost with a reset key pair

- `cases.access`: 'unit' (every case so far), 'restricted' (sealed to named
  officers and the recovery key, no unit key seal) or 'pending' (sealed to the
  exclusion group until a supervisor sets its access); a partial index holds
  the few cases that are not 'unit'.
- `reseal_waiting`: a restricted case whose seal to an officer was lost when
  their password was reset, until a supervisor re-seals it to their new key.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 07:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOT_UNIT = sa.text("access <> 'unit'")


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("access", sa.String(length=16), server_default="unit", nullable=False)
        )
        batch_op.create_check_constraint(
            "access", "access IN ('unit', 'restricted', 'pending')"
        )
    op.create_index(
        "ix_cases_not_unit",
        "cases",
        ["access", "id"],
        unique=False,
        sqlite_where=NOT_UNIT,
        postgresql_where=NOT_UNIT,
    )
    op.create_table(
        "reseal_waiting",
        sa.Column("case_id", BIGINT, autoincrement=False, nullable=False),
        sa.Column("officer_id", BIGINT, autoincrement=False, nullable=False),
        sa.Column("since", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_reseal_waiting_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["officer_id"],
            ["officers.id"],
            name=op.f("fk_reseal_waiting_officer_id_officers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("case_id", "officer_id", name=op.f("pk_reseal_waiting")),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    restricted = op.get_bind().execute(sa.text("SELECT count(*) FROM cases WHERE " + str(NOT_UNIT)))
    if restricted.scalar():
        raise RuntimeError(
            "restricted cases have no seal to the unit key, which revisions before 0011 "
            "need: lift every restriction before downgrading"
        )
    op.drop_table("reseal_waiting")
    op.drop_index(
        "ix_cases_not_unit", table_name="cases", sqlite_where=NOT_UNIT, postgresql_where=NOT_UNIT
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_cases_access"), type_="check")
        batch_op.drop_column("access")
