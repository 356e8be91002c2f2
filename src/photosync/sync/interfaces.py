"""Sync's vocabulary and the two sides the engine connects, as small interfaces.

``PhotoSource`` is where photos come from (our mailbox now; Microsoft Graph, LDAP or a folder
later) and ``ProfileTarget`` is where thumbnails go (our sites now; SharePoint Online, Graph or
LDAP later). Like httpx's transport boundary, both take and return plain typed values only:
users, bytes, etags and sync's own records; no database connection, callback or opaque handle
crosses the seam. ``sync.memory`` implements both in memory, and the engine's behavioural tests
run against those and against the real mailbox and sites alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

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


class ConnectorError(Exception):
    """A source or target cannot do its work (a directory that refuses the bind, a server out of
    reach, a folder that is not there): one sentence for the admin, never a traceback."""


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
    run_position: int | None = None  # the user's place in that run
    # Something the admin should know about a check that went well (e.g. a source photo
    # smaller than the target's sizes, kept at its own size).
    note: str | None = None


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


# A source's answer for one user: their current version, None when they have no photo, or
# the error that kept the source from answering (NoMailbox: they cannot have a photo).
Found = SourceVersion | None | Exception


class PhotoSource(Protocol):
    def versions(self, users: Sequence[UserInfo]) -> Mapping[str, Found]:
        """Each user's current version, by user id (a bulk run asks for a batch of users at
        once; a source that can only ask one at a time uses ``one_by_one``)."""

    def fetch(self, user: UserInfo, version: SourceVersion) -> SourcePhoto | None:
        """The largest square of the user's photo (``version``, or what replaced it), or None if
        the photo is gone by now."""


def one_by_one(
    users: Sequence[UserInfo], current: Callable[[UserInfo], SourceVersion | None]
) -> dict[str, Found]:
    """``PhotoSource.versions`` of a source that asks about one user at a time: one user's
    failure is theirs alone."""
    found: dict[str, Found] = {}
    for user in users:
        try:
            found[user.id] = current(user)
        except Exception as exc:  # the engine records it as this user's check
            found[user.id] = exc
    return found


@runtime_checkable
class PeopleSource(Protocol):
    """A source that knows its own people (a folder, a directory, a tenant): who ``--all`` is."""

    def people(self) -> Iterable[Person]: ...


@dataclass(frozen=True)
class Person:
    """Someone a source knows, by the name it knows them by: a user principal name or a mail
    address (matched to our users by UPN, then by mail)."""

    upn: str
    mail: str | None = None


# A person no user of our directory matches has an engine id of their own (the engine locks,
# and its records name, one person at a time): this prefix and their lower-cased name. Only
# targets outside photosync's database (``PictureStore``) take such people.
OUTSIDE_PREFIX = "~"


def outside_user(name: str, mail: str | None = None) -> UserInfo:
    """The engine's view of a person who is not one of our users."""
    key = name.strip().lower()
    return UserInfo(
        id=OUTSIDE_PREFIX + key,
        upn=key,
        display_name=key,
        mail=(mail or (key if "@" in key else None)),
        is_admin=False,
        has_mailbox=False,
    )


def outside_name(user_id: str) -> str | None:
    """The name of a person outside our directory, from their engine id (None: one of ours)."""
    return user_id[len(OUTSIDE_PREFIX) :] if user_id.startswith(OUTSIDE_PREFIX) else None


@dataclass(frozen=True)
class Route:
    """Which source into which target: the names given to ``--from`` and ``--to``."""

    source: str = "mailbox"
    target: str = "sites"

    @property
    def is_default(self) -> bool:
        return self == DEFAULT_ROUTE

    def __str__(self) -> str:
        return f"{self.source} -> {self.target}"


# Today's sync, and what every trigger but an admin's ``--from/--to`` uses.
DEFAULT_ROUTE = Route()


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


@dataclass(frozen=True)
class Showing:
    """Thumbnails for the target to show: one user's (one JPEG per name of ``sizes``), the
    source version they were made from, and the check they are part of."""

    user: UserInfo
    files: Mapping[str, bytes]
    source_etag: str
    check: CheckOutcome


class ProfileTarget(Protocol):
    def sizes(self) -> Mapping[str, int]:
        """Pixel size of each thumbnail the target keeps, by name: S 48, M 72, L 300."""

    def states(self, users: Sequence[UserInfo]) -> Mapping[str, TargetState]:
        """What the target shows each user now, by user id."""

    def show(self, pictures: Sequence[Showing], *, change: Change) -> list[Shown | Exception]:
        """Show each user's thumbnails, each all or nothing; for each (in order) what the
        target did, or the error that kept that one from showing (the others still show)."""

    def clear(self, user: UserInfo, *, change: Change, check: CheckOutcome) -> Shown:
        """Back to the placeholder (the source's photo was deleted)."""


class PictureStore(Protocol):
    """A target that keeps no record of which source version it shows (LDAP, Microsoft 365, our
    own mailbox as an import target): sync keeps that record for it (``sync.marks``), so the
    store only writes and removes pictures. ``put`` and ``remove`` are all or nothing, and
    raise with a clear message when the other side refuses."""

    def sizes(self) -> Mapping[str, int]:
        """Pixel size of each picture the store keeps, by name (e.g. {"thumbnailPhoto": 96})."""

    def put(self, user: UserInfo, files: Mapping[str, bytes], *, change: Change) -> str | None:
        """Write the picture; a note for the check's record (e.g. the retries a throttled
        service needed), or None."""

    def remove(self, user: UserInfo, *, change: Change) -> str | None:
        """The source's photo is gone: take the picture sync put there away (a note, or None)."""
