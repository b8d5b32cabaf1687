"""queue index also holds unread replies

The officers' default view lists open cases and closed cases with unread
reporter replies; with `unread_by_unit` in the index that view still pages
through the index alone.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 14:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_queue')
        batch_op.create_index(
            'ix_cases_queue', ['received_on', 'id', 'status', 'unread_by_unit'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_queue')
        batch_op.create_index('ix_cases_queue', ['received_on', 'id', 'status'], unique=False)
