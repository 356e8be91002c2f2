"""Bulk runs: an admin's check of many users, resumable after a crash, with a report.

A run is rows in sync's tables (``sync_runs`` and one ``sync_run_items`` row per user): which
users it covers, which are done and how each came out. A user is marked done by the ledger in
the same transaction that records their check (``records.write``), so a run killed at any point
and started again checks exactly the users it had not finished: none twice, none missed.
Moving the work between processes is the task library's job (``photosync worker``); the
ledger is ours.
"""

from __future__ import annotations

import csv
import hashlib
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.sql.expression import Executable

from photosync.db import Database, new_id
from photosync.sync.interfaces import DEFAULT_ROUTE, ERROR, Route
from photosync.sync.models import SyncRun, SyncRunItem

ALL = "all"
NO_SUCH_USER = "no such user"
# Users checked together: one read of each side, one transaction and one statement per table
# for all of them (``SyncEngine.run_batch``). Larger batches saved little more
# (bench/bench_bulk.py) and keep each check waiting for the batch's other renders.
BATCH = 25


def batch_size(rate: float | None) -> int:
    """How many users a run checks together: a paced run (``rate`` users a second) a second's
    worth at most, so that it keeps its pace."""
    return BATCH if rate is None else max(1, min(BATCH, int(rate)))


@dataclass(frozen=True)
class Item:
    """One user of a run, as the report lists it."""

    position: int
    upn: str
    user_id: str | None
    done: bool
    result: str | None
    reason: str | None
    error: str | None
    note: str | None = None


@dataclass(frozen=True)
class Progress:
    run_id: str
    scope: str  # "all" or "N users"
    actor: str
    created_at: datetime
    finished_at: datetime | None
    total: int
    done: int
    failed: int
    route: Route = DEFAULT_ROUTE

    @property
    def finished(self) -> bool:
        """Every user done (``finished_at`` is set by whoever sees it first)."""
        return self.finished_at is not None or self.done >= self.total


def run_key(upns: Sequence[str] | None, route: Route = DEFAULT_ROUTE) -> str:
    """What identifies "the same command": every user, or this set of UPNs (any order, case),
    on this route (the default route's keys are those of runs from before routes existed)."""
    scope = ALL if upns is None else "\n".join(sorted({upn.strip().lower() for upn in upns}))
    if not route.is_default:
        scope = f"{route.source}\n{route.target}\n{scope}"
    return hashlib.sha256(scope.encode()).hexdigest()


class BulkRuns:
    """The runs' rows: created, resumed, progressed (by the ledger), finished, reported."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def open(
        self,
        upns: Sequence[str] | None,
        people: Iterable[tuple[str, str | None]],
        *,
        actor: str,
        now: datetime,
        route: Route = DEFAULT_ROUTE,
    ) -> tuple[str, bool]:
        """The unfinished run of the same command, or a new one over ``people`` (upn, user id
        or None for no user of ours): (run id, resumed?)."""
        key = run_key(upns, route)
        with self.db.write_connection() as conn:
            found = conn.execute(
                select(SyncRun.id)
                .where(SyncRun.key == key, SyncRun.finished_at.is_(None))
                .order_by(SyncRun.created_at.desc())
                .limit(1)
            ).scalar()
            if found is not None:
                return found, True
            run_id = new_id()
            conn.execute(
                insert(SyncRun),
                {
                    "id": run_id,
                    "key": key,
                    "scope": ALL if upns is None else "\n".join(upns),
                    "actor": actor,
                    "created_at": now,
                    "total": 0,
                    "source": route.source,
                    "target": route.target,
                },
            )
            total = 0
            for rows in _items(run_id, people):
                conn.execute(insert(SyncRunItem), rows)
                total += len(rows)
            conn.execute(update(SyncRun).where(SyncRun.id == run_id).values(total=total))
        return run_id, False

    def route(self, run_id: str) -> Route:
        with self.db.engine.connect() as conn:
            row = conn.execute(
                select(SyncRun.source, SyncRun.target).where(SyncRun.id == run_id)
            ).one()
        return Route(row.source, row.target)

    def pending_at(self, run_id: str, positions: Sequence[int]) -> list[Item]:
        """The users at these places of the run who are not done yet (a worker's batch; a
        redelivered task finds its users done)."""
        query = _ITEM_COLUMNS.where(
            SyncRunItem.run_id == run_id,
            SyncRunItem.position.in_(positions),
            SyncRunItem.done.is_(False),
        ).order_by(SyncRunItem.position)
        with self.db.engine.connect() as conn:
            return [Item(*row) for row in conn.execute(query)]

    def all_done(self, run_id: str) -> bool:
        """Whether no user of the run is left (one indexed lookup, not a count of the run)."""
        with self.db.engine.connect() as conn:
            left = conn.execute(
                select(SyncRunItem.position)
                .where(SyncRunItem.run_id == run_id, SyncRunItem.done.is_(False))
                .limit(1)
            ).first()
        return left is None

    def pending(self, run_id: str, *, batch: int = 500) -> Iterator[Item]:
        """The users not done yet, read ``batch`` at a time (memory stays flat)."""
        after = -1
        while True:
            items = self._items(run_id, pending_only=True, after=after, limit=batch)
            yield from items
            if len(items) < batch:
                return
            after = items[-1].position

    def items(self, run_id: str) -> list[Item]:
        return self._items(run_id, pending_only=False)

    def mark(self, run_id: str, position: int, *, result: str, error: str | None) -> None:
        """Done without a check (no such user, or a source that refused the person before any
        check): there is no check record to carry it."""
        with self.db.write_connection() as conn:
            conn.execute(
                update(SyncRunItem)
                .where(SyncRunItem.run_id == run_id, SyncRunItem.position == position)
                .values(done=True, result=result, reason="bulk", error=error)
            )

    def finish(self, run_id: str, now: datetime) -> None:
        with self.db.write_connection() as conn:
            conn.execute(
                update(SyncRun)
                .where(SyncRun.id == run_id, SyncRun.finished_at.is_(None))
                .values(finished_at=now)
            )

    def progress(self, run_id: str) -> Progress | None:
        with self.db.engine.connect() as conn:
            found = _progresses(conn, _PROGRESS.where(SyncRun.id == run_id))
        return found[0] if found else None

    def recent(self, limit: int = 10) -> list[Progress]:
        """The latest runs, newest first."""
        query = _PROGRESS.order_by(SyncRun.created_at.desc()).limit(limit)
        with self.db.engine.connect() as conn:
            return _progresses(conn, query)

    def _items(
        self, run_id: str, *, pending_only: bool, after: int = -1, limit: int | None = None
    ) -> list[Item]:
        query = (
            _ITEM_COLUMNS.where(SyncRunItem.run_id == run_id, SyncRunItem.position > after)
            .order_by(SyncRunItem.position)
            .limit(limit)
        )
        if pending_only:
            query = query.where(SyncRunItem.done.is_(False))
        with self.db.engine.connect() as conn:
            return [Item(*row) for row in conn.execute(query)]


_ITEM_COLUMNS = select(
    SyncRunItem.position,
    SyncRunItem.upn,
    SyncRunItem.user_id,
    SyncRunItem.done,
    SyncRunItem.result,
    SyncRunItem.reason,
    SyncRunItem.error,
    SyncRunItem.note,
)


def _items(
    run_id: str, people: Iterable[tuple[str, str | None]], batch: int = 5000
) -> Iterator[list[dict[str, object]]]:
    """The item rows of a new run, ``batch`` at a time; a user named twice is checked once."""
    rows: list[dict[str, object]] = []
    seen: set[str] = set()
    position = 0
    for upn, user_id in people:
        if user_id is not None:
            if user_id in seen:
                continue
            seen.add(user_id)
        rows.append(
            {"run_id": run_id, "position": position, "upn": upn, "user_id": user_id, "done": False}
        )
        position += 1
        if len(rows) == batch:
            yield rows
            rows = []
    if rows:
        yield rows


# Each run with its counts, in one statement (the admin page shows the latest run).
_PROGRESS = (
    select(
        SyncRun.id,
        SyncRun.scope,
        SyncRun.actor,
        SyncRun.created_at,
        SyncRun.finished_at,
        SyncRun.total,
        func.count(SyncRunItem.position).filter(SyncRunItem.done.is_(True)),
        func.count(SyncRunItem.position).filter(SyncRunItem.result == ERROR),
        SyncRun.source,
        SyncRun.target,
    )
    .outerjoin(SyncRunItem, SyncRunItem.run_id == SyncRun.id)
    .group_by(SyncRun.id)
)


def _progresses(conn: Connection, query: Executable) -> list[Progress]:
    return [
        Progress(
            run_id=run_id,
            scope=scope if scope == ALL else f"{len(scope.splitlines())} users",
            actor=actor,
            created_at=created_at,
            finished_at=finished_at,
            total=total,
            done=int(done),
            failed=int(failed),
            route=Route(source, target),
        )
        for (
            run_id,
            scope,
            actor,
            created_at,
            finished_at,
            total,
            done,
            failed,
            source,
            target,
        ) in conn.execute(query)
    ]


REPORT_COLUMNS = ("upn", "result", "reason", "error", "note")


def write_report(items: Iterable[Item], out: TextIO) -> None:
    """A run's report as CSV (the CLI's --report and the admin page's download)."""
    writer = csv.writer(out)
    writer.writerow(REPORT_COLUMNS)
    for item in items:
        writer.writerow(
            [item.upn, item.result or "", item.reason or "", item.error or "", item.note or ""]
        )


class Pace:
    """At most ``rate`` starts a second across threads (None: no limit)."""

    def __init__(self, rate: float | None) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)
