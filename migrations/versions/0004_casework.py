"""casework: priority, owner and deadlines in clear; the sealed triage record and notes

- `cases` gains the workflow facts the queue filters and sorts on: `priority`
  (a rank, 9 = not set), `assignee_id` and `assignee_declared_on` (the owner's
  declaration of no conflict of interest), `feedback_given_on`, `due_on` (the
  next deadline), and the counts of triage record versions and notes, with an
  index for each way the queue pages.
- `triage_records`: every version of a case's sealed triage record.
- `notes`: internal notes, sealed; a correction is a new row.
- `triage_index`: per unit key generation, the sealed blob the queue filters
  national categories and risk flags from.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 15:00:00
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import date, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
HAS_DUE = "due_on IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('priority', BIGINT, server_default='9', nullable=False))
        batch_op.add_column(sa.Column('assignee_id', BIGINT, nullable=True))
        batch_op.add_column(sa.Column('assignee_declared_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('feedback_given_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('due_on', sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column('triage_version', BIGINT, server_default='0', nullable=False)
        )
        batch_op.add_column(sa.Column('note_count', BIGINT, server_default='0', nullable=False))
        batch_op.create_foreign_key(
            batch_op.f('fk_cases_assignee_id_officers'), 'officers', ['assignee_id'], ['id']
        )
        batch_op.create_index(
            'ix_cases_assignee', ['assignee_id', 'received_on', 'id', 'status'], unique=False
        )
        batch_op.create_index(
            'ix_cases_due',
            ['due_on', 'id', 'status'],
            unique=False,
            sqlite_where=sa.text(HAS_DUE),
            postgresql_where=sa.text(HAS_DUE),
        )
        batch_op.create_index(
            'ix_cases_priority', ['priority', 'received_on', 'id', 'status'], unique=False
        )
    _set_deadlines()
    op.create_table(
        'triage_records',
        sa.Column('case_id', BIGINT, nullable=False),
        sa.Column('version', BIGINT, autoincrement=False, nullable=False),
        sa.Column('officer_id', BIGINT, nullable=False),
        sa.Column('recorded_at', sa.DateTime(), nullable=False),
        sa.Column('sealed', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ['case_id'], ['cases.id'], name=op.f('fk_triage_records_case_id_cases'),
            ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['officer_id'], ['officers.id'], name=op.f('fk_triage_records_officer_id_officers')
        ),
        sa.PrimaryKeyConstraint('case_id', 'version', name=op.f('pk_triage_records')),
    )
    op.create_table(
        'notes',
        sa.Column('id', BIGINT, autoincrement=False, nullable=False),
        sa.Column('case_id', BIGINT, nullable=False),
        sa.Column('seq', BIGINT, nullable=False),
        sa.Column('officer_id', BIGINT, nullable=False),
        sa.Column('written_at', sa.DateTime(), nullable=False),
        sa.Column('corrects', BIGINT, nullable=True),
        sa.Column('body', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ['case_id'], ['cases.id'], name=op.f('fk_notes_case_id_cases'), ondelete='CASCADE'
        ),
        sa.ForeignKeyConstraint(
            ['officer_id'], ['officers.id'], name=op.f('fk_notes_officer_id_officers')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notes')),
        sa.UniqueConstraint('case_id', 'seq', name='uq_notes_case_seq'),
    )
    with op.batch_alter_table('notes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notes_case_id'), ['case_id'], unique=False)
    op.create_table(
        'triage_index',
        sa.Column('unit_key_id', BIGINT, autoincrement=False, nullable=False),
        sa.Column('sealed', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ['unit_key_id'], ['unit_keys.id'], name=op.f('fk_triage_index_unit_key_id_unit_keys')
        ),
        sa.PrimaryKeyConstraint('unit_key_id', name=op.f('pk_triage_index')),
    )


def _add_months(day: date, months: int) -> date:
    """The same day `months` later, clamped to the end of a shorter month (as the app's
    deadlines, frozen here as they were when this revision was written)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _set_deadlines() -> None:
    """Every open case has a next deadline: acknowledge within 7 days of receipt, then
    feedback within 3 months of acknowledgement (none has feedback recorded yet)."""
    connection = op.get_bind()
    cases = sa.table(
        'cases',
        sa.column('id', BIGINT),
        sa.column('status', sa.String),
        sa.column('received_on', sa.Date),
        sa.column('acknowledged_on', sa.Date),
        sa.column('due_on', sa.Date),
    )
    rows = connection.execute(
        sa.select(cases.c.id, cases.c.received_on, cases.c.acknowledged_on).where(
            cases.c.status != 'closed'
        )
    ).all()
    for case_id, received_on, acknowledged_on in rows:
        due = (
            _add_months(acknowledged_on, 3)
            if acknowledged_on
            else received_on + timedelta(days=7)
        )
        connection.execute(sa.update(cases).where(cases.c.id == case_id).values(due_on=due))


def downgrade() -> None:
    op.drop_table('triage_index')
    with op.batch_alter_table('notes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notes_case_id'))
    op.drop_table('notes')
    op.drop_table('triage_records')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_priority')
        batch_op.drop_index('ix_cases_due')
        batch_op.drop_index('ix_cases_assignee')
        batch_op.drop_constraint(batch_op.f('fk_cases_assignee_id_officers'), type_='foreignkey')
        batch_op.drop_column('note_count')
        batch_op.drop_column('triage_version')
        batch_op.drop_column('due_on')
        batch_op.drop_column('feedback_given_on')
        batch_op.drop_column('assignee_declared_on')
        batch_op.drop_column('assignee_id')
        batch_op.drop_column('priority')
