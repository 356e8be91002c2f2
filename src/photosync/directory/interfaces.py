"""What other roles may know about a directory user."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class UserInfo:
    id: str
    upn: str
    display_name: str
    mail: str | None
    is_admin: bool
    has_mailbox: bool
    # Cannot sign in, their tokens and sessions stop working, their photo is not served to
    # others (see ``directory.access``); kept until removed.
    disabled: bool = False


@dataclass(frozen=True)
class AppInfo:
    """A registered application, as ``photosync apps list`` shows it (never its secret)."""

    client_id: str
    name: str
    roles: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None

    @property
    def disabled(self) -> bool:
        """A revoked app, like a disabled user, gets no token and its tokens stop working."""
        return self.revoked_at is not None
