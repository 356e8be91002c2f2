"""Sync's background work as tasks: one library, embedded or distributed.

Two tasks, carrying ids, not objects (a task reads what it needs in its own transaction):

- ``check_user(user_id, trigger)``: ``SyncService.check_now`` of one user;
- ``check_route(user_id, trigger, source, target)``: the same on another route (the automatic
  export of a changed mailbox photo to LDAP, ``PHOTOSYNC_LDAP_EXPORT=automatic``);
- ``check_everyone(trigger)``: one ``check_user`` task per user in the directory;
- ``run_bulk(run_id, actor)``: an admin's bulk run (``sync.bulk``): in this process, its users on
  the run's own bounded pool; with a broker, one ``check_in_run(run_id, positions, actor)``
  task per batch of users not done yet, for the workers to share. Each check marks its user
  done in the run's ledger, so any process can follow the run's progress, and a run resumed
  after a crash checks only who is left.

Where they run is decided in one place, ``SyncTasks.send``: with ``PHOTOSYNC_BROKER_URL`` empty (the
embedded default) in a bounded thread pool of this process (``photosync serve`` or the CLI); with
it set, they go through the broker to Celery, and ``photosync worker`` processes run them (with
beat for ``PHOTOSYNC_SYNC_SCHEDULE``). Callers only say what to check, never where. Moving work
between processes is Celery's job: there is no queue of our own.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from photosync.chunks import chunked
from photosync.settings import Settings
from photosync.sync.bulk import BATCH
from photosync.sync.interfaces import AUTOMATIC, SCHEDULE, TRIGGERS, Route, Trigger
from photosync.sync.scheduler import EmbeddedScheduler, parse_schedule
from photosync.sync.service import NoSuchUser, SyncService

if TYPE_CHECKING:
    from celery import Celery

    from photosync.context import Clock

log = logging.getLogger(__name__)

CHECK_USER = "photosync.sync.check_user"
CHECK_EVERYONE = "photosync.sync.check_everyone"
RUN_BULK = "photosync.sync.run_bulk"
COLLECT_GARBAGE = "photosync.collect_garbage"
CHECK_IN_RUN = "photosync.sync.check_in_run"
CHECK_ROUTE = "photosync.sync.check_route"
# What PHOTOSYNC_LDAP_EXPORT=automatic sends on every photo.changed.
LDAP_EXPORT = Route("mailbox", "ldap")
# The policy (PHOTOSYNC_SYNC_POLICY) under which every photo.changed sends a check_user task;
# the composition root subscribes it.
AUTOMATIC_POLICY = "automatic"
# Who the audit log says made the change of a check nobody asked for by hand.
ACTOR = "system"

T = TypeVar("T")


class SyncTasks:
    """Sync's tasks for one process: sent here to a thread pool, or to Celery via the broker.

    ``sync`` gives the sync service a task runs on, when it runs (in a worker, the services of
    that worker process; in ``serve``, the server's own).
    """

    def __init__(
        self,
        settings: Settings,
        sync: Callable[[], SyncService],
        garbage: Callable[[], object] | None = None,
    ) -> None:
        self.settings = settings
        self._sync = sync
        # The mailbox's collection of old versions and unused blobs (``photosync gc``), run on
        # PHOTOSYNC_GC_SCHEDULE by the same scheduler or beat.
        self._garbage = garbage
        self._guard = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._celery: Celery | None = None
        self._idle = threading.Condition()
        self._pending = 0  # tasks sent to the embedded pool and not finished
        self._closed = False

    @property
    def distributed(self) -> bool:
        """True when tasks go to Celery workers through a broker."""
        return bool(self.settings.broker_url)

    # --- what callers ask for --------------------------------------------------------------

    def check_user(self, user_id: str, trigger: Trigger) -> None:
        self.send(CHECK_USER, user_id, trigger)

    def check_everyone(self, trigger: Trigger) -> None:
        self.send(CHECK_EVERYONE, trigger)

    def run_bulk(self, run_id: str, actor: str) -> None:
        """Carry out an opened bulk run (``SyncService.open_bulk``) in the background."""
        self.send(RUN_BULK, run_id, actor)

    def check_in_run(self, run_id: str, positions: Sequence[int], actor: str) -> None:
        """A batch of a bulk run's users (their places in it), for the workers (the CLI sends
        these itself, paced)."""
        self.send(CHECK_IN_RUN, run_id, ",".join(map(str, positions)), actor)

    def check_route(self, user_id: str, trigger: Trigger, route: Route) -> None:
        self.send(CHECK_ROUTE, user_id, trigger, route.source, route.target)

    def on_photo_changed(self, *, user_id: str, **_ids: object) -> None:
        """``photo.changed`` (after the commit) under the automatic policy: check that user."""
        self.check_user(user_id, AUTOMATIC)

    def on_photo_changed_export(self, *, user_id: str, **_ids: object) -> None:
        """``photo.changed`` with PHOTOSYNC_LDAP_EXPORT=automatic: write it to the directory."""
        self.check_route(user_id, AUTOMATIC, LDAP_EXPORT)

    def send(self, name: str, *args: str) -> None:
        """The one decision: run here in the pool, or send to the broker."""
        if self.distributed:
            self.celery.tasks[name].apply_async(args=args)
        else:
            with self._idle:
                self._pending += 1
            try:
                self._embedded_pool().submit(self._run_logged, name, args)
            except RuntimeError:  # the pool is closed: the process is stopping
                self._done()
                log.warning("sync task %s%s not run: the process is stopping", name, args)

    # --- what a task does, wherever it runs ------------------------------------------------

    def run(self, name: str, *args: str) -> None:
        if name == CHECK_USER:
            user_id, trigger = args
            self._check_user(user_id, _trigger(trigger))
        elif name == CHECK_ROUTE:
            user_id, trigger, source, target = args
            self._check_user(user_id, _trigger(trigger), Route(source, target))
        elif name == CHECK_EVERYONE:
            (trigger,) = args
            self._check_everyone(_trigger(trigger))
        elif name == RUN_BULK:
            run_id, actor = args
            self._run_bulk(run_id, actor)
        elif name == CHECK_IN_RUN:
            run_id, positions, actor = args
            self._check_in_run(run_id, [int(n) for n in positions.split(",")], actor)
        elif name == COLLECT_GARBAGE:
            if self._garbage is not None:
                log.info("collected garbage: %s", self._garbage())
        else:
            raise ValueError(f"no sync task {name}")

    def _check_user(self, user_id: str, trigger: Trigger, route: Route | None = None) -> None:
        try:
            if route is None:
                self._sync().check_now(user_id, actor=ACTOR, trigger=trigger)
            else:
                self._sync().check_now(user_id, actor=ACTOR, trigger=trigger, route=route)
        except NoSuchUser:  # deleted since the task was sent: nothing to check
            log.info("sync task for user %s: no such user any more", user_id)

    def _check_everyone(self, trigger: Trigger) -> None:
        sent = 0
        for user in self._sync().directory.iter_users():  # read a batch at a time
            if self._pool_is_full():
                # The caller runs it: the embedded pool's queue never holds the directory,
                # and a pool of one thread (this one) still gets through everyone.
                self._check_user(user.id, trigger)
            else:
                self.check_user(user.id, trigger)
            sent += 1
        log.info("sync check of everyone (%s): %d users", trigger, sent)

    def _run_bulk(self, run_id: str, actor: str) -> None:
        sync = self._sync()
        if not self.distributed:
            sync.continue_bulk(run_id, actor=actor, concurrency=self.settings.task_threads)
            return
        # The broker holds what waits.
        for items in chunked(sync.runs.pending(run_id), BATCH):
            self.check_in_run(run_id, [item.position for item in items], actor)

    def _check_in_run(self, run_id: str, positions: Sequence[int], actor: str) -> None:
        sync = self._sync()
        items = sync.runs.pending_at(run_id, positions)
        if not items:  # a redelivered task: its users are done already
            return
        sync.check_in_run(run_id, items, actor=actor)
        # Each task asks only "is anyone left?": counting the whole run after every user
        # would cost a run of N users N counts of N rows.
        if sync.runs.all_done(run_id):
            sync.runs.finish(run_id, sync.ctx.clock())

    def _pool_is_full(self) -> bool:
        if self.distributed:  # the broker holds what waits
            return False
        with self._idle:
            return self._pending >= 2 * self.settings.task_threads

    def _run_logged(self, name: str, args: tuple[str, ...]) -> None:
        try:
            self.run(name, *args)
        except Exception:  # a pool thread has nobody to raise to
            log.exception("sync task %s%s failed", name, args)
        finally:
            self._done()

    def _done(self) -> None:
        with self._idle:
            self._pending -= 1
            if self._pending == 0:
                self._idle.notify_all()

    # --- the two places tasks run ----------------------------------------------------------

    def _embedded_pool(self) -> ThreadPoolExecutor:
        with self._guard:
            if self._closed:
                raise RuntimeError("the sync task pool is closed")
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.settings.task_threads, thread_name_prefix="photosync-task"
                )
            return self._pool

    @property
    def celery(self) -> Celery:
        """The Celery app of these tasks (made on first use: embedded never imports Celery)."""
        with self._guard:
            if self._celery is None:
                self._celery = make_celery(self.settings, self.run)
            return self._celery

    def schedule(self, clock: Clock) -> EmbeddedScheduler | None:
        """The scheduler ``photosync serve`` runs: None without a schedule, or with a broker
        (Celery beat in a worker runs it then)."""
        if not self.settings.sync_schedule or self.distributed:
            return None
        return EmbeddedScheduler(
            parse_schedule(self.settings.sync_schedule),
            lambda: self.check_everyone(SCHEDULE),
            clock=clock,
        )

    def garbage_schedule(self, clock: Clock) -> EmbeddedScheduler | None:
        """The collection of old photo versions and unused blobs on PHOTOSYNC_GC_SCHEDULE, for
        ``photosync serve`` (None without one, or with a broker: beat runs it then)."""
        if not self.settings.gc_schedule or self.distributed:
            return None
        return EmbeddedScheduler(
            parse_schedule(self.settings.gc_schedule),
            lambda: self.send(COLLECT_GARBAGE),
            clock=clock,
        )

    def queue_depth(self) -> int | None:
        """Tasks waiting: the broker queue's length, or the embedded pool's tasks queued and
        running. None when the broker could not be asked (``/metrics`` then leaves it out)."""
        if not self.distributed:
            with self._idle:
                return self._pending
        from kombu.exceptions import OperationalError  # a broker that does not answer

        conn = self.celery.connection_for_read(connect_timeout=2)
        try:
            with conn:
                try:
                    declared = conn.default_channel.queue_declare(  # type: ignore[attr-defined]
                        queue=self.settings.task_queue, passive=True
                    )
                except conn.channel_errors:
                    return 0  # the broker drops an empty queue (Redis) or has none yet
                return int(declared.message_count)
        except (OSError, OperationalError, *conn.connection_errors):  # type: ignore[misc]
            log.warning("the task queue's depth could not be read from the broker")
            return None

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until the embedded pool has no task queued or running (including the checks a
        ``check_everyone`` sends); False if ``timeout`` came first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self, *, cancel_pending: bool = False) -> None:
        """Stop the embedded pool once every task sent has run (the CLI's), or, with
        ``cancel_pending``, once those running now have (the server's: a check dropped before
        it started is caught by the next one, or by the schedule). Tasks sent later are dropped."""
        if self._closed:
            return
        if not cancel_pending:
            self.wait_idle()
        with self._guard:
            pool, self._pool, self._closed = self._pool, None, True
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=cancel_pending)
        with self._idle:  # cancelled tasks never finish: nobody is left to wait for them
            self._pending = 0
            self._idle.notify_all()

    def check_broker(self) -> str | None:
        """Raise unless the broker accepts a connection now (readiness); a note if none is used."""
        if not self.distributed:
            return "not used (tasks run in this process)"
        with self.celery.connection_for_write(connect_timeout=1) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=1, timeout=1)
            if conn.transport.driver_type == "redis":
                # kombu's Redis transport connects lazily: ask the server itself.
                cast(Any, conn.default_channel).client.ping()
        return None

    def describe(self) -> str:
        """Where tasks run, for the start-up banner (no password of the broker's URL)."""
        if not self.distributed:
            return f"in this process ({self.settings.task_threads} threads)"
        return f"on Celery workers ({self.broker_address()}, queue {self.settings.task_queue})"

    def broker_address(self) -> str:
        scheme, _, rest = self.settings.broker_url.partition("://")
        return f"{scheme}://{rest.rpartition('@')[2]}"


def _trigger(value: str) -> Trigger:
    for trigger in TRIGGERS:
        if trigger == value:
            return trigger
    raise ValueError(f"no sync trigger {value!r}")


def make_celery(settings: Settings, run: Callable[..., None]) -> Celery:
    """A Celery app for ``settings``: the tasks (each calls ``run(name, *args)``), the queue,
    and beat's schedule."""
    from celery import Celery

    app = Celery("photosync", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_default_queue=settings.task_queue,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        # A check is idempotent: one lost with its worker is run again rather than dropped.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        enable_utc=True,
        timezone="UTC",
        worker_hijack_root_logger=False,
    )
    beat: dict[str, dict[str, object]] = {}
    if settings.sync_schedule:
        beat["check-everyone"] = {
            "task": CHECK_EVERYONE,
            "schedule": parse_schedule(settings.sync_schedule),
            "args": (SCHEDULE,),
        }
    if settings.gc_schedule:
        beat["collect-garbage"] = {
            "task": COLLECT_GARBAGE,
            "schedule": parse_schedule(settings.gc_schedule),
            "args": (),
        }
    app.conf.beat_schedule = beat

    def register(name: str) -> None:
        def task(*args: str) -> None:
            run(name, *args)

        task.__name__ = name.rpartition(".")[2]
        app.task(name=name, shared=False)(task)  # this app's alone, not every app's

    for name in (CHECK_USER, CHECK_ROUTE, CHECK_EVERYONE, RUN_BULK, CHECK_IN_RUN, COLLECT_GARBAGE):
        register(name)
    return app


def worker_argv(
    settings: Settings, *, concurrency: int | None, pool: str, beat: bool, loglevel: str
) -> list[str]:
    """The ``celery worker`` arguments of ``photosync worker``."""
    argv = [
        "worker",
        f"--queues={settings.task_queue}",
        f"--pool={pool}",
        f"--loglevel={loglevel}",
        # Workers need not know each other (no revokes, no remote control of ours): a worker
        # starts a second sooner without asking its neighbours, and sends no gossip.
        "--without-mingle",
        "--without-gossip",
    ]
    if concurrency is not None:
        argv.append(f"--concurrency={concurrency}")
    if beat:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        schedule_file = Path(settings.data_dir) / "celerybeat-schedule"
        argv += ["--beat", f"--schedule={schedule_file}"]
    return argv


class PerProcess(Generic[T]):
    """``build()`` once per process: a prefork worker's children each build their own (a
    database pool or a lock must not cross a fork)."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._made: tuple[int, T] | None = None

    def __call__(self) -> T:
        with self._lock:
            if self._made is None or self._made[0] != os.getpid():
                self._made = (os.getpid(), self._build())
            return self._made[1]


__all__ = [
    "AUTOMATIC_POLICY",
    "CHECK_EVERYONE",
    "CHECK_IN_RUN",
    "CHECK_ROUTE",
    "CHECK_USER",
    "RUN_BULK",
    "PerProcess",
    "SyncTasks",
    "make_celery",
]
