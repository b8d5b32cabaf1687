"""the queue's counts by owner: an index from owner to status and unread replies

The counts above the queue ("mine", "unassigned") and the total of a view
filtered by owner count the open cases of one owner, and that owner's closed
cases with unread replies. `ix_cases_assignee` is in date order for paging,
so counting from it walks every case the owner ever had (for "unassigned",
often most of the archive); this index holds each owner's cases by status, so
each count is a narrow range.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 17:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index(
            'ix_cases_owner_status',
            ['assignee_id', 'status', 'unread_by_unit', 'id'],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_owner_status')
