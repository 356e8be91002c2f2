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


class AccessDenied(PermissionError):
    """The caller may not read or change this user's photo."""


__all__ = [
    "AccessDenied",
    "MailboxNotEnabled",
    "PhotoNotFound",
    "PreviewNotFound",
    "UserNotFound",
    "VersionNotFound",
]
