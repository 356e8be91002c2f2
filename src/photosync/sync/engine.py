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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

from sqlalchemy import text
from sqlalchemy.engine import Connection

from photosync import imaging
from photosync.context import Context
from photosync.db import Database
from photosync.directory.interfaces import UserInfo
from photosync.sites.interfaces import SIZE_CODES, InTransaction, SizeCode
from photosync.sync import records
from photosync.sync.interfaces import (
    ERROR,
    NO_MAILBOX,
    NO_PHOTO,
    NOT_EDITABLE,
    PLACEHOLDER,
    UNCHANGED,
    UPDATED,
    NoMailbox,
    PhotoSource,
    ProfileTarget,
    TargetState,
    Trigger,
)
from photosync.sync.policy import Decision, History
from photosync.sync.records import CheckOutcome

log = logging.getLogger(__name__)

Recorder = InTransaction  # writes the check's record inside the target's transaction


# Checks running at once in one process. Their work is CPU-bound (decode, resize, encode), so
# more would not finish sooner; and on PostgreSQL each holds a pooled connection for its
# advisory lock while it needs another for its writes, so an unbounded number could take the
# whole pool and wait forever for a second connection.
MAX_CONCURRENT_CHECKS = 4


class UserLocks:
    def __init__(self, db: Database) -> None:
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
            if self.db.is_sqlite:
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
    def __init__(self, ctx: Context, source: PhotoSource, target: ProfileTarget) -> None:
        self.ctx = ctx
        self.source = source
        self.target = target
        self.locks = UserLocks(ctx.db)

    def history(self, user_id: str, session_id: str | None) -> History:
        return records.load_history(self.ctx.db, user_id, session_id)

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
        with self.locks.hold(user.id):
            reason = "admin-request"
            if decide is not None:
                decision = decide(self.history(user.id, session_id))
                if not decision.check:
                    return None
                reason = decision.reason
            outcome = self._check(user, trigger, reason, session_id, actor)
        if outcome.result == ERROR:
            log.warning("sync check for %s failed: %s", user.upn, outcome.error)
        return outcome

    def _check(
        self, user: UserInfo, trigger: str, reason: str, session_id: str | None, actor: str
    ) -> CheckOutcome:
        """Check, and record the check: in the target's own transaction when it changes a picture.

        One write transaction per check rather than two (the target's change, then the
        record): each costs a BEGIN IMMEDIATE, a profile lock and a commit on the request's
        path. A target that fails after running ``also`` rolls the record back with its change,
        so the record of a check exists exactly when what it describes does. A check that
        changed nothing, or failed, is recorded in a transaction of its own (the only write).
        """
        started_at = self.ctx.clock()
        t0 = time.perf_counter()
        before = TargetState(None, None)
        recorded: list[CheckOutcome] = []

        def outcome(
            result: str, to_etag: str | None, error: str | None, timestamp: str | None = None
        ) -> CheckOutcome:
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
                picture_timestamp=timestamp,
            )

        def recording(result: str, to_etag: str | None) -> Recorder:
            def write(conn: Connection) -> None:
                done = outcome(result, to_etag, None)
                records.write(conn, done)
                recorded.append(done)

            return write

        result, to_etag, error, timestamp = ERROR, None, None, None
        try:
            before = self.target.state(user)
            to_etag = before.source_etag
            result, to_etag, timestamp = self._pull(
                user, before, f"{trigger}: {reason}", actor, recording
            )
        except Exception as exc:  # recorded, and the previous picture stays
            # A record written inside a transaction that then failed was rolled back with it.
            recorded.clear()
            result, timestamp, error = ERROR, None, f"{type(exc).__name__}: {exc}"
            log.debug("sync check for %s failed", user.upn, exc_info=True)
        if recorded:
            return replace(recorded[-1], picture_timestamp=timestamp)
        # Nothing changed (or the change failed), or the target did not run ``also``.
        done = outcome(result, to_etag, error, timestamp)
        records.record(self.ctx.db, done)
        return done

    def _pull(
        self,
        user: UserInfo,
        before: TargetState,
        why: str,
        actor: str,
        recording: Callable[[str, str | None], Recorder],
    ) -> tuple[str, str | None, str | None]:
        """Compare versions and write what changed: (result, source etag shown, timestamp)."""
        if not before.editable:
            return NOT_EDITABLE, before.source_etag, None
        try:
            current = self.source.current(user)
        except NoMailbox:
            return NO_MAILBOX, before.source_etag, None
        if current is not None and current.etag == before.source_etag:
            return UNCHANGED, current.etag, None
        photo = self.source.fetch_master(user, current) if current is not None else None
        if photo is not None:
            staged = self.target.stage(user, self.thumbnails(photo.data))
            timestamp = self.target.commit(
                user,
                staged,
                source_etag=photo.etag,
                actor=actor,
                reason=why,
                also=recording(UPDATED, photo.etag),
            )
            return UPDATED, photo.etag, timestamp
        if before.picture_source == "mailbox":
            # Only a picture the mailbox gave is taken back; an upload stays.
            self.target.clear(
                user,
                actor=actor,
                reason=why,
                also=recording(PLACEHOLDER, None),
            )
            return PLACEHOLDER, None, None
        return NO_PHOTO, before.source_etag, None

    def thumbnails(self, master: bytes) -> dict[SizeCode, bytes]:
        """S/M/L of a square master JPEG, each made from the next larger (imaging's rule)."""
        sizes = self.target.thumbnail_sizes()
        rendered = imaging.render_square_sizes(master, tuple(sorted(set(sizes.values()))))
        return {code: rendered[sizes[code]] for code in SIZE_CODES}
