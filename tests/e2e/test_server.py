"""The real ``photosync serve`` process, driven over HTTP, with the CLI on the same data folder."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import httpx
import pytest

from photosync.settings import Settings
from tests.conftest import PASSWORD, LiveServer, bearer, start_server, stop_server
from tests.mailbox.conftest import jpeg, open_image

pytestmark = pytest.mark.slow


def token(http: httpx.Client, **form: str) -> str:
    r = http.post("/oauth2/v2.0/token", data=form)
    assert r.status_code == 200, r.text
    access: str = r.json()["access_token"]
    return access


def _status_within(
    http: httpx.Client, path: str, headers: dict[str, str], wanted: int, seconds: float = 5.0
) -> int:
    """GET ``path`` until it answers ``wanted`` or ``seconds`` pass; the last status."""
    deadline = time.monotonic() + seconds
    while True:
        status = http.get(path, headers=headers).status_code
        if status == wanted or time.monotonic() > deadline:
            return status
        time.sleep(0.1)


def test_graph_photo_round_trip_over_http(live_server: LiveServer) -> None:
    r = live_server.cli(
        "users",
        "add",
        "alice@example.org",
        "--name",
        "Alice",
        "--password-stdin",
        input=PASSWORD + "\n",
    )
    assert r.returncode == 0, r.stderr
    r = live_server.cli("apps", "add", "hr-sync", "--role", "ProfilePhoto.Read.All")
    assert r.returncode == 0, r.stderr
    client_id = re.search(r"^client_id: (\S+)$", r.stdout, re.M)
    secret = re.search(r"^client_secret: (\S+)$", r.stdout, re.M)
    assert client_id and secret

    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        alice = bearer(
            token(http, grant_type="password", username="alice@example.org", password=PASSWORD)
        )
        app = bearer(
            token(
                http,
                grant_type="client_credentials",
                client_id=client_id.group(1),
                client_secret=secret.group(1),
            )
        )

        r = http.get("/v1.0/me/photo", headers=alice)
        assert r.status_code == 404 and r.json()["error"]["code"] == "ImageNotFound"

        r = http.put(
            "/v1.0/me/photo/$value",
            content=jpeg(800, 700),
            headers={**alice, "Content-Type": "image/jpeg"},
        )
        assert r.status_code == 200, r.text

        meta = http.get("/v1.0/users/alice@example.org/photo", headers=app).json()
        assert meta["id"] == "648x648" and meta["@odata.mediaContentType"] == "image/jpeg"
        assert meta["@odata.context"].startswith(f"{live_server.url}/v1.0/$metadata#users('")

        r = http.get("/v1.0/users/alice@example.org/photos/96x96/$value", headers=app)
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        assert open_image(r.content).size == (96, 96)
        etag = r.headers["etag"]
        assert meta["@odata.mediaEtag"].strip('"') in etag

        r = http.get(
            "/v1.0/users/alice@example.org/photos/96x96/$value",
            headers={**app, "If-None-Match": etag},
        )
        assert r.status_code == 304 and r.content == b""

        # The app may read but not write.
        r = http.delete("/v1.0/users/alice@example.org/photo/$value", headers=app)
        assert r.status_code == 403

        assert http.delete("/v1.0/me/photo/$value", headers=alice).status_code == 200
        r = http.get("/v1.0/me/photos/96x96/$value", headers=alice)
        assert r.status_code == 404 and r.json()["error"]["code"] == "ImageNotFound"

        r = http.get("/v1.0/users/nobody@example.org/photo", headers=app)
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "Request_ResourceNotFound"
        assert http.get("/v1.0/me/photo").status_code == 401


def test_cli_and_server_share_the_data_folder(live_server: LiveServer, tmp_path: Path) -> None:
    live_server.cli(
        "users",
        "add",
        "bob@example.org",
        "--name",
        "Bob",
        "--password-stdin",
        input=PASSWORD + "\n",
    )
    picture = tmp_path / "bob.jpg"
    picture.write_bytes(jpeg(500, 500, seed=3))

    r = live_server.cli("photo", "set", "bob@example.org", str(picture))
    assert r.returncode == 0, r.stderr
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        bob = bearer(
            token(http, grant_type="password", username="bob@example.org", password=PASSWORD)
        )
        # Set by the CLI, served by the server: 500 px offers everything up to 432.
        assert http.get("/v1.0/me/photo", headers=bob).json()["id"] == "432x432"

        r = http.put(
            "/v1.0/me/photo/$value",
            content=jpeg(700, 700, seed=4),
            headers={**bob, "Content-Type": "application/octet-stream"},
        )
        assert r.status_code == 200
        out = tmp_path / "bob-648.jpg"
        r = live_server.cli("photo", "get", "bob@example.org", "--size", "648", "-o", str(out))
        assert r.returncode == 0, r.stderr
        assert open_image(out.read_bytes()).size == (648, 648)
        served = http.get("/v1.0/me/photo/$value", headers=bob).content
        assert served == out.read_bytes()

        r = live_server.cli("photo", "rm", "bob@example.org")
        assert r.returncode == 0, r.stderr
        # The server read this photo just before and may answer from memory: a change made by
        # another process (here the CLI) is served within FRESHNESS_SECONDS (docs/operations.md).
        assert _status_within(http, "/v1.0/me/photo/$value", bob, 404) == 404
        r = live_server.cli("photo", "rm", "bob@example.org")
        assert r.returncode == 1 and r.stderr.strip() == "Error: bob@example.org has no photo"


def test_an_idle_keep_alive_connection_outlives_the_clients_own_expiry(tmp_path: Path) -> None:
    # A server that closes an idle connection no later than the client stops reusing it races
    # the client's next request on it (bench_load saw a RemoteProtocolError): so the default
    # outlasts httpx's own expiry, and serve applies the setting (here 1 s, to see it close).
    assert Settings(data_dir=tmp_path).keep_alive_seconds > httpx.Limits().keepalive_expiry
    data = tmp_path / "data"
    data.mkdir()
    server = start_server(data, env_extra={"PHOTOSYNC_KEEP_ALIVE_SECONDS": "1"})
    try:
        port = int(server.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
            answer = b""
            while b"\r\n\r\n" not in answer:
                answer += sock.recv(4096)
            assert answer.startswith(b"HTTP/1.1 200"), answer
            # Then the server closes it (recv gives b""). uvicorn's own default would close it
            # after 5 s, ours after 75: waiting 4 s for the close tells 1 s from either.
            sock.settimeout(4)
            while chunk := sock.recv(4096):
                answer += chunk
    finally:
        stop_server(server)
