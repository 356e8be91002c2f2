"""users can be disabled, apps revoked: nothing is deleted until a user is removed

Revision ID: 0007_people
Revises: 0006_avatar
Create Date: 2026-12-02 01:00:00.000000

Every existing user stays enabled (``disabled`` false) and every existing app stays usable
(``revoked_at`` empty).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import photosync.db

revision = "0007_people"
down_revision = "0006_avatar"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch: so that SQLite, which alters tables by copying them, runs it as PostgreSQL does.
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("revoked_at", photosync.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.drop_column("revoked_at")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("disabled")
