"""address_digests: the MD5 and SHA-256 of each user's e-mail addresses, for /avatar/{hash}

Revision ID: 0006_avatar
Revises: 0005
Create Date: 2026-12-02 01:00:00.000000

Existing users get the digests of their user principal name and mail here (nobody has aliases
yet); from then on the directory writes them with what they derive from.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0006_avatar"
down_revision = "0005"
branch_labels = None
depends_on = None

BATCH = 1000


def _digests(*addresses: str | None) -> set[str]:
    # A copy of directory.addresses.digests as it was at this revision: a migration must not
    # change meaning when the application code does.
    found: set[str] = set()
    for address in addresses:
        key = (address or "").strip().lower().encode()
        if key:
            found.add(hashlib.md5(key, usedforsecurity=False).hexdigest())
            found.add(hashlib.sha256(key).hexdigest())
    return found


def upgrade() -> None:
    table = op.create_table(
        "address_digests",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_address_digests_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("digest", "user_id", "kind", name=op.f("pk_address_digests")),
    )
    with op.batch_alter_table("address_digests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_address_digests_user_id"), ["user_id"], unique=False)
    conn = op.get_bind()
    users = conn.execute(sa.text("SELECT id, upn, mail FROM users ORDER BY id")).all()
    for start in range(0, len(users), BATCH):
        chunk = users[start : start + BATCH]
        rows = [
            {"digest": digest, "user_id": user_id, "kind": kind}
            for user_id, upn, mail in chunk
            for kind, address in (("upn", upn), ("mail", mail))
            for digest in sorted(_digests(address))
        ]
        if rows:
            op.bulk_insert(table, rows)


def downgrade() -> None:
    with op.batch_alter_table("address_digests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_address_digests_user_id"))
    op.drop_table("address_digests")
