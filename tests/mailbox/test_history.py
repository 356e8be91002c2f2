"""Photo history, restore, and collecting old versions and unused blobs (``photosync gc``)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from photosync.audit import AuditEvent
from photosync.blobs import BlobNotFound, sha256_hex
from photosync.cli import main
from photosync.directory.interfaces import UserInfo
from photosync.mailbox.errors import VersionNotFound
from photosync.mailbox.models import PhotoRendition, PhotoVersion
from photosync.mailbox.services import PHOTO_CHANGED
from photosync.services import Services
from tests.conftest import TEST_KEY, MovableClock
from tests.mailbox.conftest import jpeg, open_image
from tests.mailbox.test_cli import Cli

HOUR = 3600
SIZES = 5  # a 300 px photo is offered at 48, 64, 96, 120 and 240


def age_blobs(services: Services, seconds: float = 2 * HOUR) -> None:
    """Make every stored blob look written ``seconds`` ago (gc goes by the file's time)."""
    past = time.time() - seconds
    for path in services.ctx.settings.blob_dir.rglob("*"):
        if path.is_file():
            os.utime(path, (past, past))


def blob_keys(services: Services) -> set[str]:
    return set(services.ctx.blobs.keys())


def referenced(services: Services) -> set[str]:
    with services.ctx.db.session() as session:
        return set(session.scalars(select(PhotoRendition.sha256)))


def set_photos(
    services: Services, user: UserInfo, clock: MovableClock, count: int, *, first_seed: int = 0
) -> list[str]:
    """``count`` saved photos a minute apart; their version ids, oldest first."""
    ids = []
    for seed in range(first_seed, first_seed + count):
        clock.advance(minutes=1)
        ids.append(
            services.mailbox.set_photo(user.id, jpeg(300, 300, seed=seed), actor="t").version_id
        )
    return ids


def test_history_lists_versions_newest_first(
    services: Services, alice: UserInfo, clock: MovableClock
) -> None:
    first, second = set_photos(services, alice, clock, 2)
    clock.advance(minutes=1)
    pending = services.mailbox.set_photo(
        alice.id, jpeg(700, 520, seed=9), actor="admin@example.org", preview=True
    )
    history = services.mailbox.history(alice.upn)
    assert [v.info.version_id for v in history] == [pending.version_id, second, first]
    assert [(v.current, v.preview) for v in history] == [
        (False, True),
        (True, False),
        (False, False),
    ]
    newest = history[0].as_json()
    assert set(newest) == {"id", "at", "by", "sha256", "sizes", "current", "preview"}
    assert newest["by"] == "admin@example.org"
    assert newest["sizes"] == [48, 64, 96, 120, 240, 360, 432, 504]
    # sha256 is the master rendition's: the bytes a client downloads at full size.
    _, master = services.mailbox.preview_bytes(alice.id)
    assert newest["sha256"] == sha256_hex(master)
    assert services.mailbox.history(alice.id)[1].info.etag != history[2].info.etag


def test_restore_is_a_new_version_on_the_same_blobs(
    services: Services, alice: UserInfo, clock: MovableClock
) -> None:
    first, second = set_photos(services, alice, clock, 2)
    before = services.mailbox.history(alice.id)
    seen: list[dict[str, Any]] = []

    def on_change(**ids: Any) -> None:
        # After the commit: another connection already sees the restored version as current.
        seen.append({**ids, "current": services.mailbox.stored_photo(alice.id)})

    services.ctx.events.subscribe(PHOTO_CHANGED, on_change)
    clock.advance(minutes=1)
    keys_before = blob_keys(services)
    restored = services.mailbox.restore_version(alice.upn, first, actor="admin@example.org")

    assert restored.version_id not in (first, second)
    history = services.mailbox.history(alice.id)
    assert [v.info.version_id for v in history] == [restored.version_id, second, first]
    assert history[0].current and history[0].sha256 == before[1].sha256
    old_etags = {v.info.etag for v in before}
    assert restored.etag not in old_etags and restored.created_by == "admin@example.org"
    assert blob_keys(services) == keys_before  # no blob copied
    _, data = services.mailbox.photo_bytes(alice.id, 96)
    assert data == services.mailbox.version_bytes(alice.id, first, 96)
    assert open_image(data).size == (96, 96)

    assert len(seen) == 1 and seen[0]["version_id"] == restored.version_id
    assert seen[0]["current"].info.version_id == restored.version_id
    with services.ctx.db.session() as session:
        audit = session.execute(
            select(AuditEvent).where(AuditEvent.action == "mailbox.photo.restored")
        ).scalar_one()
    assert (audit.actor, audit.subject_user_id) == ("admin@example.org", alice.id)
    assert audit.detail["restored_from"] == first
    assert audit.detail["version_id"] == restored.version_id
    assert audit.detail["etag"] == restored.etag


def test_only_ones_own_versions_can_be_restored(
    services: Services, alice: UserInfo, add_user: Callable[..., UserInfo], clock: MovableClock
) -> None:
    bob = add_user("bob@example.org")
    (bobs,) = set_photos(services, bob, clock, 1)
    set_photos(services, alice, clock, 1)
    with pytest.raises(VersionNotFound, match=r"alice@example\.org has no photo version"):
        services.mailbox.restore_version(alice.id, bobs, actor="t")
    with pytest.raises(VersionNotFound):
        services.mailbox.version_bytes(alice.id, bobs, 48)
    assert services.mailbox.current_photo(bob.id) is not None
    assert len(services.mailbox.history(alice.id)) == 1


def test_gc_keeps_the_newest_versions_and_always_the_current_and_the_preview(
    services: Services, alice: UserInfo, clock: MovableClock
) -> None:
    services.ctx.settings.photo_history_keep = 3
    ids = set_photos(services, alice, clock, 5)  # ids[4] current
    clock.advance(minutes=1)
    preview = services.mailbox.set_photo(alice.id, jpeg(300, 300, seed=50), actor="t", preview=True)
    # The oldest becomes current again through a restore: the newest version, sharing blobs.
    clock.advance(minutes=1)
    restored = services.mailbox.restore_version(alice.id, ids[0], actor="t")
    age_blobs(services)

    report = services.mailbox.collect_garbage()
    kept = [v.info.version_id for v in services.mailbox.history(alice.id)]
    # Three kept: the current (restored), the preview, then the newest other one.
    assert kept == [restored.version_id, preview.version_id, ids[4]]
    assert (report.versions, report.renditions) == (4, 4 * SIZES)
    # ids[0]'s rows are gone but its blobs are the restored version's: they stay.
    assert blob_keys(services) == referenced(services)
    assert report.blobs == 3 * SIZES and report.young_blobs == 0
    _, data = services.mailbox.photo_bytes(alice.id, 48)
    assert open_image(data).size == (48, 48)
    _, data = services.mailbox.preview_bytes(alice.id, 48)
    assert open_image(data).size == (48, 48)

    again = services.mailbox.collect_garbage()
    assert (again.versions, again.blobs) == (0, 0)


def test_gc_with_keep_zero_keeps_only_the_photo_and_the_preview(
    services: Services, alice: UserInfo, clock: MovableClock
) -> None:
    services.ctx.settings.photo_history_keep = 0
    ids = set_photos(services, alice, clock, 3)
    services.mailbox.collect_garbage()
    assert [v.info.version_id for v in services.mailbox.history(alice.id)] == [ids[-1]]
    services.mailbox.delete_photo(alice.id, actor="t")
    age_blobs(services)
    services.mailbox.collect_garbage()
    assert services.mailbox.history(alice.id) == [] and blob_keys(services) == set()


def test_a_blob_written_but_not_yet_referenced_survives_gc(
    services: Services, alice: UserInfo, clock: MovableClock
) -> None:
    """The upload race: blobs are written before the row that points to them commits."""
    services.ctx.settings.photo_history_keep = 1
    set_photos(services, alice, clock, 2)
    orphan = services.ctx.blobs.put(b"an old orphan")
    age_blobs(services)
    # An upload on its way in: its blobs are written, its transaction has not committed yet.
    on_its_way = services.ctx.blobs.put(b"renditions of a photo being uploaded")
    # Another upload whose bytes equal an old unreferenced blob: put() finds it there and
    # restarts its clock, so gc, which sees it unreferenced, still leaves it.
    assert services.ctx.blobs.age(orphan) > HOUR
    assert services.ctx.blobs.put(b"an old orphan") == orphan

    report = services.mailbox.collect_garbage()
    assert report.versions == 1 and report.blobs == SIZES
    assert report.young_blobs == 2
    assert services.ctx.blobs.exists(on_its_way) and services.ctx.blobs.exists(orphan)
    assert blob_keys(services) == referenced(services) | {on_its_way, orphan}

    # The upload died and never committed: once the grace period is over, gc takes them.
    age_blobs(services)
    assert services.mailbox.collect_garbage().blobs == 2
    assert blob_keys(services) == referenced(services)


def test_restore_of_a_version_whose_blobs_are_gone_writes_nothing(
    services: Services, alice: UserInfo, clock: MovableClock
) -> None:
    first, _ = set_photos(services, alice, clock, 2)
    stored = services.mailbox.history(alice.id)[1]
    services.ctx.blobs.delete(stored.sha256)
    with services.ctx.db.session() as session:
        versions = session.scalar(select(func.count()).select_from(PhotoVersion))
    with pytest.raises(VersionNotFound, match="are gone"):
        services.mailbox.restore_version(alice.id, first, actor="t")
    with services.ctx.db.session() as session:
        assert session.scalar(select(func.count()).select_from(PhotoVersion)) == versions


def test_restore_restarts_the_clock_of_the_blobs_it_points_to(
    services: Services, alice: UserInfo, clock: MovableClock
) -> None:
    """gc may have found a version's blobs unreferenced a moment before a restore points new
    rows at them; the restore's keep() makes them too new to collect."""
    first, _ = set_photos(services, alice, clock, 2)
    age_blobs(services)
    clock.advance(minutes=1)
    services.mailbox.restore_version(alice.id, first, actor="t")
    master = services.mailbox.history(alice.id)[0].sha256
    assert services.ctx.blobs.age(master) < 60
    with pytest.raises(BlobNotFound):
        services.ctx.blobs.keep("0" * 64)


# --- the commands --------------------------------------------------------------------------


def test_history_restore_and_gc_commands(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "data")
    upn = "alice@example.org"
    cli("users", "add", upn, "--name", "Alice")
    for seed in range(3):
        picture = tmp_path / f"p{seed}.jpg"
        picture.write_bytes(jpeg(400, 400, seed=seed))
        cli("photo", "set", upn, str(picture))
        time.sleep(0.01)  # the real clock orders versions here

    history = json.loads(cli("photo", "history", upn, "--json").output)
    assert [v["current"] for v in history] == [True, False, False]
    assert all(
        set(v) == {"id", "at", "by", "sha256", "sizes", "current", "preview"} for v in history
    )
    assert history[0]["by"] == "cli"
    table = cli("photo", "history", upn).output
    assert history[2]["id"] in table and "current" in table

    out = cli("photo", "restore", upn, history[2]["id"]).output
    assert out.startswith(f"restored {history[2]['id']} as the photo of {upn}: version ")
    after = json.loads(cli("photo", "history", upn, "--json").output)
    assert after[0]["sha256"] == history[2]["sha256"] and after[0]["current"]
    r = cli("photo", "restore", upn, "no-such-version", ok=False)
    assert r.output == f"Error: {upn} has no photo version no-such-version\n"
    r = cli("photo", "history", "nobody@example.org", ok=False)
    assert r.output == "Error: no user nobody@example.org\n"

    result = cli.runner.invoke(
        main,
        ["--data", str(cli.data), "gc"],
        env={"PHOTOSYNC_SECRET_KEY": TEST_KEY, "PHOTOSYNC_PHOTO_HISTORY_KEEP": "2"},
    )
    assert result.exit_code == 0, result.output
    # Six sizes of a 400 px photo. The first version's files are the restored one's; the
    # second's are too new to delete.
    assert result.output == (
        "removed 2 photo version(s) (12 renditions) and 0 unused file(s); "
        "6 unused file(s) newer than an hour left for later\n"
    )
    assert len(json.loads(cli("photo", "history", upn, "--json").output)) == 2


def test_the_history_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from photosync.settings import SettingsError, load_settings

    assert load_settings().photo_history_keep == 10
    monkeypatch.setenv("PHOTOSYNC_PHOTO_HISTORY_KEEP", "3")
    assert load_settings().photo_history_keep == 3
    monkeypatch.setenv("PHOTOSYNC_PHOTO_HISTORY_KEEP", "-1")
    with pytest.raises(SettingsError, match="PHOTOSYNC_PHOTO_HISTORY_KEEP='-1' is not valid"):
        load_settings()
