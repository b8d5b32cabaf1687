"""unit key grants and officers' access state carry MACs

`officers.access_epoch` (raised by every revoke, deactivation, reactivation and
reset) and `officers.state_mac`, an HMAC under the instance integrity key over
(id, active, access_epoch); `unit_key_grants.mac`, an HMAC over an officer's
grant bound to that epoch. Migrations never read the instance config:
`reportline db upgrade` computes the MACs of the rows that exist when this
revision is applied (`keyring.authenticate_existing_grants`), and never again.

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-03 07:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('officers', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'access_epoch',
                sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                server_default='0',
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column('state_mac', sa.LargeBinary(length=32), nullable=True))
    with op.batch_alter_table('unit_key_grants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mac', sa.LargeBinary(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('unit_key_grants', schema=None) as batch_op:
        batch_op.drop_column('mac')
    with op.batch_alter_table('officers', schema=None) as batch_op:
        batch_op.drop_column('state_mac')
        batch_op.drop_column('access_epoch')
