"""Everything sites keeps in the database, read and written one way: plain statements on a
connection.

The tables: profiles (the picture properties), their other single-value properties, the User
Photos library (S/M/L rows that hold their bytes) and the tenant settings. Reads run on a bare
connection (``engine.connect()``), writes in ``Database.write_connection()``; a Session's
``connection()`` works too. Core statements rather than ORM objects: the identity map and unit of
work cost more than the handful of rows they would manage here (bench/bench_sync.py), and the
library reads are the role's hot path.

Every statement is built once, its values left to the parameters: building a statement and its
cache key on every call cost more than executing it on SQLite.

Profiles are created lazily: a directory user gets one as soon as anything writes it or reads
their properties, so no job has to create profiles when users are added.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    ScalarSelect,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.sql.expression import Executable

from photosync.sites.interfaces import SizeCode
from photosync.sites.models import (
    PLACEHOLDER_SHOWN,
    LibraryFile,
    Profile,
    ProfileProperty,
    TenantSetting,
)

PICTURE_EDITABLE_KEY = "users_may_edit_picture"


@dataclass(frozen=True)
class StoredProfile:
    """A profile's picture properties as the database has them."""

    user_id: str
    has_picture: bool  # False: the placeholder is shown
    picture_source: str | None  # "mailbox" | "upload" | None
    picture_timestamp: str | None  # SPS-PictureTimestamp
    source_etag: str | None  # the mailbox version the picture was taken from
    exchange_sync_state: int = 0  # SPS-PictureExchangeSyncState as last written


def _upserts(build: Callable[[Any], Executable]) -> dict[str, Executable]:
    """One statement per dialect, for the INSERT … ON CONFLICT each spells its own way."""
    return {"postgresql": build(pg_insert), "sqlite": build(sqlite_insert)}


# --- profiles ------------------------------------------------------------------------------

_PROFILE_COLUMNS = select(
    Profile.user_id,
    Profile.placeholder_state,
    Profile.picture_source,
    Profile.picture_timestamp,
    Profile.source_etag,
    Profile.exchange_sync_state,
)
_PROFILE = _PROFILE_COLUMNS.where(Profile.user_id == bindparam("b_user_id"))
_PROFILES = _PROFILE_COLUMNS.where(Profile.user_id.in_(bindparam("b_user_ids", expanding=True)))
_LOCK_PROFILE = (
    select(Profile.picture_timestamp)
    .where(Profile.user_id == bindparam("b_user_id"))
    .with_for_update()
)
_LOCK_PROFILES = (
    select(Profile.user_id, Profile.picture_timestamp)
    .where(Profile.user_id.in_(bindparam("b_user_ids", expanding=True)))
    .with_for_update()
)
# The SET clause comes from the parameters' column names (``b_user_id`` names no column).
_UPDATE_PROFILE = update(Profile).where(Profile.user_id == bindparam("b_user_id"))
_CREATE_PROFILE = _upserts(lambda upsert: upsert(Profile).on_conflict_do_nothing())


def _stored(row: Row[str, int, str | None, str | None, str | None, int]) -> StoredProfile:
    user_id, placeholder_state, source, timestamp, etag, exchange_sync = row
    return StoredProfile(
        user_id, placeholder_state != PLACEHOLDER_SHOWN, source, timestamp, etag, exchange_sync
    )


def profile(conn: Connection, user_id: str) -> StoredProfile | None:
    """The user's profile, or None if nothing created it yet (a read never creates one)."""
    row = conn.execute(_PROFILE, {"b_user_id": user_id}).first()
    return _stored(row) if row is not None else None


def profiles(conn: Connection, user_ids: Sequence[str]) -> dict[str, StoredProfile]:
    """The profiles of many users in one query, by user id (users without one are left out)."""
    rows = conn.execute(_PROFILES, {"b_user_ids": list(user_ids)})
    return {row.user_id: _stored(row) for row in rows}


def ensure_profile(conn: Connection, user_id: str) -> None:
    """Create the user's profile if missing (safe when two requests race to create it)."""
    conn.execute(_CREATE_PROFILE[conn.dialect.name], _new_profile(user_id))


def _new_profile(user_id: str) -> dict[str, Any]:
    # Columns not given take their defaults (updated_at: now).
    return {"user_id": user_id, "placeholder_state": PLACEHOLDER_SHOWN, "exchange_sync_state": 0}


def save_profile(
    conn: Connection, user_id: str, values_for: Callable[[str | None], dict[str, Any]]
) -> dict[str, Any]:
    """``save_profiles`` for one user."""
    return save_profiles(conn, [user_id], lambda _user_id, previous: values_for(previous))[user_id]


def save_profiles(
    conn: Connection,
    user_ids: Sequence[str],
    values_for: Callable[[str, str | None], dict[str, Any]],
) -> dict[str, dict[str, Any]]:
    """Lock the users' profile rows and write ``values_for(user id, its picture timestamp)`` to
    each, in one locking read and one update for all of them (a bulk run's batch).

    A missing row is created with those values (one statement, as a first sync does). The lock
    (PostgreSQL; SQLite's IMMEDIATE transaction already excludes other writers) orders two
    writers of one picture, so each new timestamp is above the one it replaces. Returns the
    values written, by user id.
    """
    locked = dict(conn.execute(_LOCK_PROFILES, {"b_user_ids": list(user_ids)}).all())
    written: dict[str, dict[str, Any]] = {}
    updates: list[dict[str, Any]] = []
    for user_id in user_ids:
        if user_id not in locked:
            values = values_for(user_id, None)
            created = conn.execute(
                _CREATE_PROFILE[conn.dialect.name], {**_new_profile(user_id), **values}
            )
            if created.rowcount == 1:
                written[user_id] = values
                continue
            # Another first writer created the row meanwhile: lock theirs and build on it.
            locked[user_id] = conn.execute(_LOCK_PROFILE, {"b_user_id": user_id}).scalar_one()
        written[user_id] = values = values_for(user_id, locked[user_id])
        updates.append({"b_user_id": user_id, **values})
    if updates:
        conn.execute(_UPDATE_PROFILE, updates)
    return written


# --- other profile properties --------------------------------------------------------------

_PROPERTIES = select(ProfileProperty.name, ProfileProperty.value).where(
    ProfileProperty.user_id == bindparam("b_user_id")
)
_SET_PROPERTY = _upserts(
    lambda upsert: (stmt := upsert(ProfileProperty)).on_conflict_do_update(
        index_elements=[ProfileProperty.user_id, ProfileProperty.name],
        set_={"value": stmt.excluded.value},
    )
)
_DELETE_PROPERTY = delete(ProfileProperty).where(
    (ProfileProperty.user_id == bindparam("b_user_id"))
    & (ProfileProperty.name == bindparam("b_name"))
)


def custom_properties(conn: Connection, user_id: str) -> dict[str, str]:
    return {name: value for name, value in conn.execute(_PROPERTIES, {"b_user_id": user_id})}


def set_property(conn: Connection, user_id: str, name: str, value: str) -> None:
    """Set one property; an empty value removes it (as SharePoint shows no empty property)."""
    if value == "":
        conn.execute(_DELETE_PROPERTY, {"b_user_id": user_id, "b_name": name})
    else:
        conn.execute(
            _SET_PROPERTY[conn.dialect.name], {"user_id": user_id, "name": name, "value": value}
        )


# --- tenant settings -----------------------------------------------------------------------

_EDITABLE = select(TenantSetting.value).where(TenantSetting.key == PICTURE_EDITABLE_KEY)
_SET_SETTING = _upserts(
    lambda upsert: (stmt := upsert(TenantSetting)).on_conflict_do_update(
        index_elements=[TenantSetting.key], set_={"value": stmt.excluded.value}
    )
)


def picture_editable(conn: Connection) -> bool:
    """Whether users may edit the Picture property (on unless an admin turned it off).

    The one reader of the setting: every decision that depends on it comes through here.
    """
    return conn.scalar(_EDITABLE) != "0"


def set_picture_editable(conn: Connection, enabled: bool) -> str:
    """Store the setting; returns the value stored ("1" or "0")."""
    value = "1" if enabled else "0"
    conn.execute(_SET_SETTING[conn.dialect.name], {"key": PICTURE_EDITABLE_KEY, "value": value})
    return value


# --- the User Photos library ---------------------------------------------------------------

# One read whether or not there is a file: the profile's timestamp, and the file's sha256 if
# the library has one at this size and the profile shows its picture (SPS-PicturePlaceholder-
# State 0); the placeholder otherwise, as SharePoint shows it over files an app left behind.
_SHOWN_FILE = (
    (LibraryFile.user_id == Profile.user_id)
    & (LibraryFile.size_code == bindparam("b_code"))
    & (Profile.placeholder_state != PLACEHOLDER_SHOWN)
)
_THUMBNAIL = (
    select(Profile.picture_timestamp, LibraryFile.sha256)
    .select_from(Profile)
    .outerjoin(LibraryFile, _SHOWN_FILE)
    .where(Profile.user_id == bindparam("b_user_id"))
)
# The same read with the file's bytes, for when they are not in memory: one statement again, so
# bytes, sha256 and timestamp belong to one picture even if another one is being committed.
_THUMBNAIL_WITH_DATA = (
    select(Profile.picture_timestamp, LibraryFile.sha256, LibraryFile.data)
    .select_from(Profile)
    .outerjoin(LibraryFile, _SHOWN_FILE)
    .where(Profile.user_id == bindparam("b_user_id"))
)
_FILE = (
    select(LibraryFile.user_id, LibraryFile.sha256, Profile.picture_timestamp)
    .join(Profile, Profile.user_id == LibraryFile.user_id)
    .where(LibraryFile.path == bindparam("b_path"))
)
_FILE_WITH_DATA = (
    select(LibraryFile.user_id, LibraryFile.sha256, Profile.picture_timestamp, LibraryFile.data)
    .join(Profile, Profile.user_id == LibraryFile.user_id)
    .where(LibraryFile.path == bindparam("b_path"))
)
_DELETE_USERS_FILES = delete(LibraryFile).where(
    LibraryFile.user_id.in_(bindparam("b_user_ids", expanding=True))
)
_DELETE_FILE = delete(LibraryFile).where(LibraryFile.path == bindparam("b_path"))
_FILE_CODES = select(LibraryFile.size_code).where(LibraryFile.user_id == bindparam("b_user_id"))
_INSERT_FILE = insert(LibraryFile)


def thumbnail(
    conn: Connection, user_id: str, code: SizeCode
) -> tuple[str | None, str | None] | None:
    """(picture timestamp, sha256 of the file at ``code`` or None); None without a profile."""
    row = conn.execute(_THUMBNAIL, {"b_user_id": user_id, "b_code": code}).first()
    return (row[0], row[1]) if row is not None else None


def thumbnail_with_data(
    conn: Connection, user_id: str, code: SizeCode
) -> tuple[str | None, str | None, bytes | None] | None:
    """``thumbnail`` and the file's bytes, from one statement."""
    row = conn.execute(_THUMBNAIL_WITH_DATA, {"b_user_id": user_id, "b_code": code}).first()
    return (row[0], row[1], row[2]) if row is not None else None


def library_file(conn: Connection, path: str) -> tuple[str, str, str | None] | None:
    """(user id, sha256, picture timestamp) of the file at ``path``, or None."""
    row = conn.execute(_FILE, {"b_path": path}).first()
    return (row[0], row[1], row[2]) if row is not None else None


def library_file_with_data(
    conn: Connection, path: str
) -> tuple[str, str, str | None, bytes] | None:
    """``library_file`` and the file's bytes, from one statement."""
    row = conn.execute(_FILE_WITH_DATA, {"b_path": path}).first()
    return (row[0], row[1], row[2], row[3]) if row is not None else None


def put_library_file(conn: Connection, row: Mapping[str, Any]) -> None:
    """Add a file to the library, replacing the one at its path (``Files/add(overwrite=true)``)."""
    conn.execute(_DELETE_FILE, {"b_path": row["path"]})
    conn.execute(_INSERT_FILE, [dict(row)])


def library_sizes(conn: Connection, user_id: str) -> set[str]:
    """The size codes of the files the library has for the user."""
    return set(conn.execute(_FILE_CODES, {"b_user_id": user_id}).scalars())


def replace_library_files(
    conn: Connection, files: Mapping[str, Sequence[Mapping[str, Any]]]
) -> None:
    """Each user's library files become their ``files`` (rows of LibraryFile's columns), for
    every user of ``files`` in two statements."""
    conn.execute(_DELETE_USERS_FILES, {"b_user_ids": list(files)})
    rows = [row for user_files in files.values() for row in user_files]
    if rows:
        conn.execute(_INSERT_FILE, rows)


def shown_sql(user_id: ColumnElement[str]) -> tuple[ColumnElement[bool], ScalarSelect[str | None]]:
    """(whether sites shows the placeholder, the mailbox etag its picture came from) as SQL
    expressions on another role's user id column (see ``mailbox.store.current_etag_sql``).
    A user without a profile row shows the placeholder, as ``profiles`` lazily says."""
    placeholder = (
        select(Profile.placeholder_state).where(Profile.user_id == user_id).scalar_subquery()
    )
    source_etag = select(Profile.source_etag).where(Profile.user_id == user_id).scalar_subquery()
    return func.coalesce(placeholder, PLACEHOLDER_SHOWN) == PLACEHOLDER_SHOWN, source_etag
