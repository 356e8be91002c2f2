"""Alembic environment: the engine comes from the caller (photosync.migrations.upgrade)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from photosync.models import metadata

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # plain `alembic` command line: the URL must be configured
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
