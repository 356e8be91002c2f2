"""The two sides the sync engine connects, as small interfaces.

``PhotoSource`` is where photos come from (our mailbox now, Microsoft Graph later) and
``ProfileTarget`` is where thumbnails go (our sites now, SharePoint Online later). The engine only
ever sees these, so the same policy and engine can run against a real Microsoft 365 tenant.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from photosync.directory.interfaces import UserInfo
from photosync.sites.interfaces import InTransaction, SizeCode

# What started a check (SyncCheck.trigger; `photosync sync status --json` prints it).
Trigger = Literal["own-large", "admin", "bulk", "automatic", "schedule"]
OWN_LARGE: Trigger = "own-large"  # a signed-in user asked for their own Large picture
ADMIN: Trigger = "admin"  # one user, asked for by an admin (CLI, admin page)
BULK: Trigger = "bulk"  # an admin's bulk run
AUTOMATIC: Trigger = "automatic"  # photo.changed under the automatic policy
SCHEDULE: Trigger = "schedule"  # the periodic check of everyone (PHOTOSYNC_SYNC_SCHEDULE)
TRIGGERS: tuple[Trigger, ...] = (OWN_LARGE, ADMIN, BULK, AUTOMATIC, SCHEDULE)

# What a check can come to (stored in SyncCheck.result and SyncState.last_result).
UPDATED = "updated"  # a new picture was written
UNCHANGED = "unchanged"  # the source still has the version the profile shows
PLACEHOLDER = "placeholder"  # the source's photo was deleted: back to the placeholder
NO_PHOTO = "no-photo"  # the source has no photo and the profile never took one from it
NO_MAILBOX = "no-mailbox"  # the user has no mailbox, so there is nothing to sync from
NOT_EDITABLE = "not-editable"  # the tenant forbids users to edit the Picture property
ERROR = "error"  # the check failed; the previous picture stays
# Results that count as a completed check for the policy's expiration (everything but errors).
COMPLETED = frozenset({UPDATED, UNCHANGED, PLACEHOLDER, NO_PHOTO, NO_MAILBOX, NOT_EDITABLE})


class NoMailbox(Exception):
    """The user has nowhere to keep a source photo (no mailbox)."""


@dataclass(frozen=True)
class SourceVersion:
    """The version of a user's photo the source has now; ``etag`` changes with every version."""

    etag: str
    master_size: int
    # Source-specific (e.g. our mailbox's stored version): lets fetch_master read exactly
    # this version without looking it up again.
    handle: object = None


@dataclass(frozen=True)
class SourcePhoto:
    etag: str
    data: bytes  # the largest square JPEG the source offers


class PhotoSource(Protocol):
    def current(self, user: UserInfo) -> SourceVersion | None:
        """The current version, None if the user has no photo; NoMailbox if they cannot have one."""

    def fetch_master(self, user: UserInfo, version: SourceVersion) -> SourcePhoto | None:
        """The largest size of ``version``, or None if it is gone by now."""


@dataclass(frozen=True)
class TargetState:
    """What the target shows now, as far as the engine needs to know."""

    picture_source: str | None  # "mailbox" | "upload" | None (placeholder)
    source_etag: str | None  # the source version the picture was taken from
    editable: bool = True  # False: the tenant forbids users to edit the Picture property


@dataclass(frozen=True)
class StagedPicture:
    """Thumbnails on their way to the target, not shown yet (refs are target-specific).

    Our sites keeps the bytes in the handle until ``commit`` writes them with the rows; a
    remote target may have uploaded them already.
    """

    refs: Mapping[SizeCode, str]
    lengths: Mapping[SizeCode, int]
    handle: object = None  # target-specific, e.g. the bytes themselves or uploads in flight


class ProfileTarget(Protocol):
    def thumbnail_sizes(self) -> Mapping[SizeCode, int]:
        """Pixel size of each thumbnail the target keeps, e.g. S 48, M 72, L 300."""

    def state(self, user: UserInfo) -> TargetState: ...

    def stage(self, user: UserInfo, files: Mapping[SizeCode, bytes]) -> StagedPicture:
        """Get the thumbnails ready (or start storing them); none is shown before ``commit``."""

    def commit(
        self,
        user: UserInfo,
        staged: StagedPicture,
        *,
        source_etag: str,
        actor: str,
        reason: str,
        also: InTransaction | None = None,
    ) -> str:
        """Show the staged thumbnails, all-or-nothing, once durably stored; the new timestamp."""

    def clear(
        self,
        user: UserInfo,
        *,
        actor: str,
        reason: str,
        also: InTransaction | None = None,
    ) -> None:
        """Back to the placeholder (the source's photo was deleted)."""


# ``also`` (above): the engine's record of the check. A target whose rows live in photosync's
# database runs it in the transaction of its change, so a check commits once and its record
# exists exactly when the change does; a target that does not call it (one that keeps nothing
# in this database) leaves the engine to record the check in a transaction of its own, as the
# engine does for a check that changed nothing. The record is sync's alone: targets keep no
# history of checks.
