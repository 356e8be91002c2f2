"""Load: 50 signed-in clients doing the seed's scenario while 5% of them upload, against one real
``photosync serve`` on loopback (embedded SQLite and blob folder).

Each client, in a loop: signs in through the portal's form (a new session, so a password hash
and one check of its own Large picture), opens the OneDrive tile and its own Large picture,
fetches ten colleagues' M pictures, then revalidates them with If-None-Match (304). One client
in twenty instead gets a new token from the token endpoint (password grant), uploads a new photo
through Graph and asks for its own Large picture (the check that syncs it). Every client starts
at a random moment of its first iteration, so that the sign-ins do not all arrive at once.

Reported: requests/s, p50 and p99 of all requests, p99 of the photo GETs alone (what sign-ins
must not starve), p50/p99 of sign-ins and token requests, the error count (must be 0), and the
server's memory (RSS) at the start and the end.

    python bench/run.py load                 # 20 s
    python bench/bench_load.py --seconds 60  # the issue's full minute

Not part of `make test`: figures are for a report, and the machine's noise moves them.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
from _util import print_table, verdict
from photosync.context import Context
from photosync.imaging.testimages import photo_jpeg
from photosync.services import build_services
from photosync.settings import Settings

CLIENTS = 50
UPLOADERS = max(1, round(CLIENTS * 0.05))  # 5%
COLLEAGUES = 10
DEFAULT_SECONDS = 20.0
KEY = "bench-signing-key-not-a-secret-0123456789abcdef"
PASSWORD = "bench-password-1"
USERPHOTO = "/_layouts/15/userphoto.aspx"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PHOTO_KINDS = ("own Large", "colleague M", "colleague M 304")


def upn(n: int) -> str:
    return f"person{n:03d}@example.org"


def prepare(data: Path) -> None:
    """The people, each with a mailbox photo already copied to sites (colleagues show)."""
    ctx = Context.from_settings(Settings(data_dir=data, secret_key=KEY))
    ctx.db.upgrade()
    services = build_services(ctx)
    for n in range(CLIENTS):
        user = services.directory.add_user(upn(n), f"Person {n}", password=PASSWORD)
        services.mailbox.store_photo(user, photo_jpeg(480, 480, seed=n), actor="bench")
        services.sync.check_now(user.id, actor="bench")
    ctx.db.dispose()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Recorder:
    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: list[str] = []
        self.deferred: dict[str, int] = defaultdict(int)
        # Shed (429/503 + Retry-After) as the run ended: the client would have asked again.
        self.cut_off: dict[str, int] = defaultdict(int)
        self.stopping = False

    async def call(
        self,
        kind: str,
        http: httpx.AsyncClient,
        method: str,
        url: str,
        *expected: int,
        **kw: object,
    ) -> httpx.Response | None:
        started = time.perf_counter()
        while True:
            try:
                r = await http.request(method, url, **kw)  # type: ignore[arg-type]
            except httpx.HTTPError as exc:
                self.errors.append(f"{kind}: {type(exc).__name__}")
                return None
            # The server sheds password hashing it cannot start soon (429/503 + Retry-After):
            # a well-behaved client waits and asks again, as Microsoft's clients do. The wait
            # counts in the request's latency; how often it happened is reported.
            retry_after = r.headers.get("retry-after", "")
            if r.status_code in (429, 503) and retry_after.isdigit():
                if self.stopping:  # the run is over: not a failure, a retry it will not make
                    self.cut_off[kind] += 1
                    return None
                self.deferred[kind] += 1
                await asyncio.sleep(int(retry_after))
                continue
            break
        self.latencies[kind].append(time.perf_counter() - started)
        if r.status_code not in expected:
            self.errors.append(f"{kind}: {r.status_code}")
            return None
        return r


async def viewer(base: str, n: int, rec: Recorder, rng: random.Random) -> None:
    me = upn(n)
    colleagues = [upn(c) for c in rng.sample([c for c in range(CLIENTS) if c != n], COLLEAGUES)]
    await asyncio.sleep(rng.uniform(0, 5))
    while not rec.stopping:
        async with httpx.AsyncClient(base_url=base, timeout=120) as http:
            page = await rec.call("sign-in page", http, "GET", "/signin", 200)
            if page is None:
                continue
            token = CSRF.search(page.text)
            form = {"username": me, "password": PASSWORD, "csrf_token": token[1] if token else ""}
            if await rec.call("sign-in", http, "POST", "/signin", 303, data=form) is None:
                continue
            await rec.call("tile", http, "GET", "/onedrive", 200)
            await rec.call(
                "own Large", http, "GET", USERPHOTO, 200, params={"size": "L", "accountname": me}
            )
            etags: dict[str, str] = {}
            for who in colleagues:
                params = {"size": "M", "accountname": who}
                r = await rec.call("colleague M", http, "GET", USERPHOTO, 200, params=params)
                if r is not None and "etag" in r.headers:
                    etags[who] = r.headers["etag"]
            for who, etag in etags.items():
                params = {"size": "M", "accountname": who}
                headers = {"If-None-Match": etag}
                # 200: the colleague uploaded a new photo meanwhile (an uploader's ETag moves).
                await rec.call(
                    "colleague M 304",
                    http,
                    "GET",
                    USERPHOTO,
                    304,
                    200,
                    params=params,
                    headers=headers,
                )


async def uploader(base: str, n: int, rec: Recorder, rng: random.Random) -> None:
    me = upn(n)
    bodies = [photo_jpeg(600, 600, seed=1000 + n * 10 + i) for i in range(4)]
    await asyncio.sleep(rng.uniform(0, 5))
    while not rec.stopping:
        async with httpx.AsyncClient(base_url=base, timeout=120) as http:
            form = {"grant_type": "password", "username": me, "password": PASSWORD}
            r = await rec.call("token", http, "POST", "/oauth2/v2.0/token", 200, data=form)
            if r is None:
                continue
            auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
            await rec.call(
                "upload",
                http,
                "PUT",
                "/v1.0/me/photo/$value",
                200,
                content=rng.choice(bodies),
                headers={**auth, "Content-Type": "image/jpeg"},
            )
            await rec.call(
                "own Large",
                http,
                "GET",
                USERPHOTO,
                200,
                params={"size": "L", "accountname": me},
                headers=auth,
            )


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def load(base: str, seconds: float) -> Recorder:
    rec = Recorder()
    rng = random.Random(12)
    tasks = [
        asyncio.create_task(
            uploader(base, n, rec, rng) if n < UPLOADERS else viewer(base, n, rec, rng)
        )
        for n in range(CLIENTS)
    ]
    await asyncio.sleep(seconds)
    rec.stopping = True
    await asyncio.gather(*tasks)
    return rec


def main() -> int:
    args = sys.argv[1:]
    seconds = float(args[args.index("--seconds") + 1]) if "--seconds" in args else DEFAULT_SECONDS
    with tempfile.TemporaryDirectory(prefix="photosync-load-") as folder:
        data = Path(folder) / "data"
        prepare(data)
        port = free_port()
        env = {
            **os.environ,
            "PHOTOSYNC_DATA_DIR": str(data),
            "PHOTOSYNC_SECRET_KEY": KEY,
            "PHOTOSYNC_LOG_LEVEL": "warning",
            # The uploaders are scripts uploading in a loop, which the per-person upload rate
            # exists to stop; this bench measures serving, so the limit is off.
            "PHOTOSYNC_UPLOAD_RATE_LIMIT": "off",
            "PYTHONPATH": str(Path(__file__).resolve().parent.parent / "src"),
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "photosync", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the server did not start")
                time.sleep(0.2)
            memory_start = rss_mb(server.pid)
            started = time.perf_counter()
            rec = asyncio.run(load(base, seconds))
            elapsed = time.perf_counter() - started
            memory_end = rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
    report(rec, elapsed, memory_start, memory_end)
    return 0


def report(rec: Recorder, elapsed: float, memory_start: float, memory_end: float) -> None:
    everything = [v for values in rec.latencies.values() for v in values]
    photos = [v for kind in PHOTO_KINDS for v in rec.latencies[kind]]
    rows = [
        [kind, len(values), len(values) / elapsed, quantile(values, 0.5), quantile(values, 0.99)]
        for kind, values in sorted(rec.latencies.items())
    ]
    rows.append(["photo GETs", len(photos), len(photos) / elapsed, *_q(photos)])
    rows.append(["all", len(everything), len(everything) / elapsed, *_q(everything)])
    print_table(
        ["requests", "count", "per s", "p50 ms", "p99 ms"],
        rows,
        title=(
            f"{CLIENTS} clients ({UPLOADERS} uploading) for {elapsed:.0f} s against one "
            f"`photosync serve` on {os.cpu_count()} cores (the clients share them)"
        ),
    )
    print(f"\nerrors: {len(rec.errors)} {verdict(not rec.errors)}")
    for kind, count in sorted(rec.deferred.items()):
        print(f"  {kind}: {count} answers of 429/503 + Retry-After, waited and retried")
    for kind, count in sorted(rec.cut_off.items()):
        print(f"  {kind}: {count} answers of 429/503 + Retry-After as the run ended (not retried)")
    for error, count in sorted({e: rec.errors.count(e) for e in rec.errors}.items()):
        print(f"  {count} x {error}")
    grew = memory_end - memory_start
    print(
        f"server memory (RSS): {memory_start:.0f} MB at the start, {memory_end:.0f} MB at the "
        f"end ({grew:+.0f} MB)"
    )
    if rec.latencies["sign-in"]:
        print(f"sign-ins: median {statistics.median(rec.latencies['sign-in']) * 1000:.0f} ms")


def _q(values: list[float]) -> list[float]:
    return [quantile(values, 0.5), quantile(values, 0.99)]


if __name__ == "__main__":
    sys.exit(main())
