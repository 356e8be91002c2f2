"""What hostile input costs a real ``photosync serve``: the corpus uploaded over HTTP keeps the
server's memory within 100 MB of its baseline, and a 300 MB body (to a route that takes 64 KB,
or as a multipart photo upload, with or without Content-Length) is refused after at most its
route's limit, costing neither memory nor disk.

Memory is the process's peak resident set (VmHWM), read from /proc after each step; disk is
every temporary file the server holds open (spooled uploads are unlinked files, visible only
through /proc/PID/fd), sampled while the body streams in.
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from photosync.context import Context
from photosync.directory.auth import SESSION_COOKIE, sign_session_id
from photosync.directory.tokens import DELEGATED_SCOPES
from photosync.imaging.testimages import photo_jpeg
from photosync.services import build_services
from photosync.settings import Settings
from photosync.web import MAX_HEADER_BYTES, UPLOAD_MARGIN
from tests.conftest import TEST_KEY, LiveServer, bearer, start_server, stop_server
from tests.hostile.conftest import GRAPH_CORPUS

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("hostile-server")]

MB = 1024 * 1024
HUGE = 300 * MB
UPLOAD_LIMIT = 4 * MB + UPLOAD_MARGIN  # the portal form's: the photo's limit and a margin


@dataclass
class Served:
    server: LiveServer
    auth: dict[str, str]
    cookie: str
    csrf: str
    tmp: Path

    def status(self, field: str) -> int:
        """A /proc/PID/status size of the server process, in bytes."""
        for line in Path(f"/proc/{self.server.process.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
        raise AssertionError(field)

    def temp_bytes(self) -> int:
        """Bytes in the temporary files the server holds open (deleted or not)."""
        total = 0
        fds = Path(f"/proc/{self.server.process.pid}/fd")
        for fd in fds.iterdir():
            try:
                if os.readlink(fd).startswith(str(self.tmp)):
                    total += os.stat(fd).st_size
            except OSError:
                continue  # closed meanwhile
        return total


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("hostile-server")
    data, tmp = folder / "data", folder / "tmp"
    tmp.mkdir()
    ctx = Context.from_settings(Settings(data_dir=data, secret_key=TEST_KEY))
    ctx.db.upgrade()
    services = build_services(ctx)
    alice = services.directory.add_user("alice@example.org", "Alice")
    session = services.directory.start_session(alice.id, "token").id
    token = services.directory.tokens.issue_user_token(
        alice.id, alice.upn, session, DELEGATED_SCOPES, ctx.clock()
    )
    portal = services.directory.start_session(alice.id, "portal")
    cookie = sign_session_id(ctx.settings.signing_key, portal.id)
    ctx.db.dispose()
    # Its own TMPDIR: the spooled uploads (Python's tempfile) are the server's files there.
    server = start_server(data, env_extra={"TMPDIR": str(tmp)})
    try:
        yield Served(server, bearer(token), cookie, portal.csrf_token, tmp)
    finally:
        stop_server(server)


def test_the_corpus_over_http_keeps_memory_flat(served: Served) -> None:
    with served.server.http() as client:  # 30 s a request, generous
        put = "/v1.0/me/photo/$value"
        headers = {**served.auth, "Content-Type": "application/octet-stream"}
        # Warm: one upload of each way's code paths, then the baseline.
        for _ in range(3):
            assert client.put(put, content=photo_jpeg(800, 600), headers=headers).status_code == 200
        baseline = served.status("VmRSS")
        times: dict[str, float] = {}
        for item in GRAPH_CORPUS:
            started = time.perf_counter()
            r = client.put(put, content=item.data, headers=headers)
            times[item.name] = time.perf_counter() - started
            assert r.status_code < 500, (item.name, r.text)
        peak = served.status("VmHWM")
    slowest = sorted(times.items(), key=lambda pair: -pair[1])[:5]
    print(  # the figures, for the reader of the test log (no wall-clock assertion)
        f"\nserver memory: baseline {baseline / MB:.0f} MB, peak {peak / MB:.0f} MB;"
        f" {len(times)} uploads, slowest: "
        + ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in slowest)
    )
    assert peak - baseline < 100 * MB


def raw_request(
    served: Served, head: str, body: Iterator[bytes], served_during: list[int] | None = None
) -> tuple[int, int]:
    """Send ``head`` and then ``body`` on one socket until the server answers; (status, bytes
    of body sent before it did). A raw socket: httpx would stop at the broken pipe the server's
    early answer causes and never show the status."""
    url = urlsplit(served.server.url)
    sent = 0
    with socket.create_connection((url.hostname or "127.0.0.1", url.port or 80)) as sock:
        sock.sendall(head.encode("latin-1"))
        answer = b""
        for chunk in body:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
            if served_during is not None and sent % (16 * MB) < len(chunk):
                served_during.append(served.temp_bytes())
        sock.settimeout(30)
        try:
            while b"\r\n" not in answer:
                more = sock.recv(65536)
                if not more:
                    break
                answer += more
        except ConnectionResetError:
            pass
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split()[1]), sent


def zeros(total: int, chunked: bool, piece: int = MB) -> Iterator[bytes]:
    for _ in range(total // piece):
        data = b"a" * piece
        yield f"{piece:x}\r\n".encode() + data + b"\r\n" if chunked else data
    if chunked:
        yield b"0\r\n\r\n"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("path", ["/oauth2/v2.0/token", "/signin", "/v1.0/me/photo"])
def test_300_mb_to_a_route_that_takes_64_kb(served: Served, path: str, chunked: bool) -> None:
    before = served.status("VmHWM")
    length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {HUGE}"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: test\r\n{length}\r\n"
        f"Authorization: {served.auth['Authorization']}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n\r\n"
    )
    status, sent = raw_request(served, head, zeros(HUGE, chunked))
    assert status in (413, 405), status  # 405: a route that takes no POST refuses as well
    assert sent < HUGE  # answered before the client was done
    assert served.status("VmHWM") - before < 20 * MB
    print(f"\n{path} ({'chunked' if chunked else 'length'}): {status} after {sent / MB:.0f} MB")


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_300_mb_multipart_upload(served: Served, chunked: bool) -> None:
    before = served.status("VmHWM")
    boundary = "hostileboundary"
    preamble = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
        f"{served.csrf}\r\n--{boundary}\r\n"
        'Content-Disposition: form-data; name="photo"; filename="me.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {HUGE}"
    head = (
        f"POST /photo/preview HTTP/1.1\r\nHost: test\r\n{length}\r\n"
        f"Cookie: {SESSION_COOKIE}={served.cookie}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n"
    )

    def body() -> Iterator[bytes]:
        first = preamble + b"\xff\xd8\xff"
        yield f"{len(first):x}\r\n".encode() + first + b"\r\n" if chunked else first
        yield from zeros(HUGE, chunked)

    spooled: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            spooled.append(served.temp_bytes())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        status, sent = raw_request(served, head, body(), spooled)
    finally:
        stop.set()
        sampler.join()
    assert status == 413
    assert sent < HUGE
    assert max(spooled) <= UPLOAD_LIMIT, max(spooled)
    assert served.status("VmHWM") - before < 40 * MB
    print(
        f"\nmultipart ({'chunked' if chunked else 'length'}): 413 after {sent / MB:.0f} MB,"
        f" at most {max(spooled) / MB:.1f} MB spooled"
    )


def test_an_endless_request_head_is_refused_before_the_app(served: Served) -> None:
    """Header lines that never end: h11 refuses once more than MAX_HEADER_BYTES of an
    unfinished head is buffered (a head that arrives whole in one read is parsed, then freed)."""
    before = served.status("VmHWM")
    url = urlsplit(served.server.url)
    answer = b""
    with socket.create_connection((url.hostname or "127.0.0.1", url.port or 80)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n")
        try:
            for n in range(10 * MAX_HEADER_BYTES // 1024):
                sock.sendall(b"X-Big-%d: " % n + b"a" * 1000 + b"\r\n")
                time.sleep(0.001)
        except (BrokenPipeError, ConnectionResetError):
            pass
        sock.settimeout(30)
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    assert answer.startswith((b"HTTP/1.1 400", b"HTTP/1.1 431")), answer[:200]
    assert served.status("VmHWM") - before < 10 * MB
