"""The Alembic history builds exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from photosync.context import Context
from photosync.migrations import HEAD, alembic_config, current_revision
from photosync.models import metadata


def test_migrations_match_the_models(ctx: Context) -> None:
    with ctx.db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_upgrade_is_idempotent(ctx: Context) -> None:
    ctx.db.upgrade()
    ctx.db.upgrade()
    tables = set(inspect(ctx.db.engine).get_table_names())
    assert {"users", "photo_versions", "profiles", "sync_checks", "alembic_version"} <= tables


def test_head_names_the_newest_revision(ctx: Context) -> None:
    # Start-up skips Alembic when the database is at HEAD: a new revision must be named there.
    script = ScriptDirectory.from_config(alembic_config(ctx.db.engine))
    assert script.get_current_head() == HEAD, "name the new revision in photosync.migrations.HEAD"
    ctx.db.upgrade()
    assert current_revision(ctx.db.engine) == HEAD


def test_a_database_at_head_is_upgraded_without_loading_alembic(sqlite_url: str) -> None:
    # What each `serve` and each command does at start-up, in a process of its own (this one
    # has Alembic loaded already): one query, and no migration machinery.
    program = (
        "import sys\n"
        "from sqlalchemy import create_engine\n"
        "from photosync.migrations import upgrade\n"
        f"upgrade(create_engine({sqlite_url!r}))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_sqlite_runs_in_wal_mode(tmp_path: object, sqlite_url: str) -> None:
    from sqlalchemy import text

    from photosync.db import Database

    db = Database(sqlite_url)
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    db.dispose()


def test_0006_gives_existing_users_their_address_digests(tmp_path: Path) -> None:
    import hashlib

    from sqlalchemy import create_engine, text

    from photosync.directory.addresses import digests
    from photosync.migrations import upgrade

    engine = create_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    upgrade(engine, "0005")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (id, upn, upn_key, display_name, mail, is_admin, has_mailbox,"
                " failed_sign_ins, created_at) VALUES ('u1', 'Ann@Example.org', 'ann@example.org',"
                " 'Ann', 'ann.other@example.org', 0, 1, 0, '2026-01-01 00:00:00')"
            )
        )
    upgrade(engine)
    with engine.connect() as conn:
        rows = set(conn.execute(text("SELECT digest, user_id, kind FROM address_digests")))
    engine.dispose()
    upn, mail = digests(["Ann@Example.org"]), digests(["ann.other@example.org"])
    assert rows == {(d, "u1", "upn") for d in upn} | {(d, "u1", "mail") for d in mail}
    assert hashlib.md5(b"ann@example.org").hexdigest() in upn
    assert len(rows) == 4
