"""In-process events, sent only after the transaction that caused them commits.

Events carry ids, not objects (a handler reads what it needs in its own transaction). The
embedded default runs handlers in-process; a worker deployment forwards them to a queue.
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

Handler = Callable[..., None]


class EventBus:
    def __init__(self) -> None:
        self._handlers: defaultdict[str, list[Handler]] = defaultdict(list)

    def subscribe(self, name: str, handler: Handler) -> None:
        self._handlers[name].append(handler)

    def publish(self, name: str, **ids: Any) -> None:
        for handler in list(self._handlers[name]):
            try:
                handler(**ids)
            except Exception:  # one broken subscriber must not break the writer
                log.exception("event handler for %s failed", name)

    def publish_on_commit(self, session: Session, name: str, **ids: Any) -> None:
        """Publish when ``session`` commits; forget the event if it rolls back."""
        pending: list[tuple[str, dict[str, Any]]] = session.info.setdefault(_PENDING, [])
        pending.append((name, ids))
        if not event.contains(session, "after_commit", self._flush):
            event.listen(session, "after_commit", self._flush)
            event.listen(session, "after_rollback", _forget)

    def _flush(self, session: Session) -> None:
        pending = session.info.pop(_PENDING, [])
        later: list[Callable[[], None]] | None = session.info.get(AFTER_RELEASE)
        for name, ids in pending:
            if later is None:
                self.publish(name, **ids)
            else:
                later.append(functools.partial(self.publish, name, **ids))


_PENDING = "photosync.pending_events"
# A session's list of events to publish once its connection is back in the pool (set by
# photosync.db). ``after_commit`` runs while the connection is still checked out, and a handler
# that reads (most do) would then hold two connections: with every pooled connection held by a
# writer waiting for a second one, the process deadlocks (20 uploads at once did).
AFTER_RELEASE = "photosync.after_release"


def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)
