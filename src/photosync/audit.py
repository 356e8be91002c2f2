"""The audit log: who changed what, when and why. Every role writes to it inside its own
transaction, so an audit row exists exactly when the change it describes committed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, mapped_column

from photosync.db import Base, UTCDateTime, new_id, utcnow


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
    conn.execute(
        _INSERT,
        {
            "id": new_id(),
            "at": utcnow(),
            "actor": actor,
            "action": action,
            "subject_user_id": subject_user_id,
            "detail": detail,
        },
    )
