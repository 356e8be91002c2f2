"""Small helpers every benchmark here shares: timing, verdicts, tables, peak memory.

Benchmarks report; they never fail the build. On a shared, noisy machine compare ratios of
things measured in the same run (interleaved, so a noisy second hits all of them alike), not
absolute times.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

__all__ = [
    "interleaved_ms",
    "median_ms",
    "own_peak_rss_mb",
    "peak_rss_mb",
    "print_table",
    "verdict",
]

REPO = Path(__file__).resolve().parent.parent


def median_ms(fn: Callable[[], object], repeat: int = 9, warmup: int = 1) -> float:
    """Median wall time of `fn` in milliseconds, after `warmup` untimed calls."""
    return interleaved_ms({"fn": fn}, repeat, warmup)["fn"]


def interleaved_ms(
    fns: Mapping[str, Callable[[], object]],
    repeat: int = 9,
    warmup: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Median time (ms) of each function, timed round-robin so noise spreads evenly.

    `clock` is wall time by default; time.process_time gives CPU time of all threads.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            started = clock()
            fn()
            times[name].append(clock() - started)
    return {name: statistics.median(values) * 1000 for name, values in times.items()}


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def print_table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], title: str | None = None
) -> None:
    """A plain-text table: numbers right-aligned, floats with sensible precision."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.2f}"
        return str(value)

    body = [[cell(value) for value in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(headers)]
    if title:
        print(f"\n{title}")
    print(
        "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w)
            for i, (h, w) in enumerate(zip(headers, widths, strict=True))
        )
    )
    print("  ".join("-" * w for w in widths))
    for row in body:
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )


def peak_rss_mb(setup: str, run: str, timeout: float = 120) -> float:
    """How far `run` raises peak RSS above the peak after `setup`, in a fresh interpreter (MB).

    ru_maxrss is a high-water mark, so everything `setup` did (imports, reading input) is the
    baseline and only what `run` needed beyond it is counted.
    """
    script = "\n".join(
        [
            "import resource, sys",
            f"sys.path[:0] = [{str(REPO / 'src')!r}, {str(REPO / 'bench')!r}]",
            setup,
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss",
            run,
            "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss",
            "print(before, after)",
        ]
    )
    # Linux carries a process's peak RSS across fork+exec (signal->maxrss), so a child of this
    # (big, image-generating) process would start with our peak as its own. A small launcher
    # in between gives the measuring process a fresh, small high-water mark.
    launcher = (
        "import subprocess, sys\n"
        "r = subprocess.run([sys.executable, '-c', sys.argv[1]], capture_output=True, text=True)\n"
        "sys.stdout.write(r.stdout); sys.stderr.write(r.stderr); sys.exit(r.returncode)"
    )
    result = subprocess.run(
        [sys.executable, "-c", launcher, script],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    before, after = (int(v) for v in result.stdout.split()[-2:])
    # Linux reports kilobytes, macOS bytes.
    unit = 1 if sys.platform == "darwin" else 1024
    return (after - before) * unit / (1024 * 1024)


def own_peak_rss_mb() -> float:
    """This process's peak RSS so far, in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
