"""The on-user-action policy as a pure function: each rule, and which rule wins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from photosync.settings import Settings
from photosync.sync.policy import History, Timing, decide

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TIMING = Timing(expiration=timedelta(hours=24), error_expiration=timedelta(hours=1))


def history(
    *,
    checked_ago: timedelta | None = None,
    result: str = "updated",
    success_ago: timedelta | None = None,
    error_ago: timedelta | None = None,
    session_checked: bool = True,
) -> History:
    def at(ago: timedelta | None) -> datetime | None:
        return None if ago is None else NOW - ago

    return History(at(checked_ago), result, at(success_ago), at(error_ago), session_checked)


def run(
    h: History, *, has_session: bool = True, policy: str = "on-user-action"
) -> tuple[bool, str]:
    d = decide(h, now=NOW, has_session=has_session, timing=TIMING, policy=policy)
    return d.check, d.reason


H = timedelta(hours=1)


@pytest.mark.parametrize(
    ("h", "expected"),
    [
        (History(None, None, None, None, False), (True, "never-checked")),
        (History(None, None, None, None, True), (True, "never-checked")),
        (history(checked_ago=H, success_ago=H, session_checked=False), (True, "new-session")),
        (history(checked_ago=H, success_ago=H), (False, "fresh")),
        (history(checked_ago=23 * H, success_ago=23 * H), (False, "fresh")),
        (history(checked_ago=24 * H, success_ago=24 * H), (True, "expired")),
        (history(checked_ago=25 * H, success_ago=25 * H), (True, "expired")),
        (history(checked_ago=0.5 * H, result="error", error_ago=0.5 * H), (False, "error-backoff")),
        # The back-off holds even for a new sign-in session.
        (
            history(checked_ago=0.5 * H, result="error", error_ago=0.5 * H, session_checked=False),
            (False, "error-backoff"),
        ),
        (
            history(checked_ago=61 * H / 60, result="error", error_ago=61 * H / 60),
            (True, "error-retry"),
        ),
        # A later success ends the back-off.
        (
            history(
                checked_ago=0.1 * H, result="unchanged", success_ago=0.1 * H, error_ago=0.5 * H
            ),
            (False, "fresh"),
        ),
        (history(checked_ago=H, result="not-editable", success_ago=H), (False, "fresh")),
    ],
)
def test_rules(h: History, expected: tuple[bool, str]) -> None:
    assert run(h) == expected


def test_requests_without_a_session_only_expire() -> None:
    h = history(checked_ago=H, success_ago=H, session_checked=False)
    assert run(h, has_session=False) == (False, "fresh")


def test_manual_policy_never_checks_on_user_action() -> None:
    assert run(History(None, None, None, None, False), policy="manual") == (False, "manual-policy")


def test_next_check_time_is_reported() -> None:
    d = decide(
        history(checked_ago=H, success_ago=H),
        now=NOW,
        has_session=True,
        timing=TIMING,
        policy="on-user-action",
    )
    assert d.next_check_at == NOW + 23 * H
    d = decide(
        history(checked_ago=0.25 * H, result="error", error_ago=0.25 * H),
        now=NOW,
        has_session=True,
        timing=TIMING,
        policy="on-user-action",
    )
    assert d.next_check_at == NOW + 0.75 * H


def test_timing_comes_from_settings() -> None:
    timing = Timing.from_settings(
        Settings(photo_expiration_hours=72, photo_error_expiration_hours=2)
    )
    assert timing == Timing(timedelta(hours=72), timedelta(hours=2))
