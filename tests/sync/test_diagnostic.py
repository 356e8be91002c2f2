"""The diagnostic as a pure function: every state, which one wins when several hold, the words."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from photosync.mailbox.interfaces import PhotoInfo
from photosync.sites.interfaces import ProfileStatus
from photosync.sync.diagnostic import (
    STATES,
    Facts,
    check_json,
    classify,
    diagnose,
    diagnosis_json,
    next_check_text,
    self_check_refusal,
    self_check_wait,
)
from photosync.sync.policy import Decision, History, Timing
from photosync.sync.records import CheckOutcome

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)
TIMING = Timing(expiration=24 * H, error_expiration=H)
NEW, OLD = "0000000B", "0000000A"


def photo(etag: str = NEW) -> PhotoInfo:
    return PhotoInfo("u1", f"v-{etag}", etag, (48, 96, 648), NOW - 2 * H, "ada@example.org")


def shows(
    source: str | None = None, etag: str | None = None, *, editable: bool = True
) -> ProfileStatus:
    return ProfileStatus(
        user_id="u1",
        has_picture=source is not None,
        picture_source=source,
        picture_timestamp="1" if source else None,
        source_etag=etag,
        exchange_sync_state=1 if editable else 0,
        picture_editable=editable,
    )


NEVER = History(None, None, None, None, True)


def checked(result: str = "unchanged", ago: timedelta = H, error: str | None = None) -> History:
    at = NOW - ago
    if result == "error":
        return History(at, result, None, at, True, error or "ConnectionError: no answer")
    return History(at, result, at, None, True)


def facts(
    *,
    mailbox: bool = True,
    has: PhotoInfo | None = None,
    sites: ProfileStatus | None = None,
    thumbnail: bool = False,
    history: History = NEVER,
    policy: str = "on-user-action",
    session: bool = False,
) -> Facts:
    return Facts(
        upn="alice@example.org",
        name="Alice",
        has_mailbox=mailbox,
        mailbox_photo=has if mailbox else None,
        sites=sites or shows(),
        directory_thumbnail=thumbnail,
        history=history,
        has_session=session,
        recent=(),
        policy=policy,
        timing=TIMING,
        now=NOW,
    )


FAILED = checked("error", ago=0.25 * H)
FAILED_LONG_AGO = checked("error", ago=2 * H)

# (case, facts, state): each state on its own, then each rule of precedence.
CASES = [
    ("shows the current version", facts(has=photo(), sites=shows("mailbox", NEW)), "in-sync"),
    ("a new photo, placeholder shown", facts(has=photo()), "pending"),
    (
        "a newer photo than the one shown",
        facts(has=photo(), sites=shows("mailbox", OLD)),
        "pending",
    ),
    ("removed, old one still shown", facts(sites=shows("mailbox", OLD)), "pending"),
    ("a mailbox photo replaces an upload", facts(has=photo(), sites=shows("upload")), "pending"),
    ("nothing anywhere", facts(), "no-photo"),
    ("no mailbox", facts(mailbox=False), "no-mailbox"),
    (
        "no mailbox, an old copy shown",
        facts(mailbox=False, sites=shows("mailbox", OLD)),
        "no-mailbox",
    ),
    (
        "editing off, a photo waits",
        facts(has=photo(), sites=shows(editable=False)),
        "not-editable",
    ),
    ("the last check failed", facts(has=photo(), history=FAILED), "error-backoff"),
    ("directory thumbnail only", facts(thumbnail=True), "directory-only"),
    ("an upload, no mailbox photo", facts(sites=shows("upload")), "upload-kept"),
    ("an upload, no mailbox", facts(mailbox=False, sites=shows("upload")), "upload-kept"),
    # Precedence.
    (
        "in sync beats editing off",
        facts(has=photo(), sites=shows("mailbox", NEW, editable=False)),
        "in-sync",
    ),
    (
        "in sync beats a failed check",
        facts(has=photo(), sites=shows("mailbox", NEW), history=FAILED),
        "in-sync",
    ),
    (
        "upload kept beats editing off",
        facts(sites=shows("upload", editable=False)),
        "upload-kept",
    ),
    ("no mailbox beats the thumbnail", facts(mailbox=False, thumbnail=True), "no-mailbox"),
    (
        "no mailbox beats editing off",
        facts(mailbox=False, sites=shows(editable=False)),
        "no-mailbox",
    ),
    ("no photo beats editing off", facts(sites=shows(editable=False)), "no-photo"),
    ("no photo beats a failed check", facts(history=FAILED), "no-photo"),
    ("the thumbnail beats a failed check", facts(thumbnail=True, history=FAILED), "directory-only"),
    (
        "the thumbnail beats editing off",
        facts(thumbnail=True, sites=shows(editable=False)),
        "directory-only",
    ),
    (
        "editing off beats a failed check",
        facts(has=photo(), sites=shows(editable=False), history=FAILED),
        "not-editable",
    ),
    (
        "a failure past its back-off is pending",
        facts(has=photo(), history=FAILED_LONG_AGO),
        "pending",
    ),
    (
        "a failed removal backs off",
        facts(sites=shows("mailbox", OLD), history=FAILED),
        "error-backoff",
    ),
]


@pytest.mark.parametrize(("case", "given", "state"), CASES, ids=[c[0] for c in CASES])
def test_state(case: str, given: Facts, state: str) -> None:
    assert classify(given) == state
    d = diagnose(given)
    assert d.state == state
    assert d.explanation and d.fix and d.headline


def test_every_state_is_covered() -> None:
    assert {state for _, _, state in CASES} == set(STATES)


# --- pending: when, and what triggers it, under each policy -----------------------------------


def test_pending_on_user_action_in_a_session_already_checked() -> None:
    d = diagnose(facts(has=photo(), history=checked("no-photo", ago=H)))
    assert d.state == "pending"
    assert (
        "the next time Alice opens OneDrive or SharePoint after signing in again, or after "
        "2026-03-03 08:00 UTC without signing in again" in d.explanation
    )
    assert d.next_check_at == NOW + 23 * H
    assert d.fix_action == "check-now"
    assert "photosync sync now alice@example.org" in d.fix


def test_pending_on_user_action_when_the_next_visit_checks() -> None:
    # A session of the person's own that has not had its check yet: opening OneDrive will do.
    h = replace(checked("no-photo", ago=H), session_checked=False)
    d = diagnose(facts(has=photo(), history=h, session=True), "user")
    assert "SharePoint copies it the next time you open OneDrive or SharePoint." in d.explanation
    assert "signing in again" not in d.explanation
    assert d.next_check_at == NOW
    assert d.fix == "Press Check now below: SharePoint copies the photo at once."


def test_pending_automatic_is_within_seconds() -> None:
    d = diagnose(facts(has=photo(), history=checked(ago=H), policy="automatic"))
    assert "within seconds of a change (the automatic policy)" in d.explanation
    assert "opens OneDrive or SharePoint after signing in again." in d.explanation
    never = diagnose(facts(has=photo(), policy="automatic"))
    assert never.explanation.endswith("the next time Alice opens OneDrive or SharePoint.")


def test_pending_manual_waits_for_an_admin() -> None:
    d = diagnose(facts(has=photo(), policy="manual"))
    assert "only when an administrator runs a check (the manual policy)" in d.explanation
    assert d.next_check_at is None
    assert d.fix_action == "check-now"  # the admin can
    mine = diagnose(facts(has=photo(), policy="manual"), "user")
    assert mine.fix == "Ask your administrator to run a check."
    assert mine.fix_action == "ask-admin"


def test_pending_removal_says_the_old_one_still_shows() -> None:
    d = diagnose(facts(sites=shows("mailbox", OLD)), "user")
    assert d.explanation.startswith(
        "Your photo was removed, but SharePoint still shows the old one"
    )
    assert "takes the change" in d.explanation


# --- the other states' words -------------------------------------------------------------


def test_error_backoff_names_the_error_and_the_retry_time() -> None:
    d = diagnose(facts(has=photo(), history=FAILED))
    assert "failed: ConnectionError: no answer" in d.explanation
    assert "waits until 2026-03-02 09:45 UTC" in d.explanation
    assert d.next_check_at == NOW + 0.75 * H
    assert d.decision == Decision(False, "error-backoff", NOW + 0.75 * H)
    manual = diagnose(facts(has=photo(), history=FAILED, policy="manual"), "user")
    assert manual.state == "error-backoff"
    assert "Only an administrator's check tries again" in manual.explanation
    assert manual.next_check_at is None and manual.fix_action == "ask-admin"


def test_directory_only_says_sites_never_reads_it() -> None:
    d = diagnose(facts(thumbnail=True), "user")
    assert "SharePoint never reads that picture" in d.explanation
    assert d.fix_action == "add-photo"
    assert "Change your photo" in d.fix


def test_not_editable_names_the_setting() -> None:
    d = diagnose(facts(has=photo(), sites=shows(editable=False)))
    assert "People may change their picture in SharePoint" in d.explanation
    assert "photosync sync picture-editable on" in d.fix
    assert d.fix_action == "turn-on-editing"


def test_no_mailbox_with_editing_off_says_uploads_are_blocked_too() -> None:
    d = diagnose(facts(mailbox=False, sites=shows(editable=False), thumbnail=True))
    assert "no picture can be uploaded straight to SharePoint either" in d.explanation
    assert "never read by SharePoint" in d.explanation
    assert d.fix_action == "get-mailbox"


def test_notes_that_editing_is_off_where_another_state_wins() -> None:
    assert (
        "turned off for the organisation"
        in diagnose(facts(sites=shows(editable=False))).explanation
    )
    in_sync = diagnose(facts(has=photo(), sites=shows("mailbox", NEW, editable=False)))
    assert "a newer photo would not be copied" in in_sync.explanation


def test_in_sync_says_when_it_was_copied() -> None:
    check = CheckOutcome("u1", "own-large", "new-session", "s1", NOW - H, 12, "updated", OLD, NEW)
    d = diagnose(replace(facts(has=photo(), sites=shows("mailbox", NEW)), recent=[check]))
    assert "(copied 2026-03-02 08:00 UTC)" in d.explanation
    assert d.fix == "Nothing to do." and d.fix_action == "none"


def test_the_user_reads_second_person_and_the_admin_a_name() -> None:
    given = facts(has=photo())
    assert diagnose(given, "user").explanation.startswith("Your new photo")
    assert diagnose(given, "admin").explanation.startswith("Alice's new photo")


# --- JSON, the status line, and "Check now" ------------------------------------------------


def test_json_has_exactly_the_documented_keys() -> None:
    check = CheckOutcome("u1", "admin", "admin-request", None, NOW, 5, "error", None, None, "boom")
    d = diagnose(replace(facts(has=photo(), history=FAILED), recent=[check]))
    out = diagnosis_json(d)
    assert list(out) == [
        "upn",
        "state",
        "explanation",
        "fix",
        "mailbox",
        "sites",
        "last_checks",
        "next_check_at",
    ]
    assert out["next_check_at"] == "2026-03-02T09:45:00Z"
    assert out["last_checks"] == [check_json(check)]
    assert check_json(check) == {
        "at": "2026-03-02T09:00:00Z",
        "trigger": "admin",
        "reason": "admin-request",
        "result": "error",
        "error": "boom",
        "from_etag": None,
        "to_etag": None,
        "run": None,
    }


@pytest.mark.parametrize(
    ("policy", "decision", "says", "not_says"),
    [
        (
            "on-user-action",
            Decision(False, "fresh", NOW + H),
            "no check [fresh] (until 2026-03-02 10:00 UTC); a new sign-in session gets a check",
            "backing off",
        ),
        (
            "on-user-action",
            Decision(True, "expired"),
            "checks [expired]; so does a new sign-in",
            "backing off",
        ),
        (
            "on-user-action",
            Decision(False, "error-backoff", NOW + H),
            "backing off after an error: not even a new sign-in session gets a check",
            "; a new sign-in session gets a check",
        ),
        (
            "manual",
            Decision(False, "manual-policy"),
            "only an admin's check runs",
            "new sign-in session gets",
        ),
        (
            "automatic",
            Decision(False, "fresh", NOW + H),
            "checked within seconds (automatic policy)",
            "backing off",
        ),
    ],
)
def test_next_check_text_follows_the_policy_and_the_decision(
    policy: str, decision: Decision, says: str, not_says: str
) -> None:
    text = next_check_text(policy, decision)
    assert says in text
    assert not_says not in text


def test_self_check_is_once_a_minute_and_never_under_manual() -> None:
    assert self_check_wait(None, NOW) is None
    assert self_check_wait(NOW - timedelta(seconds=61), NOW) is None
    assert self_check_wait(NOW - timedelta(seconds=20), NOW) == NOW + timedelta(seconds=40)
    assert self_check_refusal("on-user-action", None, NOW) is None
    refusal = self_check_refusal("on-user-action", NOW + timedelta(seconds=40), NOW)
    assert refusal == "A check ran moments ago. You can check again in 40 seconds."
    assert "only an administrator" in (self_check_refusal("manual", None, NOW) or "")
