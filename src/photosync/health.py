"""Readiness: can this process serve now? The database, the blob store and the broker answer.

Each probe runs in a thread of its own and all of them together get ``TIMEOUT`` seconds, so a
load balancer asking ``GET /readyz`` has its answer in about that time however a dependency
fails (refused at once, or a host that never answers); a probe still running then counts as
failing ("no answer within …").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

TIMEOUT = 2.0
OK = "ok"

Probe = Callable[[], str | None]


@dataclass(frozen=True)
class Readiness:
    """Each dependency's answer: ``"ok"`` (or a note such as "not used"), or why it failed."""

    checks: dict[str, str]
    failing: list[str]

    @property
    def ready(self) -> bool:
        return not self.failing

    def as_json(self) -> dict[str, object]:
        if self.ready:
            return {"status": "ready", "checks": self.checks}
        return {"status": "not ready", "failing": self.failing, "checks": self.checks}


def readiness(probes: Mapping[str, Probe], timeout: float = TIMEOUT) -> Readiness:
    """Run every probe at once; a probe passes by returning (None for "ok", or a note)."""
    pool = ThreadPoolExecutor(max_workers=len(probes), thread_name_prefix="photosync-ready")
    try:
        futures = {name: pool.submit(probe) for name, probe in probes.items()}
        wait(futures.values(), timeout=timeout)
    finally:
        pool.shutdown(wait=False)  # a probe still hanging ends on its own library's timeout
    checks: dict[str, str] = {}
    failing: list[str] = []
    for name, future in futures.items():
        if not future.done():
            checks[name] = f"no answer within {timeout:g} s"
        elif (error := future.exception()) is not None:
            checks[name] = _reason(error)
        else:
            checks[name] = future.result() or OK
            continue
        failing.append(name)
    return Readiness(checks, failing)


def _reason(error: BaseException) -> str:
    """One line saying what failed, short enough for a JSON body and a log."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 200 else f"{text[:200]}…"
