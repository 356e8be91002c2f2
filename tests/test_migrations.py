"""The Alembic history builds exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from photosync.context import Context
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


def test_sqlite_runs_in_wal_mode(tmp_path: object, sqlite_url: str) -> None:
    from sqlalchemy import text

    from photosync.db import Database

    db = Database(sqlite_url)
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    db.dispose()
