"""Sync tables: every check made (the diagnostic's and audit's raw material), and which sign-in
sessions already had their check."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from photosync.db import Base, UTCDateTime, new_id, utcnow


class SyncCheck(Base):
    __tablename__ = "sync_checks"
    # The policy asks "what was this user's latest check?" on every own-Large request.
    __table_args__ = (Index("ix_sync_checks_user_started", "user_id", "started_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    # None: a person outside our directory (``person`` names them), synced between two
    # systems outside photosync's database (``--from ldap --to m365-photo``).
    user_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    person: Mapped[str | None] = mapped_column(String(320))
    trigger: Mapped[str] = mapped_column(
        String(32)
    )  # a sync.interfaces.Trigger: "own-large", "admin", ...
    reason: Mapped[str] = mapped_column(String(64))  # why the policy said yes
    session_id: Mapped[str | None] = mapped_column(String(36))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    # "updated" | "unchanged" | "placeholder" | "error" | "not-editable"
    result: Mapped[str] = mapped_column(String(32))
    # Source versions: a mailbox etag, a file's sha256, a Graph ETag.
    from_etag: Mapped[str | None] = mapped_column(String(128))
    to_etag: Mapped[str | None] = mapped_column(String(128))
    error: Mapped[str | None] = mapped_column(Text)
    # The bulk run this check was part of (``photosync sync now --all``), if any.
    run_id: Mapped[str | None] = mapped_column(String(36), index=True)
    # The route (``--from``/``--to``); every check but an admin's routed run is mailbox -> sites.
    source: Mapped[str] = mapped_column(String(255), default="mailbox", server_default="mailbox")
    target: Mapped[str] = mapped_column(String(255), default="sites", server_default="sites")
    note: Mapped[str | None] = mapped_column(Text)


class SessionCheck(Base):
    """A sign-in session that already had its own-Large check (a new session always gets one)."""

    __tablename__ = "session_checks"

    session_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SyncState(Base):
    """Each user's check history in one row: what the policy reads on every own-Large request.

    Kept next to the SyncCheck log (same transaction) so the policy needs one primary-key read,
    and so "the latest check" never depends on two checks having different clock readings.
    """

    __tablename__ = "sync_states"

    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    last_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_result: Mapped[str | None] = mapped_column(String(32))
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class SyncRun(Base):
    """An admin's bulk run: which users it covers is its items; its ledger is its items' states.

    ``key`` names what was asked (every user, or these UPNs), so that the same command run again
    after a crash finds the unfinished run and resumes it.
    """

    __tablename__ = "sync_runs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(String(64), index=True)
    scope: Mapped[str] = mapped_column(Text)  # "all", or the UPNs asked for, one per line
    actor: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    total: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str] = mapped_column(String(255), default="mailbox", server_default="mailbox")
    target: Mapped[str] = mapped_column(String(255), default="sites", server_default="sites")


class SyncRunItem(Base):
    """One user of a run: pending until the check that covers them is recorded (in the same
    transaction as that check, so a user is done exactly when their check is)."""

    __tablename__ = "sync_run_items"
    __table_args__ = (Index("ix_sync_run_items_run_done", "run_id", "done"),)

    run_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("sync_runs.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    upn: Mapped[str] = mapped_column(String(320))
    user_id: Mapped[str | None] = mapped_column(String(36))  # None: no such user
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    result: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)


class SyncMark(Base):
    """Which source version a target outside sync's reach of truth took last, per person: the
    target's state for the engine (``sync.marks``). LDAP or Microsoft 365 keep no such record
    themselves, so a second run with nothing new would write everything again without it."""

    __tablename__ = "sync_marks"

    target: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_key: Mapped[str] = mapped_column(String(320), primary_key=True)  # lower-cased UPN
    source: Mapped[str] = mapped_column(String(255))
    source_etag: Mapped[str] = mapped_column(String(128))
    written_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
