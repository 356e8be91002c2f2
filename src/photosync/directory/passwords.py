"""Password and secret hashing (argon2id), bounded in how many run at once and kept off the
cores that answer photo reads.

Each argon2id hash or check takes 64 MiB and ~150 ms of CPU on four lane threads of its own
(argon2-cffi's defaults, the RFC 9106 second recommendation). Unbounded, a flood of sign-ins or
client-credential requests ran one per server thread at once: 40 × 64 MiB, a server of 1.1 GB,
and photo reads queued behind them for threads and cores. So:

- at most ``at_once`` (a setting; one per two cores) run at once, on threads of their own; up
  to four times as many more wait their turn, and any beyond that are refused at once with
  ``HashingBusy`` (the token endpoint's 429, the sign-in page's 503) rather than holding a
  server thread while they wait;
- each check computes its four lanes on its own thread (``_matches``), not on a thread per
  lane, so that it takes one core, not all of them: measured with bench/bench_signin_flood.py,
  the event loop that answers photo reads otherwise waited for a core behind argon2's lanes
  (on 2 cores, 60% of its time runnable but not running) and photo GETs' p99 rose ×26 with no
  refusal at all. Those threads may also run at a lower CPU priority (``niceness``, a
  setting; 0 by default, see DEFAULT_NICENESS).
"""

from __future__ import annotations

import base64
import hmac
import os
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError
from argon2.low_level import ARGON2_VERSION, core, ffi

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
DEFAULT_AT_ONCE = max(1, (os.cpu_count() or 1) // 2)
# 0: the server's own (10 gives argon2 a tenth of a core the event loop wants). A niced check
# takes longer on a busy machine, and so does the sign-in waiting for it; it holds no database
# lock meanwhile (DirectoryService.authenticate checks before its write transaction).
DEFAULT_NICENESS = 0
WAITING_PER_SLOT = 4


class HashingBusy(Exception):
    """Too many password checks are already running or waiting: ask again in a moment."""

    message = "Too many sign-ins at once; try again in a moment."
    retry_after = 1
    # Seconds the token endpoint holds a refusal before answering it (see its route).
    pause = 0.5


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


class _Hashing:
    """The bound and the threads that hash, at a lower CPU priority."""

    def __init__(self, at_once: int, niceness: int) -> None:
        self.at_once, self.niceness = at_once, niceness
        self.bound = _Bound(at_once, WAITING_PER_SLOT * at_once)
        self.threads = ThreadPoolExecutor(
            at_once, thread_name_prefix="photosync-hashing", initializer=self._lower_priority
        )

    def _lower_priority(self) -> None:
        # Niceness is per thread on Linux, and threads started from this one (argon2's lanes)
        # inherit it. Elsewhere setpriority would apply to the whole process: left alone.
        if sys.platform == "linux" and self.niceness:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.niceness)

    def run(self, work: Callable[[], T]) -> T:
        with self.bound.slot():
            return self.threads.submit(work).result()


_hashing = _Hashing(DEFAULT_AT_ONCE, DEFAULT_NICENESS)


def configure(at_once: int, niceness: int) -> None:
    """Apply the settings (PHOTOSYNC_HASHING_AT_ONCE, PHOTOSYNC_HASHING_NICENESS) to this
    process's hashing (once per process in practice: every service is built from the same
    settings). A hash admitted before a change finishes on the threads it was admitted to."""
    global _hashing
    if (at_once, niceness) != (_hashing.at_once, _hashing.niceness):
        _hashing = _Hashing(at_once, niceness)


def hashing_full() -> bool:
    """Whether a password check asked for now would be refused with HashingBusy: lets the
    token endpoint refuse a flood before it spends a thread and a database read on it."""
    return _hashing.bound.full()


def _bounded(work: Callable[[], T]) -> T:
    return _hashing.run(work)


def hash_password(password: str) -> str:
    return _bounded(lambda: _hasher.hash(password))


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash`` (always False for None, at the same cost).
    Raises HashingBusy when too many checks are running and waiting already."""
    return _bounded(lambda: _matches(stored_hash or _DUMMY_HASH, password)) and bool(stored_hash)


def _matches(stored_hash: str, password: str) -> bool:
    """argon2's check of ``password`` against an encoded hash (``$argon2id$v=19$m=…,t=…,p=…$
    salt$hash``), computed on one thread: the hash's lanes (its ``p``, 4) stay what they are,
    so every stored hash still matches, but one check takes one core, not every core (what
    argon2-cffi's verify does, with a thread per lane). Anything malformed: no match."""
    try:
        params = extract_parameters(stored_hash)
        salt, digest = (_unb64(part) for part in stored_hash.split("$")[-2:])
    except (InvalidHashError, ValueError):
        return False
    secret = password.encode()
    # Each buffer named here, alive until ``core`` returns: the context holds bare pointers, and
    # cffi frees a buffer made inline as soon as the context is built (a check then read freed
    # memory and, now and then, refused a right password).
    out = ffi.new("uint8_t[]", len(digest))
    pwd = ffi.new("uint8_t[]", secret)
    salt_buffer = ffi.new("uint8_t[]", salt)
    context = ffi.new(
        "argon2_context *",
        {
            "out": out,
            "outlen": len(digest),
            "pwd": pwd,
            "pwdlen": len(secret),
            "salt": salt_buffer,
            "saltlen": len(salt),
            "secret": ffi.NULL,
            "secretlen": 0,
            "ad": ffi.NULL,
            "adlen": 0,
            "t_cost": params.time_cost,
            "m_cost": params.memory_cost,
            "lanes": params.parallelism,
            "threads": 1,
            "version": params.version,
            "allocate_cbk": ffi.NULL,
            "free_cbk": ffi.NULL,
            "flags": 0,
        },
    )
    if core(context, params.type.value) != 0:
        return False
    return hmac.compare_digest(bytes(ffi.buffer(out, len(digest))), digest)


def _unb64(text: str) -> bytes:
    # PHC strings carry base64 without padding.
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


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
