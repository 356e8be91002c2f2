"""Sync's own tables: the log of every check, each user's latest state, sessions already checked."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import lru_cache

from sqlalchemy import (
    ColumnElement,
    ScalarSelect,
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.sql.expression import Executable

from photosync.db import Database, new_id
from photosync.sync.interfaces import (
    COMPLETED,
    DEFAULT_ROUTE,
    ERROR,
    CheckOutcome,
    Route,
    outside_name,
)
from photosync.sync.models import SessionCheck, SyncCheck, SyncRunItem, SyncState
from photosync.sync.policy import History


def load_history(db: Database, user_id: str, session_id: str | None) -> History:
    with db.session() as session:
        state = session.get(SyncState, user_id)
        checked = session_id is not None and (
            session.get(SessionCheck, (session_id, user_id)) is not None
        )
    if state is None:
        return History(None, None, None, None, checked)
    return History(
        state.last_check_at,
        state.last_result,
        state.last_success_at,
        state.last_error_at,
        checked,
        state.last_error,
    )


_STATES = select(
    SyncState.user_id,
    SyncState.last_check_at,
    SyncState.last_result,
    SyncState.last_success_at,
    SyncState.last_error_at,
    SyncState.last_error,
).where(SyncState.user_id.in_(bindparam("b_user_ids", expanding=True)))


def load_histories(db: Database, user_ids: Sequence[str]) -> dict[str, History]:
    """The latest check of many users in one query (users never checked are left out).

    Outside any sign-in session, so ``session_checked`` is False.
    """
    with db.engine.connect() as conn:
        rows = conn.execute(_STATES, {"b_user_ids": list(user_ids)}).all()
    return {
        row.user_id: History(
            row.last_check_at,
            row.last_result,
            row.last_success_at,
            row.last_error_at,
            False,
            row.last_error,
        )
        for row in rows
    }


def record(db: Database, outcomes: Sequence[CheckOutcome], route: Route = DEFAULT_ROUTE) -> None:
    """Log the checks, move their users' state on, and mark sessions as checked, atomically."""
    if outcomes:
        with db.write_connection() as conn:
            write(conn, outcomes, route)


def write(conn: Connection, outcomes: Sequence[CheckOutcome], route: Route = DEFAULT_ROUTE) -> None:
    """``record`` inside the caller's transaction.

    Plain statements (an upsert for the state, insert-or-ignore for the session) rather than
    ORM objects, built once, each run once for all ``outcomes`` (a bulk run records a batch of
    users per transaction; a single check is a batch of one). Only the default route
    (mailbox -> sites) moves the user's state on: that state is what the policy of sites'
    own-Large requests reads.
    """
    if not outcomes:
        return
    states: dict[tuple[str, ...], list[dict[str, object]]] = {}
    checks, done, sessions = [], [], []
    for outcome in outcomes:
        state: dict[str, object] = {
            "last_check_at": outcome.started_at,
            "last_result": outcome.result,
        }
        if outcome.result == ERROR:
            state |= {"last_error_at": outcome.started_at, "last_error": outcome.error}
        elif outcome.result in COMPLETED:
            state |= {"last_success_at": outcome.started_at, "last_error": None}
        states.setdefault(tuple(state), []).append({"user_id": outcome.user_id, **state})
        person = outside_name(outcome.user_id)
        checks.append(
            {
                "id": new_id(),
                "user_id": None if person is not None else outcome.user_id,
                "person": person,
                "trigger": outcome.trigger,
                "reason": outcome.reason,
                "session_id": outcome.session_id,
                "started_at": outcome.started_at,
                "duration_ms": outcome.duration_ms,
                "result": outcome.result,
                "from_etag": outcome.from_etag,
                "to_etag": outcome.to_etag,
                "error": outcome.error,
                "run_id": outcome.run_id,
                "source": route.source,
                "target": route.target,
                "note": outcome.note,
            }
        )
        if outcome.run_id is not None:
            # The user is done in their bulk run exactly when this record commits (a person
            # outside our directory has no user id: by their place in the run).
            done.append(
                {
                    "b_run_id": outcome.run_id,
                    "b_position": outcome.run_position,
                    "b_user_id": outcome.user_id,
                    "result": outcome.result,
                    "reason": outcome.reason,
                    "error": outcome.error,
                    "note": outcome.note,
                }
            )
        if outcome.session_id is not None and route.is_default:
            sessions.append(
                {
                    "session_id": outcome.session_id,
                    "user_id": outcome.user_id,
                    "checked_at": outcome.started_at,
                }
            )
    dialect = conn.dialect.name
    conn.execute(insert(SyncCheck), checks)
    if route.is_default:
        for columns, rows in states.items():
            conn.execute(_state_upsert(dialect, columns), rows)
    if done:
        if dialect == "postgresql":
            # A bulk run's transaction need not wait for its WAL to reach the disk: a server
            # crash may lose the last fraction of a second of commits, whole (the checks, their
            # records and the users' "done" together; PostgreSQL stays consistent), and running
            # the same command again checks those users, once. A run's commits then cost no
            # fsync each.
            conn.execute(_ASYNC_COMMIT)
        by_position = [row for row in done if row["b_position"] is not None]
        if by_position:
            conn.execute(_RUN_POSITION_DONE, by_position)
        if len(by_position) < len(done):
            conn.execute(_RUN_ITEM_DONE, [row for row in done if row["b_position"] is None])
    if sessions:
        conn.execute(_session_insert(dialect), sessions)


_ASYNC_COMMIT = text("SET LOCAL synchronous_commit = off")
_RUN_ITEM_DONE = (
    update(SyncRunItem)
    .where(
        SyncRunItem.run_id == bindparam("b_run_id"),
        SyncRunItem.user_id == bindparam("b_user_id"),
        SyncRunItem.done.is_(False),
    )
    .values(done=True)
)
# The same by the user's place in the run (a person outside our directory has no user id).
_RUN_POSITION_DONE = (
    update(SyncRunItem)
    .where(
        SyncRunItem.run_id == bindparam("b_run_id"),
        SyncRunItem.position == bindparam("b_position"),
        SyncRunItem.done.is_(False),
    )
    .values(done=True)
)


# Built once per dialect (and per set of state columns: an error moves other columns on than
# a success): building a statement and its cache key on every call cost about three times what
# executing it does on SQLite.
@lru_cache(maxsize=16)
def _state_upsert(dialect: str, state_columns: tuple[str, ...]) -> Executable:
    state = (pg_insert if dialect == "postgresql" else sqlite_insert)(SyncState)
    return state.on_conflict_do_update(
        index_elements=[SyncState.user_id],
        set_={column: state.excluded[column] for column in state_columns},
    )


@lru_cache(maxsize=2)
def _session_insert(dialect: str) -> Executable:
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(
        SessionCheck
    ).on_conflict_do_nothing()


def recent_checks(
    db: Database, user_id: str, limit: int = 20, route: Route = DEFAULT_ROUTE
) -> list[CheckOutcome]:
    """The user's latest checks on ``route`` (the default: what sync status and doctor show)."""
    with db.session() as session:
        rows = session.scalars(
            select(SyncCheck)
            .where(
                SyncCheck.user_id == user_id,
                SyncCheck.source == route.source,
                SyncCheck.target == route.target,
            )
            .order_by(SyncCheck.started_at.desc())
            .limit(limit)
        ).all()
        return [
            CheckOutcome(
                user_id=row.user_id or user_id,
                trigger=row.trigger,
                reason=row.reason,
                session_id=row.session_id,
                started_at=row.started_at,
                duration_ms=row.duration_ms,
                result=row.result,
                from_etag=row.from_etag,
                to_etag=row.to_etag,
                error=row.error,
                run_id=row.run_id,
                note=row.note,
            )
            for row in rows
        ]


class DatabaseLedger:
    """Sync's ledger of checks in photosync's database (the engine's ``Ledger``), for one route:
    every record says which source and target the check was between."""

    def __init__(self, db: Database, route: Route = DEFAULT_ROUTE) -> None:
        self.db = db
        self.route = route

    def history(self, user_id: str, session_id: str | None) -> History:
        return load_history(self.db, user_id, session_id)

    def histories(self, user_ids: Sequence[str]) -> dict[str, History]:
        return load_histories(self.db, user_ids)

    def record(self, checks: Sequence[CheckOutcome]) -> None:
        record(self.db, checks, self.route)

    def writer(self, checks: Sequence[CheckOutcome]) -> Callable[[Connection], None]:
        """``record`` as a step of a transaction a target of ours already has open, so that its
        change and the record of the checks commit together (see sync.targets)."""
        return functools.partial(write, outcomes=checks, route=self.route)

    def recent(self, user_id: str, limit: int = 20) -> list[CheckOutcome]:
        return recent_checks(self.db, user_id, limit, self.route)

    def results_since(self, moment: datetime) -> dict[str, int]:
        """How many checks of everyone started at or after ``moment``, by result (one query on
        the ``started_at`` index: ``/metrics`` asks on every scrape)."""
        with self.db.engine.connect() as conn:
            rows = conn.execute(_RESULTS_SINCE, {"since": moment})
            return {result: int(count) for result, count in rows}


def latest_check_sql(
    user_id: ColumnElement[str],
) -> tuple[ScalarSelect[datetime | None], ScalarSelect[str | None]]:
    """(when the user's latest check was, its result) as SQL expressions on another role's user
    id column (NULL for someone never checked): a listing of people sorts by them in one query."""
    return (
        select(SyncState.last_check_at).where(SyncState.user_id == user_id).scalar_subquery(),
        select(SyncState.last_result).where(SyncState.user_id == user_id).scalar_subquery(),
    )


_RESULTS_SINCE = (
    select(SyncCheck.result, func.count())
    .where(SyncCheck.started_at >= bindparam("since"))
    .group_by(SyncCheck.result)
)
