"""Crash safety and concurrency against real ``photosync serve`` processes.

Kill -9 trials: a real ``photosync serve`` killed at random moments while it takes uploads,
previews, saves, restores, own-Large syncs and a bulk run, on SQLite and on PostgreSQL.

Each kill aims at one kind of operation in turn (an upload, an own-Large request, a preview, a
bulk run, a save, a restore): it comes at a random moment while one is in flight, and the test
fails unless every kind was cut off by some kill. The other clients are wherever they are.

After each kill a new server starts on the same data (it is the next trial's server), and the
test checks what the crash left: every user's mailbox photo is one complete version (every
offered size a decodable square made from the same picture, every row's file there), no upload
the server acknowledged is lost, the new server serves each user's current photo byte for byte,
every profile showing a picture has its S, M and L from one picture, and after garbage
collection no blob file is unreferenced and no temporary file is left in the data folder. The
real ``photosync gc`` runs once at the end; in the trials its function runs in this process, on
the same database and folder. Every fifth restart is cold: no process has the database open
when the new server opens it (SQLite then recovers its write-ahead log); otherwise this test's
own connection stays open across the crash. The random moments come from one seed, printed,
and ``PHOTOSYNC_CRASH_SEED`` replays a run.

Concurrency: 20 uploads for one user at once, racing with their own-Large syncs and a bulk run,
on SQLite, on PostgreSQL and through two servers on one SQLite data folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import random
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx
import psycopg
import pytest
from PIL import Image
from sqlalchemy import select

from photosync.context import Context
from photosync.directory.generation import FILE_NAME as GENERATION_FILE
from photosync.imaging import GRAPH_SIZES
from photosync.imaging.testimages import photo_jpeg
from photosync.mailbox.models import MailboxPhoto, PhotoRendition, PhotoVersion
from photosync.services import Services, build_services
from photosync.sites.models import PICTURE_SHOWN, LibraryFile, Profile
from tests.conftest import (
    PASSWORD,
    PG_ADMIN_URL,
    LiveServer,
    bearer,
    make_settings,
    start_server,
    stop_server,
)
from tests.mailbox.conftest import psnr
from tests.portal.conftest import csrf_token

pytestmark = pytest.mark.slow

# Kills per database kind: 25 + 25, the 50 issue 12 asks for, in `make test`. A trial is about
# 2 s alone (a server start is most of it): short aimed loads, and the restart after a kill is
# the next trial's server. PHOTOSYNC_CRASH_TRIALS sets another number while you work on it.
TRIALS = int(os.environ.get("PHOTOSYNC_CRASH_TRIALS", "25"))
COLD_EVERY = 5
# What the kills aim at, in turn: each kill comes while one of these is in flight.
AIMS = ("upload", "own Large", "preview", "bulk run", "save", "restore")
SEED = int(os.environ.get("PHOTOSYNC_CRASH_SEED", "20261202"))
GRAPH_UPLOADERS = ("gina@example.org", "gus@example.org")
PORTAL_USER = "pat@example.org"
ADMIN = "ada@example.org"
EVERYONE = (*GRAPH_UPLOADERS, PORTAL_USER, ADMIN)
USERPHOTO = "/_layouts/15/userphoto.aspx"
VERSION_ID = re.compile(r'name="version_id" value="([^"]+)"')
# Same picture at two sizes: well above this; two different test pictures: far below.
SAME_PICTURE_DB = 22.0


@pytest.fixture
def database(request: pytest.FixtureRequest, tmp_path: Path, worker_id: str) -> Iterator[str]:
    """The database URL for the servers: a SQLite file in the data folder, or a PostgreSQL
    database of this test's own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'photosync.db'}"
        return
    name = f"photosync_crash_{worker_id}_{os.getpid()}"
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is missing: {exc}")
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# Pictures to upload: different seeds, so that two versions never look alike.
PICTURES = [photo_jpeg(700, 700, seed=seed) for seed in range(40, 48)]


@dataclass
class Uploader:
    """What one Graph client sent, in order, and how many of those the server acknowledged."""

    sent: list[str] = field(default_factory=list)  # sha256 of each body
    acked: int = 0  # sent[:acked] were answered 200

    def possible(self) -> list[str]:
        """The uploads that may be the photo now: the last one acknowledged, or one sent after
        it (at most one, the one in flight when the server died)."""
        return self.sent[max(self.acked - 1, 0) :]


@dataclass
class Load:
    """The clients of one trial, each in a thread, until the server dies or ``stop`` is set."""

    server: LiveServer
    rng: random.Random
    app_token: str
    user_tokens: dict[str, str]
    cookies: dict[str, httpx.Cookies]
    uploaders: dict[str, Uploader]
    took: dict[str, float]  # how long the last of each kind of operation took (all trials)
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    # What each client is waiting for now, and since when: a request sent and not answered,
    # or the bulk run until its page says it finished. Read at the kill: what the kill cut off.
    _in_flight: dict[str, tuple[str, float]] = field(default_factory=dict)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def run(self) -> list[threading.Thread]:
        jobs: dict[str, Callable[[], None]] = {
            **{upn: partial(self.graph_uploads, upn) for upn in GRAPH_UPLOADERS},
            "portal": self.portal,
            "own Large": self.own_large,
            "bulk": self.bulk,
        }
        threads = [
            threading.Thread(target=self._guard, args=(job,), name=name)
            for name, job in jobs.items()
        ]
        for thread in threads:
            thread.start()
        return threads

    def in_flight(self) -> set[str]:
        with self._changed:
            return self._kinds()

    def _kinds(self) -> set[str]:
        return {what for what, _ in self._in_flight.values()}

    def _begin(self, what: str) -> None:
        with self._changed:
            self._in_flight[threading.current_thread().name] = (what, time.monotonic())
            self._changed.notify_all()

    def _end(self) -> None:
        with self._changed:
            what, began = self._in_flight.pop(threading.current_thread().name)
            self.took[what] = time.monotonic() - began

    @contextlib.contextmanager
    def doing(self, what: str) -> Iterator[None]:
        """``what`` is in flight for this client until the block ends without an exception
        (a request the kill cut off stays in flight)."""
        self._begin(what)
        yield
        self._end()

    def aim(self, what: str) -> None:
        """Return at a random moment while a ``what`` is in flight: once one is, after a random
        part of how long the last one took; again if it ended meanwhile. Gives up after a few
        tries or seconds (the kill then cuts off whatever is in flight)."""
        deadline = time.monotonic() + 10
        for _ in range(5):
            with self._changed:
                began = self._changed.wait_for(
                    lambda: what in self._kinds(), timeout=max(0, deadline - time.monotonic())
                )
            if not began:
                return
            time.sleep(self.rng.uniform(0, self.took.get(what, 0.05)))
            if what in self.in_flight():
                return

    def _guard(self, job: Callable[[], None]) -> None:
        # The server was killed under this client: what the trial is about.
        with contextlib.suppress(httpx.TransportError):
            job()

    def _check(self, r: httpx.Response, *expected: int) -> bool:
        if r.status_code not in expected:
            self.errors.append(f"{r.request.method} {r.request.url.path}: {r.status_code}")
            return False
        return True

    def _client(self, upn: str | None = None) -> httpx.Client:
        return self.server.http(cookies=self.cookies[upn] if upn else None)

    def graph_uploads(self, upn: str) -> None:
        uploader = self.uploaders[upn]
        with self._client() as http:
            while not self.stop.is_set():
                body = self.rng.choice(PICTURES)
                uploader.sent.append(hashlib.sha256(body).hexdigest())
                with self.doing("upload"):
                    r = http.put(
                        f"/v1.0/users/{upn}/photo/$value",
                        content=body,
                        headers={**bearer(self.app_token), "Content-Type": "image/jpeg"},
                    )
                if self._check(r, 200):
                    uploader.acked = len(uploader.sent)

    def portal(self) -> None:
        """Preview, save, and restore an earlier version, as the photo page's forms do."""
        with self._client(PORTAL_USER) as http:
            while not self.stop.is_set():
                with self.doing("photo page"):
                    page = http.get("/photo")
                if not self._check(page, 200):
                    return
                token = csrf_token(page.text)
                earlier = VERSION_ID.findall(page.text)
                with self.doing("preview"):
                    r = http.post(
                        "/photo/preview",
                        data={"csrf_token": token},
                        files={"photo": ("me.jpg", self.rng.choice(PICTURES), "image/jpeg")},
                    )
                self._check(r, 200, 303)
                with self.doing("save"):
                    r = http.post("/photo/save", data={"csrf_token": token})
                self._check(r, 303)
                if earlier:
                    form = {"csrf_token": token, "version_id": self.rng.choice(earlier)}
                    with self.doing("restore"):
                        r = http.post("/photo/restore", data=form)
                    # 409: that version was collected meanwhile (the page says so).
                    self._check(r, 303, 409)

    def own_large(self) -> None:
        """Each user asks for their own Large picture: the request that may sync it."""
        with self._client() as http:
            while not self.stop.is_set():
                upn = self.rng.choice(EVERYONE)
                with self.doing("own Large"):
                    r = http.get(
                        USERPHOTO,
                        params={"size": "L", "accountname": upn},
                        headers=bearer(self.user_tokens[upn]),
                    )
                self._check(r, 200)

    def bulk(self) -> None:
        """An admin starts (or resumes) the bulk run of everyone, then watches it."""
        with self._client(ADMIN) as http:
            page = http.get("/admin")
            if not self._check(page, 200):
                return
            # In flight from the request that starts it until its page says it finished.
            self._begin("bulk run")
            r = http.post("/admin/runs", data={"csrf_token": csrf_token(page.text)})
            if not self._check(r, 303):
                return
            running = True
            # Every 20 ms, not in a tight loop: a page is rendered per look, and the CPU it took
            # slowed the operations the kills aim at (a browser looks every 2 s).
            while not self.stop.wait(0.02):
                page = http.get(r.headers["location"])
                if running and self._check(page, 200) and "Still running" not in page.text:
                    self._end()
                    running = False


def add_people(services: Services) -> str:
    """The users, and an app that may set anyone's photo; the app's token form."""
    for upn in EVERYONE:
        services.directory.add_user(
            upn, upn.split("@")[0].title(), password=PASSWORD, is_admin=upn == ADMIN
        )
    client_id, secret = services.directory.add_app("uploader", ["ProfilePhoto.ReadWrite.All"])
    return f"{client_id}\n{secret}"


def tokens(server: LiveServer, app: str) -> tuple[str, dict[str, str], dict[str, httpx.Cookies]]:
    """An app token, a user token each, and a portal session each (all outlive any server:
    they are signed with the shared key or kept in the database)."""
    client_id, secret = app.split("\n")
    with server.http() as http:
        r = http.post(
            "/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
                "scope": "https://graph.microsoft.com/.default",
            },
        )
        app_token = str(r.json()["access_token"])
    users: dict[str, str] = {}
    cookies: dict[str, httpx.Cookies] = {}
    for upn in EVERYONE:
        with server.http() as http:
            r = http.post(
                "/oauth2/v2.0/token",
                data={"grant_type": "password", "username": upn, "password": PASSWORD},
            )
            users[upn] = str(r.json()["access_token"])
            page = http.get("/signin")
            form = {"username": upn, "password": PASSWORD, "csrf_token": csrf_token(page.text)}
            assert http.post("/signin", data=form).status_code == 303
            cookies[upn] = httpx.Cookies(http.cookies)
    return app_token, users, cookies


def square(data: bytes, side: int) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    assert (image.format, image.size) == ("JPEG", (side, side))
    return image


def one_picture(images: list[Image.Image], what: str) -> None:
    """Every image is the same picture: each, shrunk to the smallest's size, looks like it."""
    smallest = min(images, key=lambda image: image.width)
    for image in images:
        shrunk = image.convert("RGB").resize(smallest.size, Image.Resampling.LANCZOS)
        assert psnr(shrunk, smallest) > SAME_PICTURE_DB, f"{what}: sizes of two pictures mixed"


def check_consistent(services: Services, uploaders: dict[str, Uploader]) -> dict[str, bytes]:
    """Every user's photo and profile is one complete version; nothing acknowledged is lost.
    Returns the JPEG each user with a photo has at its largest size (what ``$value`` serves)."""
    ctx = services.ctx
    large = ctx.settings.large_thumbnail_size
    masters: dict[str, bytes] = {}
    with ctx.db.engine.connect() as conn:
        users = {upn: services.directory.get_user(upn).id for upn in EVERYONE}  # type: ignore[union-attr]
        for upn, user_id in users.items():
            pointer = conn.execute(
                select(MailboxPhoto).where(MailboxPhoto.user_id == user_id)
            ).first()
            if pointer is None or pointer.current_version_id is None:
                assert upn not in uploaders or uploaders[upn].acked == 0, f"{upn}: photo lost"
                continue
            version = conn.execute(
                select(PhotoVersion).where(PhotoVersion.id == pointer.current_version_id)
            ).one()
            if upn in uploaders:
                assert version.source_sha256 in uploaders[upn].possible(), (
                    f"{upn}: an acknowledged upload was lost"
                )
            rows = conn.execute(
                select(PhotoRendition.size, PhotoRendition.sha256)
                .where(PhotoRendition.version_id == version.id)
                .order_by(PhotoRendition.size)
            ).all()
            offered = [size for size in GRAPH_SIZES if size <= version.master_size]
            assert [row.size for row in rows] == offered, f"{upn}: sizes missing"
            jpegs = [ctx.blobs.get(row.sha256) for row in rows]
            one_picture(
                [square(jpeg, row.size) for jpeg, row in zip(jpegs, rows, strict=True)],
                f"{upn}'s mailbox photo",
            )
            masters[upn] = jpegs[-1]
        # Every version (earlier ones, a pending preview) is whole too: all its sizes' rows.
        sizes: dict[str, list[int]] = {}
        for row in conn.execute(
            select(PhotoRendition.version_id, PhotoRendition.size).order_by(PhotoRendition.size)
        ):
            sizes.setdefault(row.version_id, []).append(row.size)
        for version_id, master in conn.execute(select(PhotoVersion.id, PhotoVersion.master_size)):
            offered = [size for size in GRAPH_SIZES if size <= master]
            assert sizes.get(version_id) == offered, f"version {version_id} is not whole"
        # No dangling row: every file any version names is there.
        for (key,) in conn.execute(select(PhotoRendition.sha256).distinct()):
            assert ctx.blobs.exists(key), f"a rendition row names a missing file {key}"
        for upn, user_id in users.items():
            profile = conn.execute(select(Profile).where(Profile.user_id == user_id)).first()
            if profile is None or profile.placeholder_state != PICTURE_SHOWN:
                continue
            files = {
                row.size_code: row.data
                for row in conn.execute(
                    select(LibraryFile.size_code, LibraryFile.data).where(
                        LibraryFile.user_id == user_id
                    )
                )
            }
            assert sorted(files) == ["L", "M", "S"], f"{upn}: profile shows a picture it lacks"
            sides = {"S": 48, "M": 72, "L": large}
            one_picture([square(files[c], sides[c]) for c in sides], f"{upn}'s profile")
    return masters


def age_blob_files(data: Path, hours: float = 2) -> None:
    """Move the clock of every file under the blob folder back: the grace period has passed."""
    then = time.time() - hours * 3600
    for path in (data / "blobs").rglob("*"):
        if path.is_file():
            os.utime(path, (then, then))


def check_collected(services: Services, data: Path) -> None:
    """After collection: every blob file is a referenced blob; nothing else in the folder."""
    with services.ctx.db.engine.connect() as conn:
        referenced = set(conn.scalars(select(PhotoRendition.sha256).distinct()))
    stray = []
    for path in (data / "blobs").rglob("*"):
        if path.is_file() and path.name not in referenced:
            stray.append(path.relative_to(data))
    assert not stray, f"left in the blob folder after gc: {stray}"
    # identity.generation: the counter every process maps (directory.generation), not a leftover.
    allowed = {"blobs", "photosync.db", "photosync.db-wal", "photosync.db-shm", GENERATION_FILE}
    extra = sorted(p.name for p in data.iterdir() if p.name not in allowed)
    assert not extra, f"left in the data folder: {extra}"


def kill(server: LiveServer) -> None:
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=30)


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_kill_9_trials_lose_nothing_and_leave_nothing(tmp_path: Path, database: str) -> None:
    print(f"crash trials: seed {SEED} (PHOTOSYNC_CRASH_SEED replays it)")
    rng = random.Random(SEED)
    data = tmp_path / "data"
    data.mkdir()
    env = {"PHOTOSYNC_DATABASE_URL": database}
    settings = make_settings(data, database)
    ctx = Context.from_settings(settings)
    ctx.db.upgrade()
    services = build_services(ctx)
    app = add_people(services)

    server = start_server(data, env_extra=env)
    app_token, user_tokens, cookies = tokens(server, app)
    uploaders = {upn: Uploader() for upn in GRAPH_UPLOADERS}
    errors: list[str] = []
    cut: Counter[str] = Counter()
    took: dict[str, float] = {}
    hits = 0
    cleared = 0
    try:
        for trial in range(TRIALS):
            load = Load(server, rng, app_token, user_tokens, cookies, uploaders, took)
            threads = load.run()
            aim = AIMS[trial % len(AIMS)]
            load.aim(aim)
            in_flight = load.in_flight()
            kill(server)
            cut.update(in_flight)
            hits += aim in in_flight
            load.stop.set()
            for thread in threads:
                thread.join(timeout=60)
            errors += load.errors
            if trial % COLD_EVERY == COLD_EVERY - 1:
                ctx.db.dispose()  # nobody has the database open when the new server opens it
            # The restart after the crash is the server of the next trial.
            server = start_server(data, env_extra=env)
            masters = check_consistent(services, uploaders)
            with server.http() as http:  # and the new server serves what the rows say
                for upn in EVERYONE:
                    r = http.get(f"/v1.0/users/{upn}/photo/$value", headers=bearer(app_token))
                    if upn in masters:
                        assert (r.status_code, r.content) == (200, masters[upn]), upn
                    else:
                        assert r.status_code == 404, f"{upn}: {r.status_code} without a photo"
            age_blob_files(data)
            cleared += services.mailbox.collect_garbage().leftovers
            check_collected(services, data)
        unanswered = sum(len(u.sent) - u.acked for u in uploaders.values())
        print(
            f"crash trials: {TRIALS} kills, {hits} during what they aimed at; "
            f"{sum(u.acked for u in uploaders.values())} uploads acknowledged, {unanswered} "
            f"never answered; {cleared} unfinished write(s) cleared by gc; "
            f"in flight at the kills: {dict(sorted(cut.items()))}; the last of each took "
            f"{ {what: round(seconds, 3) for what, seconds in sorted(took.items())} } s"
        )
        assert not errors, f"answers other than the expected ones: {errors}"
        # Every kind of operation the trials aimed at was cut off by a kill at least once.
        assert set(AIMS[:TRIALS]) <= set(cut), f"never cut off: {set(AIMS[:TRIALS]) - set(cut)}"
        assert sum(u.acked for u in uploaders.values()) > 0
        # The real command, once, as an operator runs it after a crash.
        age_blob_files(data)
        gc = server.cli("gc")
        assert gc.returncode == 0, gc.stderr
        check_consistent(services, uploaders)
        check_collected(services, data)
    finally:
        if server.process.poll() is None:
            stop_server(server)
        ctx.db.dispose()


# --- concurrency -------------------------------------------------------------------------------

RACERS = 20


def race(servers: list[LiveServer], app: str, services: Services) -> None:
    """20 uploads for one user at once, through ``servers`` in turn, racing with that user's
    own-Large requests and an admin's bulk run: no 5xx, no request left hanging (a deadlock
    would time out), the final photo is one of the 20, and sites shows it after one more check."""
    upn = GRAPH_UPLOADERS[0]
    app_token, user_tokens, cookies = tokens(servers[0], app)
    bodies = [photo_jpeg(660, 660, seed=100 + i) for i in range(RACERS)]
    statuses: list[tuple[str, int]] = []
    start = threading.Barrier(RACERS + 2 * len(servers) + 1)

    def upload(i: int) -> None:
        with servers[i % len(servers)].http() as http:
            start.wait()
            r = http.put(
                f"/v1.0/users/{upn}/photo/$value",
                content=bodies[i],
                headers={**bearer(app_token), "Content-Type": "image/jpeg"},
            )
            statuses.append(("upload", r.status_code))

    def own_large(server: LiveServer) -> None:
        with server.http() as http:
            start.wait()
            for _ in range(RACERS):
                r = http.get(
                    USERPHOTO,
                    params={"size": "L", "accountname": upn},
                    headers=bearer(user_tokens[upn]),
                )
                statuses.append(("own Large", r.status_code))

    def bulk(server: LiveServer) -> None:
        with server.http(cookies=cookies[ADMIN]) as http:
            token = csrf_token(http.get("/admin").text)
            start.wait()
            r = http.post("/admin/runs", data={"csrf_token": token})
            statuses.append(("bulk run", r.status_code))

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(RACERS)]
    threads += [threading.Thread(target=own_large, args=(s,)) for s in servers]
    threads += [threading.Thread(target=bulk, args=(s,)) for s in servers]
    threads.append(threading.Thread(target=lambda: start.wait()))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a request never finished"
    assert len(statuses) == RACERS + len(servers) * (RACERS + 1)
    refused = [(what, status) for what, status in statuses if status not in (200, 303)]
    assert not refused, refused

    uploaded = {hashlib.sha256(body).hexdigest() for body in bodies}
    user = services.directory.get_user(upn)
    assert user is not None
    with services.ctx.db.engine.connect() as conn:
        version = conn.execute(
            select(PhotoVersion)
            .join(MailboxPhoto, MailboxPhoto.current_version_id == PhotoVersion.id)
            .where(MailboxPhoto.user_id == user.id)
        ).one()
    assert version.source_sha256 in uploaded
    check_consistent(services, {})

    # One more check, and sites shows the mailbox's final photo.
    with servers[-1].http(cookies=cookies[ADMIN]) as http:
        token = csrf_token(http.get("/admin").text)
        r = http.post("/admin/check", data={"csrf_token": token, "user_id": user.id})
        assert r.status_code in (200, 303), r.text
        shown = http.get(USERPHOTO, params={"size": "L", "accountname": upn})
        mailbox = http.get(f"/v1.0/users/{upn}/photo/$value", headers=bearer(app_token))
    assert (shown.status_code, mailbox.status_code) == (200, 200)
    large = square(shown.content, services.ctx.settings.large_thumbnail_size)
    one_picture([large, square(mailbox.content, version.master_size)], "sites after the race")


@pytest.mark.parametrize(
    ("database", "servers"),
    [
        ("sqlite", 1),
        pytest.param("postgres", 1, marks=pytest.mark.postgres),
        ("sqlite", 2),  # two `serve` processes on one SQLite data folder
    ],
    indirect=["database"],
    ids=["sqlite", "postgres", "sqlite-two-servers"],
)
def test_twenty_uploads_race_syncs_and_a_bulk_run(
    tmp_path: Path, database: str, servers: int
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    ctx = Context.from_settings(make_settings(data, database))
    ctx.db.upgrade()
    services = build_services(ctx)
    app = add_people(services)
    running = [start_server(data, env_extra={"PHOTOSYNC_DATABASE_URL": database})]
    try:
        if servers == 2:
            running.append(start_server(data, env_extra={"PHOTOSYNC_DATABASE_URL": database}))
        race(running, app, services)
    finally:
        for server in running:
            stop_server(server)
        ctx.db.dispose()
