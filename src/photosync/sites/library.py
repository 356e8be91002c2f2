"""The "User Photos" library: each profile's S/M/L thumbnails as rows that hold their bytes.

Writes are one transaction that swaps the three rows (bytes included) and the profile's picture
properties: a crash or a failure before the commit leaves the previous picture, never a mix of
two pictures, and leaves nothing behind to collect. (The mailbox keeps its photos in the blob
store; these thumbnails are small enough to sit in the database, which saves a sync the fsync
of three blob files before its commit.)
Reads take the thumbnail row and the picture timestamp in one query, so a reader sees one whole
picture or the next one. The statements live in ``sites.store`` with the role's others; this
module is what sits in front of them: staging, and the memory of current pictures and bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy.engine import Connection

from photosync import imaging
from photosync.blobs import BlobLRU, sha256_hex
from photosync.directory.interfaces import UserInfo
from photosync.sites import store
from photosync.sites.interfaces import SIZE_CODES, SizeCode, thumbnail_path
from photosync.ttlcache import FRESHNESS_SECONDS, TTLCache


@dataclass(frozen=True)
class Picture:
    """What userphoto.aspx or a library URL answers: a thumbnail or the placeholder."""

    data: bytes
    etag: str  # quoted, as the ETag header wants it
    placeholder: bool
    timestamp: str | None  # the profile's SPS-PictureTimestamp (the ?t= of versioned URLs)


@dataclass(frozen=True)
class Staged:
    """Thumbnails ready to be shown, not shown yet: bytes, sha256 and length per size.

    Nothing is written until ``show``: the bytes go into the library rows in its transaction.
    """

    files: Mapping[SizeCode, bytes]
    keys: Mapping[SizeCode, str]
    lengths: Mapping[SizeCode, int]


@lru_cache(maxsize=8)
def placeholder(size: int) -> Picture:
    data = imaging.placeholder(size)
    return Picture(data, f'"ph{size}-{sha256_hex(data)[:12]}"', True, None)


def _etag(sha256: str) -> str:
    return f'"{sha256[:20]}"'


class _NotCached(Exception):
    """Raised by the loader of a memory-only BlobLRU lookup: the bytes are not in memory."""


def _not_cached(key: str) -> bytes:
    raise _NotCached(key)


class Library:
    def __init__(self, sizes: Mapping[SizeCode, int]) -> None:
        self.sizes = dict(sizes)
        # Keyed by the bytes' sha256, so cached bytes can never be stale.
        self.cache = BlobLRU(max_total=32 * 1024 * 1024)
        # (user id, size) -> (sha256 or None for the placeholder, picture timestamp): the
        # pointer, which unlike the bytes can move, hence the short TTL and ``forget``.
        self._current: TTLCache[tuple[str, SizeCode], tuple[str | None, str | None]] = TTLCache(
            FRESHNESS_SECONDS
        )

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

    def read(self, conn: Connection, user_id: str, code: SizeCode) -> Picture:
        """The user's thumbnail at ``code``, or the placeholder when they have none."""
        generation = self._current.generation
        row = store.thumbnail(conn, user_id, code)
        timestamp, sha = row if row is not None else (None, None)
        data = None if sha is None else self.cache.peek(sha)
        if sha is not None and data is None:
            # Read again with the bytes (rather than by sha256 alone): the picture may have
            # changed since the first read, and bytes of one must not go out with another's ETag.
            full = store.thumbnail_with_data(conn, user_id, code)
            timestamp, sha, data = full if full is not None else (None, None, None)
            if sha is not None and data is not None:
                self._remember(sha, data)
        self._current.put((user_id, code), (sha, timestamp), if_generation=generation)
        if sha is None or data is None:
            return _with_timestamp(placeholder(self.sizes[code]), timestamp)
        return Picture(data, _etag(sha), False, timestamp)

    def _remember(self, sha: str, data: bytes) -> None:
        """Keep bytes read from a row in memory (if they are small enough for the LRU)."""
        self.cache.get(sha, lambda _key: data)

    def forget(self, user_id: str) -> None:
        """The user's picture changed (committed by this process): drop what was read before."""
        self._current.invalidate(*((user_id, code) for code in SIZE_CODES))

    def read_path(self, conn: Connection, path: str) -> tuple[str, Picture] | None:
        """The file at a canonical library path (see ``thumbnail_path``): (user id, picture)."""
        row = store.library_file(conn, path)
        if row is None:
            return None
        user_id, sha, timestamp = row
        data = self.cache.peek(sha)
        if data is None:
            # As in ``read``: bytes, ETag and timestamp from one statement.
            full = store.library_file_with_data(conn, path)
            if full is None:
                return None
            user_id, sha, timestamp, data = full
            self._remember(sha, data)
        return user_id, Picture(data, _etag(sha), False, timestamp)

    # --- writing ---------------------------------------------------------------------------

    def stage(self, files: Mapping[SizeCode, bytes]) -> Staged:
        missing = [code for code in SIZE_CODES if code not in files]
        if missing:
            raise ValueError(f"thumbnails missing for size(s) {', '.join(missing)}")
        return Staged(
            {code: files[code] for code in SIZE_CODES},
            {code: sha256_hex(files[code]) for code in SIZE_CODES},
            {code: len(files[code]) for code in SIZE_CODES},
        )

    def show(
        self,
        conn: Connection,
        pictures: Sequence[tuple[UserInfo, Staged]],
        *,
        now: datetime,
    ) -> None:
        """Swap in each user's staged thumbnails (the caller moves the profiles on).

        Runs inside the caller's transaction: the rows carry the bytes, so its commit makes
        the whole pictures visible at once, and its rollback leaves no trace of them.
        """
        store.replace_library_files(
            conn,
            {
                user.id: [
                    {
                        "path": thumbnail_path(user.upn, code),
                        "user_id": user.id,
                        "size_code": code,
                        "sha256": staged.keys[code],
                        "length": staged.lengths[code],
                        "data": staged.files[code],
                        "modified_at": now,
                    }
                    for code in SIZE_CODES
                ]
                for user, staged in pictures
            },
        )

    def hide(self, conn: Connection, user_id: str) -> None:
        """The thumbnails leave the library (the caller moves the profile to the placeholder)."""
        store.replace_library_files(conn, {user_id: []})


def _with_timestamp(picture: Picture, timestamp: str | None) -> Picture:
    if timestamp is None:
        return picture
    return Picture(picture.data, picture.etag, picture.placeholder, timestamp)
