"""the audit log's page: indexes for its filters

Supervisors read the audit log in the browser, newest first, filtered by
officer (`actor`), action and case. Each index ends in the entry id, so a
filtered page is read in order from its index, and the newest record of a
full check of the chain (action `audit.verified`) is found in one step.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.create_index('ix_audit_entries_actor', ['actor', 'id'], unique=False)
        batch_op.create_index('ix_audit_entries_action', ['action', 'id'], unique=False)
        batch_op.create_index('ix_audit_entries_case_id', ['case_id', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_entries_case_id')
        batch_op.drop_index('ix_audit_entries_action')
        batch_op.drop_index('ix_audit_entries_actor')
