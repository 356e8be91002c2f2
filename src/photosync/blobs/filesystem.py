"""A folder of blobs: ``ab/cd/abcd…`` files, written atomically and never overwritten.

A blob's clock (``age``, ``keep``, ``collect``) is its file's modification time.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

from photosync.blobs.base import BlobNotFound, sha256_hex

_KEY = re.compile(r"^[0-9a-f]{64}$")
# Names of files that are not blobs: a write in progress, and a blob being collected.
_TEMPORARY = ".tmp-"
_ASIDE = ".gc-"


class FilesystemBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        if not _KEY.match(key):
            raise BlobNotFound(key)
        return self.root / key[:2] / key[2:4] / key

    def put(self, data: bytes) -> str:
        key = sha256_hex(data)
        path = self._path(key)
        try:
            # Already there: restart its clock, which is what keeps the garbage collector off
            # a blob an upload is about to point to again (see ``collect``).
            os.utime(path)
            return key
        except FileNotFoundError:
            pass
        new_dirs = _make_dirs(self.root, path.parent)
        tmp = path.parent / f"{_TEMPORARY}{key[:16]}-{secrets.token_hex(6)}"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            # link() fails rather than replace: a concurrent writer of the same key wrote the
            # same bytes, so "already there" is success, and a reader never sees a partial file.
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
            # The file's entry, and the entries of folders made just now, must reach the disk
            # before the database row that points to this blob is committed.
            for folder in (path.parent, *new_dirs):
                _fsync_dir(folder)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        return key

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    def exists(self, key: str) -> bool:
        return self._path(key).exists() if _KEY.match(key) else False

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    def keys(self) -> Iterator[str]:
        for path in self.root.glob("*/*/*"):
            if _KEY.match(path.name):
                yield path.name

    def age(self, key: str) -> float:
        try:
            return time.time() - self._path(key).stat().st_mtime
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    def keep(self, key: str) -> None:
        try:
            os.utime(self._path(key))
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    def collect(self, key: str, grace_seconds: float) -> bool:
        path = self._path(key)
        try:
            if time.time() - path.stat().st_mtime < grace_seconds:
                return False
            # Moved aside first, then its clock read again: a ``put`` or ``keep`` that touched
            # the file before the move shows in the moved file's time (and it goes back); one
            # after the move finds no file, so ``put`` writes it anew and ``keep`` fails.
            aside = path.parent / f"{_ASIDE}{key[:16]}-{secrets.token_hex(6)}"
            os.rename(path, aside)
        except FileNotFoundError:
            return False
        try:
            if time.time() - aside.stat().st_mtime < grace_seconds:
                with contextlib.suppress(FileExistsError):  # a put wrote it anew meanwhile
                    os.link(aside, path)
                return False
            return True
        except FileNotFoundError:
            return False  # another collection's ``sweep`` put it back: not ours to delete
        finally:
            with contextlib.suppress(FileNotFoundError):
                aside.unlink()

    def sweep(self, grace_seconds: float) -> int:
        """Clear what a killed process left in the folder; how many files it cleared.

        A ``.tmp-`` file older than the grace period is a write that never finished (a live
        ``put`` links its file within moments); it goes. A ``.gc-`` file is a blob ``collect``
        had moved aside: it goes back under its key (unless that is there already), so that the
        next collection decides about it afresh, since a row may be on its way to naming it.
        """
        cleared = 0
        for leftover in self.root.glob("*/*/.*"):
            try:
                if leftover.name.startswith(_ASIDE):
                    data = leftover.read_bytes()
                    with contextlib.suppress(FileExistsError):
                        os.link(leftover, self._path(sha256_hex(data)))
                elif not leftover.name.startswith(_TEMPORARY) or (
                    time.time() - leftover.stat().st_mtime < grace_seconds
                ):
                    continue  # not ours, or a write that may still be going on
                leftover.unlink()
            except FileNotFoundError:
                continue  # its own process finished with it meanwhile
            cleared += 1
        return cleared

    def check(self) -> None:
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise OSError(f"{self.root} is not a writable folder")


def _make_dirs(root: Path, folder: Path) -> list[Path]:
    """Create ``folder`` (below root) and return the parents whose entries changed."""
    changed: list[Path] = []
    for level in (folder.parent, folder):
        if not level.exists():
            level.mkdir(exist_ok=True)
            changed.append(level.parent)
    return changed


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
