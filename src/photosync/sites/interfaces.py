"""Sites as other roles see it: naming rules of the User Photos library and a profile's status."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.engine import Connection

from photosync.directory.interfaces import UserInfo

SizeCode = Literal["S", "M", "L"]
LIBRARY_FOLDER = "/User Photos/Profile Pictures"
CLAIMS_PREFIX = "i:0#.f|membership|"


# A thumbnail file's name in the library: ``john_contoso_com_MThumb.jpg``.
THUMB_FILE = re.compile(r"^(?P<acct>.+)_(?P<size>[SML])Thumb\.jpg$", re.IGNORECASE)


@dataclass(frozen=True)
class LibraryEntry:
    """A file just added to the library (what ``Files/add`` answers)."""

    path: str
    length: int
    sha256: str
    modified_at: datetime


def account_slug(upn: str) -> str:
    """``john@contoso.com`` -> ``john_contoso_com``, as SharePoint names thumbnail files."""
    return upn.lower().replace("@", "_").replace(".", "_")


def thumbnail_path(upn: str, size: SizeCode) -> str:
    return f"{LIBRARY_FOLDER}/{account_slug(upn)}_{size}Thumb.jpg"


def claims_name(upn: str) -> str:
    return f"{CLAIMS_PREFIX}{upn}"


# A SharePoint claims name's encoding and issuer: ``i:0#.f|membership|``, ``c:0-.f|rolemanager|``.
_CLAIMS_ENCODING = re.compile(r"[ic]:0[^|.]{1,2}\.[a-z]\|[^|]*\|", re.IGNORECASE)


def upn_from_account_name(account_name: str) -> str:
    """Accept a plain UPN or a claims name (``i:0#.f|membership|user@contoso.com``).

    Only a claims encoding at the start is taken off: ``evil|bob@contoso.com`` names no one
    but itself (cutting at the last ``|`` would make it name bob)."""
    name = account_name.strip()
    prefix = _CLAIMS_ENCODING.match(name)
    return (name[prefix.end() :] if prefix else name).strip()


@dataclass(frozen=True)
class Uploaded:
    """A picture uploaded straight into sites: its SPS-PictureTimestamp, and a warning when
    it is smaller than the sizes SharePoint shows it at."""

    timestamp: str
    warning: str | None


@dataclass(frozen=True)
class ProfileStatus:
    """What sites shows for a user (admin page, diagnostic). What the last sync check did is
    kept by sync, not here (``SyncService.status``)."""

    user_id: str
    has_picture: bool  # False: the placeholder is shown
    picture_source: str | None  # "mailbox" | "upload" | None
    picture_timestamp: str | None
    source_etag: str | None
    exchange_sync_state: int
    # Whether users may edit the Picture property (tenant setting); off means no mailbox sync.
    picture_editable: bool = True


# The sizes SharePoint names S, M and L; L comes from settings.large_thumbnail_size.
SMALL_SIZE = 48
MEDIUM_SIZE = 72
SIZE_CODES: tuple[SizeCode, ...] = ("S", "M", "L")


def size_code(value: str | None) -> SizeCode | None:
    """``S``/``M``/``L`` in any case (userphoto.aspx is case-insensitive); None if not one."""
    code = (value or "S").strip().upper()
    if code == "S":
        return "S"
    if code == "M":
        return "M"
    if code == "L":
        return "L"
    return None


# Called by sites when a signed-in user asks for their own Large picture, before it is served
# (sync registers itself here, so that sites never imports sync): (user, session_id, actor).
OwnLargeHook = Callable[[UserInfo, str | None, str], object]


# Work another role needs committed in the same transaction as a picture change (sync's record
# of the check): one commit instead of two, and the record exists exactly when the change does.
InTransaction = Callable[[Connection], None]
