"""A small in-process LRU of rendition bytes, keyed by sha256.

Blobs are content-addressed, so an entry can never be stale: whatever version a request resolves
to, the bytes under its sha256 are the bytes it wants. That is why caching here needs no
invalidation, unlike caching the "current version" pointer (which another process may move).
Only small renditions are kept: they are what lists and avatars ask for again and again, and a
bound on the total keeps the memory use predictable.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable


class BlobLRU:
    def __init__(self, *, max_total: int = 16 * 1024 * 1024, max_item: int = 128 * 1024) -> None:
        self.max_total = max_total
        self.max_item = max_item
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._total = 0
        # Route handlers run in a thread pool, so two threads may touch the LRU at once.
        self._lock = threading.Lock()

    def get(self, key: str, load: Callable[[str], bytes]) -> bytes:
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
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
