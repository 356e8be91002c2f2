"""``photosync serve --certfile/--keyfile``: the real server over HTTPS, trusted through a
throw-away CA (the ``test_ca`` fixture), with Secure cookies and Strict-Transport-Security."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from photosync.cli import main
from tests.conftest import TEST_KEY, LiveServer, LocalCA, start_server, stop_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def https_server(
    tmp_path_factory: pytest.TempPathFactory, test_ca: LocalCA
) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("https") / "data"
    data.mkdir()
    server = start_server(data, tls=test_ca)
    yield server
    stop_server(server)


def test_https_answers_with_secure_cookies_and_hsts(https_server: LiveServer) -> None:
    assert https_server.url.startswith("https://")
    with https_server.http() as http:
        r = http.get("/signin")
    assert r.status_code == 200
    assert r.headers["strict-transport-security"] == "max-age=31536000"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "; secure" in cookie
    # Graph answers (a sub-application of its own) carry the header too.
    with https_server.http() as http:
        r = http.get("/v1.0/me/photo/$value")
    assert r.status_code == 401
    assert r.headers["strict-transport-security"] == "max-age=31536000"


def test_a_client_that_does_not_trust_the_ca_is_refused(https_server: LiveServer) -> None:
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{https_server.url}/healthz", verify=ssl.create_default_context())


def test_plain_http_has_no_hsts_and_no_secure_cookie(live_server: LiveServer) -> None:
    with live_server.http() as http:
        r = http.get("/signin")
    assert r.status_code == 200
    assert "strict-transport-security" not in r.headers
    assert "; secure" not in r.headers["set-cookie"].lower()


def test_certfile_without_keyfile_is_refused(tmp_path: Path, test_ca: LocalCA) -> None:
    result = CliRunner().invoke(
        main,
        ["--data", str(tmp_path / "data"), "serve", "--certfile", str(test_ca.certfile)],
        env={"PHOTOSYNC_SECRET_KEY": TEST_KEY},
    )
    assert result.exit_code == 2
    assert "--certfile and --keyfile go together" in result.output
    assert not (tmp_path / "data").exists()
