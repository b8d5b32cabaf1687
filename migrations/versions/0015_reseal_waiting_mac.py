"""re-seal waiting rows carry a MAC; key fingerprints are unique

- `reseal_waiting.mac`: HMAC under the integrity key over (case, officer, the
  officer's access epoch) (`integrity.reseal_waiting_mac`), so a database writer
  cannot list a restricted case as waiting for themselves and have a supervisor's
  click seal it to their key. Rows made before this revision have no MAC and hold
  nothing: a supervisor gives such a case back through its Access page.
- `unit_keys.fingerprint` and `exclusion_keys.fingerprint`: unique, so one pin
  names one key generation.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 14:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reseal_waiting", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mac", sa.LargeBinary(length=32), nullable=True))
    for table in ("unit_keys", "exclusion_keys"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_fingerprint"))
            batch_op.create_index(
                batch_op.f(f"ix_{table}_fingerprint"), ["fingerprint"], unique=True
            )


def downgrade() -> None:
    for table in ("exclusion_keys", "unit_keys"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_fingerprint"))
            batch_op.create_index(
                batch_op.f(f"ix_{table}_fingerprint"), ["fingerprint"], unique=False
            )
    with op.batch_alter_table("reseal_waiting", schema=None) as batch_op:
        batch_op.drop_column("mac")
