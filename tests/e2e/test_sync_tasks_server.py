"""The automatic policy through real processes: ``photosync serve`` alone (tasks in its thread
pool), and ``photosync serve`` on PostgreSQL with a Redis broker and a ``photosync worker``.

A Graph PUT by Alice shows in Bob's ``userphoto.aspx?size=M`` within seconds, with nobody asking
for their own Large picture; a DELETE brings back the placeholder. With a broker the server only
enqueues: nothing reaches sites until a worker process takes the task.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import func, select

from photosync.context import Context
from photosync.services import Services, build_services
from photosync.settings import load_settings
from tests.conftest import (
    PASSWORD,
    TEST_KEY,
    LiveServer,
    eventually,
    start_server,
    stop_server,
    truncate_all,
)
from tests.e2e.test_sites_server import ALICE, BOB, sign_in
from tests.sites.helpers import USERPHOTO, jpeg

pytestmark = pytest.mark.slow

DEADLINE_SECONDS = 10.0
REDIS = "redis://127.0.0.1:6379/0"


@contextmanager
def beside(server: LiveServer) -> Iterator[Services]:
    """The services of one more process on the server's data (to set up people, and to read
    what sync recorded), as the CLI would build them."""
    settings = load_settings(
        data_dir=server.data_dir,
        database_url=server.env.get("PHOTOSYNC_DATABASE_URL", ""),
        secret_key=TEST_KEY,
    )
    ctx = Context.from_settings(settings)
    try:
        yield build_services(ctx)
    finally:
        ctx.db.dispose()


def add_people(services: Services) -> None:
    for upn in (ALICE, BOB):
        services.directory.add_user(upn, upn.split("@")[0].title(), password=PASSWORD)


def triggers(services: Services, upn: str) -> list[tuple[str, str]]:
    user = services.directory.get_user(upn)
    assert user is not None
    return [(c.trigger, c.result) for c in reversed(services.sync.recent_checks(user.id))]


class Site:
    """Bob's view of Alice's Medium picture, and Alice's Graph photo, over HTTP."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http
        self.alice = sign_in(http, ALICE)
        self.bob = sign_in(http, BOB)

    def alice_m_etag(self) -> str:
        r = self.http.get(USERPHOTO, params={"size": "M", "accountname": ALICE}, headers=self.bob)
        assert r.status_code == 200, r.text
        return r.headers["etag"]

    def put_photo(self) -> None:
        r = self.http.put(
            "/v1.0/me/photo/$value",
            content=jpeg(900, 700, seed=7),
            headers={**self.alice, "Content-Type": "image/jpeg"},
        )
        assert r.status_code == 200, r.text

    def delete_photo(self) -> None:
        r = self.http.delete("/v1.0/me/photo/$value", headers=self.alice)
        assert r.status_code == 200, r.text


def test_automatic_through_the_real_server(tmp_path: Path) -> None:
    data = tmp_path / "server-data"
    data.mkdir()
    server = start_server(data, env_extra={"PHOTOSYNC_SYNC_POLICY": "automatic"})
    try:
        with beside(server) as services, httpx.Client(base_url=server.url, timeout=30) as http:
            add_people(services)
            site = Site(http)
            placeholder = site.alice_m_etag()
            assert placeholder.startswith('"ph')

            site.put_photo()
            assert eventually(lambda: site.alice_m_etag() != placeholder)
            assert not site.alice_m_etag().startswith('"ph')

            site.delete_photo()
            assert eventually(lambda: site.alice_m_etag() == placeholder)
            assert triggers(services, ALICE) == [
                ("automatic", "updated"),
                ("automatic", "placeholder"),
            ]
    finally:
        stop_server(server)


# --- with a broker ---------------------------------------------------------------------------


@pytest.fixture
def queue() -> Iterator[str]:
    """A queue of this test's own on the machine's Redis, so that parallel runs (and other
    engineers' tests) never take each other's tasks; deleted afterwards."""
    name = f"photosync-test-{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis.from_url(REDIS)
    # The queue, and the exchange bindings kombu keeps beside it.
    client.delete(name, f"_kombu.binding.{name}", f"_kombu.binding_permanent.{name}")
    client.close()


def queued(name: str) -> int:
    client = redis.Redis.from_url(REDIS)
    try:
        return int(client.llen(name))
    finally:
        client.close()


def start_worker(server: LiveServer) -> subprocess.Popen[bytes]:
    log = open(server.data_dir.parent / "worker.log", "wb")  # noqa: SIM115 - lives with the process
    return subprocess.Popen(
        [sys.executable, "-m", "photosync", "worker", "--concurrency", "1"],
        env=server.env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    worker.terminate()  # Celery's warm shutdown: finish the task at hand, then exit
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


@pytest.mark.postgres
def test_with_a_broker_the_work_goes_through_a_celery_worker(
    tmp_path: Path, postgres_url: str, queue: str
) -> None:
    truncate_all(postgres_url)
    data = tmp_path / "server-data"
    data.mkdir()
    server = start_server(
        data,
        env_extra={
            "PHOTOSYNC_SYNC_POLICY": "automatic",
            "PHOTOSYNC_DATABASE_URL": postgres_url,
            "PHOTOSYNC_BROKER_URL": REDIS,
            "PHOTOSYNC_TASK_QUEUE": queue,
        },
    )
    worker: subprocess.Popen[bytes] | None = None
    try:
        with beside(server) as services, httpx.Client(base_url=server.url, timeout=30) as http:
            add_people(services)
            site = Site(http)
            placeholder = site.alice_m_etag()
            site.put_photo()
            # The server enqueued the check and did not run it: no check in the database.
            assert eventually(lambda: queued(queue) == 1)
            assert not eventually(lambda: triggers(services, ALICE) != [], seconds=2)
            assert site.alice_m_etag() == placeholder
            assert queued(queue) == 1

            worker = start_worker(server)
            # A generous bound: a fresh Celery worker imports and forks before it takes a
            # task, which on a loaded 2-core machine can take far longer than a check.
            assert eventually(lambda: site.alice_m_etag() != placeholder, seconds=90), worker_log(
                server
            )
            assert queued(queue) == 0
            assert triggers(services, ALICE) == [("automatic", "updated")]

            site.delete_photo()
            assert eventually(lambda: site.alice_m_etag() == placeholder, seconds=90), worker_log(
                server
            )
    finally:
        if worker is not None:
            stop_worker(worker)
        stop_server(server)
    assert worker.returncode == 0, worker_log(server)


def worker_log(server: LiveServer) -> str:
    path = server.data_dir.parent / "worker.log"
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""


@pytest.mark.postgres
def test_a_bulk_run_with_a_broker_is_shared_by_two_workers(
    tmp_path: Path, postgres_url: str, queue: str
) -> None:
    """`photosync sync now --all` with a broker sends one task per user and follows the run's
    ledger; two worker processes share the users; each is checked once."""
    from population import people_with_one_photo

    from photosync.settings import Settings
    from photosync.sync.models import SyncCheck

    truncate_all(postgres_url)
    data = tmp_path / "data"
    people = 60
    people_with_one_photo(
        Settings(data_dir=data, database_url=postgres_url, secret_key=TEST_KEY), people
    )
    env = {
        **os.environ,
        "PHOTOSYNC_DATA_DIR": str(data),
        "PHOTOSYNC_DATABASE_URL": postgres_url,
        "PHOTOSYNC_SECRET_KEY": TEST_KEY,
        "PHOTOSYNC_BROKER_URL": REDIS,
        "PHOTOSYNC_TASK_QUEUE": queue,
    }
    logs = [open(tmp_path / f"worker-{n}.log", "wb") for n in range(2)]  # noqa: SIM115
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "photosync",
                "worker",
                "--concurrency",
                "1",
                "--loglevel",
                "info",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for log in logs
    ]
    try:
        bulk = subprocess.run(
            [sys.executable, "-m", "photosync", "sync", "now", "--all"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        for worker in workers:
            stop_worker(worker)
    output = bulk.stdout + bulk.stderr
    assert bulk.returncode == 0, output
    assert "sending the checks to the workers" in output
    assert f"{people} checked, 0 failed" in output
    ctx = Context.from_settings(
        load_settings(data_dir=data, database_url=postgres_url, secret_key=TEST_KEY)
    )
    with ctx.db.engine.connect() as conn:
        counts = conn.execute(
            select(SyncCheck.user_id, func.count())
            .where(SyncCheck.run_id.is_not(None))
            .group_by(SyncCheck.user_id)
        ).all()
    ctx.db.dispose()
    assert len(counts) == people and {n for _, n in counts} == {1}
    # Both workers took part (each logs the tasks it received).
    received = [
        (tmp_path / f"worker-{n}.log").read_text(errors="replace").count("check_in_run")
        for n in range(2)
    ]
    assert all(n > 0 for n in received), received
