"""A real ``photosync serve`` seen by an operator: JSON log lines, request ids that tie a log
line to its answer, its Graph error body and its audit row, and /metrics for Prometheus."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import (
    PASSWORD,
    LiveServer,
    bearer,
    eventually,
    start_server,
    stop_server,
)
from tests.mailbox.conftest import jpeg

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("observed-server")]

METRICS_TOKEN = "metrics-token-for-tests-only"
SCRAPER = "127.0.0.2"  # the one address allowed to scrape without the token


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("observed") / "data"
    data.mkdir()
    server = start_server(
        data,
        env_extra={
            "PHOTOSYNC_LOG_FORMAT": "json",
            "PHOTOSYNC_LOG_LEVEL": "info",  # an access line per request
            "PHOTOSYNC_METRICS_TOKEN": METRICS_TOKEN,
            "PHOTOSYNC_METRICS_ALLOW": SCRAPER,
        },
    )
    people = data.parent / "people.csv"
    people.write_text(f"upn,name,password\nann@example.org,Ann,{PASSWORD}\n")
    r = server.cli("users", "import", str(people))
    assert r.returncode == 0, r.stderr
    yield server
    stop_server(server)


def _log(server: LiveServer) -> Path:
    return server.data_dir.parent / f"server-{server.url.rsplit(':', 1)[1]}.log"


def _log_lines(server: LiveServer) -> list[dict[str, object]]:
    lines = _log(server).read_text().splitlines()
    assert lines
    return [json.loads(line) for line in lines]  # every line is one JSON object


def _token(http: httpx.Client) -> dict[str, str]:
    r = http.post(
        "/oauth2/v2.0/token",
        data={"grant_type": "password", "username": "ann@example.org", "password": PASSWORD},
    )
    assert r.status_code == 200, r.text
    return bearer(r.json()["access_token"])


def test_one_request_id_in_the_answer_the_error_body_the_log_and_the_audit(
    server: LiveServer,
) -> None:
    with server.http() as http:
        ann = _token(http)
        # A Graph error: the body's request-id is the answer's header, ours when none was sent.
        r = http.get("/v1.0/users/nobody@example.org/photo", headers=ann)
        assert r.status_code == 404
        made = r.headers["request-id"]
        assert r.json()["error"]["innerError"]["request-id"] == made
        # The client's own id, when it is sane, is the request's id everywhere.
        r = http.get(
            "/v1.0/users/nobody@example.org/photo",
            headers={**ann, "client-request-id": "4b1f0c2e-graph-client"},
        )
        assert r.headers["request-id"] == "4b1f0c2e-graph-client"
        assert r.json()["error"]["innerError"]["request-id"] == "4b1f0c2e-graph-client"
        r = http.put(
            "/v1.0/me/photo/$value",
            content=jpeg(320, 320),
            headers={**ann, "Content-Type": "image/jpeg", "X-Request-ID": "upload-7f3a"},
        )
        assert r.status_code == 200, r.text
        assert r.headers["request-id"] == "upload-7f3a"
        r = http.get("/v1.0/me/photo", headers={**ann, "X-Request-ID": "bad id; DROP"})
        assert r.status_code == 200
        assert r.headers["request-id"] not in ("bad id; DROP", made)

    audit = server.cli("audit", "--action", "mailbox.photo.set", "--json")
    assert audit.returncode == 0, audit.stderr
    (row,) = [json.loads(line) for line in audit.stdout.splitlines()]
    assert row["request_id"] == "upload-7f3a"

    def logged(request_id: str) -> list[dict[str, object]]:
        return [line for line in _log_lines(server) if line.get("request_id") == request_id]

    assert eventually(lambda: bool(logged("upload-7f3a")))
    (access,) = logged("upload-7f3a")
    assert access["logger"] == "uvicorn.access"
    # The access log has the path as sent: httpx before 0.29 sent `$` as `%24`, later ones as is.
    assert (access["method"], unquote(str(access["path"])), access["status"]) == (
        "PUT",
        "/v1.0/me/photo/$value",
        200,
    )
    assert eventually(lambda: len(logged(made)) == 1)
    assert logged(made)[0]["status"] == 404
    # Lines outside a request (start-up) have no id; each has a time, a level and a logger.
    lines = _log_lines(server)
    assert any(line["request_id"] is None and "photosync" in str(line["message"]) for line in lines)
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)


def _metrics(http: httpx.Client, **headers: str) -> httpx.Response:
    return http.get("/metrics", headers=headers)


def _scrape(http: httpx.Client) -> dict[str, Metric]:
    r = _metrics(http, Authorization=f"Bearer {METRICS_TOKEN}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    return {family.name: family for family in text_string_to_metric_families(r.text)}


def _requests(families: dict[str, Metric]) -> dict[tuple[str, str, str], float]:
    return {
        (s.labels["route"], s.labels["method"], s.labels["status"]): s.value
        for s in families["photosync_http_requests"].samples
        if s.name == "photosync_http_requests_total"
    }


def _total(families: dict[str, Metric], sample: str) -> float:
    family = families[sample.removesuffix("_total")]
    return sum(s.value for s in family.samples if s.name == sample)


def test_metrics_count_requests_by_route_and_need_the_token_or_an_allowed_address(
    server: LiveServer,
) -> None:
    route = "/v1.0/users/{user}/photo"
    with server.http() as http:
        before = _scrape(http)
        assert _metrics(http).status_code == 403
        assert _metrics(http, Authorization="Bearer not-the-token").status_code == 403
        ann = _token(http)
        for _ in range(3):
            r = http.get("/v1.0/users/ann@example.org/photo", headers=ann)
            assert r.status_code in (200, 404)
        status = str(r.status_code)
        r = http.put(
            "/v1.0/me/photo/$value",
            content=jpeg(300, 300, seed=5),
            headers={**ann, "Content-Type": "image/jpeg"},
        )
        assert r.status_code == 200
        after = _scrape(http)
    counted, counted_before = _requests(after), _requests(before)
    # By route template, never by raw path; the refused scrapes are counted too.
    assert counted[(route, "GET", status)] - counted_before.get((route, "GET", status), 0) == 3
    refused = ("/metrics", "GET", "403")
    assert counted[refused] - counted_before.get(refused, 0) == 2
    assert not any("ann@example.org" in route for route, _, _ in counted)
    latency = {
        s.labels["route"]: s.value
        for s in after["photosync_http_request_duration_seconds"].samples
        if s.name.endswith("_count") and s.labels["method"] == "GET"
    }
    assert latency[route] >= 3
    uploads = [_total(family, "photosync_photo_uploads_total") for family in (before, after)]
    assert uploads[1] - uploads[0] == 1
    assert "photosync_sync_checks_last_hour" in after
    assert [s.value for s in after["photosync_task_queue_depth"].samples] == [0]

    # The allowed address needs no token.
    scraper = httpx.Client(
        base_url=server.url, timeout=30, transport=httpx.HTTPTransport(local_address=SCRAPER)
    )
    with scraper:
        assert _metrics(scraper).status_code == 200


def test_a_worker_logs_json_lines_too(server: LiveServer) -> None:
    log = server.data_dir.parent / "worker-json.log"
    env = {
        **server.env,
        "PHOTOSYNC_BROKER_URL": "redis://127.0.0.1:6379/0",
        "PHOTOSYNC_TASK_QUEUE": f"photosync-json-logs-{os.getpid()}",
    }
    with open(log, "wb") as err:
        worker = subprocess.Popen(
            [sys.executable, "-m", "photosync", "worker", "--pool", "solo", "--loglevel", "info"],
            env=env,
            stdout=subprocess.DEVNULL,  # only Celery's shutdown notice is printed there
            stderr=err,
        )
    try:
        assert eventually(lambda: b"ready" in log.read_bytes(), seconds=60), log.read_text()
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    # Each line one JSON object: Python's warnings too (Celery warns when it runs as root).
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert any("worker: tasks from" in str(line["message"]) for line in lines)
    assert any(line["logger"].startswith("celery") for line in lines)
