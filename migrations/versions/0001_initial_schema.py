"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 11:56:34.313947
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('audit_entries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(length=254), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('entry_hash', sa.LargeBinary(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entries')),
    sa.UniqueConstraint('entry_hash', name=op.f('uq_audit_entries_entry_hash'))
    )
    op.create_table('officers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('public_key', sa.LargeBinary(), nullable=True),
    sa.Column('key_mac', sa.LargeBinary(length=32), nullable=True),
    sa.Column('wrapped_private_key', sa.LargeBinary(), nullable=True),
    sa.Column('totp_seed_sealed', sa.LargeBinary(), nullable=True),
    sa.Column('totp_last_step', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('locked', sa.Boolean(), nullable=False),
    sa.Column('created_on', sa.Date(), nullable=False),
    sa.CheckConstraint("role IN ('officer', 'supervisor')", name=op.f('ck_officers_role')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_officers')),
    sa.UniqueConstraint('email', name=op.f('uq_officers_email'))
    )
    op.create_table('recovery_keys',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('public_key', sa.LargeBinary(), nullable=False),
    sa.Column('fingerprint', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_keys'))
    )
    op.create_table('reporter_sessions',
    sa.Column('id_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('sealed', sa.LargeBinary(), nullable=False),
    sa.Column('purge_after', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id_hash', name=op.f('pk_reporter_sessions'))
    )
    with op.batch_alter_table('reporter_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reporter_sessions_purge_after'), ['purge_after'], unique=False)

    op.create_table('throttle_buckets',
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('failures', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('window_started_at', sa.DateTime(), nullable=False),
    sa.Column('next_allowed_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_throttle_buckets'))
    )
    op.create_table('throttle_salts',
    sa.Column('hour', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('salt', sa.LargeBinary(length=32), nullable=False),
    sa.PrimaryKeyConstraint('hour', name=op.f('pk_throttle_salts'))
    )
    op.create_table('unit_keys',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('public_key', sa.LargeBinary(), nullable=False),
    sa.Column('fingerprint', sa.String(length=16), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_unit_keys'))
    )
    op.create_table('cases',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('unit_key_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sealed_case_secret', sa.LargeBinary(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_changed_on', sa.Date(), nullable=False),
    sa.Column('acknowledged_on', sa.Date(), nullable=True),
    sa.Column('case_public_key', sa.LargeBinary(), nullable=False),
    sa.Column('report', sa.LargeBinary(), nullable=False),
    sa.Column('receipt_hmac', sa.LargeBinary(length=32), nullable=False),
    sa.Column('reporter_public_key', sa.LargeBinary(), nullable=False),
    sa.Column('key_binding', sa.LargeBinary(), nullable=False),
    sa.Column('message_count', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('status_change_count', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('unread_by_unit', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('state_mac', sa.LargeBinary(length=32), nullable=False),
    sa.CheckConstraint("status IN ('received', 'acknowledged', 'assessing', 'investigating', 'referred', 'closed')", name=op.f('ck_cases_status')),
    sa.ForeignKeyConstraint(['unit_key_id'], ['unit_keys.id'], name=op.f('fk_cases_unit_key_id_unit_keys')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cases')),
    sa.UniqueConstraint('receipt_hmac', name=op.f('uq_cases_receipt_hmac')),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('ix_cases_queue', ['received_on', 'id', 'status'], unique=False)
        batch_op.create_index('ix_cases_status_queue', ['status', 'received_on', 'id'], unique=False)

    op.create_table('enrolment_invites',
    sa.Column('token_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('officer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('purpose', sa.String(length=8), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('mac', sa.LargeBinary(length=32), nullable=False),
    sa.CheckConstraint("purpose IN ('enrol', 'reset')", name=op.f('ck_enrolment_invites_purpose')),
    sa.ForeignKeyConstraint(['officer_id'], ['officers.id'], name=op.f('fk_enrolment_invites_officer_id_officers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_enrolment_invites'))
    )
    with op.batch_alter_table('enrolment_invites', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_enrolment_invites_officer_id'), ['officer_id'], unique=False)

    op.create_table('officer_sessions',
    sa.Column('id_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('officer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('stage', sa.String(length=8), nullable=False),
    sa.Column('sealed', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("stage IN ('active', 'enrol')", name=op.f('ck_officer_sessions_stage')),
    sa.ForeignKeyConstraint(['officer_id'], ['officers.id'], name=op.f('fk_officer_sessions_officer_id_officers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id_hash', name=op.f('pk_officer_sessions'))
    )
    with op.batch_alter_table('officer_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_officer_sessions_officer_id'), ['officer_id'], unique=False)

    op.create_table('recovery_codes',
    sa.Column('code_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('officer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['officer_id'], ['officers.id'], name=op.f('fk_recovery_codes_officer_id_officers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('code_hash', name=op.f('pk_recovery_codes'))
    )
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_codes_officer_id'), ['officer_id'], unique=False)

    op.create_table('unit_key_grants',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('unit_key_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('officer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('recovery_key_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('sealed_private_key', sa.LargeBinary(), nullable=False),
    sa.Column('granted_at', sa.DateTime(), nullable=False),
    sa.Column('granted_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.CheckConstraint('(officer_id IS NULL) <> (recovery_key_id IS NULL)', name=op.f('ck_unit_key_grants_one_holder')),
    sa.ForeignKeyConstraint(['granted_by_id'], ['officers.id'], name=op.f('fk_unit_key_grants_granted_by_id_officers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['officer_id'], ['officers.id'], name=op.f('fk_unit_key_grants_officer_id_officers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recovery_key_id'], ['recovery_keys.id'], name=op.f('fk_unit_key_grants_recovery_key_id_recovery_keys')),
    sa.ForeignKeyConstraint(['unit_key_id'], ['unit_keys.id'], name=op.f('fk_unit_key_grants_unit_key_id_unit_keys')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_unit_key_grants')),
    sa.UniqueConstraint('unit_key_id', 'officer_id', name='uq_unit_key_grants_officer'),
    sa.UniqueConstraint('unit_key_id', 'recovery_key_id', name='uq_unit_key_grants_recovery')
    )
    with op.batch_alter_table('unit_key_grants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_unit_key_grants_officer_id'), ['officer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_unit_key_grants_unit_key_id'), ['unit_key_id'], unique=False)

    op.create_table('messages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('author', sa.String(length=16), nullable=False),
    sa.Column('officer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('sent_on', sa.Date(), nullable=False),
    sa.Column('unread', sa.Boolean(), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.Column('mac', sa.LargeBinary(length=32), nullable=False),
    sa.CheckConstraint("author IN ('reporter', 'officer')", name=op.f('ck_messages_author')),
    sa.CheckConstraint("kind IN ('message', 'outcome')", name=op.f('ck_messages_kind')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_messages_case_id_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['officer_id'], ['officers.id'], name=op.f('fk_messages_officer_id_officers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messages')),
    sa.UniqueConstraint('case_id', 'seq', name='uq_messages_case_seq'),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_messages_case_id'), ['case_id'], unique=False)

    op.create_table('status_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=False),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('officer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('changed_at', sa.DateTime(), nullable=False),
    sa.Column('reason', sa.LargeBinary(), nullable=True),
    sa.Column('mac', sa.LargeBinary(length=32), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_status_changes_case_id_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['officer_id'], ['officers.id'], name=op.f('fk_status_changes_officer_id_officers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_status_changes')),
    sa.UniqueConstraint('case_id', 'seq', name='uq_status_changes_case_seq'),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('status_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_status_changes_case_id'), ['case_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('status_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_status_changes_case_id'))

    op.drop_table('status_changes')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_messages_case_id'))

    op.drop_table('messages')
    with op.batch_alter_table('unit_key_grants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_unit_key_grants_unit_key_id'))
        batch_op.drop_index(batch_op.f('ix_unit_key_grants_officer_id'))

    op.drop_table('unit_key_grants')
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_codes_officer_id'))

    op.drop_table('recovery_codes')
    with op.batch_alter_table('officer_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_officer_sessions_officer_id'))

    op.drop_table('officer_sessions')
    with op.batch_alter_table('enrolment_invites', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_enrolment_invites_officer_id'))

    op.drop_table('enrolment_invites')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_status_queue')
        batch_op.drop_index('ix_cases_queue')

    op.drop_table('cases')
    op.drop_table('unit_keys')
    op.drop_table('throttle_salts')
    op.drop_table('throttle_buckets')
    with op.batch_alter_table('reporter_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reporter_sessions_purge_after'))

    op.drop_table('reporter_sessions')
    op.drop_table('recovery_keys')
    op.drop_table('officers')
    op.drop_table('audit_entries')

