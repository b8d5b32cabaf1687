"""alerts: preferences, urgent marks, pending alerts, watermarks and batches

- `alert_preferences`: what each officer is sent (no row: everything).
- `urgent_marks`: a report that says someone is at risk now awaits the urgent
  batch; a random id, the unit key generation it is sealed to and its quarter
  hour, no case; on SQLite without rowid.
- `pending_alerts`: per officer, the counts and flags awaiting a mail, with
  the lease a sender holds while the mail server answers.
- `alert_watermarks`: how many reports and reporter replies of each group were
  counted on the last counted day.
- `alert_batches`: the latest batch of each kind, claimed under a row lock.
- `messages` gains `ix_messages_reporter_sent`, reporters' replies by day.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-09 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
FROM_REPORTER = "author = 'reporter'"


def upgrade() -> None:
    op.create_table(
        'alert_preferences',
        sa.Column('officer_id', BIGINT, autoincrement=False, nullable=False),
        sa.Column('new_reports', sa.Boolean(), nullable=False),
        sa.Column('replies', sa.Boolean(), nullable=False),
        sa.Column('deadlines', sa.Boolean(), nullable=False),
        sa.Column('urgent', sa.Boolean(), nullable=False),
        sa.Column('daily_digest', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ['officer_id'],
            ['officers.id'],
            name=op.f('fk_alert_preferences_officer_id_officers'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('officer_id', name=op.f('pk_alert_preferences')),
    )
    op.create_table(
        'urgent_marks',
        sa.Column('id', BIGINT, autoincrement=False, nullable=False),
        sa.Column('unit_key_id', BIGINT, nullable=False),
        sa.Column('quarter', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ['unit_key_id'], ['unit_keys.id'], name=op.f('fk_urgent_marks_unit_key_id_unit_keys')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_urgent_marks')),
        sqlite_with_rowid=False,
    )
    op.create_table(
        'pending_alerts',
        sa.Column('officer_id', BIGINT, autoincrement=False, nullable=False),
        sa.Column('new_reports', BIGINT, nullable=False),
        sa.Column('new_replies', BIGINT, nullable=False),
        sa.Column('deadlines', sa.Boolean(), nullable=False),
        sa.Column('urgent', BIGINT, nullable=False),
        sa.Column('digest_due', sa.Boolean(), nullable=False),
        sa.Column('last_urgent', sa.DateTime(), nullable=True),
        sa.Column('lease', sa.LargeBinary(length=16), nullable=True),
        sa.Column('leased_until', sa.DateTime(), nullable=True),
        sa.Column('failures', BIGINT, nullable=False),
        sa.ForeignKeyConstraint(
            ['officer_id'],
            ['officers.id'],
            name=op.f('fk_pending_alerts_officer_id_officers'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('officer_id', name=op.f('pk_pending_alerts')),
    )
    op.create_table(
        'alert_watermarks',
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('unit_key_id', BIGINT, autoincrement=False, nullable=False),
        sa.Column('assignee_id', BIGINT, autoincrement=False, nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('seen', BIGINT, nullable=False),
        sa.CheckConstraint(
            "kind IN ('report', 'reply')", name=op.f('ck_alert_watermarks_kind')
        ),
        sa.PrimaryKeyConstraint(
            'kind', 'unit_key_id', 'assignee_id', name=op.f('pk_alert_watermarks')
        ),
    )
    op.create_table(
        'alert_batches',
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('slot', sa.DateTime(), nullable=True),
        sa.Column('counted_on', sa.Date(), nullable=True),
        sa.Column('sent_at', sa.DateTime(), nullable=True),
        sa.Column('mails_sent', BIGINT, nullable=False),
        sa.Column('mails_failed', BIGINT, nullable=False),
        sa.Column('failed_at', sa.DateTime(), nullable=True),
        sa.Column('failure', sa.String(length=40), nullable=True),
        sa.CheckConstraint(
            "kind IN ('regular', 'digest', 'urgent')", name=op.f('ck_alert_batches_kind')
        ),
        sa.PrimaryKeyConstraint('kind', name=op.f('pk_alert_batches')),
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index(
            'ix_messages_reporter_sent',
            ['sent_on', 'case_id'],
            unique=False,
            sqlite_where=sa.text(FROM_REPORTER),
            postgresql_where=sa.text(FROM_REPORTER),
        )


def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_reporter_sent')
    op.drop_table('alert_batches')
    op.drop_table('alert_watermarks')
    op.drop_table('pending_alerts')
    op.drop_table('urgent_marks')
    op.drop_table('alert_preferences')
