"""The small expiring cache behind the hot paths, and its guard against stale re-inserts."""

from __future__ import annotations

from photosync.ttlcache import TTLCache


def test_values_expire_after_the_ttl() -> None:
    cache: TTLCache[str, int] = TTLCache(ttl=0.0)
    cache.put("a", 1)
    assert cache.get("a") is None
    longer: TTLCache[str, int] = TTLCache(ttl=60.0)
    longer.put("a", 1)
    assert longer.get("a") == 1


def test_a_read_overtaken_by_an_invalidation_is_not_remembered() -> None:
    cache: TTLCache[str, str] = TTLCache(ttl=60.0)
    generation = cache.generation  # a reader starts reading the source...
    cache.invalidate("user")  # ...a writer commits and invalidates...
    cache.put("user", "old value", if_generation=generation)  # ...the reader finishes
    assert cache.get("user") is None
    cache.put("user", "new value", if_generation=cache.generation)
    assert cache.get("user") == "new value"


def test_invalidate_takes_several_keys_and_is_bounded() -> None:
    cache: TTLCache[int, int] = TTLCache(ttl=60.0, max_items=3)
    for i in range(5):
        cache.put(i, i)
    assert [cache.get(i) for i in range(5)] == [None, None, 2, 3, 4]
    cache.invalidate(2, 3)
    assert [cache.get(i) for i in range(5)] == [None, None, None, None, 4]
