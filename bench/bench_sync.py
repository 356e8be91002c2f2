"""Sync and sites speed.

(1) One sync of one user (look up versions, fetch the 648 master, make S/M/L, commit the
    library rows with their bytes, the profile and the check's record in one transaction)
    against the bare rendition step (``render_square_sizes`` on the same master bytes).
    Target: <= 1.5x.
(2) ``userphoto.aspx?size=M`` for another user (no sync) in requests/s, against the same bare
    ASGI app as bench_http (same bytes, same way of serving, same load). Target: >= 0.5x.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "src")]

from _util import interleaved_ms, verdict  # noqa: E402
from bench_http import (  # noqa: E402
    CONNECTIONS,
    ROUNDS,
    SECONDS,
    free_port,
    measure,
    request_bytes,
    wait_until_up,
)

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


def prepare_http(data_dir: Path) -> tuple[str, str, bytes, str]:
    """A viewer and a synced colleague: the viewer's token, the URL path, the M bytes, ETag."""
    from photosync.context import Context
    from photosync.imaging.testimages import photo_jpeg
    from photosync.services import build_services
    from photosync.settings import Settings

    ctx = Context.from_settings(Settings(data_dir=data_dir, secret_key=KEY))
    ctx.db.upgrade()
    services = build_services(ctx)
    services.directory.add_user("viewer@example.org", "Viewer", password=PASSWORD)
    other = services.directory.add_user("colleague@example.org", "Colleague")
    services.mailbox.set_photo(other.id, photo_jpeg(1200, 900, seed=3), actor="bench")
    services.sync.check_now(other.id, actor="bench")
    picture = services.sites.picture(other.id, "M")
    token = services.directory.password_token("viewer@example.org", PASSWORD)
    ctx.db.dispose()
    path = "/_layouts/15/userphoto.aspx?size=M&accountname=colleague%40example.org"
    return token, path, picture.data, picture.etag


def bench_userphoto(data_dir: Path, tmp: Path) -> bool:
    token, path, body, etag = prepare_http(data_dir)
    body_file = tmp / "m.jpg"
    body_file.write_bytes(body)
    env = {
        **os.environ,
        "PHOTOSYNC_DATA_DIR": str(data_dir),
        "PHOTOSYNC_SECRET_KEY": KEY,
        "PHOTOSYNC_LOG_LEVEL": "warning",
    }
    ports = {"bare": free_port(), "photosync": free_port()}
    bare_cmd = [sys.executable, str(HERE / "bench_http.py"), "--serve-bare"]
    servers = {
        "bare": subprocess.Popen([*bare_cmd, str(ports["bare"]), str(body_file), etag], env=env),
        "photosync": subprocess.Popen(
            [sys.executable, "-m", "photosync", "serve", "--port", str(ports["photosync"])],
            env=env,
            stdout=subprocess.DEVNULL,
        ),
    }
    best: dict[str, float] = {}
    try:
        for name, process in servers.items():
            wait_until_up(f"http://127.0.0.1:{ports[name]}/healthz", process)
        with multiprocessing.get_context("fork").Pool(CONNECTIONS) as pool:
            for port in ports.values():  # warm-up
                measure(pool, port, request_bytes(port, path, token, None), seconds=0.5)
            for _ in range(ROUNDS):
                for name, port in ports.items():
                    rate, statuses = measure(pool, port, request_bytes(port, path, token, None))
                    if set(statuses) != {200}:
                        print(f"{name}: unexpected statuses {statuses}", file=sys.stderr)
                        return False
                    best[name] = max(best.get(name, 0.0), rate)
    finally:
        for process in servers.values():
            process.terminate()
            process.wait(timeout=10)
    ratio = best["photosync"] / best["bare"]
    ok = ratio >= HTTP_TARGET
    print(f"(2) GET {path}  ({len(body):,}-byte JPEG, another user's M, bearer token)")
    print(
        f"    uvicorn, 1 worker each, loopback; {CONNECTIONS} keep-alive connections; "
        f"best of {ROUNDS} rounds of <= {SECONDS:g} s"
    )
    print(f"    bare ASGI {best['bare']:8,.0f}/s   photosync {best['photosync']:8,.0f}/s")
    print(f"    ratio {ratio:.2f}  target >= {HTTP_TARGET}  {verdict(ok)}")
    return ok


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="photosync-bench-sync-") as tmp:
        bench_one_sync(Path(tmp) / "sync-data", "data folder on disk")
        shm = Path("/dev/shm")
        if shm.is_dir() and os.access(shm, os.W_OK):
            # The same on tmpfs, where fsync is free: what is left is the code, not the disk.
            with tempfile.TemporaryDirectory(prefix="photosync-bench-sync-", dir=shm) as fast:
                bench_one_sync(Path(fast) / "sync-data", "data folder on tmpfs (no fsync cost)")
        bench_userphoto(Path(tmp) / "http-data", Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
