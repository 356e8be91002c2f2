"""The BlobStore interface: bytes in, sha256 out; the same bytes always have the same key.

Blobs are written before the rows that point to them, so a blob nothing points to may be one
whose row is about to commit. The garbage collector therefore deletes only blobs that nobody
wrote or kept for a grace period: ``put`` of bytes already stored, and ``keep``, restart a
blob's clock, and ``collect`` deletes only a blob whose clock has run past the grace period,
checked in a way no concurrent ``put`` or ``keep`` can slip between.
"""

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
        """Remove a blob at once, however new (tests and repairs; gc uses ``collect``)."""

    def keys(self) -> Iterator[str]:
        """Every stored key, in no particular order (a listing, not a snapshot)."""

    def age(self, key: str) -> float:
        """Seconds since the blob was last written or kept; BlobNotFound if it is not there."""

    def keep(self, key: str) -> None:
        """Restart the blob's clock (a new row is about to point to it); BlobNotFound if it
        is not there any more, so the caller stops instead of committing a dangling row."""

    def collect(self, key: str, grace_seconds: float) -> bool:
        """Delete the blob if it was not written or kept in the last ``grace_seconds``;
        whether it was deleted. Only the garbage collector calls this, for unreferenced keys."""

    def sweep(self, grace_seconds: float) -> int:
        """Remove what writes that a crash interrupted left behind, if older than
        ``grace_seconds``; how many. Only the garbage collector calls this."""

    def check(self) -> None:
        """Raise unless the store can be reached now (readiness: ``GET /readyz``)."""
