"""argon2 is bounded: so many run at once, so many more wait, the rest are refused at once."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import argon2
import pytest
from argon2 import PasswordHasher

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


def test_checking_an_unknown_user_costs_what_checking_a_real_hash_costs() -> None:
    # The dummy hash an unknown user is checked against is written out, not hashed: it must
    # carry the parameters a real hash of this hasher has (memory, passes, lanes, lengths),
    # since those are what a verify spends, and it must be a hash argon2 accepts and rejects.
    real = passwords.hash_password("a real password here")
    assert argon2.extract_parameters(passwords._DUMMY_HASH) == argon2.extract_parameters(real)
    assert passwords.verify_password(None, "photosync-dummy-password") is False
    with pytest.raises(argon2.exceptions.VerifyMismatchError):
        passwords._hasher.verify(passwords._DUMMY_HASH, "")


def test_the_settings_say_how_many_hash_at_once_and_at_what_cpu_priority(
    tmp_path: Path, sqlite_url: str
) -> None:
    settings = make_settings(tmp_path, sqlite_url, hashing_at_once=2, hashing_niceness=7)
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    try:
        DirectoryService(Context.from_settings(settings))
        stored = passwords.hash_password("a long enough password")
        assert passwords.verify_password(stored, "a long enough password")
        # Linux: a check runs on a hashing thread at that niceness, never on the caller's
        # thread, whose own priority is left alone.
        ran_on = passwords._bounded(
            lambda: (
                threading.current_thread().name,
                os.getpriority(os.PRIO_PROCESS, threading.get_native_id()),
            )
        )
        assert ran_on[0].startswith("photosync-hashing") and ran_on[1] == 7, ran_on
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine
        # Two run, eight wait: the eleventh is refused.
        assert passwords._hashing.bound._admitted._value == 10  # type: ignore[attr-defined]
    finally:
        passwords.configure(passwords.DEFAULT_AT_ONCE, passwords.DEFAULT_NICENESS)


@pytest.mark.parametrize(
    "hasher",
    [PasswordHasher(), PasswordHasher(time_cost=1, memory_cost=1024, parallelism=3)],
    ids=["argon2-cffi's defaults", "other parameters"],
)
def test_a_check_on_one_thread_agrees_with_argon2s_own(hasher: PasswordHasher) -> None:
    # The check computes the hash's lanes on one thread: every stored hash, whatever its
    # parameters, still matches its password and nothing else.
    stored = hasher.hash("a long enough password")
    assert hasher.verify(stored, "a long enough password")
    assert passwords.verify_password(stored, "a long enough password")
    assert not passwords.verify_password(stored, "a long enough passwore")
    assert not passwords.verify_password(stored, "")
    assert not passwords.verify_password(None, "photosync-dummy-password")  # the dummy's own
    assert not passwords.verify_password("", "photosync-dummy-password")
    salt, digest = stored.split("$")[-2:]
    for broken in (
        "not a hash",
        stored[:-4],  # a shorter digest
        stored.replace(salt, salt[::-1]),
        stored.replace(digest, "!" * len(digest)),
        stored.replace("$argon2id$", "$argon2x$"),
    ):
        assert not passwords.verify_password(broken, "a long enough password"), broken


def test_a_check_is_right_while_other_threads_allocate() -> None:
    # A server's other threads allocate all the time. The check's buffers must stay its own
    # until argon2 has read them: made inline in the context, cffi freed them at once, and with
    # another thread allocating, the check read someone else's bytes and refused a right
    # password (396 times in 400 here).
    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=3)
    stored = hasher.hash("a long enough password")
    stop = threading.Event()

    def allocate() -> None:
        while not stop.is_set():
            [bytearray(n) for n in (16, 22, 32, 48, 600, 2000)]

    other = threading.Thread(target=allocate)
    other.start()
    try:
        refused = sum(not passwords._matches(stored, "a long enough password") for _ in range(200))
    finally:
        stop.set()
        other.join()
    assert refused == 0
