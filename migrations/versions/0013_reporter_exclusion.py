"""the reporter's exclusion: whether a case's reporter asked that someone not see it

- `cases.reporter_excluded`: true for a report whose reporter asked that someone
  in the unit not see it (it arrived 'pending', sealed to the exclusion group).
  Covered by the case's state MAC when true, so the follow-up page can tell the
  reporter what became of the request. Every existing case: false.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 12:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "cases",
        sa.Column("reporter_excluded", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("reporter_excluded")
