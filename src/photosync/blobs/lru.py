"""An in-process LRU of small content-addressed bytes (photo renditions, library thumbnails).

Keyed by sha256, so an entry can never be stale: whatever version a request resolves to, the
bytes under its sha256 are the bytes it wants. That is why it needs no invalidation. Only small
items are kept (what lists and avatars ask for again and again), under a bound on the total.
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
