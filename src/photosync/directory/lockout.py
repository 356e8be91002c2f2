"""Wrong passwords counted per source, so that guessing locks out the guesser, not the owner.

Entra ID's smart lockout counts sign-ins from familiar and unfamiliar locations apart; so do we.
A sign-in comes from a **familiar** source when the browser carries the signed known-device
cookie that a successful sign-in to that account left (``directory.cookies``); its failures
move the account's own count (``users.failed_sign_ins``, ``locked_until``) and lock only
familiar sources. Any other source is **unfamiliar** and counted by address, in two counters:

- ``<user id>|<address>``: one account from one address; ``FREE_FAILURES`` wrong passwords in
  a row lock that address out of that account (and nothing else);
- ``*|<address>``: every account from one address; ``ADDRESS_FREE_FAILURES`` wrong passwords
  lock the address out of every account (password spraying), whichever accounts they named.

Each further failure doubles the lock, from ``FIRST_LOCK`` up to ``MAX_LOCK``; a counter with no
failure for ``OBSERVATION`` starts again from nothing. The rows live in the database, so every
server process and the CLI count the same failures. No web import: the address comes from the
audit origin the HTTP edge sets.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from photosync.directory.models import SignInSource

FREE_FAILURES = 5
ADDRESS_FREE_FAILURES = 20
FIRST_LOCK = timedelta(seconds=30)
MAX_LOCK = timedelta(minutes=15)
OBSERVATION = timedelta(minutes=15)


def lock_for(failures: int, free: int) -> timedelta | None:
    """How long ``failures`` in a row lock a source out (None: not yet)."""
    over = failures - free
    if over < 0:
        return None
    return min(FIRST_LOCK * (1 << min(over, 16)), MAX_LOCK)


def account_key(user_id: str, address: str) -> str:
    return f"{user_id}|{address}"


def address_key(address: str) -> str:
    return f"*|{address}"


def locked_until(session: Session, key: str, now: datetime) -> datetime | None:
    """When the source ``key`` may try again, if it is locked out now."""
    row = session.get(SignInSource, key)
    if row is None or row.locked_until is None or row.locked_until <= now:
        return None
    return row.locked_until


def count_failure(
    session: Session, key: str, user_id: str | None, now: datetime, free: int
) -> tuple[int, datetime | None]:
    """One more wrong password from ``key``: its failures in a row, and the lock it earned."""
    row = session.get(SignInSource, key)
    if row is None:
        row = SignInSource(key=key, user_id=user_id, failures=0, last_failure_at=now)
        session.add(row)
    elif now - row.last_failure_at > OBSERVATION:
        row.failures = 0
    row.failures += 1
    row.last_failure_at = now
    lock = lock_for(row.failures, free)
    row.locked_until = now + lock if lock is not None else None
    return row.failures, row.locked_until


def forget(session: Session, key: str) -> None:
    """A right password from ``key``: its count starts again."""
    session.execute(delete(SignInSource).where(SignInSource.key == key))
