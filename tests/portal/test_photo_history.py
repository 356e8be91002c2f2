"""Earlier photos on the change-photo page: listed with small pictures, restored with one
button (a new version, audited, sent to sites like any change)."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select

from photosync.audit import AuditEvent
from photosync.directory.interfaces import UserInfo
from photosync.services import Services
from tests.conftest import MovableClock
from tests.portal.conftest import BLUE, GREEN, RED, alert, bands, mean_colour, near, page_token

ITEM = re.compile(r'<li class="earlier-item" data-version="([^"]+)">(.*?)</li>', re.S)


def test_earlier_photos_are_listed_and_one_is_restored(
    client: TestClient, signed_in: UserInfo, services: Services, clock: MovableClock
) -> None:
    versions = []
    for colour in (RED, GREEN, BLUE):
        clock.advance(minutes=5)
        info = services.mailbox.set_photo(signed_in.id, bands(700, 700, [colour]), actor="test")
        versions.append(info.version_id)
    page = client.get("/photo").text
    assert "Earlier photos" in page
    listed = ITEM.findall(page)
    # Newest first, without the current photo.
    assert [version for version, _ in listed] == [versions[1], versions[0]]
    red_item = dict(listed)[versions[0]]
    src = re.search(r'src="([^"]+)"', red_item)
    assert src is not None and src.group(1) == f"/photo/versions/{versions[0]}/48"
    picture = client.get(src.group(1))
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
    assert "immutable" in picture.headers["cache-control"]
    assert near(mean_colour(picture.content), RED)
    assert f"/photo/versions/{versions[0]}/96 2x" in red_item

    before = services.mailbox.current_photo(signed_in.id)
    assert before is not None
    r = client.post(
        "/photo/restore",
        data={"csrf_token": page_token(client), "version_id": versions[0]},
        follow_redirects=False,
    )
    assert (r.status_code, r.headers["location"]) == (303, "/photo?done=restored")
    after = services.mailbox.current_photo(signed_in.id)
    assert after is not None
    assert after.version_id not in versions and after.etag != before.etag
    _, data = services.mailbox.photo_bytes(signed_in.id, 96)
    assert near(mean_colour(data), RED)
    page = client.get("/photo?done=restored").text
    assert "Your earlier photo is your photo again." in page
    # Now the blue one is earlier too (and the red one is listed once more, as it was).
    assert [version for version, _ in ITEM.findall(page)] == versions[::-1]

    with services.ctx.db.session() as session:
        row = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "mailbox.photo.restored")
        ).one()
    assert (row.actor, row.subject_user_id) == (signed_in.upn, signed_in.id)
    assert row.detail["restored_from"] == versions[0]
    assert row.address == "testclient"


def test_restore_needs_the_session_token_and_ones_own_version(
    client: TestClient,
    signed_in: UserInfo,
    services: Services,
    make_user: Callable[..., UserInfo],
    clock: MovableClock,
) -> None:
    bob = make_user("bob@example.org")
    bobs = services.mailbox.set_photo(bob.id, bands(300, 300, [GREEN]), actor="test")
    first = services.mailbox.set_photo(signed_in.id, bands(300, 300, [RED]), actor="test")
    clock.advance(minutes=1)
    current = services.mailbox.set_photo(signed_in.id, bands(300, 300, [BLUE]), actor="test")

    for token in ("", "forged"):
        r = client.post(
            "/photo/restore", data={"csrf_token": token, "version_id": first.version_id}
        )
        assert r.status_code == 403
    r = client.post(
        "/photo/restore",
        data={"csrf_token": page_token(client), "version_id": bobs.version_id},
    )
    assert r.status_code == 409
    assert alert(r.text) == "That earlier photo is no longer kept."
    assert services.mailbox.current_photo(signed_in.id) == current
    assert services.mailbox.current_photo(bob.id) == bobs
    # Nor may anyone look at another person's earlier photos.
    assert client.get(f"/photo/versions/{bobs.version_id}/48").status_code == 404
    assert client.get(f"/photo/versions/{first.version_id}/48").status_code == 200


def test_no_earlier_photos_no_list(
    client: TestClient, signed_in: UserInfo, services: Services
) -> None:
    assert "Earlier photos" not in client.get("/photo").text
    services.mailbox.set_photo(signed_in.id, bands(300, 300, [RED]), actor="test")
    assert "Earlier photos" not in client.get("/photo").text
