"""audit rows carry the id of the request that made the change

Revision ID: 0010_serving
Revises: 0009_m365
Create Date: 2026-12-02 01:00:00.000000

The same id is in the request's log lines and its response header (``request-id``), so an
operator goes from an audit row to the logs of the request that wrote it. Older rows, and
changes made by the CLI or a worker, have none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_serving"
down_revision = "0009_m365"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch: so that SQLite, which alters tables by copying them, runs it as PostgreSQL does.
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_id", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_column("request_id")
