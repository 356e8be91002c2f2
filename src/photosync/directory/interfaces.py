"""What other roles may know about a directory user, and how they ask for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class UserInfo:
    id: str
    upn: str
    display_name: str
    mail: str | None
    is_admin: bool
    has_mailbox: bool


class UserLookup(Protocol):
    def get_user(self, id_or_upn: str) -> UserInfo | None: ...

    def list_users(self, search: str = "") -> list[UserInfo]: ...
