"""Why a mailbox call did not happen, as the service says it (views turn these into Graph errors).

``UserNotFound`` and ``MailboxNotEnabled`` are ``PhotoNotFound``s so that a caller written against
``MailboxReader`` alone (sync, portal) treats "no such user" and "no mailbox" as "no photo",
which is what each of them means for that caller.
"""

from __future__ import annotations

from photosync.mailbox.interfaces import PhotoNotFound


class UserNotFound(PhotoNotFound):
    """No directory user has this id or user principal name."""


class MailboxNotEnabled(PhotoNotFound):
    """The user exists but has no mailbox, so there is nowhere to keep a mailbox photo."""


class PreviewNotFound(PhotoNotFound):
    """There is no pending preview to save or show."""


class VersionNotFound(PhotoNotFound):
    """The user has no photo version with this id (never had, or it was collected)."""


class SizeNotOffered(PhotoNotFound):
    """The photo exists, but not at this size (sizes above the upload are never made)."""

    def __init__(self, size: int, offered: tuple[int, ...]) -> None:
        super().__init__(f"the photo is not offered at {size}x{size}")
        self.size = size
        self.offered = offered

    def sentence(self) -> str:
        """The plain message every edge gives (the CLI, Graph's error body)."""
        sizes = ", ".join(str(side) for side in self.offered)
        return f"{self.size} is not offered for this photo; offered: {sizes}"


class AccessDenied(PermissionError):
    """The caller may not read or change this user's photo."""


__all__ = [
    "AccessDenied",
    "MailboxNotEnabled",
    "PhotoNotFound",
    "PreviewNotFound",
    "SizeNotOffered",
    "UserNotFound",
    "VersionNotFound",
]
