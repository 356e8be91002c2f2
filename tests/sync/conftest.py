"""Sync fixtures: settings whose tokens outlive the moved clock, people, and test doubles of the
engine's two external interfaces (PhotoSource, ProfileTarget) wrapped around the real ones."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from slapd import Slapd, running_slapd

from photosync.directory.interfaces import UserInfo
from photosync.services import Services
from photosync.settings import Settings
from photosync.sync.interfaces import (
    Change,
    CheckOutcome,
    Found,
    PhotoSource,
    ProfileTarget,
    Showing,
    Shown,
    SourcePhoto,
    SourceVersion,
    TargetState,
)
from photosync.sync.service import SyncService
from photosync.sync.sources import MailboxPhotoSource
from photosync.sync.targets import SitesProfileTarget
from tests.conftest import make_settings
from tests.sites.conftest import admin, alice, bob, carol

__all__ = ["admin", "alice", "bob", "carol"]

MONTH = 30 * 24 * 3600


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    # The rules are about sessions and hours: a sign-in must stay valid while the clock moves
    # by a day, or every test would get "new session" for free.
    return make_settings(
        tmp_path / "data",
        database_url,
        token_lifetime_seconds=MONTH,
        session_lifetime_seconds=MONTH,
    )


class CountingSource:
    """The real mailbox source, counting master fetches; can fail, or be slow to fetch."""

    def __init__(self, inner: PhotoSource) -> None:
        self.inner = inner
        self.fetches = 0
        self.failing = False
        self.fetch_delay = 0.0
        self._lock = threading.Lock()

    def versions(self, users: Sequence[UserInfo]) -> Mapping[str, Found]:
        if self.failing:
            raise ConnectionError("the mailbox server did not answer")
        return self.inner.versions(users)

    def fetch(self, user: UserInfo, version: SourceVersion) -> SourcePhoto | None:
        with self._lock:
            self.fetches += 1
        time.sleep(self.fetch_delay)
        return self.inner.fetch(user, version)


class DyingTarget:
    """The real sites target, but the process "dies" after the thumbnails are made and handed
    over and before the transaction that would write and show them commits (``show`` raises)."""

    def __init__(self, inner: ProfileTarget) -> None:
        self.inner = inner
        self.dying = True
        self.handed: list[Mapping[str, bytes]] = []

    def sizes(self) -> Mapping[str, int]:
        return self.inner.sizes()

    def states(self, users: Sequence[UserInfo]) -> Mapping[str, TargetState]:
        return self.inner.states(users)

    def show(self, pictures: Sequence[Showing], *, change: Change) -> list[Shown | Exception]:
        self.handed.extend(picture.files for picture in pictures)
        if self.dying:
            raise SystemError("killed between making the thumbnails and the commit")
        return self.inner.show(pictures, change=change)

    def clear(self, user: UserInfo, *, change: Change, check: CheckOutcome) -> Shown:
        return self.inner.clear(user, change=change, check=check)


Rewire = Callable[..., SyncService]


@pytest.fixture
def rewire(services: Services) -> Rewire:
    """Put a sync service with another source/target in charge (``services.sync`` and the
    running app's own-Large requests)."""

    def make(source: PhotoSource | None = None, target: ProfileTarget | None = None) -> SyncService:
        services.sync = SyncService(
            services.ctx,
            directory=services.directory,
            mailbox=services.mailbox,
            sites=services.sites,
            source=source,
            target=target,
        )
        return services.sync

    return make


@pytest.fixture
def counting(services: Services, rewire: Rewire) -> CountingSource:
    source = CountingSource(MailboxPhotoSource(services.mailbox))
    rewire(source=source)
    return source


@pytest.fixture
def dying(services: Services, rewire: Rewire) -> DyingTarget:
    target = DyingTarget(SitesProfileTarget(services.sites, services.sync.ledger))
    rewire(target=target)
    return target


@pytest.fixture(scope="session")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    """A real OpenLDAP server for this test process (tests take an organisational unit each)."""
    yield from running_slapd(tmp_path_factory.mktemp("slapd"))
