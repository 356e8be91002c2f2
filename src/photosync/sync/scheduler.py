"""``PHOTOSYNC_SYNC_SCHEDULE``: when the periodic check of everyone runs, and the small thread that
runs it inside ``photosync serve`` when there is no broker.

One reading of the cron expression for both deployments: it is parsed into Celery's ``crontab``,
which Celery beat runs as it is when a broker is set, and whose own next-run arithmetic
(``remaining_delta``) the embedded scheduler asks. Times are UTC.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from celery.schedules import crontab

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

FIELDS = ("minute", "hour", "day of month", "month", "day of week")
_CRONTAB_ARGS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
# The longest the thread sleeps before it reads the clock again, so that a clock that jumps
# (a suspended machine, a test's moved clock) is noticed soon.
MAX_SLEEP_SECONDS = 30.0


def parse_schedule(expression: str) -> crontab:
    """The crontab of a five-field cron expression, or ValueError in words for the settings."""
    from celery.schedules import crontab  # here: a deployment without a schedule never loads it

    fields = expression.split()
    if len(fields) != len(FIELDS):
        raise ValueError(
            f"expected a cron expression of five fields ({', '.join(FIELDS)}), "
            f"e.g. '0 2 * * *' for 02:00 UTC every day"
        )
    spec = dict(zip(_CRONTAB_ARGS, fields, strict=True))
    for (name, value), words in zip(spec.items(), FIELDS, strict=True):
        try:
            crontab(**{name: value})
        except Exception as exc:  # celery's parser: ValueError, ParseException, IndexError…
            raise ValueError(f"the {words} field {value!r} is not valid ({exc})") from None
    try:
        return crontab(**spec)
    except ValueError as exc:  # e.g. the 31st of February: each field alone is fine
        raise ValueError(str(exc)) from None


def next_run(schedule: crontab, after: datetime) -> datetime:
    """The first time after ``after`` (to the minute) at which ``schedule`` runs, in UTC."""
    after = after.astimezone(UTC) if after.tzinfo else after.replace(tzinfo=UTC)
    last, delta, _now = schedule.remaining_delta(after, tz=UTC)
    when: datetime = last + delta
    return when.astimezone(UTC)


class EmbeddedScheduler:
    """Calls ``job`` at each time of ``schedule`` while it runs (a daemon thread).

    ``job`` should only enqueue (it runs on this thread). A run missed while the process slept
    is run once, late, not once per missed time. ``tick`` is the whole decision, so tests call
    it with a moved clock instead of waiting for the time to come.
    """

    def __init__(self, schedule: crontab, job: Callable[[], None], *, clock: Clock) -> None:
        self.schedule = schedule
        self.job = job
        self.clock = clock
        self.next_at: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> datetime:
        """Run the job if its time has come; when it runs next."""
        now = self.clock()
        if self.next_at is None:
            self.next_at = next_run(self.schedule, now)  # the first run is the next due time
        elif now >= self.next_at:
            self.next_at = next_run(self.schedule, now)
            log.info("scheduled sync check of everyone (next at %s)", self.next_at)
            try:
                self.job()
            except Exception:  # the schedule goes on; the next run may succeed
                log.exception("the scheduled sync check could not be started")
        return self.next_at

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="photosync-schedule", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            wait = (self.tick() - self.clock()) / timedelta(seconds=1)
            if self._stop.wait(min(max(wait, 0.0), MAX_SLEEP_SECONDS)):
                return
