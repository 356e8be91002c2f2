"""``photosync sync now --all | UPN…`` as a bulk run: progress, pace, dry run, report.

A terminal gets a ``rich`` progress bar (done, failed, users/s, time left); anything else (a
log, a pipe) a plain line every 100 users. Exit status: 0 when every user succeeded, 1 when
some failed (the report lists them), 2 on bad usage (click's own).
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import click
from rich import progress as bar
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeRemainingColumn,
)

from photosync.chunks import chunked
from photosync.sync.bulk import Item, Pace, Progress, batch_size, write_report
from photosync.sync.interfaces import DEFAULT_ROUTE, ERROR, Route
from photosync.sync.service import SyncService
from photosync.sync.tasks import SyncTasks

LINE_EVERY = 100
POLL_SECONDS = 0.5  # how often a run carried out by workers is looked at


def run(
    sync: SyncService,
    tasks: SyncTasks,
    upns: Sequence[str] | None,
    *,
    actor: str,
    concurrency: int,
    rate: float | None,
    dry_run: bool,
    report: Path | None,
    route: Route = DEFAULT_ROUTE,
) -> int:
    """Run (or resume) the bulk check on ``route``; the exit status (ConnectorError when the
    route's source or target cannot start)."""
    who = "every user" if upns is None else f"{len(upns)} user(s)"
    if not route.is_default:
        who += f" from {route.source} to {route.target}"
    if dry_run:
        items = sync.plan(upns, route)
        for item in items:
            click.echo(f"{item.upn}: would be {item.result}" + _error(item))
        changes = sum(item.result in ("updated", "placeholder") for item in items)
        click.echo(f"dry run over {who}: {changes} would change; nothing was written")
        return _finish(items, report)
    run_id, resumed = sync.open_bulk(upns, actor=actor, route=route)
    start = sync.runs.progress(run_id)
    assert start is not None
    if resumed:
        click.echo(
            f"resuming run {run_id}: {start.done} of {start.total} users were done, "
            f"{start.total - start.done} to go"
        )
    else:
        click.echo(f"run {run_id}: checking {who} ({start.total})")
    with _reporter(start.total, start.done) as on_progress:
        if tasks.distributed:
            click.echo(f"sending the checks to the workers {tasks.describe()}")
            done = _through_workers(sync, tasks, run_id, actor, rate, on_progress)
        else:
            done = sync.continue_bulk(
                run_id,
                actor=actor,
                concurrency=concurrency,
                rate=rate,
                on_progress=on_progress,
                processes=True,
            )
    items = sync.runs.items(run_id)
    counts = Counter(item.result for item in items if item.result != ERROR)
    click.echo(
        f"run {run_id} finished: {done.done} checked, {done.failed} failed"
        + "".join(f", {n} {result}" for result, n in sorted(counts.items()) if result)
        + (f"; report in {report}" if report else "")
    )
    _list("noted", [(item.upn, item.note) for item in items if item.note])
    _list("failed", [(item.upn, item.error) for item in items if item.result == ERROR])
    return _finish(items, report)


def _through_workers(
    sync: SyncService,
    tasks: SyncTasks,
    run_id: str,
    actor: str,
    rate: float | None,
    on_progress: Callable[[int, int, int], None],
) -> Progress:
    """Send one task per batch of users left (paced by ``rate``), then follow the run's ledger
    until the workers are through (this process checks no one itself)."""
    pace = Pace(rate)
    for items in chunked(sync.runs.pending(run_id), batch_size(rate)):
        for _ in items:
            pace.wait()
        tasks.check_in_run(run_id, [item.position for item in items], actor)
    while True:
        progress = sync.runs.progress(run_id)
        assert progress is not None
        on_progress(progress.done, progress.failed, progress.total)
        if progress.finished:
            sync.runs.finish(run_id, sync.ctx.clock())
            return progress
        time.sleep(POLL_SECONDS)


def _finish(items: list[Item], report: Path | None) -> int:
    if report is not None:
        with report.open("w", newline="") as out:
            write_report(items, out)
    return 1 if any(item.result == ERROR for item in items) else 0


def _list(what: str, rows: list[tuple[str, str | None]], most: int = 10) -> None:
    """The first few users with an error or a note, under the summary line."""
    if rows:
        click.echo(f"{what}:")
    for upn, text in rows[:most]:
        click.echo(f"  {upn}: {text}")
    if len(rows) > most:
        click.echo(f"  … and {len(rows) - most} more (see --report)")


def _error(item: Item) -> str:
    return f" ({item.error})" if item.error else ""


class _reporter:
    """A progress bar on a terminal, a line per LINE_EVERY users elsewhere."""

    def __init__(self, total: int, done: int) -> None:
        self.total, self.first = total, done
        self.started = time.monotonic()
        self.lock = threading.Lock()
        self.bar: bar.Progress | None = None
        if sys.stdout.isatty():
            self.bar = bar.Progress(
                TextColumn("[bold]sync"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("failed {task.fields[failed]}"),
                TextColumn("{task.fields[rate]:.1f} users/s"),
                TimeRemainingColumn(),
                console=Console(),
            )
            self.task = self.bar.add_task("sync", total=total, completed=done, failed=0, rate=0.0)

    def __enter__(self) -> Callable[[int, int, int], None]:
        if self.bar is not None:
            self.bar.start()
        return self.update

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def update(self, done: int, failed: int, total: int) -> None:
        rate = (done - self.first) / max(time.monotonic() - self.started, 1e-6)
        with self.lock:
            if self.bar is not None:
                self.bar.update(self.task, completed=done, failed=failed, rate=rate)
            elif done % LINE_EVERY == 0 or done == total:
                left = (total - done) / rate if rate > 0 else 0.0
                click.echo(
                    f"{done}/{total} done, {failed} failed, {rate:.1f} users/s, {left:.0f} s left"
                )
