"""Password and secret hashing (argon2id), bounded in how many run at once.

Each argon2id hash or check takes 64 MiB and its cores for ~50 ms (argon2-cffi's defaults, the
RFC 9106 second recommendation). Unbounded, a flood of sign-ins or client-credential requests
ran one per server thread at once: 40 × 64 MiB, a server of 1.1 GB, and photo reads queued
behind them for threads and cores. So at most ``HASHING_AT_ONCE`` (one per two cores) run at once;
up to ``HASHING_WAITING`` more wait their turn, and any beyond that are refused at once with
``HashingBusy`` (the token endpoint's 429, the sign-in page's 503) rather than holding a
server thread while they wait.
"""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.low_level import ARGON2_VERSION

T = TypeVar("T")

_hasher = PasswordHasher()


def _b64_zeros(length: int) -> str:
    return base64.b64encode(bytes(length)).decode().rstrip("=")


# Verifying against this when the user does not exist keeps sign-in time the same either way:
# an argon2id hash string with the hasher's own cost parameters (what a verify pays for), and a
# salt and digest of zeros that no password matches. Written out rather than hashed, because a
# hash made at import cost every process (each `serve`, each CLI command) 64 MiB and its cores
# for ~50 ms before it did anything.
_DUMMY_HASH = (
    f"$argon2id$v={ARGON2_VERSION}"
    f"$m={_hasher.memory_cost},t={_hasher.time_cost},p={_hasher.parallelism}"
    f"${_b64_zeros(_hasher.salt_len)}${_b64_zeros(_hasher.hash_len)}"
)

# Half the cores: one argon2id check runs its 4 lanes on threads of its own, so two at once
# already fill a 2-core machine, and the event loop answering photo reads needs a core too.
HASHING_AT_ONCE = max(1, (os.cpu_count() or 1) // 2)
HASHING_WAITING = 4 * HASHING_AT_ONCE


class HashingBusy(Exception):
    """Too many password checks are already running or waiting: ask again in a moment."""

    message = "Too many sign-ins at once; try again in a moment."
    retry_after = 1


class _Bound:
    """A semaphore with a bounded queue: ``slots`` run, ``waiting`` may wait, others refused."""

    def __init__(self, slots: int, waiting: int) -> None:
        self._slots = threading.BoundedSemaphore(slots)
        self._admitted = threading.BoundedSemaphore(slots + waiting)

    def full(self) -> bool:
        """Whether a caller now would be refused (a hint: the slot itself decides)."""
        return self._admitted._value == 0

    @contextmanager
    def slot(self) -> Iterator[None]:
        if not self._admitted.acquire(blocking=False):
            raise HashingBusy
        try:
            with self._slots:
                yield
        finally:
            self._admitted.release()


_bound = _Bound(HASHING_AT_ONCE, HASHING_WAITING)


def hashing_full() -> bool:
    """Whether a password check asked for now would be refused with HashingBusy: lets the
    token endpoint refuse a flood before it spends a thread and a database read on it."""
    return _bound.full()


def _bounded(work: Callable[[], T]) -> T:
    with _bound.slot():
        return work()


def hash_password(password: str) -> str:
    return _bounded(lambda: _hasher.hash(password))


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash`` (always False for None, at the same cost).
    Raises HashingBusy when too many checks are running and waiting already."""

    def check() -> bool:
        try:
            return _hasher.verify(stored_hash or _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return False

    return _bounded(check) and stored_hash is not None


# The minimum policy for a password photosync is given (users add, set-password, a users
# file). Length matters most (NIST SP 800-63B asks for no composition rules); the list holds
# passwords that breach corpora show first and that pass the length rule anyway.
MIN_LENGTH = 12
COMMON = frozenset(
    {
        "password1234",
        "password12345",
        "password123456",
        "passwordpassword",
        "123456789012",
        "1234567890123",
        "12345678901234",
        "qwertyuiop123",
        "qwertyuiopasdf",
        "qwerty123456",
        "1q2w3e4r5t6y",
        "1qaz2wsx3edc",
        "aaaaaaaaaaaa",
        "abcdefghijkl",
        "abc123456789",
        "iloveyou1234",
        "letmein12345",
        "welcome12345",
        "changeme1234",
        "administrator",
        "photosync123",
        "photosyncphotosync",
    }
)


def password_problem(password: str) -> str | None:
    """Why ``password`` is refused (one sentence), or None: THE password policy."""
    if len(password) < MIN_LENGTH:
        return f"the password is too short: use at least {MIN_LENGTH} characters"
    if password.strip().lower() in COMMON or len(set(password)) == 1:
        return "the password is one of the most common ones: choose another"
    return None
