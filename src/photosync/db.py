"""Database engine, sessions and the declarative base shared by every role's models.

Each role owns its tables (``photosync.<role>.models``); they all hang off one ``Base`` so that
one Alembic history covers the whole schema.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, MetaData, create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from photosync.events import AFTER_RELEASE

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; take control so that
        # "BEGIN IMMEDIATE" can be used where a writer must serialise (see write_connection).
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """The engine and a session factory; one per process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on any error."""
        later: list[Callable[[], None]] = []
        with self.sessions() as session:
            session.info[AFTER_RELEASE] = later
            with session.begin():
                yield session
        _run(later)  # the session's events, now that its connection is back in the pool

    @contextmanager
    def write_connection(self) -> Iterator[Connection]:
        """A connection in a write transaction that commits on success, rolls back on error.

        On SQLite it begins IMMEDIATE, taking the write lock first: a deferred transaction that
        reads and then writes can fail with "database is locked" when another writer got in
        between; taking the lock first serialises writers. (PostgreSQL needs no such thing:
        writers there lock the rows they change.)
        """
        with self._writer() as conn, conn.begin():
            yield conn

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """``write_connection`` as an ORM session, for writes that are easier with objects.

        The session owns the transaction (it begins and commits it), so its events are sent only
        once the commit has happened, and only after the connection is back in the pool.
        """
        later: list[Callable[[], None]] = []
        with self._writer() as conn, Session(bind=conn, expire_on_commit=False) as session:
            session.info[AFTER_RELEASE] = later
            with session.begin():
                yield session
        _run(later)  # the session's events, now that its connection is back in the pool

    @contextmanager
    def _writer(self) -> Iterator[Connection]:
        """A connection whose transactions begin IMMEDIATE on SQLite (see ``_sqlite_begin``)."""
        with self.engine.connect() as conn:
            yield conn.execution_options(sqlite_begin="IMMEDIATE") if self.is_sqlite else conn

    def check(self) -> None:
        """Raise unless the database answers a query now (readiness)."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def upgrade(self) -> None:
        """Apply every Alembic migration (idempotent)."""
        from photosync.migrations import upgrade

        upgrade(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()


def _run(later: list[Callable[[], None]]) -> None:
    for publish in later:
        publish()
