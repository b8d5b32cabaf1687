"""one form makes one report; floods are held apart; the queue keeps a MAC'd count

- `spent_forms`: each report form's one-time value, spent when its report is
  stored (a keyed hash under a unique key, dated to the day), with the receipt
  kept briefly, sealed under a key only the sending browser holds.
- `cases.possible_flood`: reports that arrived during a flood, held in the
  queue's flood group; `ix_cases_queue` gains the column so the default view
  still pages through the index alone, and `ix_cases_flood` holds the group.
- `queue_ledger`: the MAC'd count of cases that need the unit's attention.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 13:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IS_POSSIBLE_FLOOD = "possible_flood"
BIGINT = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'spent_forms',
        sa.Column('token_hash', sa.LargeBinary(length=32), nullable=False),
        sa.Column('spent_on', sa.Date(), nullable=False),
        sa.Column('sealed_receipt', sa.LargeBinary(), nullable=True),
        sa.Column('receipt_stale', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_spent_forms')),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table('spent_forms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spent_forms_spent_on'), ['spent_on'], unique=False)
    op.create_table(
        'queue_ledger',
        sa.Column('id', BIGINT, autoincrement=False, nullable=False),
        sa.Column('attention', BIGINT, nullable=False),
        sa.Column('mac', sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_queue_ledger')),
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('possible_flood', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.drop_index('ix_cases_queue')
        batch_op.create_index(
            'ix_cases_queue',
            ['received_on', 'id', 'status', 'unread_by_unit', 'possible_flood'],
            unique=False,
        )
        batch_op.create_index(
            'ix_cases_flood',
            ['received_on', 'id', 'status'],
            unique=False,
            sqlite_where=sa.text(IS_POSSIBLE_FLOOD),
            postgresql_where=sa.text(IS_POSSIBLE_FLOOD),
        )


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_flood')
        batch_op.drop_index('ix_cases_queue')
        batch_op.create_index(
            'ix_cases_queue', ['received_on', 'id', 'status', 'unread_by_unit'], unique=False
        )
        batch_op.drop_column('possible_flood')
    op.drop_table('queue_ledger')
    with op.batch_alter_table('spent_forms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_spent_forms_spent_on'))
    op.drop_table('spent_forms')
