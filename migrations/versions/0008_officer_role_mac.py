"""officers' roles carry a MAC: `officers.role_mac`

An HMAC under the instance integrity key over the officer's id and role, so
that a role written in the database alone grants nothing. The key comes from
the instance config, which migrations never read: `reportline db upgrade`
computes the MACs of the rows that exist when this revision is applied
(`roles.authenticate_existing_roles`), and never again.

Revision ID: 0008
Revises: 0009
Create Date: 2026-12-03 06:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('officers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('role_mac', sa.LargeBinary(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('officers', schema=None) as batch_op:
        batch_op.drop_column('role_mac')
