"""How a check runs: compare versions, pull the master if it changed, make S/M/L, write them.

One check per user at a time: a per-user lock in this process and, on PostgreSQL, an advisory
lock held for the whole check, so that two servers do not pull the same photo twice. Whoever
waited for the lock asks the policy again once it has it (the first check usually made the
second unnecessary) and compares versions again, so two concurrent triggers pull once.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from sqlalchemy import text

from photosync import imaging
from photosync.db import Database
from photosync.directory.interfaces import UserInfo
from photosync.sync.interfaces import (
    ADMIN,
    AUTOMATIC,
    BULK,
    ERROR,
    NO_MAILBOX,
    NO_PHOTO,
    NOT_EDITABLE,
    PLACEHOLDER,
    SCHEDULE,
    UNCHANGED,
    UPDATED,
    Change,
    CheckOutcome,
    NoMailbox,
    PhotoSource,
    ProfileTarget,
    Shown,
    SourceVersion,
    TargetState,
    Trigger,
)
from photosync.sync.policy import Decision, History

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


# Why a check that no policy decided ran, by its trigger (own-large checks give the policy's).
REASONS: dict[str, str] = {
    ADMIN: "admin-request",
    BULK: "bulk-run",
    AUTOMATIC: "photo-changed",
    SCHEDULE: "scheduled",
}

# Square JPEG master and pixel sizes -> a JPEG per size (imaging.render_square_sizes).
Render = Callable[[bytes, tuple[int, ...]], dict[int, bytes]]

# A source photo below this many pixels is named in the check's note (directory photos often
# are: Active Directory recommends 96 px for thumbnailPhoto).
SMALL_PHOTO = 96


class Ledger(Protocol):
    """Where the engine keeps its record of every check (sync's own tables, or memory)."""

    def history(self, user_id: str, session_id: str | None) -> History: ...

    def record(self, check: CheckOutcome) -> None: ...


# Checks running at once in one process. Their work is CPU-bound (decode, resize, encode), so
# more would not finish sooner; and on PostgreSQL each holds a pooled connection for its
# advisory lock while it needs another for its writes, so an unbounded number could take the
# whole pool and wait forever for a second connection.
MAX_CONCURRENT_CHECKS = 4


class UserLocks:
    """One check per user at a time: a thread lock, and on PostgreSQL an advisory lock."""

    def __init__(self, db: Database | None = None) -> None:
        self.db = db
        self._guard = threading.Lock()
        self._slots = threading.BoundedSemaphore(MAX_CONCURRENT_CHECKS)
        # One small lock per user who ever synced in this process; never pruned, since a
        # lock must not be dropped while a thread may still be about to wait on it.
        self._locks: dict[str, threading.Lock] = {}

    @contextmanager
    def hold(self, user_id: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(user_id, threading.Lock())
        with lock, self._slots:
            if self.db is None or self.db.is_sqlite:
                # The embedded default is one process: the thread lock is the whole story.
                yield
                return
            with self.db.engine.connect() as conn, conn.begin():
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(user_id)})
                yield


def lock_key(user_id: str) -> int:
    digest = hashlib.sha256(f"photosync.sync:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class SyncEngine:
    def __init__(
        self,
        source: PhotoSource,
        target: ProfileTarget,
        ledger: Ledger,
        *,
        clock: Clock,
        locks: UserLocks | None = None,
        render: Render = imaging.render_square_sizes,
    ) -> None:
        self.source = source
        self.target = target
        self.ledger = ledger
        self.clock = clock
        self.locks = locks or UserLocks()
        # The CPU work of a check; a bulk run hands it to processes of its own (see
        # SyncService.continue_bulk) while the checks themselves stay in this process.
        self.render = render

    def history(self, user_id: str, session_id: str | None) -> History:
        return self.ledger.history(user_id, session_id)

    def with_render(self, render: Render) -> SyncEngine:
        """The same engine (source, target, ledger, locks) rendering with ``render``."""
        return SyncEngine(
            self.source,
            self.target,
            self.ledger,
            clock=self.clock,
            locks=self.locks,
            render=render,
        )

    def run(
        self,
        user: UserInfo,
        *,
        trigger: Trigger,
        actor: str,
        session_id: str | None = None,
        decide: Callable[[History], Decision] | None = None,
        run_id: str | None = None,
        run_position: int | None = None,
    ) -> CheckOutcome | None:
        """Check one user under their lock; with ``decide``, only if it still says so then.

        ``run_id``, ``run_position``: the bulk run this check is part of, and the user's place
        in it (its record marks the user done)."""
        with self.locks.hold(user.id):
            reason = REASONS.get(trigger, "admin-request")
            if decide is not None:
                decision = decide(self.history(user.id, session_id))
                if not decision.check:
                    return None
                reason = decision.reason
            outcome = self._check(user, trigger, reason, session_id, actor, run_id, run_position)
        if outcome.result == ERROR:
            log.warning("sync check for %s failed: %s", user.upn, outcome.error)
        return outcome

    def _check(
        self,
        user: UserInfo,
        trigger: str,
        reason: str,
        session_id: str | None,
        actor: str,
        run_id: str | None,
        run_position: int | None = None,
    ) -> CheckOutcome:
        """Check, and record the check exactly once.

        A change hands the target the record of the check it is part of (``Shown.recorded``:
        our sites commits both in one transaction, so the record exists exactly when the
        change does and a check costs one commit). A check that changed nothing, or failed, or
        whose target keeps no records, is recorded here.
        """
        started_at = self.clock()
        t0 = time.perf_counter()
        before = TargetState(None, None)

        def outcome(result: str, to_etag: str | None, error: str | None = None) -> CheckOutcome:
            return CheckOutcome(
                user_id=user.id,
                trigger=trigger,
                reason=reason,
                session_id=session_id,
                started_at=started_at,
                duration_ms=round((time.perf_counter() - t0) * 1000),
                result=result,
                from_etag=before.source_etag,
                to_etag=to_etag,
                error=error,
                run_id=run_id,
                run_position=run_position,
            )

        try:
            before = self.target.state(user)
            change = Change(actor=actor, reason=f"{trigger}: {reason}")
            done, shown = self._pull(user, before, change, outcome)
        except Exception as exc:  # recorded, and the previous picture stays
            log.debug("sync check for %s failed", user.upn, exc_info=True)
            done, shown = outcome(ERROR, before.source_etag, f"{type(exc).__name__}: {exc}"), None
        if shown is None or not shown.recorded:
            self.ledger.record(done)
        return done if shown is None else replace(done, picture_timestamp=shown.timestamp)

    def _pull(
        self,
        user: UserInfo,
        before: TargetState,
        change: Change,
        outcome: Callable[[str, str | None], CheckOutcome],
    ) -> tuple[CheckOutcome, Shown | None]:
        """Compare versions and write what changed: the check, and what the target did."""
        result, current = self._compare(user, before)
        photo = self.source.fetch(user, current) if result == UPDATED and current else None
        if photo is not None:
            files, note = self.rendered(photo.data)
            check = replace(outcome(UPDATED, photo.etag), note=note)
            shown = self.target.show(
                user, files, source_etag=photo.etag, change=change, check=check
            )
            return check, shown
        if result == UPDATED:  # the photo went away between the comparison and the fetch
            result = _without_photo(before)
        if result == PLACEHOLDER:
            check = outcome(PLACEHOLDER, None)
            return check, self.target.clear(user, change=change, check=check)
        return outcome(result, current.etag if current else before.source_etag), None

    def plan(self, user: UserInfo) -> tuple[str, str | None]:
        """What a check would come to now, without fetching or writing anything (a dry run):
        (result, the source etag the target would then show)."""
        before = self.target.state(user)
        result, current = self._compare(user, before)
        if result == PLACEHOLDER:
            return result, None
        return result, current.etag if current else before.source_etag

    def _compare(self, user: UserInfo, before: TargetState) -> tuple[str, SourceVersion | None]:
        """THE rule of a check: what the target should do, given what both sides have."""
        if not before.editable:
            return NOT_EDITABLE, None
        try:
            current = self.source.current(user)
        except NoMailbox:
            return NO_MAILBOX, None
        if current is None:
            return _without_photo(before), None
        return (UNCHANGED if current.etag == before.source_etag else UPDATED), current

    def thumbnails(self, master: bytes) -> dict[str, bytes]:
        """The target's sizes of a square master JPEG, each made from the next larger."""
        return self.rendered(master)[0]

    def rendered(self, master: bytes) -> tuple[dict[str, bytes], str | None]:
        """``thumbnails``, and a note when the master was too small for some of them.

        Never upscaled: a size larger than the master gets the master's own size (a 72 px
        directory photo stays 72 px in a target that keeps 96 and 648)."""
        sizes: Mapping[str, int] = self.target.sizes()
        side = min(imaging.jpeg_size(master))
        fitted = {name: min(size, side) for name, size in sizes.items()}
        rendered = self.render(master, tuple(sorted(set(fitted.values()))))
        files = {name: rendered[size] for name, size in fitted.items()}
        note = None
        if side < min(SMALL_PHOTO, max(sizes.values())):
            note = f"source photo is {side} px, below {SMALL_PHOTO} px; kept at {side} px"
        return files, note


def _without_photo(before: TargetState) -> str:
    # Only a picture the source gave is taken back; an upload stays.
    return PLACEHOLDER if before.picture_source == "mailbox" else NO_PHOTO
