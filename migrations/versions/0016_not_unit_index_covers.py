"""the index of cases that are not the unit's covers what the queue reads of them

`ix_cases_not_unit` (access, id) becomes (access, id, status, unread_by_unit,
triage_version), still only over cases whose access is not 'unit' (few). Each
queue view reads the status and unread replies of the restricted cases hidden
from the viewer, and a sealed filter the record version of those it may read:
through the index, not the case rows (on SQLite, a without-rowid table whose
rows carry the sealed report: a thousand such reads took 25 ms).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 14:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOT_UNIT = sa.text("access <> 'unit'")


def _index(columns: list[str]) -> None:
    op.drop_index("ix_cases_not_unit", table_name="cases")
    op.create_index(
        "ix_cases_not_unit",
        "cases",
        columns,
        unique=False,
        sqlite_where=NOT_UNIT,
        postgresql_where=NOT_UNIT,
    )


def upgrade() -> None:
    _index(["access", "id", "status", "unread_by_unit", "triage_version"])


def downgrade() -> None:
    _index(["access", "id"])
