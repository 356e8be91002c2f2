"""The BlobStore interface: bytes in, sha256 out; the same bytes always have the same key."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Protocol


class BlobNotFound(KeyError):
    pass


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobStore(Protocol):
    def put(self, data: bytes) -> str:
        """Store data (if not already there) and return its sha256; durable when it returns."""

    def get(self, key: str) -> bytes:
        """The bytes stored under key, or BlobNotFound."""

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove a blob; only the garbage collector calls this."""

    def keys(self) -> Iterator[str]: ...
