"""When sites checks the mailbox for a new photo: the ``on-user-action`` policy (SPEC §2).

A check is considered only when a signed-in user asks for their own Large picture; this module
decides whether that request gets one. Pure: the history and the time come in as arguments.

The rules, first match wins:
1. never checked                          -> check ("never-checked")
2. the latest check failed, and less than
   ``photo_error_expiration`` ago         -> no check ("error-backoff"); later -> ("error-retry")
3. first own-Large request of this
   sign-in session                        -> check ("new-session")
4. latest successful check older than
   ``photo_expiration``                   -> check ("expired")
5. otherwise                              -> no check ("fresh")

The error back-off comes before the new-session rule on purpose: a failing mailbox must not be
hit again by every sign-in of every user within the hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from photosync.settings import Settings
from photosync.sync.interfaces import ERROR

ON_USER_ACTION = "on-user-action"
# Only admin-triggered checks ("photosync sync now"); own-Large requests never check.
MANUAL = "manual"
# The values the setting accepts are settings.SYNC_POLICIES.


@dataclass(frozen=True)
class History:
    """What the policy needs to know about a user's earlier checks and this session."""

    last_check_at: datetime | None
    last_result: str | None
    last_success_at: datetime | None
    last_error_at: datetime | None
    session_checked: bool  # this sign-in session already had its own-Large check
    # Why the latest check failed (None after a success): for people, not for the policy.
    last_error: str | None = None


@dataclass(frozen=True)
class Decision:
    check: bool
    reason: str
    # When an own-Large request will next get a check in this session (None: now, or unknown).
    next_check_at: datetime | None = None


@dataclass(frozen=True)
class Timing:
    expiration: timedelta
    error_expiration: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> Timing:
        return cls(
            expiration=timedelta(hours=settings.photo_expiration_hours),
            error_expiration=timedelta(hours=settings.photo_error_expiration_hours),
        )


def decide(
    history: History, *, now: datetime, has_session: bool, timing: Timing, policy: str
) -> Decision:
    if policy == MANUAL:
        return Decision(False, "manual-policy")
    if history.last_check_at is None:
        return Decision(True, "never-checked")
    if history.last_result == ERROR and history.last_error_at is not None:
        retry_at = history.last_error_at + timing.error_expiration
        if now < retry_at:
            return Decision(False, "error-backoff", retry_at)
        return Decision(True, "error-retry")
    if has_session and not history.session_checked:
        return Decision(True, "new-session")
    if history.last_success_at is None:
        return Decision(True, "expired")
    fresh_until = history.last_success_at + timing.expiration
    if now >= fresh_until:
        return Decision(True, "expired")
    return Decision(False, "fresh", fresh_until)
