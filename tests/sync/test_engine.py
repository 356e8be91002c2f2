"""The engine: thumbnails made from the mailbox master, one pull for concurrent triggers, nothing
half-written when a sync dies, nothing written when nothing changed."""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from photosync.audit import AuditEvent
from photosync.blobs import sha256_hex
from photosync.directory.interfaces import UserInfo
from photosync.services import Services
from photosync.sites.models import LibraryFile
from photosync.sync.interfaces import CheckOutcome
from photosync.sync.records import DatabaseLedger
from photosync.sync.targets import SitesProfileTarget
from tests.conftest import MovableClock
from tests.sites.helpers import (
    LIBRARY,
    checks,
    is_placeholder,
    mailbox_master,
    mean_abs_diff,
    open_image,
    psnr,
    resized,
    set_mailbox_photo,
    sign_in,
    userphoto,
)
from tests.sync.conftest import CountingSource, DyingTarget, Rewire


def test_small_medium_large_are_48_72_300_jpegs_of_the_current_master(
    client: TestClient, services: Services, alice: UserInfo, bob: UserInfo
) -> None:
    set_mailbox_photo(services, alice, seed=1)
    services.sync.check_now(alice.upn, actor="test")
    set_mailbox_photo(services, alice, seed=2)  # the current master is the second photo
    services.sync.check_now(alice.upn, actor="test")
    master = mailbox_master(services, alice)
    assert open_image(master).size == (648, 648)
    other = set_mailbox_photo(services, bob, seed=1) and mailbox_master(services, bob)
    auth = sign_in(services, bob)
    # Bounds measured on these noisy photo-like images (S 27.5 dB, M 29, L 35.4): small sizes
    # differ more from a one-step LANCZOS because each is made from the next larger one.
    bounds = {"S": (25.0, 10.0), "M": (26.0, 9.0), "L": (32.0, 4.0)}
    for code, size in (("S", 48), ("M", 72), ("L", 300)):
        min_psnr, max_diff = bounds[code]
        r = client.get(f"{LIBRARY}/alice_example_org_{code}Thumb.jpg", headers=auth)
        image = open_image(r.content)
        assert image.format == "JPEG" and image.mode == "RGB"
        assert image.size == (size, size)
        expected = resized(master, size)
        assert psnr(image, expected) > min_psnr, code
        assert mean_abs_diff(image, expected) < max_diff, code
        # ...and clearly not a picture of the previous (or anyone else's) photo.
        assert mean_abs_diff(image, resized(other, size)) > 3 * mean_abs_diff(image, expected)


def test_two_concurrent_triggers_pull_once_and_both_answer_the_new_picture(
    client: TestClient, services: Services, alice: UserInfo, counting: CountingSource
) -> None:
    set_mailbox_photo(services, alice)
    counting.fetch_delay = 0.3  # the first pull is still running when the second arrives
    sessions = [sign_in(services, alice), sign_in(services, alice)]
    answers: list[httpx.Response] = []
    start = threading.Barrier(2)

    def ask(auth: dict[str, str]) -> None:
        start.wait()
        answers.append(userphoto(client, auth, alice.upn, "L"))

    threads = [threading.Thread(target=ask, args=(auth,)) for auth in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counting.fetches == 1
    assert [c.result for c in checks(services.ctx, alice, "updated")] == ["updated"]
    assert len(answers) == 2
    assert not any(is_placeholder(r) for r in answers)
    assert answers[0].content == answers[1].content


def test_a_sync_killed_half_way_leaves_the_previous_picture(
    client: TestClient,
    services: Services,
    alice: UserInfo,
    bob: UserInfo,
    dying: DyingTarget,
    clock: MovableClock,
) -> None:
    set_mailbox_photo(services, alice, seed=1)
    dying.dying = False
    services.sync.check_now(alice.upn, actor="test")
    auth = sign_in(services, bob)
    before = {code: userphoto(client, auth, alice.upn, code).content for code in "SML"}
    status_before = services.sites.profile_status(alice.id)

    set_mailbox_photo(services, alice, seed=2)
    dying.dying = True
    clock.advance(hours=1)
    outcome = services.sync.check_now(alice.upn, actor="test")
    assert outcome.result == "error" and "killed" in (outcome.error or "")
    # The new thumbnails were made and handed over, but no library row holds or points at them.
    [handed] = dying.handed[-1:]
    assert set(handed) == {"S", "M", "L"}
    refs = {code: sha256_hex(data) for code, data in handed.items()}
    with services.ctx.db.session() as session:
        rows = session.execute(select(LibraryFile.sha256, LibraryFile.data)).all()
    assert len(rows) == 3  # the previous picture's S/M/L
    assert not {sha for sha, _ in rows} & set(refs.values())
    assert not {data for _, data in rows} & set(handed.values())
    after = {code: userphoto(client, auth, alice.upn, code).content for code in "SML"}
    assert after == before
    status = services.sites.profile_status(alice.id)
    assert status.picture_timestamp == status_before.picture_timestamp
    assert status.source_etag == status_before.source_etag
    assert services.sync.status(alice.id).history.last_result == "error"

    # Once the target works again, an admin check takes the new picture.
    dying.dying = False
    assert services.sync.check_now(alice.upn, actor="test").result == "updated"
    assert userphoto(client, auth, alice.upn, "L").content != before["L"]


def test_unchanged_source_writes_nothing_but_records_the_check(
    services: Services, alice: UserInfo, clock: MovableClock, counting: CountingSource
) -> None:
    set_mailbox_photo(services, alice)
    first = services.sync.check_now(alice.upn, actor="admin@example.org")
    assert first.result == "updated" and counting.fetches == 1
    with services.ctx.db.session() as session:
        files = {(f.path, f.sha256, f.modified_at) for f in session.scalars(select(LibraryFile))}
        audits = session.scalar(select(func.count()).select_from(AuditEvent))
    timestamp = services.sites.profile_status(alice.id).picture_timestamp
    clock.advance(hours=2)
    second = services.sync.check_now(alice.upn, actor="admin@example.org")
    assert second.result == "unchanged" and counting.fetches == 1
    assert second.from_etag == second.to_etag == first.to_etag
    with services.ctx.db.session() as session:
        assert {
            (f.path, f.sha256, f.modified_at) for f in session.scalars(select(LibraryFile))
        } == files
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == audits
    status = services.sites.profile_status(alice.id)
    assert status.picture_timestamp == timestamp
    history = services.sync.status(alice.id).history
    assert history.last_check_at == clock.now and history.last_result == "unchanged"
    assert [c.trigger for c in checks(services.ctx, alice)] == ["admin", "admin"]


def test_a_change_is_audited(services: Services, alice: UserInfo) -> None:
    etag = set_mailbox_photo(services, alice)
    services.sync.check_now(alice.upn, actor="admin@example.org")
    with services.ctx.db.session() as session:
        rows = session.scalars(
            select(AuditEvent).where(
                AuditEvent.subject_user_id == alice.id, AuditEvent.action.like("sites.%")
            )
        ).all()
    [row] = rows
    assert row.action == "sites.picture.synced" and row.actor == "admin@example.org"
    assert row.detail["source_etag"] == etag


def test_every_check_is_recorded_with_its_details(
    client: TestClient, services: Services, alice: UserInfo
) -> None:
    etag = set_mailbox_photo(services, alice)
    userphoto(client, sign_in(services, alice), alice.upn, "L")
    [check] = checks(services.ctx, alice)
    assert check.user_id == alice.id
    assert (check.trigger, check.reason, check.result) == (
        "own-large",
        "never-checked",
        "updated",
    )
    assert check.from_etag is None and check.to_etag == etag
    assert check.duration_ms >= 0 and check.error is None
    assert check.started_at is not None and check.session_id
    recent = services.sync.recent_checks(alice.id)
    assert [(o.result, o.to_etag) for o in recent] == [("updated", etag)]


def test_a_check_commits_once_with_its_record_and_a_failed_commit_records_only_the_error(
    services: Services, alice: UserInfo, clock: MovableClock, rewire: Rewire
) -> None:
    """The record of a check is written in the transaction that shows the picture: when that
    transaction fails after writing it, the record goes with it and only the error remains."""
    set_mailbox_photo(services, alice, seed=1)
    first = services.sync.check_now(alice.upn, actor="test")
    assert first.result == "updated" and first.picture_timestamp
    [row] = checks(services.ctx, alice)
    assert (row.result, row.to_etag, row.duration_ms) == (
        "updated",
        first.to_etag,
        first.duration_ms,
    )
    status_before = services.sites.profile_status(alice.id)

    class FailsAfterRecording(DatabaseLedger):
        """Writes the record inside the picture's transaction, then that transaction fails."""

        def writer(self, check: CheckOutcome) -> Callable[[Connection], None]:
            write = super().writer(check)

            def record_then_fail(conn: Connection) -> None:
                write(conn)
                raise SystemError("the database went away before COMMIT")

            return record_then_fail

    ledger = FailsAfterRecording(services.ctx.db)
    rewire(target=SitesProfileTarget(services.sites, ledger))
    set_mailbox_photo(services, alice, seed=2)
    clock.advance(hours=1)
    outcome = services.sync.check_now(alice.upn, actor="test")
    assert outcome.result == "error" and "went away" in (outcome.error or "")
    assert [c.result for c in checks(services.ctx, alice)] == ["updated", "error"]
    status = services.sites.profile_status(alice.id)
    assert status.picture_timestamp == status_before.picture_timestamp
    assert status.source_etag == status_before.source_etag
    assert services.sync.status(alice.id).history.last_result == "error"
