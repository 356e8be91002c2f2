"""GET …/photos/96x96/$value and userphoto.aspx?size=M: photosync against a bare ASGI app.

Both are served the same way (uvicorn, one worker, in its own process, on loopback, with the
options `photosync serve` uses) and loaded by the same client: a few processes, each holding one
keep-alive connection and sending a fixed number of requests (or stopping at a time bound),
over raw sockets so that the client is as cheap as it can be and the servers are what is
measured. The bare app returns the same bytes and the same headers, and answers 304 to the
same If-None-Match, but knows nothing of tokens, users or databases: it is the floor.

Target: photosync ≥ 0.5 x the bare app's requests/s, for 200 and for 304.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import print_table, verdict

TARGET = 0.5
CONNECTIONS = 4  # client processes, one keep-alive connection each
REQUESTS_PER_CONNECTION = 4_000
SECONDS = 3.0  # upper bound per measurement
ROUNDS = 2  # alternate bare / photosync; report each one's best round
KEY = "bench-signing-key-not-a-secret-0123456789abcdef"
UPN = "bench.user@example.org"
PASSWORD = "bench-password-1"
REVALIDATE = b"private, max-age=0, must-revalidate"
VALUE_PATH = f"/v1.0/users/{UPN}/photos/96x96/$value"
USERPHOTO_PATH = "/_layouts/15/userphoto.aspx"
USERPHOTO = f"{USERPHOTO_PATH}?size=M&accountname={UPN}"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


# --- the bare app (runs in its own process: `bench_http.py --serve-bare PORT FILE ETAG`) ------


def bare_app(
    answers: dict[str, tuple[bytes, bytes]],
) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """Answers each path with its (body, etag): the same bytes photosync serves there."""

    def headers(body: bytes, etag: bytes) -> tuple[list[tuple[bytes, bytes]], ...]:
        full = [
            (b"etag", etag),
            (b"cache-control", REVALIDATE),
            (b"content-type", b"image/jpeg"),
            (b"content-length", str(len(body)).encode()),
        ]
        return full, [(b"etag", etag), (b"cache-control", REVALIDATE)]

    prepared = {path: (body, etag, *headers(body, etag)) for path, (body, etag) in answers.items()}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body, etag, full, not_modified = prepared[scope["path"]]
        sent_tag = next((v for k, v in scope["headers"] if k == b"if-none-match"), None)
        if sent_tag == etag:
            await send({"type": "http.response.start", "status": 304, "headers": not_modified})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": 200, "headers": full})
        await send({"type": "http.response.body", "body": body})

    return app


def serve_bare(port: int, answers_file: str) -> None:
    import uvicorn

    answers = {
        path: (Path(body_file).read_bytes(), etag.encode())
        for path, (body_file, etag) in json.loads(Path(answers_file).read_text()).items()
    }
    answers["/healthz"] = (b"ok", b'"ok"')
    app = bare_app(answers)
    # The same options as `photosync serve` (photosync/cli.py).
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        proxy_headers=True,
        server_header=False,
    )


# --- the load ----------------------------------------------------------------------------------


def _hammer(args: tuple[int, bytes, int, float]) -> tuple[int, int, dict[int, int]]:
    """One keep-alive connection: send ``count`` requests (or stop at ``deadline``)."""
    port, request, count, deadline = args
    statuses: dict[int, int] = {}
    done = 0
    received = 0
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = b""
        while done < count and time.time() < deadline:
            sock.sendall(request)
            while b"\r\n\r\n" not in buffer:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("server closed the connection")
                buffer += chunk
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            status = int(lines[0].split()[1])
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(buffer) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("server closed the connection")
                buffer += chunk
            received += length
            buffer = buffer[length:]
            statuses[status] = statuses.get(status, 0) + 1
            done += 1
    return done, received, statuses


def measure(
    pool: Any, port: int, request: bytes, seconds: float = SECONDS, connections: int = CONNECTIONS
) -> tuple[float, dict[int, int]]:
    started = time.perf_counter()
    deadline = time.time() + seconds
    jobs = [(port, request, REQUESTS_PER_CONNECTION, deadline)] * connections
    results = pool.map(_hammer, jobs)
    elapsed = time.perf_counter() - started
    statuses: dict[int, int] = {}
    for _, _, counts in results:
        for status, n in counts.items():
            statuses[status] = statuses.get(status, 0) + n
    return sum(done for done, _, _ in results) / elapsed, statuses


# --- set-up --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def prepare(data_dir: Path) -> tuple[str, dict[str, tuple[bytes, str]]]:
    """A user with a photo (in the mailbox and in sites) in a fresh embedded data folder: a
    token, and the (bytes, etag) photosync serves at each benchmarked path."""
    from photos import photo
    from photosync.context import Context
    from photosync.services import build_services
    from photosync.settings import Settings

    ctx = Context.from_settings(Settings(data_dir=data_dir, secret_key=KEY))
    ctx.db.upgrade()
    services = build_services(ctx)
    user = services.directory.add_user(UPN, "Bench User", password=PASSWORD)
    services.mailbox.set_photo(user.id, photo("1 MP"), actor="bench")
    info, body = services.mailbox.photo_bytes(user.id, 96)
    services.sync.check_now(user.id, actor="bench")
    picture = services.sites.picture(user.id, "M")
    token = services.directory.password_token(UPN, PASSWORD)
    ctx.db.dispose()
    return token, {
        VALUE_PATH: (body, f'"{info.etag}-96"'),
        USERPHOTO_PATH: (picture.data, picture.etag),
    }


def request_bytes(port: int, path: str, token: str, if_none_match: str | None) -> bytes:
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        f"Authorization: Bearer {token}",
        "Accept: image/jpeg",
    ]
    if if_none_match:
        lines.append(f"If-None-Match: {if_none_match}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@dataclass(frozen=True)
class Case:
    """One kind of request, measured against both servers."""

    label: str
    path: str  # with its query
    if_none_match: str | None
    expected: int  # the status photosync must answer
    judged: bool = True  # against the target (False: shown for reference)


Answers = dict[str, tuple[bytes, str]]


def against_bare(
    name: str,
    prepare: Callable[[Path], tuple[str, Answers]],
    cases: Callable[[Answers], list[Case]],
    *,
    target: float,
    title: Callable[[Answers], str],
) -> int:
    """Set up a data folder (``prepare``: a token, and the bytes and ETag photosync answers at
    each path), start photosync and the bare app serving the same answers, measure each case on
    both (interleaved, best of ROUNDS), and print the ratios: the harness of every bench here
    that compares a read with the floor."""
    with tempfile.TemporaryDirectory(prefix=f"photosync-bench-{name}-") as tmp:
        data_dir = Path(tmp) / "data"
        token, answers = prepare(data_dir)
        answers_file = Path(tmp) / "answers.json"
        files = {}
        for n, (path, (body, etag)) in enumerate(answers.items()):
            (Path(tmp) / f"{n}.img").write_bytes(body)
            files[path] = (str(Path(tmp) / f"{n}.img"), etag)
        answers_file.write_text(json.dumps(files))
        env = {
            **os.environ,
            "PHOTOSYNC_DATA_DIR": str(data_dir),
            "PHOTOSYNC_SECRET_KEY": KEY,
            "PHOTOSYNC_LOG_LEVEL": "warning",
        }
        ports = {"bare": free_port(), "photosync": free_port()}
        bare = [sys.executable, __file__, "--serve-bare", str(ports["bare"]), str(answers_file)]
        servers = {
            "bare": subprocess.Popen(bare, env=env),
            "photosync": subprocess.Popen(
                [sys.executable, "-m", "photosync", "serve", "--port", str(ports["photosync"])],
                env=env,
                stdout=subprocess.DEVNULL,
            ),
        }
        try:
            for server, process in servers.items():
                wait_until_up(f"http://127.0.0.1:{ports[server]}/healthz", process)
            best = _best_rates(ports, token, cases(answers))
        finally:
            for process in servers.values():
                process.terminate()
                process.wait(timeout=10)
    if best is None:
        return 1
    rows = []
    for case in cases(answers):
        floor, ours = best[(case.label, "bare")], best[(case.label, "photosync")]
        ratio = ours / floor
        rows.append(
            [
                case.label,
                f"{floor:,.0f}/s",
                f"{ours:,.0f}/s",
                ratio,
                verdict(ratio >= target) if case.judged else "-",
            ]
        )
    print_table(
        ["request", "bare ASGI", "photosync", "ratio", f"target >= {target}"],
        rows,
        title=title(answers),
    )
    return 0


def _best_rates(
    ports: dict[str, int], token: str, cases: list[Case]
) -> dict[tuple[str, str], float] | None:
    """Each case's best requests/s on each server; None if photosync answered another status."""
    best: dict[tuple[str, str], float] = {}
    with multiprocessing.get_context("fork").Pool(CONNECTIONS) as pool:
        for case in cases:
            for port in ports.values():  # warm-up: imports, caches, connection pools
                request = request_bytes(port, case.path, token, case.if_none_match)
                measure(pool, port, request, seconds=0.5)
            for _ in range(ROUNDS):  # interleaved, so a noisy second hits both alike
                for name, port in ports.items():
                    request = request_bytes(port, case.path, token, case.if_none_match)
                    rate, statuses = measure(pool, port, request)
                    if name == "photosync" and set(statuses) != {case.expected}:
                        print(f"{name}: unexpected statuses {statuses}", file=sys.stderr)
                        return None
                    best[(case.label, name)] = max(best.get((case.label, name), 0.0), rate)
    return best


def main() -> int:
    def cases(answers: Answers) -> list[Case]:
        _, etag = answers[VALUE_PATH]
        _, picture_etag = answers[USERPHOTO_PATH]
        return [
            Case("$value 96: 200 (body)", VALUE_PATH, None, 200),
            Case("$value 96: 304", VALUE_PATH, etag, 304),
            Case("userphoto.aspx M: 200", USERPHOTO, None, 200),
            Case("userphoto.aspx M: 304", USERPHOTO, picture_etag, 304),
            # Not a target: what any FastAPI sync endpoint costs here (no token, no database).
            Case("floor: GET /healthz", "/healthz", None, 200, judged=False),
        ]

    def title(answers: Answers) -> str:
        return (
            f"GET {VALUE_PATH} ({len(answers[VALUE_PATH][0]):,}-byte JPEG) and {USERPHOTO} "
            f"({len(answers[USERPHOTO_PATH][0]):,} bytes), bearer token; uvicorn, 1 worker each, "
            f"loopback; {CONNECTIONS} keep-alive connections; best of {ROUNDS} rounds of "
            f"<= {SECONDS:g} s"
        )

    return against_bare("http", prepare, cases, target=TARGET, title=title)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve-bare":
        serve_bare(int(sys.argv[2]), sys.argv[3])
    else:
        sys.exit(main())
