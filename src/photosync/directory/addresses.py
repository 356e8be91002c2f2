"""The e-mail digests a user is found by: what ``/avatar/{hash}`` looks up (Libravatar and
Gravatar name a person by the MD5 or SHA-256 of their trimmed, lower-cased address).

A user answers to their ``mail`` and their user principal name (the directory keeps no other
aliases yet; a new kind of alias is one more address passed to ``write``). Every write path of
the directory that sets either calls ``write`` in its own transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from sqlalchemy import Connection, bindparam, delete, insert

from photosync.directory.models import AddressDigest

__all__ = ["digests", "is_digest", "write"]

_HEX = frozenset("0123456789abcdef")
_DELETE = delete(AddressDigest).where(
    AddressDigest.user_id.in_(bindparam("b_user_ids", expanding=True))
)


def digests(addresses: Iterable[str | None]) -> set[str]:
    """The MD5 and SHA-256 hex digests of each address, trimmed and lower-cased."""
    found: set[str] = set()
    for address in addresses:
        key = (address or "").strip().lower().encode()
        if key:
            found.add(hashlib.md5(key, usedforsecurity=False).hexdigest())
            found.add(hashlib.sha256(key).hexdigest())
    return found


def is_digest(text: str) -> bool:
    """Whether ``text`` is a lower-case MD5 (32) or SHA-256 (64) hex digest."""
    return len(text) in (32, 64) and set(text) <= _HEX


def write(conn: Connection, addresses: Mapping[str, Iterable[str | None]]) -> None:
    """Replace the digests of each user id in ``addresses`` (in the caller's transaction)."""
    if not addresses:
        return
    conn.execute(_DELETE, {"b_user_ids": list(addresses)})
    rows = [
        {"digest": digest, "user_id": user_id}
        for user_id, theirs in addresses.items()
        for digest in sorted(digests(theirs))
    ]
    if rows:
        conn.execute(insert(AddressDigest), rows)
