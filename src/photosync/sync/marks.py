"""A target outside sync's records as the engine's ProfileTarget: the store writes, sync marks.

LDAP, Microsoft 365 (and our mailbox as an import target) keep no record of which source
version they show. Sync keeps it for them in ``sync_marks`` (target name + the person's
lower-cased UPN -> source and source version), and the engine's comparison reads it as the
target's state: a second run with nothing new writes nothing. The mark and the check's record
commit in one transaction right after the store's write; a crash between the two leaves the
person unmarked, and the next run writes the same picture again (harmless), never a mark of a
picture that was not written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from photosync.context import Clock
from photosync.db import Database
from photosync.directory.interfaces import UserInfo
from photosync.sync.interfaces import (
    Change,
    CheckOutcome,
    PictureStore,
    Route,
    Showing,
    Shown,
    TargetState,
)
from photosync.sync.models import SyncMark
from photosync.sync.records import DatabaseLedger

# TargetState.picture_source of a picture sync put there (the engine takes back only those).
FROM_SOURCE = "mailbox"

_MARK = select(SyncMark.source_etag).where(
    SyncMark.target == bindparam("b_target"), SyncMark.user_key == bindparam("b_key")
)


_MARKS = select(SyncMark.user_key, SyncMark.source_etag).where(
    SyncMark.target == bindparam("b_target"),
    SyncMark.user_key.in_(bindparam("b_keys", expanding=True)),
)


def user_key(user: UserInfo) -> str:
    return user.upn.strip().lower()


def marked_etag(db: Database, target: str, upn: str) -> str | None:
    """The source version sync last wrote to ``target`` for ``upn`` (the doctor asks)."""
    with db.engine.connect() as conn:
        etag = conn.execute(_MARK, {"b_target": target, "b_key": upn.strip().lower()}).scalar()
    return str(etag) if etag is not None else None


class MarkedTarget:
    """``store`` (a PictureStore) with sync's marks: implements ``ProfileTarget``."""

    def __init__(
        self, store: PictureStore, route: Route, ledger: DatabaseLedger, clock: Clock
    ) -> None:
        self.store = store
        self.route = route
        self.ledger = ledger
        self.db: Database = ledger.db
        self.clock = clock

    def sizes(self) -> Mapping[str, int]:
        return self.store.sizes()

    def states(self, users: Sequence[UserInfo]) -> dict[str, TargetState]:
        with self.db.engine.connect() as conn:
            marks = {
                key: etag
                for key, etag in conn.execute(
                    _MARKS, {"b_target": self.route.target, "b_keys": [user_key(u) for u in users]}
                )
            }
        states = {}
        for user in users:
            etag = marks.get(user_key(user))
            states[user.id] = TargetState(FROM_SOURCE if etag else None, etag)
        return states

    def show(self, pictures: Sequence[Showing], *, change: Change) -> list[Shown | Exception]:
        """Each picture to the store and then its mark and record, one user after the other:
        the store is another system, written one person at a time."""
        shown: list[Shown | Exception] = []
        for picture in pictures:
            try:
                note = self.store.put(picture.user, picture.files, change=change)
                with self.db.write_connection() as conn:
                    self._mark(conn, picture.user, picture.source_etag)
                    self.ledger.writer([_noted(picture.check, note)])(conn)
            except Exception as exc:  # this user's check fails; the others go on
                shown.append(exc)
                continue
            shown.append(Shown(None, recorded=True))
        return shown

    def clear(self, user: UserInfo, *, change: Change, check: CheckOutcome) -> Shown:
        note = self.store.remove(user, change=change)
        check = _noted(check, note)
        with self.db.write_connection() as conn:
            conn.execute(
                delete(SyncMark).where(
                    SyncMark.target == self.route.target, SyncMark.user_key == user_key(user)
                )
            )
            self.ledger.writer([check])(conn)
        return Shown(None, recorded=True)

    def _mark(self, conn: Connection, user: UserInfo, source_etag: str) -> None:
        upsert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        statement = upsert(SyncMark).values(
            target=self.route.target,
            user_key=user_key(user),
            source=self.route.source,
            source_etag=source_etag,
            written_at=self.clock(),
        )
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=[SyncMark.target, SyncMark.user_key],
                set_={
                    "source": statement.excluded.source,
                    "source_etag": statement.excluded.source_etag,
                    "written_at": statement.excluded.written_at,
                },
            )
        )


def _noted(check: CheckOutcome, note: str | None) -> CheckOutcome:
    """The check with the store's note added to its own (the engine's, if any)."""
    if not note:
        return check
    return replace(check, note=f"{check.note}; {note}" if check.note else note)
