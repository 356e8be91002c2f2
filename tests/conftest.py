"""Shared fixtures: a real database (SQLite file or the machine's PostgreSQL), a movable clock,
the ASGI app, users and tokens, and the real server process for end-to-end tests."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import pytest
import trustme
from fastapi.testclient import TestClient
from sqlalchemy import text

from photosync.app import app_for
from photosync.context import Context
from photosync.db import Database
from photosync.directory.interfaces import UserInfo
from photosync.models import metadata
from photosync.services import Services, build_services
from photosync.settings import Settings
from photosync.web import Root

PG_ADMIN_URL = os.environ.get(
    "PHOTOSYNC_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TEST_KEY = "test-signing-key-not-a-secret-0123456789abcdef"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
# Development tools the tests share with the benchmarks (tools/population.py, gen_cli_docs.py).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))


T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run in a thread of its own.

    Playwright's sync API keeps an event loop running in the main thread of the worker that ran
    the browser tests, and asyncio.run refuses to start inside a running loop.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def eventually(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    """Whether ``condition`` came true within ``seconds`` (polled; never a fixed sleep, and
    never an assertion about how long it took)."""
    deadline = time.monotonic() + seconds
    while True:
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


class MovableClock:
    """The injectable clock: tests move time instead of sleeping."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


# --- databases ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating per test would be slow)."""
    path = tmp_path_factory.mktemp("template") / "photosync.db"
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    db.dispose()
    return path


def postgres_missing(url: str) -> str | None:
    """Why the PostgreSQL at ``url`` cannot be used, in one sentence; None when it can."""
    try:
        with psycopg.connect(url, connect_timeout=3):
            return None
    except psycopg.OperationalError as exc:
        cause = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        return (
            f"PostgreSQL is missing: no connection to {url} ({cause}); `make test` starts it "
            "(tools/ensure-services.sh), PHOTOSYNC_TEST_POSTGRES names another, "
            "or run `pytest -m 'not postgres'`"
        )


@pytest.fixture(scope="session")
def postgres_url(worker_id: str) -> Iterator[str]:
    """A database of our own on the machine's PostgreSQL, migrated once per test worker.

    Without a PostgreSQL to talk to, the PostgreSQL half of the suite is skipped with one
    sentence saying what is missing (``-ra`` lists it), not an error per test."""
    name = f"photosync_test_{worker_id}_{os.getpid()}"
    missing = postgres_missing(PG_ADMIN_URL)
    if missing:
        pytest.skip(missing)
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    url = f"{base}/{name}"
    db = Database(url)
    db.upgrade()
    db.dispose()
    yield url
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def worker_id(request: pytest.FixtureRequest) -> str:
    # pytest-xdist provides this fixture; without xdist there is one worker.
    return str(getattr(request.config, "workerinput", {}).get("workerid", "main"))


def truncate_all(url: str) -> None:
    db = Database(url)
    tables = ", ".join(f'"{t.name}"' for t in reversed(metadata.sorted_tables))
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} CASCADE"))
    db.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "photosync.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    truncate_all(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """For tests that need only the embedded default (browser, CLI)."""
    path = tmp_path / "photosync.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


# Tests upload many photos for one person within seconds (hostile corpora, races, crash
# trials); the default "10/minute" would refuse them. A high limit keeps the limiter's path
# (a counted row per upload) in every test; tests/test_upload_rate.py sets a small one.
TEST_UPLOAD_RATE = "100000/minute"


def make_settings(data_dir: Path, database_url: str, **overrides: object) -> Settings:
    overrides.setdefault("upload_rate_limit", TEST_UPLOAD_RATE)
    return Settings(data_dir=data_dir, database_url=database_url, secret_key=TEST_KEY, **overrides)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path / "data", database_url)


@pytest.fixture
def ctx(settings: Settings, clock: MovableClock) -> Iterator[Context]:
    context = Context.from_settings(settings, clock=clock)
    yield context
    context.db.dispose()


@pytest.fixture
def services(ctx: Context) -> Services:
    return build_services(ctx)


@contextmanager
def another_process(services: Services) -> Iterator[Services]:
    """Services of a second process (the CLI, a worker, another server) on the same data."""
    other = Context.from_settings(services.ctx.settings)
    try:
        yield build_services(other)
    finally:
        other.db.dispose()


@pytest.fixture
def app(services: Services) -> Root:
    return app_for(services)


@pytest.fixture
def client(app: Root) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


# --- people and tokens -------------------------------------------------------------------

PASSWORD = "correct horse battery staple"


@pytest.fixture
def make_user(services: Services) -> Callable[..., UserInfo]:
    def make(
        upn: str, name: str | None = None, *, admin: bool = False, mailbox: bool = True
    ) -> UserInfo:
        return services.directory.add_user(
            upn,
            name or upn.split("@")[0].title(),
            password=PASSWORD,
            is_admin=admin,
            has_mailbox=mailbox,
        )

    return make


def password_token(client: TestClient | httpx.Client, upn: str, password: str = PASSWORD) -> str:
    r = client.post(
        "/oauth2/v2.0/token",
        data={"grant_type": "password", "username": upn, "password": password},
    )
    assert r.status_code == 200, r.text
    token: str = r.json()["access_token"]
    return token


@pytest.fixture
def user_token(client: TestClient) -> Callable[[str], str]:
    return lambda upn: password_token(client, upn)


@pytest.fixture
def app_token(client: TestClient, services: Services) -> Callable[..., str]:
    def make(*roles: str) -> str:
        client_id, secret = services.directory.add_app("test app", list(roles))
        r = client.post(
            "/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
                "scope": "https://graph.microsoft.com/.default",
            },
        )
        assert r.status_code == 200, r.text
        token: str = r.json()["access_token"]
        return token

    return make


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- the real server process -------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class LocalCA:
    """A throw-away certificate authority (trustme) and a server certificate it signed for
    127.0.0.1, ::1 and localhost. Nothing outside the test run trusts it."""

    ca_bundle: Path  # the CA certificate (PEM): for SSL_CERT_FILE, REQUESTS_CA_BUNDLE, cafile=
    certfile: Path  # the server's certificate chain (PEM): `photosync serve --certfile`
    keyfile: Path  # its private key (PEM): `photosync serve --keyfile`

    def client_context(self) -> ssl.SSLContext:
        """A client's TLS context that trusts this CA only (httpx's ``verify=``)."""
        return ssl.create_default_context(cafile=str(self.ca_bundle))


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    folder = tmp_path_factory.mktemp("test-ca")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "::1", "localhost")
    local = LocalCA(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    ca.cert_pem.write_to_path(str(local.ca_bundle))
    server.private_key_pem.write_to_path(str(local.keyfile))
    local.certfile.write_bytes(b"".join(blob.bytes() for blob in server.cert_chain_pems))
    return local


@dataclass
class LiveServer:
    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    # What an httpx client needs to trust this server (the test CA's context over HTTPS).
    verify: ssl.SSLContext | bool = True

    def cli(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run the photosync CLI against this server's data folder."""
        return subprocess.run(
            [sys.executable, "-m", "photosync", *args],
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def http(self, **kwargs: Any) -> httpx.Client:
        """An httpx client for this server (trusting the test CA when it serves HTTPS)."""
        return httpx.Client(base_url=self.url, verify=self.verify, timeout=30, **kwargs)


def start_server(
    data_dir: Path,
    *extra: str,
    env_extra: dict[str, str] | None = None,
    tls: LocalCA | None = None,
) -> LiveServer:
    """``photosync serve`` on a free port, answering /healthz; over HTTPS with ``tls``."""
    port = free_port()
    env = {
        **os.environ,
        "PHOTOSYNC_DATA_DIR": str(data_dir),
        "PHOTOSYNC_SECRET_KEY": TEST_KEY,
        "PHOTOSYNC_LOG_LEVEL": "warning",
        "PHOTOSYNC_UPLOAD_RATE_LIMIT": TEST_UPLOAD_RATE,
        **(env_extra or {}),
    }
    if tls is not None:
        extra = (*extra, "--certfile", str(tls.certfile), "--keyfile", str(tls.keyfile))
    log_path = data_dir.parent / f"server-{port}.log"
    log = open(log_path, "wb")  # noqa: SIM115 - lives with the process
    process = subprocess.Popen(
        [sys.executable, "-m", "photosync", "serve", "--port", str(port), *extra],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    verify: ssl.SSLContext | bool = tls.client_context() if tls else True
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log_path.read_text()}")
        # A bare connect until the server listens: cheap enough to try every 20 ms, where
        # an HTTP client each time cost the booting server CPU (a new TLS context each).
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            time.sleep(0.02)
            continue
        try:
            if httpx.get(f"{url}/healthz", timeout=5, verify=verify).status_code == 200:
                return LiveServer(url, data_dir, process, env, verify)
        except httpx.TransportError:
            pass
        time.sleep(0.02)
    process.kill()
    raise RuntimeError("server did not start within 60 s")


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()


# --- S3 (moto in server mode) ----------------------------------------------------------------

# Credentials the standard AWS way (environment), for the moto server, which takes any.
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An S3 API server on a free loopback port (moto in server mode, a process of its own), for
    the tests' S3 blob stores and the servers they start (which inherit the credentials)."""
    port = free_port()
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    saved = {name: os.environ.get(name) for name in S3_ENV}
    os.environ.update(S3_ENV)
    try:
        up = eventually(lambda: _answers(url), seconds=30)
        assert up, "moto server did not start"
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=1)
    except httpx.TransportError:
        return False
    return True


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    """A new, empty bucket of this test's own on the moto server."""
    import boto3

    name = f"photosync-{uuid.uuid4().hex[:16]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return name


def s3_settings(endpoint: str, bucket: str, prefix: str = "") -> dict[str, str]:
    """The environment that points photosync at a bucket on the moto server."""
    return {
        **S3_ENV,
        "PHOTOSYNC_BLOB_STORE": "s3",
        "PHOTOSYNC_S3_BUCKET": bucket,
        "PHOTOSYNC_S3_ENDPOINT_URL": endpoint,
        "PHOTOSYNC_S3_PREFIX": prefix,
    }


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """The real `photosync serve` process on a free port, on a fresh embedded data folder."""
    data = tmp_path / "server-data"
    data.mkdir()
    server = start_server(data)
    yield server
    stop_server(server)
