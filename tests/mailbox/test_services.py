"""MailboxService: versions, previews, deletes, the directory thumbnail, and write ordering."""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from photosync.context import Context
from photosync.directory.interfaces import UserInfo
from photosync.imaging import CropBox, ImageRejected
from photosync.mailbox.errors import (
    MailboxNotEnabled,
    PhotoNotFound,
    PreviewNotFound,
    UserNotFound,
)
from photosync.mailbox.models import MailboxPhoto, PhotoRendition, PhotoVersion
from photosync.mailbox.services import MailboxService
from photosync.services import Services
from tests.conftest import MovableClock
from tests.mailbox.conftest import blob_files, jpeg, mean_colour, open_image, row_counts


@pytest.fixture
def mailbox(services: Services) -> MailboxService:
    return services.mailbox


def two_halves(left: tuple[int, int, int], right: tuple[int, int, int]) -> bytes:
    image = Image.new("RGB", (800, 600), left)
    image.paste(right, (400, 0, 800, 600))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92)
    return out.getvalue()


def test_set_photo_stores_one_whole_version(
    mailbox: MailboxService, alice: UserInfo, ctx: Context, clock: MovableClock
) -> None:
    before = row_counts(ctx)
    info = mailbox.set_photo(alice.id, jpeg(700, 600), actor="tester")
    assert re.fullmatch(r"[0-9A-F]{8}", info.etag)
    assert info.sizes == (48, 64, 96, 120, 240, 360, 432, 504)
    assert info.master_size == 504
    assert info.created_at == clock.now
    assert info.created_by == "tester"
    after = row_counts(ctx)
    assert after["photo_versions"] - before["photo_versions"] == 1
    assert after["photo_renditions"] - before["photo_renditions"] == len(info.sizes)
    assert after["mailbox_photos"] - before["mailbox_photos"] == 1
    with ctx.db.session() as session:
        version = session.get(PhotoVersion, info.version_id)
        assert version is not None
        assert (version.source_format, version.source_width, version.source_height) == (
            "jpeg",
            700,
            600,
        )
        for rendition in version.renditions:
            data = ctx.blobs.get(rendition.sha256)
            assert len(data) == rendition.length
            assert open_image(data).size == (rendition.size, rendition.size)
    assert mailbox.current_photo(alice.id) == info
    assert mailbox.current_photo(alice.upn) == info  # by UPN as well


def test_photo_bytes_by_size(mailbox: MailboxService, alice: UserInfo) -> None:
    mailbox.set_photo(alice.id, jpeg(400, 400), actor="t")
    info, master = mailbox.photo_bytes(alice.id)
    assert open_image(master).size == (360, 360) == (info.master_size, info.master_size)
    _, small = mailbox.photo_bytes(alice.upn, 48)
    assert open_image(small).size == (48, 48)
    with pytest.raises(PhotoNotFound):
        mailbox.photo_bytes(alice.id, 432)


def test_blobs_are_written_before_the_rows(
    mailbox: MailboxService, alice: UserInfo, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen_at_begin: list[set[str]] = []
    real = ctx.db.write_session

    @contextmanager
    def watching() -> Iterator[Session]:
        seen_at_begin.append(set(ctx.blobs.keys()))
        with real() as session:
            yield session

    monkeypatch.setattr(ctx.db, "write_session", watching)
    info = mailbox.set_photo(alice.id, jpeg(300, 300), actor="t")
    with ctx.db.session() as session:
        keys = set(
            session.scalars(
                select(PhotoRendition.sha256).where(PhotoRendition.version_id == info.version_id)
            )
        )
    assert keys and keys <= seen_at_begin[0]


def test_a_failed_blob_write_leaves_no_rows(
    mailbox: MailboxService, alice: UserInfo, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = mailbox.set_photo(alice.id, jpeg(300, 300), actor="t")
    before = row_counts(ctx)
    calls = 0
    real_put = ctx.blobs.put

    def failing_put(data: bytes) -> str:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OSError("disk full")
        return real_put(data)

    monkeypatch.setattr(ctx.blobs, "put", failing_put)
    with pytest.raises(OSError):
        mailbox.set_photo(alice.id, jpeg(300, 300, seed=1), actor="t")
    assert row_counts(ctx) == before
    assert mailbox.current_photo(alice.id) == first


def test_each_version_has_its_own_etag(
    mailbox: MailboxService, alice: UserInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = mailbox.set_photo(alice.id, jpeg(100, 100), actor="t")
    # Force the random source to repeat the first etag once: the repeat must be skipped.
    draws = iter([first.etag, "0BADCAFE"])
    monkeypatch.setattr("photosync.mailbox.store.random_etag", lambda: next(draws))
    second = mailbox.set_photo(alice.id, jpeg(100, 100, seed=1), actor="t")
    assert second.etag == "0BADCAFE"
    assert second.version_id != first.version_id


def test_old_versions_blobs_stay_after_a_change_and_a_delete(
    mailbox: MailboxService, alice: UserInfo, ctx: Context
) -> None:
    mailbox.set_photo(alice.id, jpeg(300, 300), actor="t")
    files = blob_files(ctx)
    mailbox.set_photo(alice.id, jpeg(300, 300, seed=1), actor="t")
    mailbox.delete_photo(alice.id, actor="t")
    assert files <= blob_files(ctx)
    with ctx.db.session() as session:
        assert len(session.scalars(select(PhotoVersion)).all()) == 2


def test_crop_box_picks_the_square(mailbox: MailboxService, alice: UserInfo) -> None:
    # Centre crop of a red|blue picture is half and half; a crop of the right side is all blue.
    mailbox.set_photo(alice.id, two_halves((220, 20, 20), (20, 20, 220)), actor="t")
    r, _, b = mean_colour(open_image(mailbox.photo_bytes(alice.id, 96)[1]))
    assert 80 < r < 160 and 80 < b < 160
    mailbox.set_photo(
        alice.id, two_halves((220, 20, 20), (20, 20, 220)), actor="t", crop=CropBox(400, 0, 400)
    )
    info, data = mailbox.photo_bytes(alice.id, 96)
    r, _, b = mean_colour(open_image(data))
    assert b > 200 and r < 40
    assert info.sizes[-1] == 360  # a 400 px crop offers sizes up to 360


def test_preview_save_and_cancel(
    mailbox: MailboxService, alice: UserInfo, services: Services
) -> None:
    changed: list[object] = []
    services.ctx.events.subscribe("photo.changed", lambda **ids: changed.append(ids))
    saved = mailbox.set_photo(alice.id, jpeg(300, 300), actor="t")
    thumb = services.directory.get_thumbnail(alice.id)
    preview = mailbox.set_photo(alice.id, jpeg(300, 300, seed=1), actor="t", preview=True)

    # A preview is not the photo: readers, the directory and subscribers still see the old one.
    assert mailbox.current_photo(alice.id) == saved
    assert mailbox.photo_bytes(alice.id)[0] == saved
    assert mailbox.preview_photo(alice.id) == preview
    info, data = mailbox.preview_bytes(alice.id, 96)
    assert info == preview and open_image(data).size == (96, 96)
    assert services.directory.get_thumbnail(alice.id) == thumb
    assert len(changed) == 1

    now = mailbox.save_preview(alice.id, actor="t")
    assert now.version_id == preview.version_id
    assert mailbox.current_photo(alice.id) == now
    assert mailbox.preview_photo(alice.id) is None
    assert services.directory.get_thumbnail(alice.id) != thumb
    assert changed[-1] == {"user_id": alice.id, "version_id": preview.version_id}
    with pytest.raises(PreviewNotFound):
        mailbox.save_preview(alice.id, actor="t")
    with pytest.raises(PreviewNotFound):
        mailbox.preview_bytes(alice.id)

    mailbox.set_photo(alice.id, jpeg(300, 300, seed=2), actor="t", preview=True)
    mailbox.cancel_preview(alice.id, actor="t")
    assert mailbox.preview_photo(alice.id) is None
    assert mailbox.current_photo(alice.id) == now
    mailbox.cancel_preview(alice.id, actor="t")  # nothing to cancel: nothing happens
    assert len(changed) == 2


def test_delete(mailbox: MailboxService, alice: UserInfo, services: Services) -> None:
    changed: list[object] = []
    services.ctx.events.subscribe("photo.changed", lambda **ids: changed.append(ids))
    with pytest.raises(PhotoNotFound):
        mailbox.delete_photo(alice.id, actor="t")
    mailbox.set_photo(alice.id, jpeg(300, 300), actor="t")
    mailbox.delete_photo(alice.id, actor="t")
    assert mailbox.current_photo(alice.id) is None
    with pytest.raises(PhotoNotFound):
        mailbox.photo_bytes(alice.id)
    assert services.directory.get_thumbnail(alice.id) is None
    assert changed[-1] == {"user_id": alice.id, "version_id": None}


def test_unknown_user_and_user_without_mailbox(
    mailbox: MailboxService, add_user: Callable[..., UserInfo]
) -> None:
    lee = add_user("lee@example.org", mailbox=False)
    for who, error in (("nobody@example.org", UserNotFound), (lee.id, MailboxNotEnabled)):
        assert mailbox.current_photo(who) is None
        assert mailbox.preview_photo(who) is None
        with pytest.raises(error):
            mailbox.photo_bytes(who)
        with pytest.raises(error):
            mailbox.set_photo(who, jpeg(100, 100), actor="t")
        # Callers that know only MailboxReader see both as "no photo".
        assert issubclass(error, PhotoNotFound)


def test_rejected_upload_stores_nothing(
    mailbox: MailboxService, alice: UserInfo, ctx: Context
) -> None:
    before_rows, before_files = row_counts(ctx), blob_files(ctx)
    for bad in (b"", b"<html><body>hi</body></html>", jpeg(300, 300)[:500]):
        with pytest.raises(ImageRejected):
            mailbox.set_photo(alice.id, bad, actor="t")
    assert row_counts(ctx) == before_rows
    assert blob_files(ctx) == before_files


def test_first_writes_racing_for_one_user_both_land(
    mailbox: MailboxService, alice: UserInfo, ctx: Context
) -> None:
    photos = [jpeg(200, 200, seed=s) for s in range(2)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def upload(data: bytes) -> None:
        try:
            barrier.wait()
            mailbox.set_photo(alice.id, data, actor="t")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=upload, args=(p,)) for p in photos]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with ctx.db.session() as session:
        versions = session.scalars(select(PhotoVersion.id)).all()
        pointer = session.get(MailboxPhoto, alice.id)
        assert len(versions) == 2
        assert pointer is not None and pointer.current_version_id in versions


def test_a_failing_directory_does_not_undo_the_saved_photo(
    mailbox: MailboxService, alice: UserInfo, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mailbox is the source of truth: its commit stands even if the thumbnail copy fails."""

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("directory is down")

    monkeypatch.setattr(services.directory, "set_thumbnail", broken)
    info = mailbox.set_photo(alice.id, jpeg(300, 300), actor="t")
    assert mailbox.current_photo(alice.id) == info
    mailbox.delete_photo(alice.id, actor="t")
    assert mailbox.current_photo(alice.id) is None


def test_photo_changed_is_published_after_the_commit(
    mailbox: MailboxService, alice: UserInfo, services: Services
) -> None:
    # A subscriber reads in its own transaction: at event time the new version must be visible.
    visible: list[str | None] = []

    def on_change(user_id: str, version_id: str | None) -> None:
        info = mailbox.current_photo(user_id)
        visible.append(info.version_id if info else None)

    services.ctx.events.subscribe("photo.changed", on_change)
    info = mailbox.set_photo(alice.id, jpeg(200, 200), actor="t")
    mailbox.delete_photo(alice.id, actor="t")
    assert visible == [info.version_id, None]
