"""Sync and sites speed.

(1) One sync of one user (look up versions, fetch the 648 master, make S/M/L, commit the
    library rows with their bytes, the profile and the check's record in one transaction)
    against the bare rendition step (``render_square_sizes`` on the same master bytes).
    Target: <= 1.5x.
(``userphoto.aspx?size=M`` against a bare ASGI app is measured by bench_http.)
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "src")]

from _util import interleaved_ms, verdict  # noqa: E402

SYNC_TARGET = 1.5
HTTP_TARGET = 0.5
USERS = 31
PHASE_USERS = 9
T = TypeVar("T")
KEY = "bench-signing-key-not-a-secret-0123456789abcdef"
PASSWORD = "bench-password-1"


def bench_one_sync(data_dir: Path, where: str) -> bool:
    from photosync import imaging
    from photosync.context import Context
    from photosync.imaging.testimages import photo_jpeg
    from photosync.services import build_services
    from photosync.settings import Settings

    ctx = Context.from_settings(Settings(data_dir=data_dir, secret_key=KEY))
    ctx.db.upgrade()
    services = build_services(ctx)
    users = []
    for i in range(USERS + 1 + PHASE_USERS):
        user = services.directory.add_user(f"sync{i}@example.org", f"Sync {i}")
        services.mailbox.set_photo(user.id, photo_jpeg(1200, 900, seed=i), actor="bench")
        users.append(user)
    sizes = tuple(services.sites.thumbnail_sizes().values())
    masters = {u.id: services.mailbox.photo_bytes(u.id)[1] for u in users}
    pending = iter(users[: USERS + 1])
    render_queue = iter(users[: USERS + 1])

    def one_sync() -> None:
        # Every call syncs a user never synced before: a real pull, not "unchanged".
        outcome = services.sync.check_now(next(pending).id, actor="bench")
        assert outcome.result == "updated", outcome

    def bare_render() -> None:
        imaging.render_square_sizes(masters[next(render_queue).id], sizes)

    times = interleaved_ms({"sync": one_sync, "render": bare_render}, repeat=USERS, warmup=1)
    phases = breakdown(services, users[-PHASE_USERS:])
    ctx.db.dispose()
    ratio = times["sync"] / times["render"]
    ok = ratio <= SYNC_TARGET
    print(f"(1) one sync of one user, 648 master -> S/M/L {sizes}, median of {USERS}; {where}")
    print(f"    bare render_square_sizes  {times['render']:7.2f} ms")
    print(f"    whole sync (check_now)    {times['sync']:7.2f} ms")
    print(f"    ratio {ratio:.2f}  target <= {SYNC_TARGET}  {verdict(ok)}")
    print(
        "    where a sync's time goes (median ms): "
        + ", ".join(f"{name} {ms:.2f}" for name, ms in phases.items())
    )
    return ok


def breakdown(services: Any, users: list[Any]) -> dict[str, float]:
    """The engine's steps one by one, on users not synced yet (a profile, not a benchmark)."""
    from photosync.sync.interfaces import Change, CheckOutcome

    engine, clock = services.sync.engine, services.ctx.clock
    times: dict[str, list[float]] = {}

    def timed(name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        started = time.perf_counter()
        result = fn(*args, **kwargs)
        times.setdefault(name, []).append((time.perf_counter() - started) * 1000)
        return result

    for user in users:
        info = timed("user lookup", services.directory.get_user, user.id)
        timed("target state", engine.target.state, info)
        version = timed("source version", engine.source.current, info)
        photo = timed("fetch master", engine.source.fetch, info, version)
        files = timed("render", engine.thumbnails, photo.data)
        outcome = CheckOutcome(user.id, "admin", "bench", None, clock(), 0, "updated", None, None)
        # As the engine does it: the target shows the picture and records the check in one
        # transaction.
        timed(
            "show (rows with bytes + record of the check)",
            engine.target.show,
            info,
            files,
            source_etag=photo.etag,
            change=Change("bench", ""),
            check=outcome,
        )
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="photosync-bench-sync-") as tmp:
        bench_one_sync(Path(tmp) / "sync-data", "data folder on disk")
        shm = Path("/dev/shm")
        if shm.is_dir() and os.access(shm, os.W_OK):
            # The same on tmpfs, where fsync is free: what is left is the code, not the disk.
            with tempfile.TemporaryDirectory(prefix="photosync-bench-sync-", dir=shm) as fast:
                bench_one_sync(Path(fast) / "sync-data", "data folder on tmpfs (no fsync cost)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
