"""Why a person's photo does or does not show in sites, in plain words, and the one fix.

Pure: everything comes in as plain values (what the mailbox has, what sites shows, sync's history
and recent checks, whether the directory has a thumbnail, the policy and the time) and one
``Diagnosis`` comes out. ``SyncService.diagnose`` gathers the values; the CLI (``photosync
doctor``) and the portal's diagnostic pages only show the result.

Exactly one state, the first that holds:

1. ``in-sync``        sites shows the mailbox's current photo
2. ``upload-kept``    sites shows a SetMyProfilePicture upload, and no mailbox photo replaces it
3. ``no-mailbox``     no mailbox, so nothing to copy from (and no upload shows)
4. ``directory-only`` no mailbox photo, nothing shown, but the directory has a thumbnail
5. ``no-photo``       no mailbox photo, nothing shown
   (from here on the mailbox has something sites has not taken: a new photo, or a removal)
6. ``not-editable``   the tenant forbids editing the Picture property, so sites copies nothing
7. ``error-backoff``  the last check failed and the policy waits before trying again
8. ``pending``        sites takes it at the next check: when that is depends on the policy

The order is the order of the fixes: a person with nothing to copy needs a photo before any
setting or check can help, and a setting that stops every copy matters more than one failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from photosync.mailbox.interfaces import PhotoInfo
from photosync.sites.interfaces import ProfileStatus
from photosync.sync.interfaces import ERROR, CheckOutcome
from photosync.sync.policy import MANUAL, Decision, History, Timing, decide

State = Literal[
    "in-sync",
    "pending",
    "no-photo",
    "no-mailbox",
    "not-editable",
    "error-backoff",
    "directory-only",
    "upload-kept",
]
STATES: tuple[State, ...] = (
    "in-sync",
    "upload-kept",
    "no-mailbox",
    "directory-only",
    "no-photo",
    "not-editable",
    "error-backoff",
    "pending",
)
# What the one fix asks for (the pages pick a button by it).
FixAction = Literal["none", "check-now", "ask-admin", "add-photo", "get-mailbox", "turn-on-editing"]
# Who reads the diagnosis: the person themselves (their page) or an admin (CLI, admin page).
Audience = Literal["user", "admin"]

AUTOMATIC = "automatic"
# How often a person may ask for a check of their own photo ("Check now" on their page).
SELF_CHECK_INTERVAL = timedelta(seconds=60)
SETTING = "People may change their picture in SharePoint"


@dataclass(frozen=True)
class Facts:
    """Everything the diagnostic looks at, read by ``SyncService.diagnose``."""

    upn: str
    name: str
    has_mailbox: bool
    mailbox_photo: PhotoInfo | None  # the mailbox's current photo (None: none, or no mailbox)
    sites: ProfileStatus
    directory_thumbnail: bool  # the directory's thumbnailPhoto is set
    history: History  # session_checked: the session asked about already had its check
    has_session: bool  # asked about a sign-in session (the person's own page)
    recent: Sequence[CheckOutcome]  # newest first
    policy: str
    timing: Timing
    now: datetime


@dataclass(frozen=True)
class Diagnosis:
    state: State
    headline: str  # a few words
    explanation: str  # plain words, for someone who never heard of Exchange or SharePoint
    fix: str  # the one action that makes the photo show (or "nothing to do")
    fix_action: FixAction
    # When the person's own action next gets a check in the session asked about (now, if the
    # next one does; the retry time during an error back-off); None under the manual policy.
    next_check_at: datetime | None
    decision: Decision
    facts: Facts


def diagnose(facts: Facts, audience: Audience = "admin") -> Diagnosis:
    decision = decide(
        facts.history,
        now=facts.now,
        has_session=facts.has_session,
        timing=facts.timing,
        policy=facts.policy,
    )
    state = classify(facts)
    words = _Words(facts, audience)
    headline, explanation, fix, action = _TEXTS[state](facts, decision, words)
    return Diagnosis(
        state=state,
        headline=headline,
        explanation=explanation,
        fix=fix,
        fix_action=action,
        next_check_at=next_check_at(facts.policy, decision, facts.now),
        decision=decision,
        facts=facts,
    )


def classify(facts: Facts) -> State:
    """The one state (the module's docstring gives the order and why)."""
    photo, sites = facts.mailbox_photo, facts.sites
    from_mailbox = sites.has_picture and sites.picture_source == "mailbox"
    if photo is not None and from_mailbox and sites.source_etag == photo.etag:
        return "in-sync"
    if sites.has_picture and sites.picture_source == "upload" and photo is None:
        return "upload-kept"
    if not facts.has_mailbox:
        return "no-mailbox"
    if photo is None and not from_mailbox:
        return "directory-only" if facts.directory_thumbnail else "no-photo"
    # Something to take: a photo sites does not show, or the removal of the one it shows.
    if not sites.picture_editable:
        return "not-editable"
    if backing_off(facts.history, facts.now, facts.timing):
        return "error-backoff"
    return "pending"


def backing_off(history: History, now: datetime, timing: Timing) -> bool:
    retry = retry_at(history, timing)
    return retry is not None and now < retry


def retry_at(history: History, timing: Timing) -> datetime | None:
    """When the policy tries again after the failed latest check (None: it did not fail)."""
    if history.last_result != ERROR or history.last_error_at is None:
        return None
    return history.last_error_at + timing.error_expiration


def next_check_at(policy: str, decision: Decision, now: datetime) -> datetime | None:
    if policy == MANUAL:
        return None
    return now if decision.check else decision.next_check_at


def next_check_text(policy: str, decision: Decision) -> str:
    """What the person's next own-Large request gets, and what a new sign-in changes (the end
    of ``photosync sync status``), from the policy in force and the decision."""
    if policy == MANUAL:
        return (
            "the manual policy: own-Large requests never check, new sign-ins neither; "
            "only an admin's check runs (photosync sync now)"
        )
    until = f" (until {when(decision.next_check_at)})" if decision.next_check_at else ""
    text = f"{'checks' if decision.check else 'no check'} [{decision.reason}]{until}"
    if decision.reason == "error-backoff":
        text += "; backing off after an error: not even a new sign-in session gets a check"
    elif decision.check:
        text += "; so does a new sign-in session"
    else:
        text += "; a new sign-in session gets a check"
    if policy == AUTOMATIC:
        text += "; a changed mailbox photo is checked within seconds (automatic policy)"
    return text


def self_check_wait(
    last_check_at: datetime | None, now: datetime, interval: timedelta = SELF_CHECK_INTERVAL
) -> datetime | None:
    """When the person may press "Check now" again (None: now). Any check of theirs counts:
    one that ran moments ago left nothing for another to find."""
    if last_check_at is None or now >= last_check_at + interval:
        return None
    return last_check_at + interval


def self_check_refusal(policy: str, wait_until: datetime | None, now: datetime) -> str | None:
    """Why a person's "Check now" is refused, in plain words (None: it is not)."""
    if policy == MANUAL:
        return (
            "In this organisation only an administrator can start a check. "
            "Ask your administrator to run one."
        )
    if wait_until is not None:
        seconds = max(1, round((wait_until - now).total_seconds()))
        return (
            f"A check ran moments ago. You can check again in {seconds} "
            f"second{'s' if seconds != 1 else ''}."
        )
    return None


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "-"


# --- the words -------------------------------------------------------------------------------


class _Words:
    """Second person for the person themselves, their name for an admin."""

    def __init__(self, facts: Facts, audience: Audience) -> None:
        self.user = audience == "user"
        self.facts = facts
        self.who = "you" if self.user else facts.name
        self.Who = "You" if self.user else facts.name
        self.whose = "your" if self.user else f"{facts.name}'s"
        self.Whose = "Your" if self.user else f"{facts.name}'s"
        self.opens = "open" if self.user else "opens"
        self.has = "have" if self.user else "has"

    def shown(self) -> str:
        """What sites shows now, as a noun phrase."""
        sites = self.facts.sites
        if not sites.has_picture:
            return "the blank placeholder picture"
        if sites.picture_source == "upload":
            return "the picture uploaded straight to SharePoint"
        return "the previous photo"

    def check_fix(self) -> str:
        if self.user:
            return "Press Check now below: SharePoint copies the photo at once."
        return f"Check now: the button on this page, or `photosync sync now {self.facts.upn}`."

    def editing_off(self) -> str:
        return (
            f" Also, “{SETTING}” is turned off for the organisation, so a new photo would "
            "not be copied either."
            if not self.facts.sites.picture_editable
            else ""
        )


Texts = tuple[str, str, str, FixAction]


def _in_sync(f: Facts, d: Decision, w: _Words) -> Texts:
    copied = next(
        (
            c.started_at
            for c in f.recent
            if c.result == "updated" and f.mailbox_photo and c.to_etag == f.mailbox_photo.etag
        ),
        None,
    )
    since = f" (copied {when(copied)})" if copied else ""
    later = (
        f" “{SETTING}” is turned off for the organisation, so a newer photo would not be copied."
        if not f.sites.picture_editable
        else ""
    )
    fix = (
        "Nothing to do. Another app that still shows an old picture keeps a copy of its own "
        "for a day or two: it catches up by itself."
        if w.user
        else "Nothing to do."
    )
    return (
        "The photo shows",
        f"OneDrive and SharePoint show {w.whose} current photo{since}.{later}",
        fix,
        "none",
    )


def _upload_kept(f: Facts, d: Decision, w: _Words) -> Texts:
    if f.has_mailbox:
        why = (
            f" {w.Who} {w.has} no photo in the mailbox, so there is nothing to replace it with; "
            "once one is added, SharePoint replaces the upload with it."
        )
        fix = (
            "Nothing to do. To use one photo everywhere, add it on the Change your photo page."
            if w.user
            else "Nothing to do (a mailbox photo, once added, replaces the upload)."
        )
    else:
        why = f" {w.Who} {w.has} no mailbox, so SharePoint keeps this picture."
        fix = "Nothing to do."
    return (
        "SharePoint shows an uploaded picture",
        f"SharePoint shows a picture that was uploaded straight to it.{why}",
        fix,
        "none",
    )


def _no_mailbox(f: Facts, d: Decision, w: _Words) -> Texts:
    text = f"{w.Whose} account has no mailbox, and SharePoint copies photos only from the mailbox."
    if f.sites.has_picture:
        text += " It still shows the photo it copied earlier."
    if f.directory_thumbnail:
        text += " The small picture in the company directory is never read by SharePoint."
    blocked = not f.sites.picture_editable
    if blocked:
        text += (
            f" “{SETTING}” is turned off for the organisation, so no picture can be uploaded "
            "straight to SharePoint either."
        )
    if w.user:
        fix = "Ask your administrator to give your account a mailbox, then add a photo."
    else:
        fix = f"Give {f.upn} a mailbox, then add a photo" + (
            "; or turn on the setting so they can upload a picture straight to SharePoint."
            if blocked
            else "; or have them upload a picture straight to SharePoint."
        )
    return ("There is no mailbox to copy from", text, fix, "get-mailbox")


def _directory_only(f: Facts, d: Decision, w: _Words) -> Texts:
    text = (
        "The only picture is the small one in the company directory. SharePoint never reads "
        f"that picture: it copies photos only from the mailbox, and {w.whose} mailbox has none."
        + w.editing_off()
    )
    fix = (
        "Add your photo on the Change your photo page; SharePoint copies it from there."
        if w.user
        else f"Put the photo in the mailbox: `photosync photo set {f.upn} FILE`."
    )
    return ("Only the directory has a picture", text, fix, "add-photo")


def _no_photo(f: Facts, d: Decision, w: _Words) -> Texts:
    text = (
        f"{w.Who} {w.has} not added a photo yet, so SharePoint shows a blank placeholder picture."
        + w.editing_off()
    )
    fix = (
        "Add a photo on the Change your photo page."
        if w.user
        else f"Add a photo for them (`photosync photo set {f.upn} FILE`), or ask them to."
    )
    return ("There is no photo yet", text, fix, "add-photo")


def _what_waits(f: Facts, w: _Words) -> str:
    if f.mailbox_photo is None:
        return f"{w.Whose} photo was removed, but SharePoint still shows the old one"
    return f"{w.Whose} new photo has not reached SharePoint yet: it still shows {w.shown()}"


def _not_editable(f: Facts, d: Decision, w: _Words) -> Texts:
    text = (
        f"{_what_waits(f, w)}. The organisation has turned off “{SETTING}”, and while it is "
        "off SharePoint copies no photo from the mailbox."
    )
    fix = (
        f"Ask your administrator to turn on “{SETTING}”."
        if w.user
        else f"Turn on “{SETTING}” (the admin page, or `photosync sync picture-editable on`), "
        "then check now."
    )
    return ("Picture changes are turned off", text, fix, "turn-on-editing")


def _error_backoff(f: Facts, d: Decision, w: _Words) -> Texts:
    h = f.history
    error = h.last_error or "an unknown error"
    text = f"{_what_waits(f, w)}. The last try, at {when(h.last_error_at)}, failed: {error}."
    if f.policy == MANUAL:
        text += " Only an administrator's check tries again (the manual policy)."
    else:
        text += (
            f" SharePoint waits until {when(retry_at(h, f.timing))} before trying again by "
            "itself, even after signing in again."
        )
    if f.policy == MANUAL and w.user:
        fix = "Ask your administrator to run a check; if it fails again, send them the error."
        return ("The last copy failed", text, fix, "ask-admin")
    if w.user:
        fix = (
            "Press Check now below to try again; if it fails again, send the error to your "
            "administrator."
        )
    else:
        fix = f"Fix what the error names, then check now (`photosync sync now {f.upn}`)."
    return ("The last copy failed", text, fix, "check-now")


def _pending(f: Facts, d: Decision, w: _Words) -> Texts:
    text = _what_waits(f, w) + "."
    takes = "takes the change" if f.mailbox_photo is None else "copies it"
    if f.policy == MANUAL:
        text += f" SharePoint {takes} only when an administrator runs a check (the manual policy)."
        if w.user:
            return (
                "Waiting for an administrator",
                text,
                "Ask your administrator to run a check.",
                "ask-admin",
            )
        return ("Waiting for an administrator's check", text, w.check_fix(), "check-now")
    if f.policy == AUTOMATIC:
        again = "" if d.check else " after signing in again"
        text += (
            f" SharePoint {takes} within seconds of a change (the automatic policy), and the "
            f"next time {w.who} {w.opens} OneDrive or SharePoint{again}."
        )
    elif d.check:
        text += f" SharePoint {takes} the next time {w.who} {w.opens} OneDrive or SharePoint."
    else:
        text += (
            f" SharePoint {takes} the next time {w.who} {w.opens} OneDrive or SharePoint after "
            f"signing in again, or after {when(d.next_check_at)} without signing in again."
        )
    return ("Not copied yet", text, w.check_fix(), "check-now")


_TEXTS = {
    "in-sync": _in_sync,
    "upload-kept": _upload_kept,
    "no-mailbox": _no_mailbox,
    "directory-only": _directory_only,
    "no-photo": _no_photo,
    "not-editable": _not_editable,
    "error-backoff": _error_backoff,
    "pending": _pending,
}


# --- as JSON (``photosync doctor --json``, ``photosync sync status --json``) -------------------


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def mailbox_json(has_mailbox: bool, photo: PhotoInfo | None) -> dict[str, object]:
    return {
        "has_mailbox": has_mailbox,
        "has_photo": photo is not None,
        "etag": photo.etag if photo else None,
        "version_id": photo.version_id if photo else None,
        "changed_at": iso(photo.created_at) if photo else None,
        "changed_by": photo.created_by if photo else None,
        "sizes": list(photo.sizes) if photo else [],
    }


def sites_json(status: ProfileStatus) -> dict[str, object]:
    return {
        "has_picture": status.has_picture,
        "picture_source": status.picture_source,
        "source_etag": status.source_etag,
        "picture_timestamp": status.picture_timestamp,
        "picture_editable": status.picture_editable,
        "exchange_sync_state": status.exchange_sync_state,
    }


def check_json(check: CheckOutcome) -> dict[str, object]:
    return {
        "at": iso(check.started_at),
        "trigger": check.trigger,
        "reason": check.reason,
        "result": check.result,
        "error": check.error,
        "from_etag": check.from_etag,
        "to_etag": check.to_etag,
        "run": check.run_id,  # the bulk run the check was part of, if any
    }


def diagnosis_json(d: Diagnosis) -> dict[str, object]:
    f = d.facts
    return {
        "upn": f.upn,
        "state": d.state,
        "explanation": d.explanation,
        "fix": d.fix,
        "mailbox": mailbox_json(f.has_mailbox, f.mailbox_photo),
        "sites": sites_json(f.sites),
        "last_checks": [check_json(c) for c in f.recent],
        "next_check_at": iso(d.next_check_at),
    }
