"""Photos for everyone: an admin sets, previews, saves and removes anyone's photo from the
portal (``/photo?user=UPN``, linked from the admin page), a person without a mailbox included
(their picture goes into sites as an upload); nobody else may; and a photo too small to look
sharp is accepted with a warning in the page."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from fastapi.testclient import TestClient

from photosync.directory.interfaces import UserInfo
from photosync.services import Services
from tests.portal.conftest import BLUE, GREEN, RED, alert, bands, page_token, sign_in

BOB = "bob@example.org"


def upload_for(
    client: TestClient, upn: str, data: bytes, token: str, name: str = "face.jpg"
) -> httpx.Response:
    response: httpx.Response = client.post(
        "/photo/preview",
        data={"csrf_token": token, "user": upn},
        files={"photo": (name, data, "image/jpeg")},
        follow_redirects=False,
    )
    return response


def test_an_admin_previews_saves_and_removes_someone_elses_photo(
    client: TestClient, make_user: Callable[..., UserInfo], services: Services
) -> None:
    admin = make_user("ada@example.org", "Ada Admin", admin=True)
    bob = make_user(BOB, "Bob Jones")
    sign_in(client, admin.upn)
    page = client.get("/photo", params={"user": BOB})
    assert page.status_code == 200
    assert "Change Bob Jones&#39;s photo" in page.text or "Change Bob Jones's photo" in page.text
    token = page_token(client)

    r = upload_for(client, BOB, bands(700, 700, [RED]), token)
    assert r.status_code == 303 and r.headers["location"] == "/photo?user=bob%40example.org#preview"
    assert services.mailbox.preview_photo(bob.id) is not None
    assert services.mailbox.current_photo(bob.id) is None
    page = client.get("/photo", params={"user": BOB}).text
    assert "/photo/preview/648?user=bob%40example.org&amp;v=" in page
    assert client.get("/photo/preview/648", params={"user": BOB}).status_code == 200
    assert services.mailbox.preview_photo(admin.id) is None  # not the admin's own

    r = client.post("/photo/save", data={"csrf_token": token, "user": BOB}, follow_redirects=False)
    assert (
        r.status_code == 303 and r.headers["location"] == "/photo?user=bob%40example.org&done=saved"
    )
    saved = services.mailbox.current_photo(bob.id)
    assert saved is not None and saved.created_by == admin.upn

    r = client.post("/photo/remove", data={"csrf_token": token, "user": BOB})
    assert r.status_code == 200 and "The photo was removed." in r.text
    assert services.mailbox.current_photo(bob.id) is None


def test_nobody_else_may_change_someone_elses_photo(
    client: TestClient, make_user: Callable[..., UserInfo], services: Services
) -> None:
    bob = make_user(BOB, "Bob Jones")
    services.mailbox.set_photo(bob.id, bands(300, 300, [GREEN]), actor="test")
    make_user("carol@example.org", "Carol White")
    sign_in(client, "carol@example.org")
    assert client.get("/photo", params={"user": BOB}).status_code == 403
    token = page_token(client)
    assert upload_for(client, BOB, bands(700, 700, [RED]), token).status_code == 403
    for action in ("/photo/save", "/photo/cancel", "/photo/remove"):
        r = client.post(action, data={"csrf_token": token, "user": BOB})
        assert r.status_code == 403, action
    assert client.get("/photo/preview/48", params={"user": BOB}).status_code == 403
    assert services.mailbox.preview_photo(bob.id) is None
    assert services.mailbox.current_photo(bob.id) is not None  # untouched
    assert client.get("/photo", params={"user": "nobody@example.org"}).status_code == 404


def test_an_admin_uploads_the_picture_of_someone_without_a_mailbox(
    client: TestClient, make_user: Callable[..., UserInfo], services: Services
) -> None:
    admin = make_user("ada@example.org", "Ada Admin", admin=True)
    kiosk = services.directory.add_user("kiosk@example.org", "Kiosk", has_mailbox=False)
    services.sync.set_picture_editable(False, actor="test")  # an admin may all the same
    sign_in(client, admin.upn)
    page = client.get("/photo", params={"user": kiosk.upn}).text
    assert "no mailbox" in page and 'id="upload-form"' in page

    r = upload_for(client, kiosk.upn, bands(500, 500, [BLUE]), page_token(client))
    assert r.status_code == 200, alert(r.text)
    assert "Kiosk&#39;s picture is uploaded to SharePoint." in r.text
    # 500 px covers SharePoint's Large (300 px): no warning.
    assert 'id="photo-warning"' not in r.text
    status = services.sites.profile_status(kiosk.id)
    assert status.has_picture and status.picture_source == "upload"

    # Smaller than the Large size SharePoint shows: accepted, with a warning.
    r = upload_for(client, kiosk.upn, bands(200, 200, [RED]), page_token(client))
    assert r.status_code == 200
    assert "smaller than 300 × 300 pixels" in r.text

    r = client.post(
        "/photo/remove",
        data={"csrf_token": page_token(client), "user": kiosk.upn},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert not services.sites.profile_status(kiosk.id).has_picture


def test_a_30_px_upload_is_accepted_with_a_warning_in_the_page(
    client: TestClient, make_user: Callable[..., UserInfo], services: Services
) -> None:
    alice = make_user("alice@example.org", "Alice")
    sign_in(client, alice.upn)
    r = client.post(
        "/photo/preview",
        data={"csrf_token": page_token(client)},
        files={"photo": ("tiny.jpg", bands(30, 30, [RED]), "image/jpeg")},
    )
    assert r.status_code == 200
    assert 'id="photo-warning"' in r.text and "smaller than 96 × 96 pixels" in r.text
    # The preview offers its one size, 48, shown at 48 under "48 × 48": nothing bigger.
    assert 'width="48" height="48"' in r.text and "96 × 96</figcaption>" not in r.text
    client.post("/photo/save", data={"csrf_token": page_token(client)})
    page = client.get("/photo").text
    assert 'id="current-warning"' in page and "smaller than 96 × 96 pixels" in page
    big = services.mailbox.current_photo(alice.id)
    assert big is not None and big.sizes == (48,)


def test_the_admin_page_links_each_person_to_their_photo(
    client: TestClient, make_user: Callable[..., UserInfo]
) -> None:
    admin = make_user("ada@example.org", "Ada Admin", admin=True)
    make_user(BOB, "Bob Jones")
    sign_in(client, admin.upn)
    page = client.get("/admin").text
    assert 'href="/photo?user=bob%40example.org"' in page
