"""The picture writes on the sync's path, as plain statements on one connection.

A sync commits once per check: the three library rows, the profile's picture properties, the
audit row and (through ``also``) sync's record of the check, in one transaction. Core
statements rather than ORM objects: the identity map and unit of work cost more than the
handful of rows they would manage here (bench/bench_sync.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from photosync.audit import AuditEvent
from photosync.db import Database, new_id, utcnow
from photosync.sites.models import PLACEHOLDER, Profile, TenantSetting
from photosync.sites.profiles import PICTURE_EDITABLE_KEY


@contextmanager
def write_connection(db: Database) -> Iterator[Connection]:
    """A connection in a write transaction: ``Database.write_session`` without the Session.

    On SQLite it begins IMMEDIATE (the write lock first, as ``write_session`` does), so a
    transaction that reads the profile and then writes cannot lose a race to another writer.
    """
    with db.engine.connect() as conn:
        if db.is_sqlite:
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            yield conn


# The statements below are built once, values left to the parameters: building a statement
# and its cache key on every call cost more than executing it on SQLite (bench/bench_sync.py).
_EDITABLE = select(TenantSetting.value).where(TenantSetting.key == PICTURE_EDITABLE_KEY)
_LOCK_PROFILE = (
    select(Profile.picture_timestamp)
    .where(Profile.user_id == bindparam("b_user_id"))
    .with_for_update()
)
# The SET clause comes from the parameters' column names (``b_user_id`` names no column).
_UPDATE_PROFILE = update(Profile).where(Profile.user_id == bindparam("b_user_id"))
_CREATE_PROFILE = {
    "postgresql": pg_insert(Profile).on_conflict_do_nothing(),
    "sqlite": sqlite_insert(Profile).on_conflict_do_nothing(),
}
_AUDIT = insert(AuditEvent)


def picture_editable(conn: Connection) -> bool:
    return conn.scalar(_EDITABLE) != "0"


def save_profile(
    conn: Connection, user_id: str, values_for: Callable[[str | None], dict[str, Any]]
) -> dict[str, Any]:
    """Lock the user's profile row and write ``values_for(its picture timestamp)`` to it.

    The row is created with those values if missing (one statement, as a first sync does).
    The lock (PostgreSQL; SQLite's IMMEDIATE transaction already excludes other writers)
    orders two writers of one picture, so each new timestamp is above the one it replaces.
    Returns the values written.
    """
    row = conn.execute(_LOCK_PROFILE, {"b_user_id": user_id}).first()
    if row is None:
        values = values_for(None)
        created = conn.execute(
            _CREATE_PROFILE[conn.dialect.name],
            # Columns not given take their defaults (updated_at: now), as in ``ensure_profile``.
            {
                "placeholder_state": PLACEHOLDER,
                "exchange_sync_state": 0,
                **values,
                "user_id": user_id,
            },
        )
        if created.rowcount == 1:
            return values
        # Another first writer created the row meanwhile: lock theirs and build on it.
        row = conn.execute(_LOCK_PROFILE, {"b_user_id": user_id}).one()
    values = values_for(row[0])
    conn.execute(_UPDATE_PROFILE, {"b_user_id": user_id, **values})
    return values


def checked(result: str, error: str | None, at: datetime) -> dict[str, Any]:
    """The profile's "last check" properties after a check that came to ``result``."""
    values: dict[str, Any] = {"last_check_at": at, "last_result": result}
    if result == "error":
        values |= {"last_error_at": at, "last_error": error}
    else:
        values |= {"last_success_at": at, "last_error": None}
    return values


def audit(
    conn: Connection, *, actor: str, action: str, subject_user_id: str, **detail: Any
) -> None:
    """``photosync.audit.record`` for a Core connection: the same row, without a Session."""
    conn.execute(
        _AUDIT,
        {
            "id": new_id(),
            "at": utcnow(),
            "actor": actor,
            "action": action,
            "subject_user_id": subject_user_id,
            "detail": detail,
        },
    )
