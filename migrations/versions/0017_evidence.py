"""evidence files: sealed chunks in the database, uploads in progress, the case's count

`evidence_files` (one cleaned file of a case, its key sealed to the case),
`evidence_chunks` (sealed chunks, no foreign key: written before the row that
references them), `uploads` and `upload_chunks` (files arriving in chunks
from a reporter's browser), and `cases.evidence_count` (in the state MAC).
All without rowid on SQLite, with random ids: row order reveals no arrival order.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 17:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("evidence_count", BIG, server_default="0", nullable=False))
    op.create_table(
        "evidence_files",
        sa.Column("id", BIG, autoincrement=False, nullable=False),
        sa.Column("case_id", BIG, nullable=False),
        sa.Column("seq", BIG, nullable=False),
        sa.Column("added_on", sa.Date(), nullable=False),
        sa.Column("chunk_count", BIG, nullable=False),
        sa.Column("preview_chunks", BIG, nullable=False),
        sa.Column("stored_bytes", BIG, nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("mac", sa.LargeBinary(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_evidence_files_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_files")),
        sa.UniqueConstraint("case_id", "seq", name="uq_evidence_files_case_seq"),
        sqlite_with_rowid=False,
    )
    op.create_index(op.f("ix_evidence_files_case_id"), "evidence_files", ["case_id"], unique=False)
    op.create_table(
        "evidence_chunks",
        sa.Column("file_id", BIG, autoincrement=False, nullable=False),
        sa.Column("part", BIG, autoincrement=False, nullable=False),
        sa.Column("idx", BIG, autoincrement=False, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("file_id", "part", "idx", name=op.f("pk_evidence_chunks")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "uploads",
        sa.Column("id", sa.LargeBinary(length=32), nullable=False),
        sa.Column("started_on", sa.Date(), nullable=False),
        sa.Column("chunk_count", BIG, nullable=False),
        sa.Column("received_bytes", BIG, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uploads")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "upload_chunks",
        sa.Column("upload_id", sa.LargeBinary(length=32), nullable=False),
        sa.Column("idx", BIG, autoincrement=False, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["upload_id"],
            ["uploads.id"],
            name=op.f("fk_upload_chunks_upload_id_uploads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("upload_id", "idx", name=op.f("pk_upload_chunks")),
        sqlite_with_rowid=False,
    )

    op.create_table(
        "evidence_orphans",
        sa.Column("file_id", BIG, autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("file_id", name=op.f("pk_evidence_orphans")),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("evidence_orphans")
    op.drop_table("upload_chunks")
    op.drop_table("uploads")
    op.drop_table("evidence_chunks")
    op.drop_index(op.f("ix_evidence_files_case_id"), table_name="evidence_files")
    op.drop_table("evidence_files")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("evidence_count")
