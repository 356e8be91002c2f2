"""connectors: the route of checks and runs, people outside our directory, notes, sync_marks

Revision ID: 0008_connectors
Revises: 0007_people
Create Date: 2026-12-02 01:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import photosync.db

revision = "0008_connectors"
down_revision = "0007_people"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_checks", schema=None) as batch_op:
        batch_op.alter_column("user_id", existing_type=sa.String(length=36), nullable=True)
        batch_op.alter_column(
            "from_etag", existing_type=sa.String(length=16), type_=sa.String(length=128)
        )
        batch_op.alter_column(
            "to_etag", existing_type=sa.String(length=16), type_=sa.String(length=128)
        )
        batch_op.add_column(sa.Column("person", sa.String(length=320), nullable=True))
        batch_op.add_column(
            sa.Column("source", sa.String(length=255), server_default="mailbox", nullable=False)
        )
        batch_op.add_column(
            sa.Column("target", sa.String(length=255), server_default="sites", nullable=False)
        )
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=True))
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source", sa.String(length=255), server_default="mailbox", nullable=False)
        )
        batch_op.add_column(
            sa.Column("target", sa.String(length=255), server_default="sites", nullable=False)
        )
    with op.batch_alter_table("sync_run_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=True))
    op.create_table(
        "sync_marks",
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("user_key", sa.String(length=320), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("source_etag", sa.String(length=128), nullable=False),
        sa.Column("written_at", photosync.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("target", "user_key", name=op.f("pk_sync_marks")),
    )


def downgrade() -> None:
    op.drop_table("sync_marks")
    with op.batch_alter_table("sync_run_items", schema=None) as batch_op:
        batch_op.drop_column("note")
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.drop_column("target")
        batch_op.drop_column("source")
    op.execute("DELETE FROM sync_checks WHERE user_id IS NULL")
    with op.batch_alter_table("sync_checks", schema=None) as batch_op:
        batch_op.drop_column("note")
        batch_op.drop_column("target")
        batch_op.drop_column("source")
        batch_op.drop_column("person")
        batch_op.alter_column("to_etag", existing_type=sa.String(length=128), type_=sa.String(16))
        batch_op.alter_column("from_etag", existing_type=sa.String(length=128), type_=sa.String(16))
        batch_op.alter_column("user_id", existing_type=sa.String(length=36), nullable=False)
