"""Sync's vocabulary and the two sides the engine connects, as small interfaces.

``PhotoSource`` is where photos come from (our mailbox now; Microsoft Graph, LDAP or a folder
later) and ``ProfileTarget`` is where thumbnails go (our sites now; SharePoint Online, Graph or
LDAP later). Like httpx's transport boundary, both take and return plain typed values only:
users, bytes, etags and sync's own records; no database connection, callback or opaque handle
crosses the seam. ``sync.memory`` implements both in memory, and the engine's behavioural tests
run against those and against the real mailbox and sites alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from photosync.directory.interfaces import UserInfo

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
class CheckOutcome:
    """One check, as sync records it (its ledger) and reports it (CLI, portal, diagnostic)."""

    user_id: str
    trigger: str  # a Trigger
    reason: str  # why it ran: the policy's reason, or the trigger's (engine.REASONS)
    session_id: str | None
    started_at: datetime
    duration_ms: int
    result: str  # UPDATED, UNCHANGED, …
    from_etag: str | None  # the source version the target showed before
    to_etag: str | None  # the source version it shows after (or saw unchanged)
    error: str | None = None
    picture_timestamp: str | None = None  # the target's new picture version, when updated
    run_id: str | None = None  # the bulk run the check was part of


# --- the source ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceVersion:
    """The version of a user's photo the source has now; ``etag`` changes with every version."""

    etag: str
    master_size: int


@dataclass(frozen=True)
class SourcePhoto:
    etag: str  # the version these bytes are (a newer one than asked for if it moved meanwhile)
    data: bytes  # the largest square JPEG the source offers


class PhotoSource(Protocol):
    def current(self, user: UserInfo) -> SourceVersion | None:
        """The current version, None if the user has no photo; NoMailbox if they cannot have one."""

    def fetch(self, user: UserInfo, version: SourceVersion) -> SourcePhoto | None:
        """The largest square of the user's photo (``version``, or what replaced it), or None if
        the photo is gone by now."""


# --- the target ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetState:
    """What the target shows now, as far as the engine needs to know."""

    picture_source: str | None  # "mailbox" | "upload" | None (placeholder)
    source_etag: str | None  # the source version the picture was taken from
    editable: bool = True  # False: the tenant forbids users to edit the Picture property


@dataclass(frozen=True)
class Change:
    """Who asked for a change of the target's picture and why (for the target's audit)."""

    actor: str
    reason: str


@dataclass(frozen=True)
class Shown:
    """What a target did with a change."""

    timestamp: str | None  # the target's new picture version (SharePoint's SPS-PictureTimestamp)
    # True when the target committed ``check`` (sync's record of this check) in the same
    # transaction as its change, so that the record exists exactly when the change does;
    # False leaves the engine to record it right after (a target outside our database).
    recorded: bool = False


class ProfileTarget(Protocol):
    def sizes(self) -> Mapping[str, int]:
        """Pixel size of each thumbnail the target keeps, by name: S 48, M 72, L 300."""

    def state(self, user: UserInfo) -> TargetState: ...

    def show(
        self,
        user: UserInfo,
        files: Mapping[str, bytes],
        *,
        source_etag: str,
        change: Change,
        check: CheckOutcome,
    ) -> Shown:
        """Show these thumbnails (one JPEG per name of ``sizes``), all or nothing."""

    def clear(self, user: UserInfo, *, change: Change, check: CheckOutcome) -> Shown:
        """Back to the placeholder (the source's photo was deleted)."""
