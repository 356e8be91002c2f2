"""Sync's own tables: the log of every check, each user's latest state, sessions already checked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from photosync.db import Database, new_id
from photosync.sync.interfaces import COMPLETED, ERROR
from photosync.sync.models import SessionCheck, SyncCheck, SyncState
from photosync.sync.policy import History


@dataclass(frozen=True)
class CheckOutcome:
    """One check as it is recorded (SyncCheck) and reported (CLI, portal, diagnostic)."""

    user_id: str
    trigger: str  # "user-action" | "admin"
    reason: str  # why it ran: the policy's reason, or "admin-request"
    session_id: str | None
    started_at: datetime
    duration_ms: int
    result: str  # see sync.interfaces (UPDATED, UNCHANGED, …)
    from_etag: str | None  # the source version the profile showed before
    to_etag: str | None  # the source version it shows after (or saw unchanged)
    error: str | None = None
    picture_timestamp: str | None = None  # the new SPS-PictureTimestamp when updated


def load_history(db: Database, user_id: str, session_id: str | None) -> History:
    with db.session() as session:
        state = session.get(SyncState, user_id)
        checked = session_id is not None and (
            session.get(SessionCheck, (session_id, user_id)) is not None
        )
    if state is None:
        return History(None, None, None, None, checked)
    return History(
        state.last_check_at, state.last_result, state.last_success_at, state.last_error_at, checked
    )


def record(db: Database, outcome: CheckOutcome) -> None:
    """Log the check, move the user's state on, and mark the session as checked, atomically.

    Plain statements (an upsert for the state, insert-or-ignore for the session) rather than
    ORM objects: this runs after every check, on the path of the request that triggered it.
    """
    state: dict[str, object] = {
        "last_check_at": outcome.started_at,
        "last_result": outcome.result,
    }
    if outcome.result == ERROR:
        state |= {"last_error_at": outcome.started_at, "last_error": outcome.error}
    elif outcome.result in COMPLETED:
        state |= {"last_success_at": outcome.started_at, "last_error": None}
    with db.write_session() as session:
        upsert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(
            insert(SyncCheck).values(
                id=new_id(),
                user_id=outcome.user_id,
                trigger=outcome.trigger,
                reason=outcome.reason,
                session_id=outcome.session_id,
                started_at=outcome.started_at,
                duration_ms=outcome.duration_ms,
                result=outcome.result,
                from_etag=outcome.from_etag,
                to_etag=outcome.to_etag,
                error=outcome.error,
            )
        )
        session.execute(
            upsert(SyncState)
            .values(user_id=outcome.user_id, **state)
            .on_conflict_do_update(index_elements=[SyncState.user_id], set_=state)
        )
        if outcome.session_id is not None:
            session.execute(
                upsert(SessionCheck)
                .values(
                    session_id=outcome.session_id,
                    user_id=outcome.user_id,
                    checked_at=outcome.started_at,
                )
                .on_conflict_do_nothing()
            )


def recent_checks(db: Database, user_id: str, limit: int = 20) -> list[CheckOutcome]:
    with db.session() as session:
        rows = session.scalars(
            select(SyncCheck)
            .where(SyncCheck.user_id == user_id)
            .order_by(SyncCheck.started_at.desc())
            .limit(limit)
        ).all()
        return [
            CheckOutcome(
                user_id=row.user_id,
                trigger=row.trigger,
                reason=row.reason,
                session_id=row.session_id,
                started_at=row.started_at,
                duration_ms=row.duration_ms,
                result=row.result,
                from_etag=row.from_etag,
                to_etag=row.to_etag,
                error=row.error,
            )
            for row in rows
        ]
