"""audit rows say where a change came from: the client address and user agent

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 10:00:00.000000

Rows written before this revision came from somewhere unknown, so both columns are nullable
and stay empty for them (as they do for changes made by the CLI or a worker).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch: so that SQLite, which alters tables by copying them, runs it as PostgreSQL does.
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("user_agent", sa.String(length=512), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_column("user_agent")
        batch_op.drop_column("address")
