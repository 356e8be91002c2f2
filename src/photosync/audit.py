"""The audit log: who changed what, when, why and from where. Every role writes to it inside its
own transaction, so an audit row exists exactly when the change it describes committed.

"From where" is the client address, user agent and request id of the HTTP request that caused a
change. The domain never sees a request: the HTTP edge puts an ``Origin`` in the ``origin``
context variable for the length of each request (``edge.Edge``, which ``web.Root`` puts around
every request), and ``record`` reads it. Context variables follow a request into the worker
threads that run its blocking work, and a change made outside any request (the CLI, a worker)
has no origin.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import JSON, ColumnElement, ForeignKey, String, and_, func, insert, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, mapped_column

from photosync.db import Base, Database, UTCDateTime, new_id, utcnow
from photosync.directory.interfaces import UserInfo

ADDRESS_MAX = 64  # an IPv6 address with a zone is at most 45 characters
USER_AGENT_MAX = 512
REQUEST_ID_MAX = 128  # the edge accepts a client's id only up to this length


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject_user_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The HTTP request that caused the change (None when it came from the CLI or a worker).
    address: Mapped[str | None] = mapped_column(String(ADDRESS_MAX))
    user_agent: Mapped[str | None] = mapped_column(String(USER_AGENT_MAX))
    # The request id of that request: the same as in its log lines and its response header.
    request_id: Mapped[str | None] = mapped_column(String(REQUEST_ID_MAX))


@dataclass(frozen=True)
class Origin:
    """Where a change came from: the client's address and user agent, as the request said, and
    the id the edge gave the request (its response header ``request-id``)."""

    address: str | None
    user_agent: str | None
    request_id: str | None = None


# Set by the HTTP edge for the length of one request; read by ``record``.
origin: ContextVar[Origin | None] = ContextVar("photosync_audit_origin", default=None)


@contextmanager
def from_origin(where: Origin | None) -> Iterator[None]:
    """Changes recorded inside this block came from ``where``."""
    token = origin.set(where)
    try:
        yield
    finally:
        origin.reset(token)


# Built once: building a statement costs more than running it (it is on a sync's path).
_INSERT = insert(AuditEvent)


def record(
    conn: Connection,
    *,
    actor: str,
    action: str,
    subject_user_id: str | None = None,
    **detail: Any,
) -> None:
    """Write one audit row in the transaction of ``conn``.

    A plain statement on a connection, so that Core writers and ORM sessions (pass
    ``session.connection()``) write the row one way. It runs at once, not at the session's
    next flush: the subject must already be in the database (flush a new user first).
    """
    address, agent, request_id = _origin_columns()
    conn.execute(
        _INSERT,
        {
            "id": new_id(),
            "at": utcnow(),
            "actor": actor,
            "action": action,
            "subject_user_id": subject_user_id,
            "detail": detail,
            "address": address,
            "user_agent": agent,
            "request_id": request_id,
        },
    )


def _origin_columns() -> tuple[str | None, str | None, str | None]:
    where = origin.get()
    if where is None:
        return None, None, None
    return (
        where.address[:ADDRESS_MAX] if where.address else None,
        where.user_agent[:USER_AGENT_MAX] if where.user_agent else None,
        where.request_id[:REQUEST_ID_MAX] if where.request_id else None,
    )


def current_request_id() -> str | None:
    """The id of the HTTP request being answered (None outside a request)."""
    where = origin.get()
    return where.request_id if where is not None else None


def record_many(
    conn: Connection,
    *,
    actor: str,
    action: str,
    subjects: Sequence[tuple[str | None, dict[str, Any]]],
) -> None:
    """``record`` for many subjects at once (one statement run for all: bulk imports)."""
    if not subjects:
        return
    address, agent, request_id = _origin_columns()
    now = utcnow()
    conn.execute(
        _INSERT,
        [
            {
                "id": new_id(),
                "at": now,
                "actor": actor,
                "action": action,
                "subject_user_id": subject,
                "detail": detail,
                "address": address,
                "user_agent": agent,
                "request_id": request_id,
            }
            for subject, detail in subjects
        ],
    )


# --- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditEntry:
    """One row of the log, with the UPN of its subject (None: no subject, or since removed)."""

    id: str
    at: datetime
    actor: str
    action: str
    subject_user_id: str | None
    user: str | None
    address: str | None
    user_agent: str | None
    request_id: str | None
    detail: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "user": self.user,
            "address": self.address,
            "user_agent": self.user_agent,
            "request_id": self.request_id,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class AuditQuery:
    """Which rows: about one user (by id), from a moment on, with actions starting so."""

    user_id: str | None = None
    since: datetime | None = None
    action: str = ""

    def criteria(self) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if self.user_id is not None:
            where.append(AuditEvent.subject_user_id == self.user_id)
        if self.since is not None:
            where.append(AuditEvent.at >= self.since)
        if self.action:
            where.append(AuditEvent.action.startswith(self.action, autoescape=True))
        return where


class UserNames(Protocol):
    """What the log needs of the directory: a user by UPN, and many users by id at once."""

    def get_user(self, id_or_upn: str, *, memory_only: bool = False) -> UserInfo | None: ...

    def users_by_id(self, user_ids: Sequence[str]) -> dict[str, UserInfo]: ...


class UnknownUser(LookupError):
    pass


_COLUMNS = select(
    AuditEvent.id,
    AuditEvent.at,
    AuditEvent.actor,
    AuditEvent.action,
    AuditEvent.subject_user_id,
    AuditEvent.address,
    AuditEvent.user_agent,
    AuditEvent.request_id,
    AuditEvent.detail,
)
_NEWEST_FIRST = (AuditEvent.at.desc(), AuditEvent.id.desc())
_USER_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class AuditLog:
    """Reads the log for people: the CLI's ``photosync audit`` and the admin's audit page.

    A page costs a fixed number of queries whatever the log's size: the rows, their count, and
    one directory look-up for the names of every user the page mentions.
    """

    def __init__(self, db: Database, users: UserNames) -> None:
        self.db = db
        self.users = users

    def query(
        self, *, user: str | None = None, since: datetime | None = None, action: str = ""
    ) -> AuditQuery:
        """The filter for rows about ``user`` (id or UPN; UnknownUser if there is none)."""
        user_id = None
        if user:
            found = self.users.get_user(user)
            if found is None:
                raise UnknownUser(user)
            user_id = found.id
        return AuditQuery(user_id=user_id, since=since, action=action.strip())

    def page(
        self, query: AuditQuery, *, offset: int = 0, limit: int = 50
    ) -> tuple[list[AuditEntry], int]:
        """Newest first: ``limit`` rows from ``offset``, and how many rows match in all."""
        where = query.criteria()
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                _COLUMNS.where(*where).order_by(*_NEWEST_FIRST).offset(offset).limit(limit)
            ).all()
            total = conn.scalar(select(func.count()).select_from(AuditEvent).where(*where))
        return self._named(rows), int(total or 0)

    def entries(self, query: AuditQuery, *, limit: int | None = None) -> Iterator[AuditEntry]:
        """Every matching row, newest first (at most ``limit``), read in chunks.

        Each chunk starts below the last row of the one before (not at an offset), so rows
        written while this runs neither repeat nor push others out of the listing.
        """
        chunk = 500
        left = limit
        after: tuple[datetime, str] | None = None
        while left is None or left > 0:
            size = chunk if left is None else min(chunk, left)
            where = query.criteria()
            if after is not None:
                at, row_id = after
                where.append(
                    or_(AuditEvent.at < at, and_(AuditEvent.at == at, AuditEvent.id < row_id))
                )
            with self.db.engine.connect() as conn:
                rows = conn.execute(
                    _COLUMNS.where(*where).order_by(*_NEWEST_FIRST).limit(size)
                ).all()
            yield from self._named(rows)
            if len(rows) < size:
                return
            after = (rows[-1].at, rows[-1].id)
            if left is not None:
                left -= len(rows)

    def _named(self, rows: Sequence[Any]) -> list[AuditEntry]:
        # Some writers name the actor by user id (a sign-in's session): shown by UPN, too.
        ids = {row.subject_user_id for row in rows if row.subject_user_id}
        ids |= {row.actor for row in rows if _USER_ID.match(row.actor)}
        users = self.users.users_by_id(sorted(ids)) if ids else {}
        return [
            AuditEntry(
                id=row.id,
                at=row.at,
                actor=users[row.actor].upn if row.actor in users else row.actor,
                action=row.action,
                subject_user_id=row.subject_user_id,
                user=users[row.subject_user_id].upn if row.subject_user_id in users else None,
                address=row.address,
                user_agent=row.user_agent,
                request_id=row.request_id,
                detail=dict(row.detail or {}),
            )
            for row in rows
        ]
