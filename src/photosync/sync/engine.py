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
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
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
    Found,
    NoMailbox,
    PhotoSource,
    ProfileTarget,
    Showing,
    Shown,
    SourceVersion,
    TargetState,
    Trigger,
)
from photosync.sync.policy import Decision, History
from photosync.sync.rendering import render_each

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


# Why a check that no policy decided ran, by its trigger (own-large checks give the policy's).
REASONS: dict[str, str] = {
    ADMIN: "admin-request",
    BULK: "bulk-run",
    AUTOMATIC: "photo-changed",
    SCHEDULE: "scheduled",
}

# Square JPEG masters, each with its pixel sizes -> for each, a JPEG per size
# (imaging.render_square_sizes) or the error that kept it from rendering: ``render_each`` in
# this thread, or a bulk run's ``Renderers``.
Render = Callable[[Sequence[tuple[bytes, tuple[int, ...]]]], list[dict[int, bytes] | Exception]]


# A source photo below this many pixels is named in the check's note (directory photos often
# are: Active Directory recommends 96 px for thumbnailPhoto).
SMALL_PHOTO = 96


class Ledger(Protocol):
    """Where the engine keeps its record of every check (sync's own tables, or memory)."""

    def history(self, user_id: str, session_id: str | None) -> History: ...

    def record(self, checks: Sequence[CheckOutcome]) -> None: ...


# Checks running at once in one process. Their work is CPU-bound (decode, resize, encode), so
# more would not finish sooner; and on PostgreSQL each holds a pooled connection for its
# advisory lock while it needs another for its writes, so an unbounded number could take the
# whole pool and wait forever for a second connection.
MAX_CONCURRENT_CHECKS = 4


class UserLocks:
    """One check per user at a time: a thread lock, and on PostgreSQL an advisory lock.

    A batch (a bulk run's) holds its users' locks together, taken in one order (by user id)
    so that two batches never wait for each other; it counts as one check running."""

    def __init__(self, db: Database | None = None) -> None:
        self.db = db
        self._guard = threading.Lock()
        self._slots = threading.BoundedSemaphore(MAX_CONCURRENT_CHECKS)
        # One small lock per user who ever synced in this process; never pruned, since a
        # lock must not be dropped while a thread may still be about to wait on it.
        self._locks: dict[str, threading.Lock] = {}

    @contextmanager
    def hold(self, user_ids: Sequence[str]) -> Iterator[None]:
        ordered = sorted(set(user_ids))
        with self._guard:
            locks = [self._locks.setdefault(user_id, threading.Lock()) for user_id in ordered]
        with ExitStack() as held, self._slots:
            for lock in locks:
                held.enter_context(lock)
            if self.db is None or self.db.is_sqlite:
                # The embedded default is one process: the thread locks are the whole story.
                yield
                return
            with self.db.engine.connect() as conn, conn.begin():
                for user_id in ordered:
                    conn.execute(_ADVISORY_LOCK, {"key": lock_key(user_id)})
                yield


_ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


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
        render: Render = render_each,
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
    ) -> CheckOutcome | None:
        """Check one user under their lock; with ``decide``, only if it still says so then."""
        with self.locks.hold([user.id]):
            reason = REASONS.get(trigger, "admin-request")
            if decide is not None:
                decision = decide(self.history(user.id, session_id))
                if not decision.check:
                    return None
                reason = decision.reason
            (outcome,) = self._check(
                [_Checking(user, None)], _Asked(trigger, reason, session_id, actor, None)
            )
        return outcome

    def run_batch(
        self,
        users: Sequence[tuple[UserInfo, int | None]],
        *,
        trigger: Trigger,
        actor: str,
        run_id: str,
    ) -> list[CheckOutcome]:
        """Check a batch of a bulk run's users together, under their locks: (user, their place
        in the run) -> their checks, in order. Their reads, writes and records take a statement
        per table for the whole batch; each user's check still succeeds or fails alone."""
        with self.locks.hold([user.id for user, _ in users]):
            return self._check(
                [_Checking(user, position) for user, position in users],
                _Asked(trigger, REASONS.get(trigger, "admin-request"), None, actor, run_id),
            )

    def _check(self, users: Sequence[_Checking], asked: _Asked) -> list[CheckOutcome]:
        """THE check, of one user or of a batch: compare versions, pull and render what changed,
        have the target show it, and record every check exactly once.

        A change hands the target the record of the check it is part of (``Showing.check``:
        our sites commits both in one transaction, so the record exists exactly when the
        change does). A check that changed nothing, or failed, or whose target keeps no
        records, is recorded here, with the rest of the batch's, in one write.
        """
        started_at = self.clock()
        t0 = time.perf_counter()
        change = Change(actor=asked.actor, reason=f"{asked.trigger}: {asked.reason}")

        def outcome(
            one: _Checking,
            before: TargetState | None,
            result: str,
            to_etag: str | None,
            error: str | None = None,
            note: str | None = None,
        ) -> CheckOutcome:
            return CheckOutcome(
                user_id=one.user.id,
                trigger=asked.trigger,
                reason=asked.reason,
                session_id=asked.session_id,
                started_at=started_at,
                duration_ms=round((time.perf_counter() - t0) * 1000),
                result=result,
                from_etag=before.source_etag if before else None,
                to_etag=to_etag,
                error=error,
                run_id=asked.run_id,
                run_position=one.position,
                note=note,
            )

        people = [one.user for one in users]
        done: dict[str, CheckOutcome] = {}
        shown: dict[str, Shown] = {}
        try:
            befores = self.target.states(people)
            founds = self.source.versions(people)
        except Exception as exc:  # the whole batch failed to read: recorded, pictures stay
            log.debug("sync check of %d user(s) failed", len(users), exc_info=True)
            befores, founds = {}, {}
            for one in users:
                done[one.user.id] = outcome(one, None, ERROR, None, _describe(exc))
        pulls: list[tuple[_Checking, TargetState, bytes, str]] = []
        for one in users:
            if one.user.id in done:
                continue
            before = befores[one.user.id]
            result, current = _compare(before, founds[one.user.id])
            try:
                if isinstance(current, Exception):
                    raise current
                photo = (
                    self.source.fetch(one.user, current) if result == UPDATED and current else None
                )
                if photo is not None:
                    pulls.append((one, before, photo.data, photo.etag))
                    continue
                if result == UPDATED:  # the photo went away between the comparison and the fetch
                    result = _without_photo(before)
                if result == PLACEHOLDER:
                    check = outcome(one, before, PLACEHOLDER, None)
                    shown[one.user.id] = self.target.clear(one.user, change=change, check=check)
                else:
                    to_etag = current.etag if current else before.source_etag
                    check = outcome(one, before, result, to_etag)
                done[one.user.id] = check
            except Exception as exc:  # recorded, and the previous picture stays
                log.debug("sync check for %s failed", one.user.upn, exc_info=True)
                done[one.user.id] = outcome(one, before, ERROR, before.source_etag, _describe(exc))
        showings: list[Showing] = []
        for (one, before, _, etag), files in zip(
            pulls, self._render([master for _, _, master, _ in pulls]), strict=True
        ):
            if isinstance(files, Exception):
                done[one.user.id] = outcome(
                    one, before, ERROR, before.source_etag, _describe(files)
                )
                continue
            thumbnails, note = files
            check = outcome(one, before, UPDATED, etag, note=note)
            done[one.user.id] = check
            showings.append(Showing(one.user, thumbnails, etag, check))
        if showings:
            try:
                results = self.target.show(showings, change=change)
            except Exception as exc:  # a target that failed as a whole: every showing did
                log.debug("sync target failed for %d user(s)", len(showings), exc_info=True)
                results = [exc] * len(showings)
            for showing, did in zip(showings, results, strict=True):
                if isinstance(did, Exception):
                    check = showing.check
                    done[showing.user.id] = replace(
                        check,
                        result=ERROR,
                        to_etag=check.from_etag,
                        error=_describe(did),
                        note=None,
                    )
                else:
                    shown[showing.user.id] = did
        self.ledger.record(
            [
                check
                for user_id, check in done.items()
                if user_id not in shown or not shown[user_id].recorded
            ]
        )
        outcomes = []
        for one in users:
            check = done[one.user.id]
            if check.result == ERROR:
                log.warning("sync check for %s failed: %s", one.user.upn, check.error)
            if one.user.id in shown and check.result != ERROR:
                check = replace(check, picture_timestamp=shown[one.user.id].timestamp)
            outcomes.append(check)
        return outcomes

    def plan(self, user: UserInfo) -> tuple[str, str | None]:
        """What a check would come to now, without fetching or writing anything (a dry run):
        (result, the source etag the target would then show)."""
        before = self.target.states([user])[user.id]
        result, current = _compare(before, self.source.versions([user])[user.id])
        if isinstance(current, Exception):
            raise current
        if result == PLACEHOLDER:
            return result, None
        return result, current.etag if current else before.source_etag

    def _render(
        self, masters: Sequence[bytes]
    ) -> list[tuple[dict[str, bytes], str | None] | Exception]:
        """The target's sizes of each square master JPEG, each made from the next larger, and a
        note when a master was too small for some of them.

        Never upscaled: a size larger than the master gets the master's own size (a 72 px
        directory photo stays 72 px in a target that keeps 96 and 648)."""
        sizes: Mapping[str, int] = self.target.sizes()
        fits: list[dict[str, int] | Exception] = []
        for master in masters:
            try:
                side = min(imaging.jpeg_size(master))
            except Exception as exc:  # not a JPEG we can read: this user's check fails
                fits.append(exc)
                continue
            fits.append({name: min(size, side) for name, size in sizes.items()})
        jobs = [
            (master, tuple(sorted(set(fit.values()))))
            for master, fit in zip(masters, fits, strict=True)
            if not isinstance(fit, Exception)
        ]
        rendered = iter(self.render(jobs))
        out: list[tuple[dict[str, bytes], str | None] | Exception] = []
        for fit in fits:
            if isinstance(fit, Exception):
                out.append(fit)
                continue
            made = next(rendered)
            if isinstance(made, Exception):
                out.append(made)
                continue
            side = max(fit.values())
            note = None
            if side < min(SMALL_PHOTO, max(sizes.values())):
                note = f"source photo is {side} px, below {SMALL_PHOTO} px; kept at {side} px"
            out.append(({name: made[size] for name, size in fit.items()}, note))
        return out


@dataclass(frozen=True)
class _Checking:
    user: UserInfo
    position: int | None  # their place in a bulk run


@dataclass(frozen=True)
class _Asked:
    """What every check of one ``_check`` shares: why and for whom it runs."""

    trigger: str
    reason: str
    session_id: str | None
    actor: str
    run_id: str | None


def _compare(before: TargetState, found: Found) -> tuple[str, SourceVersion | Exception | None]:
    """THE rule of a check: what the target should do, given what both sides have."""
    if not before.editable:
        return NOT_EDITABLE, None
    if isinstance(found, NoMailbox):
        return NO_MAILBOX, None
    if isinstance(found, Exception):
        return ERROR, found
    if found is None:
        return _without_photo(before), None
    return (UNCHANGED if found.etag == before.source_etag else UPDATED), found


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def _without_photo(before: TargetState) -> str:
    # Only a picture the source gave is taken back; an upload stays.
    return PLACEHOLDER if before.picture_source == "mailbox" else NO_PHOTO
