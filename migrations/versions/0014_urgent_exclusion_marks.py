"""urgent marks of reports with an exclusion: their audience is the exclusion group

- `urgent_marks.exclusion_key_id`: the exclusion key generation an at-risk report
  with an exclusion is sealed to, so its urgent alert calls that group's members
  and never the whole unit. `unit_key_id` becomes nullable; a CHECK keeps exactly
  one of the two. The table stays without rowid on SQLite.

Downgrading deletes the marks of reports with an exclusion: the old schema can only
name a unit key, and calling the whole unit would tell those the reporter asked to
keep out. Their urgent alert is lost (the group still sees the report in its queue).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 14:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# SQLite's batch mode copies the table; the copy must keep no insertion order either.
KEEP_NO_ROWID = {"sqlite_with_rowid": False}


def upgrade() -> None:
    with op.batch_alter_table("urgent_marks", table_kwargs=KEEP_NO_ROWID) as batch_op:
        batch_op.add_column(sa.Column("exclusion_key_id", BIGINT, nullable=True))
        batch_op.alter_column("unit_key_id", existing_type=BIGINT, nullable=True)
        batch_op.create_foreign_key(
            batch_op.f("fk_urgent_marks_exclusion_key_id_exclusion_keys"),
            "exclusion_keys",
            ["exclusion_key_id"],
            ["id"],
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_urgent_marks_one_audience"),
            "(unit_key_id IS NULL) <> (exclusion_key_id IS NULL)",
        )


def downgrade() -> None:
    op.execute("DELETE FROM urgent_marks WHERE unit_key_id IS NULL")
    with op.batch_alter_table("urgent_marks", table_kwargs=KEEP_NO_ROWID) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_urgent_marks_one_audience"), type_="check")
        batch_op.drop_constraint(
            batch_op.f("fk_urgent_marks_exclusion_key_id_exclusion_keys"), type_="foreignkey"
        )
        batch_op.alter_column("unit_key_id", existing_type=BIGINT, nullable=False)
        batch_op.drop_column("exclusion_key_id")
