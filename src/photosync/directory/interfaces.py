"""What other roles may know about a directory user."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UserInfo:
    id: str
    upn: str
    display_name: str
    mail: str | None
    is_admin: bool
    has_mailbox: bool
