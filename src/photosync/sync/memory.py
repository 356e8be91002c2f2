"""A photo source, a profile target and a ledger that live in memory.

They share nothing with photosync's database, and the engine's behavioural tests run against
them as well as against the real mailbox and sites: the proof that the engine depends on the
seam (``sync.interfaces``) and on nothing behind it. They are also the smallest example of a
connector: a new source or target implements the same few methods.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from photosync.directory.interfaces import UserInfo
from photosync.sync.interfaces import (
    COMPLETED,
    ERROR,
    Change,
    CheckOutcome,
    Found,
    NoMailbox,
    Showing,
    Shown,
    SourcePhoto,
    SourceVersion,
    TargetState,
    one_by_one,
)
from photosync.sync.policy import History


class MemorySource:
    """Users' photos by user id: (etag, square master JPEG)."""

    def __init__(self) -> None:
        self.photos: dict[str, SourcePhoto] = {}
        self.fetches = 0

    def put(self, user_id: str, etag: str, master: bytes) -> None:
        self.photos[user_id] = SourcePhoto(etag, master)

    def remove(self, user_id: str) -> None:
        self.photos.pop(user_id, None)

    def versions(self, users: Sequence[UserInfo]) -> dict[str, Found]:
        return one_by_one(users, self.current)

    def current(self, user: UserInfo) -> SourceVersion | None:
        if not user.has_mailbox:
            raise NoMailbox(user.upn)
        photo = self.photos.get(user.id)
        return SourceVersion(photo.etag, 0) if photo else None

    def fetch(self, user: UserInfo, version: SourceVersion) -> SourcePhoto | None:
        self.fetches += 1
        return self.photos.get(user.id)


@dataclass
class MemoryPicture:
    files: Mapping[str, bytes]
    source: str  # "mailbox" | "upload"
    source_etag: str | None
    timestamp: str
    changes: list[Change] = field(default_factory=list)


class MemoryTarget:
    """Each user's picture (or None: the placeholder), with the sizes SharePoint uses."""

    def __init__(self, sizes: Mapping[str, int] | None = None) -> None:
        self._sizes = dict(sizes or {"S": 48, "M": 72, "L": 300})
        self.pictures: dict[str, MemoryPicture] = {}
        self.editable = True
        self.changes: list[tuple[str, Change]] = []
        self._version = 0

    def sizes(self) -> Mapping[str, int]:
        return self._sizes

    def upload(self, user_id: str, files: Mapping[str, bytes]) -> None:
        """A picture put straight into the target (SetMyProfilePicture), not from the source."""
        self.pictures[user_id] = MemoryPicture(files, "upload", None, self._next())

    def states(self, users: Sequence[UserInfo]) -> dict[str, TargetState]:
        states = {}
        for user in users:
            picture = self.pictures.get(user.id)
            states[user.id] = (
                TargetState(None, None, self.editable)
                if picture is None
                else TargetState(picture.source, picture.source_etag, self.editable)
            )
        return states

    def show(self, pictures: Sequence[Showing], *, change: Change) -> list[Shown | Exception]:
        shown: list[Shown | Exception] = []
        for one in pictures:
            if set(one.files) != set(self._sizes):
                shown.append(
                    ValueError(
                        f"thumbnails for {sorted(self._sizes)} expected, got {sorted(one.files)}"
                    )
                )
                continue
            picture = MemoryPicture(dict(one.files), "mailbox", one.source_etag, self._next())
            self.pictures[one.user.id] = picture
            self.changes.append((one.user.id, change))
            shown.append(Shown(picture.timestamp))  # keeps no records: the engine's ledger does
        return shown

    def clear(self, user: UserInfo, *, change: Change, check: CheckOutcome) -> Shown:
        self.pictures.pop(user.id, None)
        self.changes.append((user.id, change))
        return Shown(self._next())

    def _next(self) -> str:
        self._version += 1
        return str(self._version)


class MemoryLedger:
    """Every check in a list, and each user's history derived from it."""

    def __init__(self) -> None:
        self.checks: list[CheckOutcome] = []
        self._lock = threading.Lock()

    def record(self, checks: Sequence[CheckOutcome]) -> None:
        with self._lock:
            self.checks.extend(checks)

    def history(self, user_id: str, session_id: str | None) -> History:
        with self._lock:
            mine = [check for check in self.checks if check.user_id == user_id]
        if not mine:
            return History(None, None, None, None, False)
        last = mine[-1]
        successes = [check for check in mine if check.result in COMPLETED]
        errors = [check for check in mine if check.result == ERROR]
        return History(
            last_check_at=last.started_at,
            last_result=last.result,
            last_success_at=successes[-1].started_at if successes else None,
            last_error_at=errors[-1].started_at if errors else None,
            session_checked=session_id is not None
            and any(check.session_id == session_id for check in mine),
            last_error=last.error if last.result == ERROR else None,
        )
