"""Sites as other roles see it: naming rules of the User Photos library and a profile's status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

SizeCode = Literal["S", "M", "L"]
LIBRARY_FOLDER = "/User Photos/Profile Pictures"
CLAIMS_PREFIX = "i:0#.f|membership|"


def account_slug(upn: str) -> str:
    """``john@contoso.com`` -> ``john_contoso_com``, as SharePoint names thumbnail files."""
    return upn.lower().replace("@", "_").replace(".", "_")


def thumbnail_path(upn: str, size: SizeCode) -> str:
    return f"{LIBRARY_FOLDER}/{account_slug(upn)}_{size}Thumb.jpg"


def claims_name(upn: str) -> str:
    return f"{CLAIMS_PREFIX}{upn}"


def upn_from_account_name(account_name: str) -> str:
    """Accept a plain UPN or a claims name (``i:0#.f|membership|user@contoso.com``)."""
    return account_name.rsplit("|", 1)[-1].strip()


@dataclass(frozen=True)
class ProfileStatus:
    """What sites shows for a user, and what the last sync check did (admin page, diagnostic)."""

    user_id: str
    has_picture: bool  # False: the placeholder is shown
    picture_source: str | None  # "mailbox" | "upload" | None
    picture_timestamp: str | None
    source_etag: str | None
    exchange_sync_state: int
    last_check_at: datetime | None
    last_result: str | None  # "updated" | "unchanged" | "placeholder" | "error" | "not-editable"
    last_error: str | None
