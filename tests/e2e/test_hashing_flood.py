"""A flood of client-credential requests against the real server: argon2 runs one per core at
once (64 MiB each), so the server's memory stays a small multiple of its baseline, and what it
cannot take at once it refuses with 429 and Retry-After, never a 5xx."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from photosync.directory.passwords import DEFAULT_AT_ONCE
from tests.conftest import LiveServer

pytestmark = [pytest.mark.slow]

ARGON2_MIB = 64  # argon2-cffi's default memory cost per hash
FLOOD = 64  # concurrent requests, more than the server's 40 worker threads


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_a_flood_of_client_credentials_stays_within_memory(live_server: LiveServer) -> None:
    r = live_server.cli("apps", "add", "flood", "--role", "User.Read.All")
    client_id = re.search(r"^client_id: (\S+)$", r.stdout, re.M)
    secret = re.search(r"^client_secret: (\S+)$", r.stdout, re.M)
    assert client_id and secret
    form = {
        "grant_type": "client_credentials",
        "client_id": client_id.group(1),
        "client_secret": secret.group(1),
        "scope": "https://graph.microsoft.com/.default",
    }
    pid = live_server.process.pid
    with live_server.http() as http:
        assert http.post("/oauth2/v2.0/token", data=form).status_code == 200  # warmed up
    baseline = rss_mib(pid)
    peak = baseline
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_mib(pid))
            done.wait(0.005)

    def ask(_: int) -> httpx.Response:
        with live_server.http() as http:
            return http.post("/oauth2/v2.0/token", data=form)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(FLOOD) as pool:
            answers = list(pool.map(ask, range(FLOOD * 3)))
    finally:
        done.set()
        watcher.join()
    statuses = {a.status_code for a in answers}
    assert statuses <= {200, 429}, statuses
    assert 200 in statuses
    refused = [a for a in answers if a.status_code == 429]
    assert all(a.headers.get("retry-after") == "1" for a in refused)
    assert all(a.json()["error"] == "temporarily_unavailable" for a in refused)
    # At most one argon2 buffer per core at once: the peak is the baseline and those buffers,
    # give or take (measured: 131 -> 264 MiB on 2 cores). Unbounded, 40 threads held 40
    # buffers at once: 2.5 GB.
    assert peak / (baseline + DEFAULT_AT_ONCE * ARGON2_MIB) < 1.5, (baseline, peak)
