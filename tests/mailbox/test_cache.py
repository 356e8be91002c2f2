"""The rendition LRU: bounded, keyed by content, loads outside its lock."""

from __future__ import annotations

from photosync.blobs import BlobLRU


def test_hits_do_not_reload_and_the_total_stays_bounded() -> None:
    loads: list[str] = []

    def load(key: str) -> bytes:
        loads.append(key)
        return key.encode() * 10  # 10 bytes per one-letter key

    cache = BlobLRU(max_total=30, max_item=20)
    for key in "abc":
        assert cache.get(key, load) == key.encode() * 10
    assert cache.get("a", load) == b"a" * 10
    assert loads == ["a", "b", "c"]
    cache.get("d", load)  # over 30 bytes: the least recently used ("b") goes
    assert len(cache) == 3
    cache.get("b", load)  # reloaded; "c" goes
    cache.get("a", load)  # still there
    assert loads == ["a", "b", "c", "d", "b"]
    cache.get("c", load)
    assert loads[-1] == "c"


def test_large_items_are_served_but_not_kept() -> None:
    calls = 0

    def load(key: str) -> bytes:
        nonlocal calls
        calls += 1
        return b"x" * 100

    cache = BlobLRU(max_total=1000, max_item=50)
    cache.get("big", load)
    cache.get("big", load)
    assert calls == 2 and len(cache) == 0
