"""In-process caches of the photo reads: rendition bytes by sha256, current version by user.

Blobs are content-addressed, so a ``BlobLRU`` entry can never be stale: whatever version a
request resolves to, the bytes under its sha256 are the bytes it wants. That is why caching
there needs no invalidation, unlike ``CurrentPhotos``, the "current version" pointer (which
another process may move), hence its short lifetime and ``forget``.
Only small renditions are kept: they are what lists and avatars ask for again and again, and a
bound on the total keeps the memory use predictable.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from photosync.mailbox.store import StoredPhoto
from photosync.ttlcache import TTLCache

# How long this process trusts what it read about a user's current photo. Writes made here
# (``CurrentPhotos.forget`` after every mailbox transaction) are seen at once; a photo changed
# by another process (the CLI, a second server) is seen within this many seconds.
CURRENT_TTL_SECONDS = 1.5


class BlobLRU:
    def __init__(self, *, max_total: int = 16 * 1024 * 1024, max_item: int = 128 * 1024) -> None:
        self.max_total = max_total
        self.max_item = max_item
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._total = 0
        # Route handlers run in a thread pool, so two threads may touch the LRU at once.
        self._lock = threading.Lock()

    def peek(self, key: str) -> bytes | None:
        """The bytes if they are in memory (never loads): for code on the event loop."""
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
            return data

    def get(self, key: str, load: Callable[[str], bytes]) -> bytes:
        data = self.peek(key)
        if data is not None:
            return data
        # Load outside the lock: a slow disk read must not stall every other request.
        data = load(key)
        if len(data) <= self.max_item:
            with self._lock:
                if key not in self._items:
                    self._items[key] = data
                    self._total += len(data)
                    while self._total > self.max_total:
                        _, dropped = self._items.popitem(last=False)
                        self._total -= len(dropped)
        return data

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._total = 0


class CurrentPhotos:
    """User id -> their current ``StoredPhoto`` (version and rendition keys), for a moment.

    Only photos that exist are kept: "no photo" is always asked of the database.
    """

    def __init__(self, ttl: float = CURRENT_TTL_SECONDS) -> None:
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
