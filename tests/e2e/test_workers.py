"""``photosync serve --workers N --forwarded-allow-ips …``: several server processes on one port,
and the client address of audit records taken from X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from photosync.cli import main
from tests.conftest import (
    PASSWORD,
    TEST_KEY,
    LiveServer,
    bearer,
    eventually,
    start_server,
    stop_server,
)
from tests.mailbox.conftest import jpeg

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("workers-server")]

PROXY = "127.0.0.2"  # a loopback address of its own: the "load balancer" of this test


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("workers") / "data"
    data.mkdir()
    server = start_server(data, "--workers", "2", "--forwarded-allow-ips", PROXY)
    people = data.parent / "people.csv"
    people.write_text(
        f"upn,name,password\nann@example.org,Ann,{PASSWORD}\nben@example.org,Ben,{PASSWORD}\n"
    )
    r = server.cli("users", "import", str(people))
    assert r.returncode == 0, r.stderr
    yield server
    stop_server(server)


def _server_processes(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [
        int(child)
        for child in children
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
    ]


def _client(server: LiveServer, source: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, timeout=30, transport=httpx.HTTPTransport(local_address=source)
    )


def _token(http: httpx.Client, upn: str) -> dict[str, str]:
    r = http.post(
        "/oauth2/v2.0/token", data={"grant_type": "password", "username": upn, "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    return bearer(r.json()["access_token"])


def test_two_processes_answer_the_same_port(server: LiveServer) -> None:
    assert eventually(lambda: len(_server_processes(server.process.pid)) == 2)
    with server.http() as http:
        ann = _token(http, "ann@example.org")
        r = http.put(
            "/v1.0/me/photo/$value",
            content=jpeg(400, 400),
            headers={**ann, "Content-Type": "image/jpeg"},
        )
        assert r.status_code == 200, r.text
        # Whichever process answers (new connections spread over both), the photo is there.
        etags = set()
        for _ in range(8):
            with server.http() as fresh:
                r = fresh.get("/v1.0/me/photos/96x96/$value", headers=ann)
                assert r.status_code == 200
                etags.add(r.headers["etag"])
        assert len(etags) == 1
        # Every process counts into the serve's metrics folder; /metrics adds them up.
        r = http.get("/metrics")
    assert r.status_code == 200
    counted = sum(
        sample.value
        for family in text_string_to_metric_families(r.text)
        for sample in family.samples
        if sample.name == "photosync_http_requests_total"
        and sample.labels["route"] == "/v1.0/me/photos/{size}/$value"
        and sample.labels["status"] == "200"
    )
    assert counted >= 8


def _audited_addresses(server: LiveServer) -> dict[str, str]:
    """The client address of each user's newest photo change."""
    r = server.cli("audit", "--action", "mailbox.photo", "--json")
    assert r.returncode == 0, r.stderr
    newest: dict[str, str] = {}
    for line in r.stdout.splitlines():
        entry = json.loads(line)
        newest.setdefault(entry["user"], entry["address"])
    return newest


def test_forwarded_client_address_only_from_a_trusted_proxy(server: LiveServer) -> None:
    picture = {"Content-Type": "image/jpeg"}
    with _client(server, PROXY) as proxy:
        ann = _token(proxy, "ann@example.org")
        r = proxy.put(
            "/v1.0/me/photo/$value",
            content=jpeg(300, 300, seed=2),
            headers={**ann, **picture, "X-Forwarded-For": "203.0.113.7"},
        )
        assert r.status_code == 200, r.text

    with _client(server, "127.0.0.1") as direct:
        ben = _token(direct, "ben@example.org")
        r = direct.put(
            "/v1.0/me/photo/$value",
            content=jpeg(300, 300, seed=3),
            headers={**ben, **picture, "X-Forwarded-For": "198.51.100.9"},
        )
        assert r.status_code == 200, r.text
    addresses = _audited_addresses(server)
    assert addresses["ann@example.org"] == "203.0.113.7"
    assert addresses["ben@example.org"] == "127.0.0.1"


def test_a_proxy_that_is_not_an_address_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["--data", str(tmp_path / "data"), "serve", "--forwarded-allow-ips", "10.0.0.0/8,proxy"],
        env={"PHOTOSYNC_SECRET_KEY": TEST_KEY},
    )
    assert result.exit_code == 2
    assert "'proxy' is not an address or CIDR (e.g. 10.0.0.0/8), nor *" in result.output
    assert not (tmp_path / "data").exists()
