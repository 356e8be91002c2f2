"""wrong passwords counted per source (smart lock-out)

Revision ID: 0011_authz
Revises: 0010_serving
Create Date: 2026-12-02 02:20:00.000000

A source that guesses passwords locks only itself out: one account from one unfamiliar
address, or every account from one address. The account's own count (users.failed_sign_ins)
is moved only by its familiar sources (a browser it signed in from before).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from photosync.db import UTCDateTime

revision = "0011_authz"
down_revision = "0010_serving"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_in_sources",
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("locked_until", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("sign_in_sources", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sign_in_sources_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sign_in_sources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sign_in_sources_user_id"))
    op.drop_table("sign_in_sources")
