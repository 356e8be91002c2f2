"""The "User Photos" library: each profile's S/M/L thumbnails as rows pointing at blobs.

Writes follow the house rule: blobs first (durable, referenced by nothing), then one transaction
that swaps the three rows and the profile's picture properties. A crash in between leaves
unreferenced blobs and the previous picture, never a mix of two pictures.
Reads take the thumbnail row and the picture timestamp in one query, so a reader sees one whole
picture or the next one.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from photosync import imaging
from photosync.blobs import BlobStore, sha256_hex
from photosync.directory.interfaces import UserInfo
from photosync.mailbox.cache import BlobLRU
from photosync.sites.interfaces import SIZE_CODES, SizeCode, thumbnail_path
from photosync.sites.models import PLACEHOLDER, REAL_PICTURE, LibraryFile, Profile
from photosync.sites.profiles import next_timestamp


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


class Library:
    def __init__(self, blobs: BlobStore, sizes: Mapping[SizeCode, int]) -> None:
        self.blobs = blobs
        self.sizes = dict(sizes)
        # Blobs are content-addressed, so cached bytes can never be stale.
        self.cache = BlobLRU(max_total=32 * 1024 * 1024)

    # --- reading ---------------------------------------------------------------------------

    def read(self, session: Connection | Session, user_id: str, code: SizeCode) -> Picture:
        """The user's thumbnail at ``code``, or the placeholder when they have none."""
        row = session.execute(
            select(LibraryFile.sha256, Profile.picture_timestamp)
            .join(Profile, Profile.user_id == LibraryFile.user_id)
            .where(LibraryFile.user_id == user_id, LibraryFile.size_code == code)
        ).first()
        if row is None:
            timestamp = session.scalar(
                select(Profile.picture_timestamp).where(Profile.user_id == user_id)
            )
            return _with_timestamp(placeholder(self.sizes[code]), timestamp)
        sha, timestamp = row
        return Picture(self.cache.get(sha, self.blobs.get), _etag(sha), False, timestamp)

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
        session: Session,
        user: UserInfo,
        profile: Profile,
        staged: Staged,
        *,
        source: str,
        source_etag: str | None,
        now: datetime,
    ) -> str:
        """Swap in the staged thumbnails and the picture properties; the new timestamp.

        Runs inside the caller's transaction and returns only when the blobs are durable, so
        the commit that follows never makes a row visible before the bytes it points at.
        """
        session.execute(delete(LibraryFile).where(LibraryFile.user_id == user.id))
        session.execute(
            insert(LibraryFile),
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
        profile.picture_timestamp = next_timestamp(profile.picture_timestamp, now)
        profile.placeholder_state = REAL_PICTURE
        profile.picture_source = source
        profile.source_etag = source_etag
        profile.updated_at = now
        return profile.picture_timestamp

    def hide(self, session: Session, user_id: str, profile: Profile, *, now: datetime) -> None:
        """Back to the placeholder: the thumbnails leave the library, the timestamp moves on."""
        session.execute(delete(LibraryFile).where(LibraryFile.user_id == user_id))
        profile.picture_timestamp = next_timestamp(profile.picture_timestamp, now)
        profile.placeholder_state = PLACEHOLDER
        profile.picture_source = None
        profile.source_etag = None
        profile.updated_at = now


def _with_timestamp(picture: Picture, timestamp: str | None) -> Picture:
    if timestamp is None:
        return picture
    return Picture(picture.data, picture.etag, picture.placeholder, timestamp)
