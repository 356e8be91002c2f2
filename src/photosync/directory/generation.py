"""A counter every process on one host reads for almost nothing: how a revocation made by one
process (the CLI, another ``serve`` worker) reaches every other process's next request.

Each process keeps who exists in memory (``DirectoryService._known``: users, live sessions,
apps) because the lookup costs more than serving a small photo. A process that commits a change
to any of them empties its own cache at once (``USER_CHANGED``); to tell the *other* processes,
it then bumps this counter: eight bytes in a file of the data folder, which every process maps
into memory (``mmap``). Before any lookup a process compares the mapped bytes with the value it
last saw (an eight-byte slice and a comparison, ~0.1 µs); if they differ it empties its cache
first. The bump is made after the commit and before the command that made the change returns,
so the first request after it, to any process mapping the same file, reads the database.

Processes that do not share the data folder (servers on other hosts sharing PostgreSQL) cannot
see this file: ``directory.notify`` carries the same signal through the database there.
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
from collections.abc import Iterator
from pathlib import Path

FILE_NAME = "identity.generation"
_SIZE = 8


class SharedGeneration:
    """The counter in ``data_dir/identity.generation``, mapped read-write by this process.

    No file descriptor is kept open (tests build many of these): the mapping lives as long as
    the object, and a bump opens the file for its lock."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / FILE_NAME
        with self._locked() as fd:
            if os.fstat(fd).st_size < _SIZE:  # the first process makes it: zero
                os.ftruncate(fd, _SIZE)
            self._map = mmap.mmap(fd, _SIZE)
        self._seen = self._map[:_SIZE]

    @contextlib.contextmanager
    def _locked(self) -> Iterator[int]:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd
        finally:
            # Unlocked explicitly: the mapping holds a duplicate of the first ``fd`` (mmap dups
            # it), which would otherwise keep the lock of their shared open file for ever.
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @property
    def value(self) -> int:
        return int.from_bytes(self._map[:_SIZE], "little")

    def changed(self) -> bool:
        """Whether any process bumped the counter since this process last asked (the answer
        is True once per change). The hot path's check: no system call, no lock."""
        current = self._map[:_SIZE]
        if current == self._seen:
            return False
        self._seen = current
        return True

    def bump(self) -> None:
        """Tell every process mapping the file that what it remembers may be stale. Under an
        exclusive lock, so that two processes bumping at once both count."""
        with self._locked():
            before = self._map[:_SIZE]
            after = ((int.from_bytes(before, "little") + 1) % (1 << 63)).to_bytes(_SIZE, "little")
            self._map[:_SIZE] = after
            # This process emptied its own cache for the change it bumps for; a bump by another
            # process since this one last looked is left unseen, so the next lookup empties the
            # cache for that one too.
            if before == self._seen:
                self._seen = after
