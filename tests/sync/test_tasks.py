"""Sync's tasks, embedded (no broker): the automatic policy, a check of everyone, the schedule.

Real components throughout: the mailbox, sites and the sync engine on a SQLite file and on the
machine's PostgreSQL, the task library's real thread pool. Nothing sleeps a fixed time: a test
polls for what it waits for, with a deadline, or waits for the pool to be idle.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from photosync.cli import main
from photosync.directory.interfaces import UserInfo
from photosync.services import Services
from photosync.settings import Settings
from photosync.sync.tasks import (
    CHECK_EVERYONE,
    CHECK_USER,
    PerProcess,
    SyncTasks,
    make_celery,
    worker_argv,
)
from tests.conftest import TEST_KEY, MovableClock, eventually, free_port, make_settings
from tests.sites.helpers import checks, jpeg, set_mailbox_photo
from tests.sync.conftest import MONTH

DEADLINE_SECONDS = 10.0


def synced_etag(services: Services, user: UserInfo) -> str | None:
    return services.sites.profile_status(user.id).source_etag


@pytest.fixture
def policy() -> str:
    return "automatic"


@pytest.fixture
def schedule() -> str:
    return ""


@pytest.fixture
def settings(tmp_path: Path, database_url: str, policy: str, schedule: str) -> Settings:
    return make_settings(
        tmp_path / "data",
        database_url,
        token_lifetime_seconds=MONTH,
        session_lifetime_seconds=MONTH,
        sync_policy=policy,
        sync_schedule=schedule,
    )


@pytest.fixture
def services(services: Services) -> Iterator[Services]:
    """The services, their task pool stopped before the database goes (once all sent ran)."""
    yield services
    services.tasks.close()


# --- the automatic policy ------------------------------------------------------------------


def test_automatic_a_saved_photo_reaches_sites_without_a_request(
    services: Services, alice: UserInfo
) -> None:
    etag = set_mailbox_photo(services, alice)
    assert eventually(lambda: synced_etag(services, alice) == etag)
    profile = services.sites.profile_status(alice.id)
    assert profile.has_picture and profile.picture_source == "mailbox"
    [check] = checks(services.ctx, alice)
    assert (check.trigger, check.result, check.to_etag) == ("automatic", "updated", etag)

    # A new version replaces it, with no request either.
    newer = set_mailbox_photo(services, alice, seed=2)
    assert eventually(lambda: synced_etag(services, alice) == newer)


def test_automatic_a_deleted_photo_brings_back_the_placeholder(
    services: Services, alice: UserInfo
) -> None:
    etag = set_mailbox_photo(services, alice)
    assert eventually(lambda: synced_etag(services, alice) == etag)
    services.mailbox.delete_photo(alice.id, actor="test")
    assert eventually(lambda: not services.sites.profile_status(alice.id).has_picture)
    assert services.sites.profile_status(alice.id).source_etag is None
    assert [c.result for c in checks(services.ctx, alice)] == ["updated", "placeholder"]


def test_automatic_keeps_the_own_large_rule(services: Services, alice: UserInfo) -> None:
    # Beside the automatic checks, a user's own Large request in a new session still checks.
    session = services.directory.start_session(alice.id, "token").id
    decision = services.sync.explain(alice.id, session)
    assert decision.check and decision.reason == "never-checked"


@pytest.mark.parametrize("policy", ["on-user-action", "manual"])
def test_other_policies_send_no_task_on_a_photo_change(
    services: Services, alice: UserInfo, policy: str
) -> None:
    set_mailbox_photo(services, alice)
    assert services.tasks.wait_idle(timeout=DEADLINE_SECONDS)  # nothing was sent
    assert synced_etag(services, alice) is None
    assert checks(services.ctx, alice) == []


# --- the tasks themselves ------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["on-user-action"])
def test_check_everyone_sends_one_check_per_user(
    services: Services, alice: UserInfo, bob: UserInfo, carol: UserInfo, admin: UserInfo
) -> None:
    etags = {u.id: set_mailbox_photo(services, u, seed=n) for n, u in enumerate((alice, bob))}
    services.tasks.check_everyone("bulk")
    assert services.tasks.wait_idle(timeout=DEADLINE_SECONDS)
    for user in (alice, bob):
        assert synced_etag(services, user) == etags[user.id]
    for user in (alice, bob, carol, admin):
        [check] = checks(services.ctx, user)  # each user exactly once
        assert check.trigger == "bulk"
    assert checks(services.ctx, carol)[0].result in ("no-photo", "no-mailbox")


@pytest.mark.parametrize("policy", ["on-user-action"])
def test_check_everyone_with_one_thread_queues_no_more_than_it_can_run(
    services: Services,
) -> None:
    people = [services.directory.add_user(f"p{n}@example.org", f"P{n}") for n in range(7)]
    one = SyncTasks(
        services.ctx.settings.model_copy(update={"task_threads": 1}), lambda: services.sync
    )
    waiting: list[int] = []
    original = one._pool_is_full

    def full() -> bool:
        waiting.append(one._pending)
        return original()

    one._pool_is_full = full  # type: ignore[method-assign]
    try:
        one.check_everyone("schedule")
        assert one.wait_idle(timeout=DEADLINE_SECONDS)
    finally:
        one.close()
    assert max(waiting) <= 2  # the fan-out itself and at most one queued check
    for person in people:
        assert [c.trigger for c in checks(services.ctx, person)] == ["schedule"]


def test_a_task_for_a_user_who_is_gone_does_nothing(services: Services) -> None:
    services.tasks.check_user("no-such-user-id", "automatic")
    assert services.tasks.wait_idle(timeout=DEADLINE_SECONDS)


def test_tasks_name_their_trigger(services: Services) -> None:
    with pytest.raises(ValueError, match="no sync trigger"):
        services.tasks.run(CHECK_USER, "someone", "sometimes")
    with pytest.raises(ValueError, match="no sync task"):
        services.tasks.run("photosync.sync.nothing")


def test_a_closed_pool_drops_what_is_sent_later(services: Services, alice: UserInfo) -> None:
    services.tasks.close()
    set_mailbox_photo(services, alice)  # the event's task is dropped, not run nor queued
    assert services.tasks.wait_idle(timeout=0)
    assert checks(services.ctx, alice) == []


@pytest.mark.parametrize("policy", ["on-user-action"])
def test_one_pool_of_the_configured_size(services: Services) -> None:
    assert services.tasks.describe() == "in this process (4 threads)"
    assert not services.tasks.distributed
    assert services.tasks.schedule(services.ctx.clock) is None  # no schedule set


def test_per_process_builds_once_in_a_process() -> None:
    built: list[int] = []
    per_process = PerProcess(lambda: built.append(1) or len(built))
    assert per_process() == per_process() == 1


# --- the Celery side, without a broker process -----------------------------------------------


def test_the_celery_app_of_the_settings(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        broker_url="redis://:secret@127.0.0.1:6379/3",
        task_queue="photosync-test",
        sync_schedule="*/5 * * * *",
    )
    ran: list[tuple[str, ...]] = []
    app = make_celery(settings, lambda *args: ran.append(args))
    assert {CHECK_USER, CHECK_EVERYONE} <= set(app.tasks)
    assert app.conf.task_default_queue == "photosync-test"
    beat = app.conf.beat_schedule["check-everyone"]
    assert beat["task"] == CHECK_EVERYONE and beat["args"] == ("schedule",)
    assert beat["schedule"].minute == {0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55}
    # A task body is the library's one ``run``, wherever Celery runs it.
    app.tasks[CHECK_USER].run("user-1", "automatic")
    assert ran == [(CHECK_USER, "user-1", "automatic")]

    tasks = SyncTasks(settings, lambda: pytest.fail("no check runs here"))  # type: ignore[arg-type,return-value]
    assert tasks.distributed
    assert tasks.describe() == "on Celery workers (redis://127.0.0.1:6379/3, queue photosync-test)"
    assert tasks.schedule(MovableClock()) is None  # beat runs it, in a worker
    argv = worker_argv(settings, concurrency=2, pool="prefork", beat=True, loglevel="warning")
    assert argv[:2] == ["worker", "--queues=photosync-test"]
    assert "--concurrency=2" in argv and "--beat" in argv


def test_the_worker_needs_a_broker(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["--data", str(tmp_path / "data"), "worker"],
        env={"PHOTOSYNC_SECRET_KEY": TEST_KEY, "PHOTOSYNC_BROKER_URL": ""},
    )
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "Error: PHOTOSYNC_BROKER_URL is empty: tasks run inside photosync serve; "
        "set it (redis://… or amqp://…) to run them in workers"
    ]


# --- the schedule, embedded ------------------------------------------------------------------


@pytest.mark.parametrize(("policy", "schedule"), [("on-user-action", "* * * * *")])
def test_the_schedule_checks_everyone_when_its_minute_comes(
    services: Services, clock: MovableClock, alice: UserInfo, bob: UserInfo
) -> None:
    etag = set_mailbox_photo(services, alice)
    scheduler = services.tasks.schedule(clock)
    assert scheduler is not None
    assert scheduler.tick() == datetime(2026, 3, 2, 9, 1, tzinfo=UTC)  # not at start-up
    clock.advance(seconds=59)
    scheduler.tick()
    assert services.tasks.wait_idle(timeout=DEADLINE_SECONDS)
    assert checks(services.ctx, alice) == []

    clock.advance(seconds=1)
    assert scheduler.tick() == datetime(2026, 3, 2, 9, 2, tzinfo=UTC)
    assert services.tasks.wait_idle(timeout=DEADLINE_SECONDS)
    assert synced_etag(services, alice) == etag
    assert [(c.trigger, c.result) for c in checks(services.ctx, alice)] == [("schedule", "updated")]
    assert [c.trigger for c in checks(services.ctx, bob)] == ["schedule"]

    # Missed runs (the machine slept an hour) run once, late, not once per missed minute.
    clock.advance(hours=1)
    assert scheduler.tick() == datetime(2026, 3, 2, 10, 2, tzinfo=UTC)
    assert services.tasks.wait_idle(timeout=DEADLINE_SECONDS)
    assert [c.result for c in checks(services.ctx, alice)] == ["updated", "unchanged"]


def test_the_scheduler_thread_runs_the_job_and_stops() -> None:
    from photosync.sync.scheduler import EmbeddedScheduler, parse_schedule

    # A clock 0.2 s before a whole minute: the thread's first due time comes at once.
    real = datetime.now(UTC)
    offset = real.replace(second=59, microsecond=800_000) - real
    ran: list[datetime] = []
    scheduler = EmbeddedScheduler(
        parse_schedule("* * * * *"),
        lambda: ran.append(datetime.now(UTC)),
        clock=lambda: datetime.now(UTC) + offset,
    )
    scheduler.start()
    try:
        assert eventually(lambda: len(ran) == 1)
    finally:
        scheduler.stop()
    assert scheduler.next_at is not None
    assert scheduler.next_at - (datetime.now(UTC) + offset) > timedelta(seconds=30)


# --- the CLI: its tasks run before it exits ---------------------------------------------------


def test_the_cli_runs_the_checks_it_sets_off_before_it_exits(tmp_path: Path) -> None:
    data, picture = tmp_path / "data", tmp_path / "a.jpg"
    picture.write_bytes(jpeg(700, 600, seed=4))
    env = {"PHOTOSYNC_SECRET_KEY": TEST_KEY, "PHOTOSYNC_SYNC_POLICY": "automatic"}

    def cli(*args: str) -> str:
        result = CliRunner().invoke(main, ["--data", str(data), *args], env=env)
        assert result.exit_code == 0, result.output
        return result.output

    cli("users", "add", "alice@example.org", "--name", "Alice")
    cli("photo", "set", "alice@example.org", str(picture))
    status = cli("sync", "status", "alice@example.org")
    assert "sites shows: picture from mailbox" in status
    assert "automatic/photo-changed: updated" in status


def test_old_photo_versions_are_collected_on_their_schedule(
    services: Services, clock: MovableClock, alice: UserInfo
) -> None:
    """PHOTOSYNC_GC_SCHEDULE (03:17 UTC by default) runs the mailbox's collection, as
    `photosync gc` does: versions beyond PHOTOSYNC_PHOTO_HISTORY_KEEP go."""
    keep = services.ctx.settings.photo_history_keep
    for seed in range(keep + 2):
        set_mailbox_photo(services, alice, seed=seed)
        clock.advance(seconds=1)
    assert len(services.mailbox.history(alice.id)) == keep + 2
    collector = services.tasks.garbage_schedule(clock)
    assert collector is not None
    first = collector.tick()
    assert (first.hour, first.minute) == (3, 17)
    clock.now = first
    collector.tick()
    assert services.tasks.wait_idle(timeout=DEADLINE_SECONDS)
    assert len(services.mailbox.history(alice.id)) == keep


def test_the_queue_depth_is_read_from_the_broker(tmp_path: Path) -> None:
    """/metrics's photosync_task_queue_depth: the real Redis, a queue of this test's own."""
    queue = f"photosync-depth-{os.getpid()}"
    settings = Settings(data_dir=tmp_path, broker_url="redis://127.0.0.1:6379/0", task_queue=queue)
    tasks = SyncTasks(settings, lambda: pytest.fail("no check runs here"))  # type: ignore[arg-type,return-value]
    assert tasks.queue_depth() == 0  # Redis has no key for an empty queue
    try:
        for n in range(3):
            tasks.check_user(f"user-{n}", "admin")
        assert tasks.queue_depth() == 3
    finally:
        with tasks.celery.connection_for_write() as conn:
            conn.default_channel.queue_purge(queue)  # this test's queue only
    unreachable = Settings(
        data_dir=tmp_path, broker_url=f"redis://127.0.0.1:{free_port()}/0", task_queue=queue
    )
    closed = SyncTasks(unreachable, lambda: pytest.fail("no check runs here"))  # type: ignore[arg-type,return-value]
    assert closed.queue_depth() is None
