"""argon2 is bounded: so many run at once, so many more wait, the rest are refused at once."""

from __future__ import annotations

import threading

import argon2
import pytest

from photosync.directory import passwords
from photosync.directory.passwords import HashingBusy, _Bound


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


def test_the_bound_is_one_hash_per_core() -> None:
    assert passwords.HASHING_AT_ONCE >= 1
    assert passwords.HASHING_WAITING == 4 * passwords.HASHING_AT_ONCE


def test_checking_an_unknown_user_costs_what_checking_a_real_hash_costs() -> None:
    # The dummy hash an unknown user is checked against is written out, not hashed: it must
    # carry the parameters a real hash of this hasher has (memory, passes, lanes, lengths),
    # since those are what a verify spends, and it must be a hash argon2 accepts and rejects.
    real = passwords.hash_password("a real password here")
    assert argon2.extract_parameters(passwords._DUMMY_HASH) == argon2.extract_parameters(real)
    assert passwords.verify_password(None, "photosync-dummy-password") is False
    with pytest.raises(argon2.exceptions.VerifyMismatchError):
        passwords._hasher.verify(passwords._DUMMY_HASH, "")
