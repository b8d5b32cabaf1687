"""the default queue view also lists closed cases with unread replies

The officers' default view lists open cases and closed cases with unread
reporter replies. `ix_cases_queue` gains `unread_by_unit` so that view still
pages through the index alone, and a partial index holds just the closed cases
with unread replies (by status) so they are counted without scanning every
closed case.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 14:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HAS_UNREAD = "unread_by_unit > 0"


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_queue')
        batch_op.create_index(
            'ix_cases_queue', ['received_on', 'id', 'status', 'unread_by_unit'], unique=False
        )
        batch_op.create_index(
            'ix_cases_unread',
            ['status', 'unread_by_unit'],
            unique=False,
            sqlite_where=sa.text(HAS_UNREAD),
            postgresql_where=sa.text(HAS_UNREAD),
        )


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_unread')
        batch_op.drop_index('ix_cases_queue')
        batch_op.create_index('ix_cases_queue', ['received_on', 'id', 'status'], unique=False)
