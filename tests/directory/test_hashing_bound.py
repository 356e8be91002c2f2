"""argon2 is bounded: so many run at once, so many more wait, the rest are refused at once."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from photosync.context import Context
from photosync.directory import passwords
from photosync.directory.passwords import HashingBusy, _Bound
from photosync.directory.services import DirectoryService
from tests.conftest import make_settings


def test_a_full_queue_refuses_at_once_and_a_freed_slot_lets_the_next_in() -> None:
    bound = _Bound(slots=1, waiting=1)
    release = threading.Event()
    running = threading.Event()
    order: list[str] = []

    def first() -> None:
        with bound.slot():
            running.set()
            release.wait(10)
            order.append("first")

    def second() -> None:
        with bound.slot():
            order.append("second")

    one = threading.Thread(target=first)
    one.start()
    assert running.wait(10)
    two = threading.Thread(target=second)
    two.start()
    # The second waits for the slot (it was admitted); wait until it holds its admission.
    while bound._admitted._value != 0:  # type: ignore[attr-defined]
        threading.Event().wait(0.001)
    with pytest.raises(HashingBusy), bound.slot():
        pass  # a third: neither a slot nor a place in the queue
    release.set()
    one.join(10)
    two.join(10)
    assert order == ["first", "second"]
    with bound.slot():  # everything was given back
        pass


def test_the_settings_say_how_many_hash_at_once_and_at_what_cpu_priority(
    tmp_path: Path, sqlite_url: str
) -> None:
    settings = make_settings(tmp_path, sqlite_url, hashing_at_once=2, hashing_niceness=7)
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    try:
        DirectoryService(Context.from_settings(settings))
        stored = passwords.hash_password("a long enough password")
        assert passwords.verify_password(stored, "a long enough password")
        hashing = [t for t in threading.enumerate() if t.name.startswith("photosync-hashing")]
        assert 1 <= len(hashing) <= 2
        # Linux: the hashing threads (and argon2's lanes, started from them) yield to the
        # event loop; the thread that asked did not change its own priority.
        for thread in hashing:
            assert thread.native_id is not None
            assert os.getpriority(os.PRIO_PROCESS, thread.native_id) == 7
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine
        # Two run, eight wait: the eleventh is refused.
        assert passwords._hashing.bound._admitted._value == 10  # type: ignore[attr-defined]
    finally:
        passwords.configure(passwords.DEFAULT_AT_ONCE, passwords.DEFAULT_NICENESS)
