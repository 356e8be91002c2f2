"""A folder of blobs: ``ab/cd/abcd…`` files, written atomically and never overwritten."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

from photosync.blobs.base import BlobNotFound, sha256_hex

_KEY = re.compile(r"^[0-9a-f]{64}$")


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
        if path.exists():
            return key
        new_dirs = _make_dirs(self.root, path.parent)
        tmp = path.parent / f".tmp-{key[:16]}-{secrets.token_hex(6)}"
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
