"""``folder:PATH``: photos from image files named by UPN or mail, or from a CSV of ``upn,path``.

A folder: ``ada@example.org.jpg`` (``.jpeg``, ``.png``, ``.gif``, ``.bmp``, ``.webp``) is Ada's
photo. A CSV file: one ``upn,path`` row per person, as PnP's photo uploader takes it, paths
relative to the CSV (a first row without an ``@`` is a header). The version (ETag) is the
sha256 of the file, so a second run over the same files writes nothing.

A file is checked as an upload to the mailbox is (``imaging.process_upload``: the same limits and
the same refusals, in the mailbox's words) when its photo is fetched: a bad file fails that
person's check, with the reason in the run's report, and touches nothing.
"""

from __future__ import annotations

import csv
import hashlib
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from photosync import imaging
from photosync.directory.interfaces import UserInfo
from photosync.imaging import ImageRejected, Limits
from photosync.sync.interfaces import (
    ConnectorError,
    Found,
    Person,
    SourcePhoto,
    SourceVersion,
    one_by_one,
)

SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp"})
# The size of the square the engine renders targets' sizes from (the mailbox's master).
MASTER_SIZE = max(imaging.GRAPH_SIZES)


class FolderSource:
    """Implements ``PhotoSource`` and ``PeopleSource``."""

    def __init__(self, path: str | Path, limits: Limits = Limits()) -> None:
        self.path = Path(path)
        self.limits = limits
        self._lock = threading.Lock()
        self._files: dict[str, Path] | None = None
        self._seen: float | None = None  # the folder's (or CSV's) mtime when it was read

    def people(self) -> Iterator[Person]:
        """Everyone with a file (read afresh: each run sees the folder as it is now)."""
        files = self._index(fresh=True)
        for name in sorted(files):
            yield Person(name, name if "@" in name else None)

    def versions(self, users: Sequence[UserInfo]) -> dict[str, Found]:
        return one_by_one(users, self.current)

    def current(self, user: UserInfo) -> SourceVersion | None:
        path = self._file(user)
        if path is None:
            return None
        return SourceVersion(_sha256(path), 0)

    def fetch(self, user: UserInfo, version: SourceVersion) -> SourcePhoto | None:
        path = self._file(user)
        if path is None:
            return None
        data = _read(path)
        try:
            photo = imaging.square_master(data, limits=self.limits, largest=MASTER_SIZE)
        except ImageRejected as exc:
            raise ImageRejected(exc.reason, f"{path.name}: {exc.message}", exc.status) from None
        return SourcePhoto(hashlib.sha256(data).hexdigest(), photo.renditions[photo.master_size])

    def _file(self, user: UserInfo) -> Path | None:
        files = self._index()
        for name in (user.upn, user.mail):
            if name and name.strip().lower() in files:
                return files[name.strip().lower()]
        return None

    def _index(self, *, fresh: bool = False) -> dict[str, Path]:
        """Each person's file, read again when the folder changed (a file added, renamed or
        removed moves the folder's mtime; an edited CSV, its own)."""
        try:
            mtime = self.path.stat().st_mtime
        except OSError as exc:
            raise ConnectorError(f"cannot read {self.path}: {exc.strerror or exc}") from exc
        with self._lock:
            if self._files is None or fresh or mtime != self._seen:
                self._files, self._seen = _scan(self.path), mtime
            return self._files


def _scan(path: Path) -> dict[str, Path]:
    """Each person's file by their lower-cased UPN or mail."""
    if path.is_dir():
        return {
            entry.name[: -len(entry.suffix)].lower(): entry
            for entry in sorted(path.iterdir())
            if entry.suffix.lower() in SUFFIXES and entry.is_file() and "@" in entry.stem
        }
    if path.is_file() and path.suffix.lower() == ".csv":
        return _from_csv(path)
    raise ConnectorError(f"{path} is neither a folder nor a .csv file")


def _from_csv(path: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            for number, row in enumerate(csv.reader(f), start=1):
                cells = [cell.strip() for cell in row]
                if not any(cells):
                    continue
                if len(cells) < 2 or not cells[1]:
                    raise ConnectorError(f"{path.name} line {number}: expected upn,path")
                if number == 1 and "@" not in cells[0]:
                    continue  # a header
                files[cells[0].lower()] = path.parent / cells[1]
    except (OSError, UnicodeDecodeError) as exc:
        raise ConnectorError(f"cannot read {path}: {exc}") from exc
    return files


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConnectorError(f"cannot read {path.name}: {exc.strerror or exc}") from exc


def _sha256(path: Path) -> str:
    return hashlib.sha256(_read(path)).hexdigest()
