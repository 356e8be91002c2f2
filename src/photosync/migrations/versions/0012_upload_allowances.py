"""photo uploads per person (PHOTOSYNC_UPLOAD_RATE_LIMIT)

Revision ID: 0012_uploads
Revises: 0011_authz
Create Date: 2026-12-05 20:30:00.000000

One row per person who uploaded: when their allowance is full again, and the uploads refused
in a row since their last accepted one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from photosync.db import UTCDateTime

revision = "0012_uploads"
down_revision = "0011_authz"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "upload_allowances",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("full_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("refused_in_a_row", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
    )


def downgrade() -> None:
    op.drop_table("upload_allowances")
