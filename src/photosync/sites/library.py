"""The "User Photos" library: each profile's S/M/L thumbnails as rows pointing at blobs.

Writes follow the house rule: blobs first (durable, referenced by nothing), then one transaction
that swaps the three rows and the profile's picture properties. A crash in between leaves
unreferenced blobs and the previous picture, never a mix of two pictures.
Reads take the thumbnail row and the picture timestamp in one query, so a reader sees one whole
picture or the next one.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from photosync import imaging
from photosync.blobs import BlobStore, sha256_hex
from photosync.directory.interfaces import UserInfo
from photosync.mailbox.cache import BlobLRU
from photosync.sites.interfaces import SIZE_CODES, SizeCode, thumbnail_path
from photosync.sites.models import LibraryFile, Profile
from photosync.ttlcache import TTLCache


@dataclass(frozen=True)
class Picture:
    """What userphoto.aspx or a library URL answers: a thumbnail or the placeholder."""

    data: bytes
    etag: str  # quoted, as the ETag header wants it
    placeholder: bool
    timestamp: str | None  # the profile's SPS-PictureTimestamp (the ?t= of versioned URLs)


@dataclass(frozen=True)
class Staged:
    """Thumbnails on their way into the blob store, not shown yet: sha256 and length per size.

    The keys are known before the bytes are on disk (content addressing), so the transaction
    that will show them can do its work while the writes finish; ``show`` waits for them
    before the commit that makes the rows visible.
    """

    keys: Mapping[SizeCode, str]
    lengths: Mapping[SizeCode, int]
    writes: tuple[Future[str], ...] = ()

    def wait_durable(self, blobs: BlobStore) -> None:
        """Return once every thumbnail is durably stored; raise if a write failed."""
        if self.writes:
            written = {write.result() for write in self.writes}
            if written != set(self.keys.values()):
                raise ValueError("staged thumbnails were stored under other keys")
            return
        for code, key in self.keys.items():
            if not blobs.exists(key):
                raise ValueError(f"staged {code} thumbnail is not in the blob store")


_PUTS = ThreadPoolExecutor(max_workers=len(SIZE_CODES), thread_name_prefix="sites-blob-put")


@lru_cache(maxsize=8)
def placeholder(size: int) -> Picture:
    data = imaging.placeholder(size)
    return Picture(data, f'"ph{size}-{sha256_hex(data)[:12]}"', True, None)


def _etag(sha256: str) -> str:
    return f'"{sha256[:20]}"'


# How long this process trusts what it read about a user's current thumbnail. Writes made here
# (``Library.forget`` after every commit) are seen at once; a picture changed by another process
# (a worker, a second server) is seen within this many seconds.
CURRENT_TTL_SECONDS = 1.5


# The statements of the hot paths, built once (building one costs more than running it).
# One read whether or not there is a file: the profile's timestamp, and the file's sha256 if
# the library has one at this size (the placeholder otherwise).
_READ = (
    select(Profile.picture_timestamp, LibraryFile.sha256)
    .select_from(Profile)
    .outerjoin(
        LibraryFile,
        (LibraryFile.user_id == Profile.user_id) & (LibraryFile.size_code == bindparam("b_code")),
    )
    .where(Profile.user_id == bindparam("b_user_id"))
)
_DELETE_FILES = delete(LibraryFile).where(LibraryFile.user_id == bindparam("b_user_id"))
_INSERT_FILE = insert(LibraryFile)


class _NotCached(Exception):
    """Raised by the loader of a memory-only BlobLRU lookup: the bytes are not in memory."""


def _not_cached(key: str) -> bytes:
    raise _NotCached(key)


class Library:
    def __init__(self, blobs: BlobStore, sizes: Mapping[SizeCode, int]) -> None:
        self.blobs = blobs
        self.sizes = dict(sizes)
        # Blobs are content-addressed, so cached bytes can never be stale.
        self.cache = BlobLRU(max_total=32 * 1024 * 1024)
        # (user id, size) -> (sha256 or None for the placeholder, picture timestamp): the
        # pointer, which unlike the bytes can move, hence the short TTL and ``forget``.
        self._current: TTLCache[tuple[str, SizeCode], tuple[str | None, str | None]] = TTLCache(
            CURRENT_TTL_SECONDS
        )
        # Bumped by ``forget``: a read that began before a write committed must not put what it
        # read into ``_current`` after the write's invalidation (it would be stale for a TTL).
        self._generation = 0
        self._guard = threading.Lock()

    # --- reading ---------------------------------------------------------------------------

    def cached(self, user_id: str, code: SizeCode) -> Picture | None:
        """The thumbnail from memory alone (no database, no disk), or None: ask ``read``."""
        current = self._current.get((user_id, code))
        if current is None:
            return None
        sha, timestamp = current
        if sha is None:
            return _with_timestamp(placeholder(self.sizes[code]), timestamp)
        try:
            data = self.cache.get(sha, _not_cached)
        except _NotCached:
            return None
        return Picture(data, _etag(sha), False, timestamp)

    def read(self, session: Connection | Session, user_id: str, code: SizeCode) -> Picture:
        """The user's thumbnail at ``code``, or the placeholder when they have none."""
        generation = self._generation
        row = session.execute(_READ, {"b_user_id": user_id, "b_code": code}).first()
        timestamp, sha = row if row is not None else (None, None)
        with self._guard:
            if generation == self._generation:
                self._current.put((user_id, code), (sha, timestamp))
        if sha is None:
            return _with_timestamp(placeholder(self.sizes[code]), timestamp)
        return Picture(self.cache.get(sha, self.blobs.get), _etag(sha), False, timestamp)

    def forget(self, user_id: str) -> None:
        """The user's picture changed (committed by this process): drop what was read before."""
        with self._guard:
            self._generation += 1
            for code in SIZE_CODES:
                self._current.invalidate((user_id, code))

    def read_path(self, session: Connection | Session, path: str) -> tuple[str, Picture] | None:
        """The file at a canonical library path (see ``thumbnail_path``): (user id, picture)."""
        row = session.execute(
            select(LibraryFile.user_id, LibraryFile.sha256, Profile.picture_timestamp)
            .join(Profile, Profile.user_id == LibraryFile.user_id)
            .where(LibraryFile.path == path)
        ).first()
        if row is None:
            return None
        user_id, sha, timestamp = row
        return user_id, Picture(self.cache.get(sha, self.blobs.get), _etag(sha), False, timestamp)

    # --- writing ---------------------------------------------------------------------------

    def stage(self, files: Mapping[SizeCode, bytes]) -> Staged:
        missing = [code for code in SIZE_CODES if code not in files]
        if missing:
            raise ValueError(f"thumbnails missing for size(s) {', '.join(missing)}")
        # Each put waits for two fsyncs: side by side, and alongside the transaction that will
        # show them, they cost about one.
        writes = tuple(_PUTS.submit(self.blobs.put, files[code]) for code in SIZE_CODES)
        keys = {code: sha256_hex(files[code]) for code in SIZE_CODES}
        return Staged(keys, {code: len(files[code]) for code in SIZE_CODES}, writes)

    def show(
        self,
        conn: Connection,
        user: UserInfo,
        staged: Staged,
        *,
        now: datetime,
    ) -> None:
        """Swap in the staged thumbnails (the caller moves the profile's properties on).

        Runs inside the caller's transaction and returns only when the blobs are durable, so
        the commit that follows never makes a row visible before the bytes it points at.
        """
        conn.execute(_DELETE_FILES, {"b_user_id": user.id})
        conn.execute(
            _INSERT_FILE,
            [
                {
                    "path": thumbnail_path(user.upn, code),
                    "user_id": user.id,
                    "size_code": code,
                    "sha256": staged.keys[code],
                    "length": staged.lengths[code],
                    "modified_at": now,
                }
                for code in SIZE_CODES
            ],
        )
        staged.wait_durable(self.blobs)

    def hide(self, conn: Connection, user_id: str) -> None:
        """The thumbnails leave the library (the caller moves the profile to the placeholder)."""
        conn.execute(_DELETE_FILES, {"b_user_id": user_id})


def _with_timestamp(picture: Picture, timestamp: str | None) -> Picture:
    if timestamp is None:
        return picture
    return Picture(picture.data, picture.etag, picture.placeholder, timestamp)
