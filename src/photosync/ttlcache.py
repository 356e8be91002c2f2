"""A small, thread-safe cache whose entries expire after a few seconds, and ``NotInMemory``.

For lookups on every request's hot path (who is this token's user? which version is current?)
where a change committed by this process is invalidated at once (by the event sent after the
commit) and a change made by another process is seen within ``FRESHNESS_SECONDS``.

``NotInMemory`` is how a read asked to answer from memory alone (``memory_only=True``) says it
would need the database or the disk: the HTTP edge then runs the *same* read again in a worker
thread. That is what lets each hot route have one read path that is also fast.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

# How long any process trusts what it read about something another process may change (a user
# record, a current photo version, a current picture). Stated once, in docs/operations.md.
FRESHNESS_SECONDS = 2.0


class NotInMemory(Exception):
    """The answer needs the database or the disk: ask again with ``memory_only=False``."""


class TTLCache(Generic[K, V]):
    def __init__(self, ttl: float, max_items: int = 10_000) -> None:
        self.ttl = ttl
        self.max_items = max_items
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()
        # Bumped by every invalidation: a read that began before a write committed must not put
        # what it read back after the write's invalidation (it would be stale for a whole TTL).
        self._generation = 0

    @property
    def generation(self) -> int:
        """Take this before reading the source; pass it to ``put(..., if_generation=)``."""
        return self._generation

    def get(self, key: K) -> V | None:
        with self._lock:
            entry = self._items.get(key)
            if entry is None:
                return None
            expires, value = entry
            if expires < time.monotonic():
                del self._items[key]
                return None
            return value

    def put(self, key: K, value: V, *, if_generation: int | None = None) -> None:
        """Remember ``value``; with ``if_generation``, only if nothing was invalidated since."""
        with self._lock:
            if if_generation is not None and if_generation != self._generation:
                return
            self._items[key] = (time.monotonic() + self.ttl, value)
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)

    def invalidate(self, *keys: K) -> None:
        with self._lock:
            self._generation += 1
            for key in keys:
                self._items.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._items.clear()
