"""the own-Large trigger is called "own-large" (was "user-action")

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 21:45:00.000000

The triggers of a check are now own-large, admin, bulk, automatic and schedule; the one that
was "user-action" keeps its meaning under its new name, so old rows are renamed.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE sync_checks SET trigger = 'own-large' WHERE trigger = 'user-action'")


def downgrade() -> None:
    op.execute("UPDATE sync_checks SET trigger = 'user-action' WHERE trigger = 'own-large'")
