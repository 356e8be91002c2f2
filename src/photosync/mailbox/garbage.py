"""Collecting what the mailbox no longer needs: old photo versions, then unreferenced blobs.

Two passes, each safe against writers running at the same time:

1. Versions: per user, in one transaction that locks the user's pointer row (as every photo
   change does), the current version, a pending preview and the newest others up to the
   ``keep`` count stay; older versions and their rendition rows go.
2. Blobs: a blob no rendition row names is deleted only if nothing wrote or kept it for a grace
   period. An upload writes its blobs before the row that points to them, and a restore points
   new rows at old blobs; both restart the blob's clock first (``put`` / ``keep``), so a blob on
   its way to being referenced is never taken (``BlobStore.collect`` closes the last race).
   First, what a killed writer or collector left (a half-written temporary file, a blob moved
   aside) is cleared (``BlobStore.sweep``), so that a crash leaves nothing behind for good.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, delete, func, select

from photosync.blobs import BlobStore
from photosync.chunks import chunked
from photosync.db import Database
from photosync.mailbox.models import MailboxPhoto, PhotoRendition, PhotoVersion

# Long enough for any upload to go from its blobs to its commit, short enough to matter.
BLOB_GRACE = timedelta(hours=1)
_CHUNK = 500


@dataclass(frozen=True)
class GarbageReport:
    """What one collection removed, and the unreferenced blobs it left for being too new."""

    versions: int = 0
    renditions: int = 0
    blobs: int = 0
    young_blobs: int = 0
    leftovers: int = 0  # files a crashed write or collection left, cleared


_CROWDED = (
    select(PhotoVersion.user_id)
    .group_by(PhotoVersion.user_id)
    .having(func.count() > bindparam("keep"))
)
_VERSIONS_OF = (
    select(PhotoVersion.id)
    .where(PhotoVersion.user_id == bindparam("user_id"))
    .order_by(PhotoVersion.created_at.desc(), PhotoVersion.id)
)
_REFERENCED = (
    select(PhotoRendition.sha256)
    .where(PhotoRendition.sha256.in_(bindparam("keys", expanding=True)))
    .distinct()
)


def collect_versions(db: Database, keep: int) -> tuple[int, int]:
    """Delete each user's versions beyond ``keep``; (versions, rendition rows) deleted."""
    with db.engine.connect() as conn:
        crowded = list(conn.scalars(_CROWDED, {"keep": keep}))
    versions = renditions = 0
    for user_id in crowded:
        with db.write_session() as session:
            # The lock every photo change takes: no save, restore or preview moves the pointer
            # while this decides which versions are still wanted.
            pointer = session.get(MailboxPhoto, user_id, with_for_update=True)
            kept = {
                version_id
                for version_id in (
                    pointer.current_version_id if pointer else None,
                    pointer.preview_version_id if pointer else None,
                )
                if version_id is not None
            }
            doomed = []
            for version_id in session.scalars(_VERSIONS_OF, {"user_id": user_id}):
                if version_id in kept:
                    continue
                if len(kept) < keep:
                    kept.add(version_id)
                else:
                    doomed.append(version_id)
            if not doomed:
                continue
            conn = session.connection()
            renditions += conn.execute(
                delete(PhotoRendition).where(PhotoRendition.version_id.in_(doomed))
            ).rowcount
            versions += conn.execute(
                delete(PhotoVersion).where(PhotoVersion.id.in_(doomed))
            ).rowcount
    return versions, renditions


def collect_blobs(db: Database, blobs: BlobStore, grace: timedelta) -> tuple[int, int, int]:
    """Clear what crashes left, then delete the blobs no rendition names and nobody wrote or
    kept within ``grace``; (deleted, unreferenced but too new to delete, leftovers cleared)."""
    seconds = grace.total_seconds()
    leftovers = blobs.sweep(seconds)
    deleted = young = 0
    for chunk in chunked(blobs.keys(), _CHUNK):
        with db.engine.connect() as conn:
            referenced = set(conn.scalars(_REFERENCED, {"keys": chunk}))
        for key in chunk:
            if key in referenced:
                continue
            if blobs.collect(key, seconds):
                deleted += 1
            elif blobs.exists(key):
                young += 1
    return deleted, young, leftovers
