"""Each user's current photo version, remembered by the Graph reads.

Unlike the rendition bytes (content-addressed, in ``blobs.lru.BlobLRU``), this pointer moves:
``photo.changed`` (sent after this process's commits) drops a user's entry at once, and a change
made by another process is seen within FRESHNESS_SECONDS.
"""

from __future__ import annotations

from collections.abc import Callable

from photosync.mailbox.store import StoredPhoto
from photosync.ttlcache import FRESHNESS_SECONDS, TTLCache


class CurrentPhotos:
    """User id -> their current ``StoredPhoto`` (version and rendition keys), for a moment.

    Only photos that exist are kept: "no photo" is always asked of the database.
    """

    def __init__(self, ttl: float = FRESHNESS_SECONDS) -> None:
        self._current: TTLCache[str, StoredPhoto] = TTLCache(ttl)

    def get(self, user_id: str) -> StoredPhoto | None:
        """From memory alone; None means "read it" (``load``)."""
        return self._current.get(user_id)

    def load(self, user_id: str, read: Callable[[str], StoredPhoto | None]) -> StoredPhoto | None:
        """``read(user_id)`` (the database), remembered unless a write overtook it."""
        generation = self._current.generation
        stored = read(user_id)
        if stored is not None:
            self._current.put(user_id, stored, if_generation=generation)
        return stored

    def forget(self, user_id: str) -> None:
        """The user's photo changed (committed by this process): drop what was read before."""
        self._current.invalidate(user_id)
