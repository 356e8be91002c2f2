"""The e-mail digests a user is found by: what ``/avatar/{hash}`` looks up (Libravatar and
Gravatar name a person by the MD5 or SHA-256 of their trimmed, lower-cased address).

A user answers to their user principal name, their ``mail`` and their aliases (the SMTP
entries of Active Directory's ``proxyAddresses``; the ``aliases`` column of a users file).
Every write path of the directory that sets one of them calls ``write`` in its own transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Literal

from sqlalchemy import Connection, and_, bindparam, delete, insert, select

from photosync.directory.models import AddressDigest

__all__ = ["Kind", "alias_digests", "digests", "is_digest", "write"]

Kind = Literal["upn", "mail", "alias"]
_HEX = frozenset("0123456789abcdef")
_DELETE = delete(AddressDigest).where(
    and_(
        AddressDigest.user_id.in_(bindparam("b_user_ids", expanding=True)),
        AddressDigest.kind == bindparam("b_kind"),
    )
)
_ALIASES = select(AddressDigest.user_id, AddressDigest.digest).where(
    AddressDigest.user_id.in_(bindparam("b_user_ids", expanding=True)),
    AddressDigest.kind == "alias",
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


def write(conn: Connection, changes: Mapping[str, Mapping[Kind, Collection[str | None]]]) -> None:
    """For each user id, replace the digests of each kind given (in the caller's transaction);
    kinds not given are left as they are."""
    by_kind: dict[Kind, list[str]] = {}
    rows = []
    for user_id, kinds in changes.items():
        for kind, theirs in kinds.items():
            by_kind.setdefault(kind, []).append(user_id)
            rows += [
                {"digest": digest, "user_id": user_id, "kind": kind}
                for digest in sorted(digests(theirs))
            ]
    for kind, user_ids in by_kind.items():
        conn.execute(_DELETE, {"b_user_ids": user_ids, "b_kind": kind})
    if rows:
        conn.execute(insert(AddressDigest), rows)


def alias_digests(conn: Connection, user_ids: Sequence[str]) -> dict[str, set[str]]:
    """The digests of each user's aliases (users without any are left out)."""
    found: dict[str, set[str]] = {}
    for user_id, digest in conn.execute(_ALIASES, {"b_user_ids": list(user_ids)}):
        found.setdefault(user_id, set()).add(digest)
    return found
