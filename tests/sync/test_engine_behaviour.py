"""The engine's behaviour, run twice: against photosync's own mailbox, sites and ledger (a real
database), and against a source, a target and a ledger that live in memory and share nothing
with a database. Same tests, same assertions: the engine depends on the seam alone.

The HTTP-level behaviour of the default wiring (own-Large requests, userphoto.aspx) is in
test_engine.py and test_on_user_action.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pytest

from photosync import imaging
from photosync.context import Context
from photosync.directory.interfaces import UserInfo
from photosync.services import Services, build_services
from photosync.sync.engine import SyncEngine, UserLocks
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
    one_by_one,
)
from photosync.sync.memory import MemoryLedger, MemorySource, MemoryTarget
from photosync.sync.policy import Decision, History
from tests.conftest import MovableClock, make_settings, truncate_all
from tests.mailbox.conftest import jpeg, open_image


class World(Protocol):
    """One wiring of the engine, and what the tests need to set up and look at."""

    engine: SyncEngine

    def person(self, name: str, *, mailbox: bool = True) -> UserInfo: ...

    def give_photo(self, user: UserInfo, seed: int) -> str:
        """Put a new photo in the source; its etag."""

    def take_photo(self, user: UserInfo) -> None: ...

    def upload(self, user: UserInfo, seed: int) -> None:
        """A picture put straight into the target (not from the source)."""

    def forbid_editing(self) -> None: ...

    def shown(self, user: UserInfo) -> tuple[TargetState, dict[str, bytes] | None]:
        """What the target shows: its state, and its thumbnails (None: the placeholder)."""

    def checks(self, user: UserInfo) -> list[CheckOutcome]:
        """The ledger's records of the user's checks, oldest first."""


def master(seed: int) -> bytes:
    photo = imaging.process_upload(jpeg(800, 700, seed=seed), limits=imaging.Limits(), sizes=(648,))
    return photo.renditions[648]


@dataclass
class MemoryWorld:
    clock: MovableClock
    source: MemorySource = field(default_factory=MemorySource)
    target: MemoryTarget = field(default_factory=MemoryTarget)
    ledger: MemoryLedger = field(default_factory=MemoryLedger)

    def __post_init__(self) -> None:
        self.engine = SyncEngine(self.source, self.target, self.ledger, clock=self.clock)
        self._etags = 0

    def person(self, name: str, *, mailbox: bool = True) -> UserInfo:
        upn = f"{name}@example.org"
        return UserInfo(f"id-{name}", upn, name.title(), upn, False, mailbox)

    def give_photo(self, user: UserInfo, seed: int) -> str:
        self._etags += 1
        etag = f"E{self._etags:07d}"
        self.source.put(user.id, etag, master(seed))
        return etag

    def take_photo(self, user: UserInfo) -> None:
        self.source.remove(user.id)

    def upload(self, user: UserInfo, seed: int) -> None:
        rendered = imaging.render_square_sizes(master(seed), (48, 72, 300))
        self.target.upload(user.id, {"S": rendered[48], "M": rendered[72], "L": rendered[300]})

    def forbid_editing(self) -> None:
        self.target.editable = False

    def shown(self, user: UserInfo) -> tuple[TargetState, dict[str, bytes] | None]:
        picture = self.target.pictures.get(user.id)
        return self.target.states([user])[user.id], dict(picture.files) if picture else None

    def checks(self, user: UserInfo) -> list[CheckOutcome]:
        return [check for check in self.ledger.checks if check.user_id == user.id]


class PhotosyncWorld:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.engine = services.sync.engine

    def person(self, name: str, *, mailbox: bool = True) -> UserInfo:
        return self.services.directory.add_user(
            f"{name}@example.org", name.title(), has_mailbox=mailbox
        )

    def give_photo(self, user: UserInfo, seed: int) -> str:
        return self.services.mailbox.set_photo(user.id, jpeg(800, 700, seed=seed), actor="t").etag

    def take_photo(self, user: UserInfo) -> None:
        self.services.mailbox.delete_photo(user.id, actor="t")

    def upload(self, user: UserInfo, seed: int) -> None:
        # The one way a picture goes straight into sites (SetMyProfilePicture, the portal).
        self.services.sites.upload_picture(user, jpeg(800, 700, seed=seed), actor="t")

    def forbid_editing(self) -> None:
        self.services.sites.set_picture_editable(False, actor="t")

    def shown(self, user: UserInfo) -> tuple[TargetState, dict[str, bytes] | None]:
        state = self.engine.target.states([user])[user.id]
        sites = self.services.sites
        if not sites.profile_status(user.id).has_picture:
            return state, None
        return state, {code: sites.picture(user.id, code).data for code in ("S", "M", "L")}

    def checks(self, user: UserInfo) -> list[CheckOutcome]:
        return list(reversed(self.services.sync.ledger.recent(user.id, 1000)))


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, clock: MovableClock, tmp_path: Path) -> Iterator[World]:
    """The memory world, and photosync's own on each database."""
    if request.param == "memory":
        yield MemoryWorld(clock)
        return
    url = request.getfixturevalue(f"{request.param}_url")
    if request.param == "postgres":
        truncate_all(url)
    ctx = Context.from_settings(make_settings(tmp_path / "data", url), clock=clock)
    yield PhotosyncWorld(build_services(ctx))
    ctx.db.dispose()


def run(world: World, user: UserInfo, **kwargs: object) -> CheckOutcome:
    outcome = world.engine.run(user, trigger="admin", actor="tester", **kwargs)  # type: ignore[arg-type]
    assert outcome is not None
    return outcome


# --- the behaviour ------------------------------------------------------------------------------


def test_a_new_photo_is_shown_as_thumbnails_of_the_target_sizes(world: World) -> None:
    alice = world.person("alice")
    etag = world.give_photo(alice, seed=1)
    outcome = run(world, alice)
    assert (outcome.result, outcome.from_etag, outcome.to_etag) == ("updated", None, etag)
    state, files = world.shown(alice)
    assert (state.picture_source, state.source_etag) == ("mailbox", etag)
    assert files is not None
    assert {code: open_image(data).size for code, data in files.items()} == {
        "S": (48, 48),
        "M": (72, 72),
        "L": (300, 300),
    }
    assert all(open_image(data).format == "JPEG" for data in files.values())


def test_an_unchanged_source_writes_nothing_and_fetches_nothing(
    world: World, clock: MovableClock
) -> None:
    alice = world.person("alice")
    etag = world.give_photo(alice, seed=1)
    run(world, alice)
    before = world.shown(alice)
    fetches = Counting.wrap_source(world)
    clock.advance(hours=1)
    outcome = run(world, alice)
    assert (outcome.result, outcome.from_etag, outcome.to_etag) == ("unchanged", etag, etag)
    assert fetches.fetches == 0
    assert world.shown(alice) == before


def test_a_new_version_replaces_the_picture(world: World, clock: MovableClock) -> None:
    alice = world.person("alice")
    first = world.give_photo(alice, seed=1)
    run(world, alice)
    _, old = world.shown(alice)
    second = world.give_photo(alice, seed=2)
    clock.advance(minutes=5)
    outcome = run(world, alice)
    assert (outcome.result, outcome.from_etag, outcome.to_etag) == ("updated", first, second)
    state, new = world.shown(alice)
    assert state.source_etag == second and new is not None and old is not None
    assert new["L"] != old["L"]


def test_a_deleted_source_photo_brings_back_the_placeholder(world: World) -> None:
    alice = world.person("alice")
    world.give_photo(alice, seed=1)
    run(world, alice)
    world.take_photo(alice)
    outcome = run(world, alice)
    assert (outcome.result, outcome.to_etag) == ("placeholder", None)
    state, files = world.shown(alice)
    assert files is None and state.picture_source is None and state.source_etag is None


def test_no_photo_anywhere_is_no_photo(world: World) -> None:
    alice = world.person("alice")
    assert run(world, alice).result == "no-photo"
    assert world.shown(alice)[1] is None


def test_an_upload_stays_until_the_source_has_a_photo(world: World) -> None:
    carol = world.person("carol")
    world.upload(carol, seed=3)
    _, uploaded = world.shown(carol)
    assert run(world, carol).result == "no-photo"
    state, kept = world.shown(carol)
    assert state.picture_source == "upload" and kept == uploaded
    etag = world.give_photo(carol, seed=4)
    assert run(world, carol).result == "updated"
    state, replaced = world.shown(carol)
    assert (state.picture_source, state.source_etag) == ("mailbox", etag)
    assert replaced != uploaded


def test_a_user_without_a_mailbox_is_no_mailbox(world: World) -> None:
    lee = world.person("lee", mailbox=False)
    outcome = run(world, lee)
    assert outcome.result == "no-mailbox"
    assert world.shown(lee)[1] is None


def test_a_target_that_forbids_editing_is_not_changed(world: World) -> None:
    alice = world.person("alice")
    world.give_photo(alice, seed=1)
    world.forbid_editing()
    assert run(world, alice).result == "not-editable"
    assert world.shown(alice)[1] is None


def test_a_failing_source_is_an_error_and_the_picture_stays(world: World) -> None:
    alice = world.person("alice")
    world.give_photo(alice, seed=1)
    run(world, alice)
    before = world.shown(alice)
    world.give_photo(alice, seed=2)
    Failing.wrap_source(world)
    outcome = run(world, alice)
    assert outcome.result == "error" and "did not answer" in (outcome.error or "")
    assert world.shown(alice) == before


def test_a_failing_target_is_an_error_and_the_picture_stays(world: World) -> None:
    alice = world.person("alice")
    world.give_photo(alice, seed=1)
    run(world, alice)
    before = world.shown(alice)
    world.give_photo(alice, seed=2)
    Failing.wrap_target(world)
    outcome = run(world, alice)
    assert outcome.result == "error" and "refused" in (outcome.error or "")
    assert world.shown(alice) == before


def test_every_check_is_recorded_once_with_its_details(world: World, clock: MovableClock) -> None:
    alice = world.person("alice")
    etag = world.give_photo(alice, seed=1)
    results = []
    for _ in range(3):
        results.append(run(world, alice, session_id="s-1"))
        clock.advance(minutes=1)
    world.take_photo(alice)
    results.append(run(world, alice))
    recorded = world.checks(alice)
    assert [c.result for c in recorded] == ["updated", "unchanged", "unchanged", "placeholder"]
    assert [c.to_etag for c in recorded] == [etag, etag, etag, None]
    assert all(c.trigger == "admin" and c.reason == "admin-request" for c in recorded)
    assert [c.started_at for c in recorded] == [r.started_at for r in results]
    history = world.engine.history(alice.id, "s-1")
    assert history.session_checked and history.last_result == "placeholder"
    assert not world.engine.history(alice.id, "s-2").session_checked


def test_concurrent_triggers_pull_once(world: World) -> None:
    """Two triggers at once, each deciding under the user's lock: the second sees the first's
    check in the ledger and does not check again."""
    alice = world.person("alice")
    world.give_photo(alice, seed=1)
    counting = Counting.wrap_source(world, delay=0.2)
    start = threading.Barrier(2)
    outcomes: list[CheckOutcome | None] = []

    def decide(history: History) -> Decision:
        return Decision(history.last_check_at is None, "never-checked")

    def trigger() -> None:
        start.wait()
        outcomes.append(world.engine.run(alice, trigger="own-large", actor="alice", decide=decide))

    threads = [threading.Thread(target=trigger) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counting.fetches == 1
    assert sorted(o.result if o else "skipped" for o in outcomes) == ["skipped", "updated"]
    assert [c.result for c in world.checks(alice)] == ["updated"]


# --- doubles around whatever the world's source and target are --------------------------------


class Counting:
    """The world's source, counting fetches (and slow to fetch, if asked)."""

    def __init__(self, inner: PhotoSource, delay: float) -> None:
        self.inner = inner
        self.delay = delay
        self.fetches = 0

    @classmethod
    def wrap_source(cls, world: World, delay: float = 0.0) -> Counting:
        counting = cls(world.engine.source, delay)
        world.engine.source = counting
        return counting

    def versions(self, users: Sequence[UserInfo]) -> Mapping[str, Found]:
        return self.inner.versions(users)

    def fetch(self, user: UserInfo, version: SourceVersion) -> SourcePhoto | None:
        self.fetches += 1
        threading.Event().wait(self.delay)
        return self.inner.fetch(user, version)


class Failing:
    """A source that does not answer, or a target that refuses every change."""

    def __init__(self, source: PhotoSource, target: ProfileTarget) -> None:
        self.source, self.target = source, target

    @classmethod
    def wrap_source(cls, world: World) -> None:
        failing = cls(world.engine.source, world.engine.target)
        world.engine.source = failing.as_source()

    @classmethod
    def wrap_target(cls, world: World) -> None:
        failing = cls(world.engine.source, world.engine.target)
        world.engine.target = failing.as_target()

    def as_source(self) -> PhotoSource:
        outer = self

        class Source:
            def versions(self, users: Sequence[UserInfo]) -> Mapping[str, Found]:
                return one_by_one(users, self.current)

            def current(self, user: UserInfo) -> SourceVersion | None:
                raise ConnectionError("the source did not answer")

            def fetch(self, user: UserInfo, version: SourceVersion) -> SourcePhoto | None:
                return outer.source.fetch(user, version)

        return Source()

    def as_target(self) -> ProfileTarget:
        inner = self.target

        class Target:
            def sizes(self) -> Mapping[str, int]:
                return inner.sizes()

            def states(self, users: Sequence[UserInfo]) -> Mapping[str, TargetState]:
                return inner.states(users)

            def show(
                self, pictures: Sequence[Showing], *, change: Change
            ) -> list[Shown | Exception]:
                return [PermissionError("the target refused the change") for _ in pictures]

            def clear(self, user: UserInfo, *, change: Change, check: CheckOutcome) -> Shown:
                raise PermissionError("the target refused the change")

        return Target()


def test_the_engine_has_no_default_locks_that_need_a_database() -> None:
    # The memory world runs with UserLocks() and no database at all.
    with UserLocks().hold(["anyone"]):
        pass
