"""The mailbox tables as the service reads and writes them: one version with its renditions.

Kept apart from the service so that the hot read (one prepared query) and the small write
helpers can be read, and tuned, on their own.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import Any

from sqlalchemy import ColumnElement, Connection, ScalarSelect, Select, bindparam, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from photosync.mailbox.errors import SizeNotOffered
from photosync.mailbox.interfaces import PastVersion, PhotoInfo
from photosync.mailbox.models import MailboxPhoto, PhotoRendition, PhotoVersion


@dataclass(frozen=True)
class StoredPhoto:
    """One version as readers need it: its info and the blob key of each offered size."""

    info: PhotoInfo
    blob_keys: Mapping[int, str]

    def key_for(self, size: int | None) -> tuple[int, str]:
        size = self.info.master_size if size is None else size
        key = self.blob_keys.get(size)
        if key is None:
            raise SizeNotOffered(size, tuple(sorted(self.blob_keys)))
        return size, key


# A version's rows as every read here takes them: one per rendition, with the version's info.
_RENDITION_ROWS = select(
    PhotoVersion.id,
    PhotoVersion.etag,
    PhotoVersion.created_at,
    PhotoVersion.created_by,
    PhotoRendition.size,
    PhotoRendition.sha256,
).join(PhotoRendition, PhotoRendition.version_id == PhotoVersion.id)


def _version_query(
    points_at: InstrumentedAttribute[str | None],
) -> Select[str, str, datetime, str, int, str]:
    return (
        _RENDITION_ROWS.join(MailboxPhoto, points_at == PhotoVersion.id)
        .where(MailboxPhoto.user_id == bindparam("user_id"))
        .order_by(PhotoRendition.size)
    )


# Built once: SQLAlchemy then reuses the compiled SQL without re-deriving its cache key, which
# on the hot read path cost more than the query itself.
_CURRENT = _version_query(MailboxPhoto.current_version_id)
_PREVIEW = _version_query(MailboxPhoto.preview_version_id)


def load_version(conn: Connection | Session, user_id: str, *, preview: bool) -> StoredPhoto | None:
    """One query for a user's version and its renditions (this is the hot read path)."""
    return _stored(user_id, conn.execute(_PREVIEW if preview else _CURRENT, {"user_id": user_id}))


def _stored(user_id: str, result: Iterable[Any]) -> StoredPhoto | None:
    """One version from its rendition rows (ascending sizes), or None if there are none."""
    rows = list(result)
    if not rows:
        return None
    return StoredPhoto(_info(user_id, rows), {row.size: row.sha256 for row in rows})


def _info(user_id: str, rows: Sequence[Any]) -> PhotoInfo:
    """A version's info from its rendition rows (one per size, ascending)."""
    first = rows[0]
    return PhotoInfo(
        user_id=user_id,
        version_id=first.id,
        etag=first.etag,
        sizes=tuple(row.size for row in rows),
        created_at=first.created_at,
        created_by=first.created_by,
    )


# The current versions of many users, for pages that list people (one query, not one each).
_CURRENT_OF_MANY = (
    _RENDITION_ROWS.add_columns(MailboxPhoto.user_id)
    .join(MailboxPhoto, MailboxPhoto.current_version_id == PhotoVersion.id)
    .where(MailboxPhoto.user_id.in_(bindparam("user_ids", expanding=True)))
    .order_by(MailboxPhoto.user_id, PhotoRendition.size)
)


def load_current(conn: Connection, user_ids: Sequence[str]) -> dict[str, StoredPhoto]:
    """The current version of each user who has one, with its blob keys, by user id."""
    rows = conn.execute(_CURRENT_OF_MANY, {"user_ids": list(user_ids)}).all()
    found: dict[str, StoredPhoto] = {}
    for user_id, group in groupby(rows, key=lambda row: row.user_id):
        stored = _stored(user_id, group)
        if stored is not None:
            found[user_id] = stored
    return found


def lock_pointer(session: Session, user_id: str) -> MailboxPhoto:
    pointer = session.get(MailboxPhoto, user_id, with_for_update=True)
    if pointer is None:
        pointer = MailboxPhoto(user_id=user_id)
        session.add(pointer)
        session.flush()
    return pointer


def new_etag(session: Session, user_id: str) -> str:
    """8 upper-case hex digits like Graph's, never reused among one user's versions.

    Sync compares a profile's last-taken etag with the mailbox's, so a repeat for the same
    user would hide a change; across users it does not matter.
    """
    while True:
        etag = random_etag()
        taken = session.scalar(
            select(PhotoVersion.id).where(
                PhotoVersion.user_id == user_id, PhotoVersion.etag == etag
            )
        )
        if taken is None:
            return etag


def random_etag() -> str:
    return secrets.token_hex(4).upper()


def version_info(version: PhotoVersion, sizes: tuple[int, ...]) -> PhotoInfo:
    return PhotoInfo(
        user_id=version.user_id,
        version_id=version.id,
        etag=version.etag,
        sizes=sizes,
        created_at=version.created_at,
        created_by=version.created_by,
    )


# --- history ------------------------------------------------------------------------------

_HISTORY = _RENDITION_ROWS.where(PhotoVersion.user_id == bindparam("user_id")).order_by(
    PhotoVersion.created_at.desc(), PhotoVersion.id, PhotoRendition.size
)
_POINTERS = select(MailboxPhoto.current_version_id, MailboxPhoto.preview_version_id).where(
    MailboxPhoto.user_id == bindparam("user_id")
)


def load_history(conn: Connection | Session, user_id: str) -> list[PastVersion]:
    """Every version of a user's photo, newest first (two queries)."""
    pointers = conn.execute(_POINTERS, {"user_id": user_id}).first()
    current, preview = pointers if pointers is not None else (None, None)
    rows = conn.execute(_HISTORY, {"user_id": user_id}).all()
    history = []
    for _, group in groupby(rows, key=lambda row: row.id):
        version = list(group)
        info = _info(user_id, version)
        history.append(
            PastVersion(
                info=info,
                sha256=version[-1].sha256,  # the largest size is the master
                current=info.version_id == current,
                preview=info.version_id == preview,
            )
        )
    return history


_VERSION = _RENDITION_ROWS.where(
    PhotoVersion.user_id == bindparam("user_id"), PhotoVersion.id == bindparam("id")
).order_by(PhotoRendition.size)


def load_version_by_id(
    conn: Connection | Session, user_id: str, version_id: str
) -> StoredPhoto | None:
    """Any one version of this user's photo (None if they have none by that id)."""
    return _stored(user_id, conn.execute(_VERSION, {"user_id": user_id, "id": version_id}))


def add_version(
    session: Session,
    template: PhotoVersion,
    renditions: Mapping[int, tuple[str, int]],
) -> PhotoVersion:
    """``template`` (a version not yet added) and its renditions, size -> (sha256, length),
    written: the one place a version's rows are made, for an upload and for a restore."""
    session.add(template)
    session.flush()
    for size, (sha256, length) in sorted(renditions.items()):
        session.add(PhotoRendition(version_id=template.id, size=size, sha256=sha256, length=length))
    return template


def copy_version(
    session: Session, old: PhotoVersion, *, etag: str, now: datetime, by: str
) -> PhotoVersion:
    """A new version of the same user with ``old``'s renditions (the same blobs)."""
    return add_version(
        session,
        PhotoVersion(
            user_id=old.user_id,
            etag=etag,
            source_sha256=old.source_sha256,
            source_format=old.source_format,
            source_width=old.source_width,
            source_height=old.source_height,
            master_size=old.master_size,
            created_at=now,
            created_by=by,
        ),
        {r.size: (r.sha256, r.length) for r in old.renditions},
    )


def current_etag_sql(user_id: ColumnElement[str]) -> ScalarSelect[str]:
    """The etag of the user's current photo (NULL without one), as a SQL expression on another
    role's user id column: how a listing of people sorts and filters by the mailbox's state in
    the same query (the admin page's, whatever the directory's size)."""
    return (
        select(PhotoVersion.etag)
        .join(MailboxPhoto, MailboxPhoto.current_version_id == PhotoVersion.id)
        .where(MailboxPhoto.user_id == user_id)
        .scalar_subquery()
    )
