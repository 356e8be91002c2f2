"""Alembic migrations, run programmatically (``photosync db upgrade`` and at start-up)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

if TYPE_CHECKING:
    from alembic.config import Config

HERE = Path(__file__).parent

# The newest revision in versions/. Every process upgrades at start-up, and almost always the
# database is there already: one query against this settles it, where Alembic cost each
# `serve` and each command ~100 ms of imports and ~80 ms of reading the revision files.
# tests/test_migrations.py fails until a new revision is named here.
HEAD = "0012_uploads"


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["engine"] = engine
    return cfg


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine, revision: str = "head") -> None:
    if revision in ("head", HEAD) and current_revision(engine) == HEAD:
        return
    from alembic import command

    command.upgrade(alembic_config(engine), revision)
