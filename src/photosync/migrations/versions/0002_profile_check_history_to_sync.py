"""profiles keep no check history: sync's sync_states is its one home

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 21:15:00.000000

Sites recorded every sync check twice: in sync's own tables and in these profile columns,
written in the same transaction. The copy goes; ``sync_states`` already holds each user's
latest check (the same values, kept by the same writes), so no data moves.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import photosync.db

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The dropped columns, in their old order (downgrade puts them back, filled from sync_states).
COLUMNS = (
    ("last_check_at", photosync.db.UTCDateTime(timezone=True)),
    ("last_success_at", photosync.db.UTCDateTime(timezone=True)),
    ("last_error_at", photosync.db.UTCDateTime(timezone=True)),
    ("last_error", sa.Text()),
    ("last_result", sa.String(length=32)),
)


def upgrade() -> None:
    # batch: SQLite before 3.35 cannot drop a column, so Alembic copies the table there.
    with op.batch_alter_table("profiles", schema=None) as batch_op:
        for name, _ in reversed(COLUMNS):
            batch_op.drop_column(name)


def downgrade() -> None:
    with op.batch_alter_table("profiles", schema=None) as batch_op:
        for name, type_ in COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))
    # The copy as it was: sync's state of each user's latest check (same values, same writes).
    for name, _ in COLUMNS:
        op.execute(
            f"UPDATE profiles SET {name} = "
            f"(SELECT s.{name} FROM sync_states s WHERE s.user_id = profiles.user_id)"
        )
