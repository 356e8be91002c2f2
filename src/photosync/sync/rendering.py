"""A bulk run's rendering processes: the CPU work of its checks, beside the process that reads
and writes.

Rendering is most of a check's CPU, and in threads it would share Python's GIL with the checks'
other work. The processes are spawned (no fork of a threaded process) and import only
``photosync.imaging`` and this module, not the service stack. Each renders single-threaded:
the processes already keep every core busy, so the helper thread an upload's rendition uses
would only add its own cost. A batch's masters are split across the processes in as many
pieces as there are processes, one round trip each.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import signal
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from photosync import imaging

Job = tuple[bytes, tuple[int, ...]]


class Renderers:
    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._pool = ProcessPoolExecutor(
            processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_die_with_parent,
        )

    def render(self, jobs: Sequence[Job]) -> list[dict[int, bytes] | Exception]:
        """The engine's ``Render``, in the processes: each job's JPEGs, or its error."""
        per = -(-len(jobs) // self.processes) or 1
        pieces = [
            self._pool.submit(render_each, jobs[start : start + per], threads=False)
            for start in range(0, len(jobs), per)
        ]
        return [result for piece in pieces for result in piece.result()]

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)


def render_each(
    jobs: Sequence[Job], *, threads: bool | None = None
) -> list[dict[int, bytes] | Exception]:
    """Each master's sizes, or the error it raised: the engine's ``Render`` in this thread,
    and each rendering process's work (``threads=False``).

    ``threads`` (by default: for a lone master only): luma and chroma on two threads. One
    user's check waits for its render, so two threads halve that wait; a batch is throughput
    work whose callers (worker processes, a bulk run's threads) already keep the cores busy,
    where the second thread would only add its own cost.
    """
    both = len(jobs) == 1 if threads is None else threads
    rendered: list[dict[int, bytes] | Exception] = []
    for master, sizes in jobs:
        try:
            rendered.append(imaging.render_square_sizes(master, sizes, threads=both))
        except Exception as exc:  # this user's check fails; the others go on
            rendered.append(exc)
    return rendered


def _die_with_parent() -> None:
    """A rendering process dies with the command that started it (Linux's parent-death
    signal): a run killed with kill -9 leaves no orphan behind."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
