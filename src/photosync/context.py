"""What every role's services are built from: settings, the database, the blob store, a clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from photosync.blobs import BlobStore
from photosync.blobs.choose import blob_store
from photosync.db import Database, utcnow
from photosync.events import EventBus
from photosync.settings import Settings

Clock = Callable[[], datetime]


@dataclass
class Context:
    settings: Settings
    db: Database
    blobs: BlobStore
    # Injectable so that tests can move time (sync expiration, sign-in lock-out, tokens).
    clock: Clock = field(default=utcnow)
    events: EventBus = field(default_factory=EventBus)

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = utcnow) -> Context:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return cls(
            settings=settings,
            db=Database(settings.sqlalchemy_url),
            blobs=blob_store(settings),
            clock=clock,
        )
