"""Change your photo through the page's forms: preview, crop, save, cancel, remove, refusals."""

from __future__ import annotations

import io
import re

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from photosync.directory.interfaces import UserInfo
from photosync.services import Services
from tests.portal.conftest import (
    BLUE,
    GREEN,
    RED,
    alert,
    bands,
    mean_colour,
    near,
    page_token,
    sign_in,
)


def upload(
    client: TestClient, data: bytes, name: str = "me.jpg", token: str | None = None, **crop: int
) -> httpx.Response:
    response: httpx.Response = client.post(
        "/photo/preview",
        data={"csrf_token": token or page_token(client), **{k: str(v) for k, v in crop.items()}},
        files={"photo": (name, data, "image/jpeg")},
        follow_redirects=False,
    )
    return response


def current_master(services: Services, user: UserInfo) -> bytes:
    _, data = services.mailbox.photo_bytes(user.id)
    return data


def test_upload_with_a_crop_shows_a_preview_then_save_makes_it_the_photo(
    client: TestClient, signed_in: UserInfo, services: Services
) -> None:
    # Left half red, right half blue; the crop keeps the blue square.
    r = upload(client, bands(1400, 700, [RED, BLUE]), left=700, top=0, side=700)
    assert r.status_code == 303
    assert r.headers["location"] == "/photo#preview"
    assert services.mailbox.current_photo(signed_in.id) is None  # only a preview so far

    page = client.get("/photo").text
    previews = re.findall(r'src="(/photo/preview/(\d+)\?v=\w+)"', page)
    assert [size for _, size in previews] == ["48", "96", "648"]
    for url, size in previews:
        image = client.get(url)
        assert image.status_code == 200
        assert image.headers["content-type"] == "image/jpeg"
        assert image.headers["cache-control"] == "no-store"
        with Image.open(io.BytesIO(image.content)) as decoded:
            assert decoded.size == (int(size), int(size))
        assert near(mean_colour(image.content), BLUE)

    r = client.post("/photo/save", data={"csrf_token": page_token(client)}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/photo?done=saved"
    info = services.mailbox.current_photo(signed_in.id)
    assert info is not None
    assert near(mean_colour(current_master(services, signed_in)), BLUE)
    assert services.mailbox.preview_photo(signed_in.id) is None

    # Header and home show the new version at once: the URL carries the new etag.
    home = client.get("/").text
    urls = re.findall(r'src="(/v1\.0/me/photos/\d+x\d+/\$value\?v=(\w+))"', home)
    assert urls and all(etag == info.etag for _, etag in urls)
    assert near(mean_colour(client.get(urls[0][0]).content), BLUE)
    assert "Your new photo is saved" in client.get("/photo?done=saved").text


def test_without_a_crop_the_middle_square_is_kept(
    client: TestClient, signed_in: UserInfo, services: Services
) -> None:
    assert upload(client, bands(900, 300, [RED, GREEN, BLUE])).status_code == 303
    _, data = services.mailbox.preview_bytes(signed_in.id)
    assert near(mean_colour(data), GREEN)


def test_cancel_leaves_the_old_photo(
    client: TestClient, signed_in: UserInfo, services: Services
) -> None:
    services.mailbox.set_photo(signed_in.id, bands(700, 700, [RED]), actor="test")
    before = services.mailbox.current_photo(signed_in.id)
    assert upload(client, bands(700, 700, [BLUE])).status_code == 303
    assert services.mailbox.preview_photo(signed_in.id) is not None

    r = client.post(
        "/photo/cancel", data={"csrf_token": page_token(client)}, follow_redirects=False
    )
    assert r.headers["location"] == "/photo?done=cancelled"
    assert services.mailbox.current_photo(signed_in.id) == before
    assert services.mailbox.preview_photo(signed_in.id) is None
    assert near(mean_colour(current_master(services, signed_in)), RED)
    assert client.get("/photo/preview/96").status_code == 404


def _huge_png() -> bytes:
    out = io.BytesIO()
    Image.new("1", (8000, 7000)).save(out, "PNG")  # 56 megapixels in a few kilobytes
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"this is a text file, not a photo", "not an image"),
        (b"\xff\xd8\xff" + b"\0" * (4 * 1024 * 1024 + 10), "at most"),
        (_huge_png(), "megapixels"),
        (b"", "Choose a photo"),
    ],
    ids=["not-an-image", "too-big", "too-many-pixels", "empty"],
)
def test_a_bad_file_is_explained_in_the_page_and_changes_nothing(
    client: TestClient, signed_in: UserInfo, services: Services, data: bytes, words: str
) -> None:
    services.mailbox.set_photo(signed_in.id, bands(700, 700, [RED]), actor="test")
    before = services.mailbox.current_photo(signed_in.id)
    r = upload(client, data, name="" if not data else "file.bin")
    assert 400 <= r.status_code < 500
    message = alert(r.text)
    assert message and words in message
    assert "Traceback" not in r.text
    assert services.mailbox.current_photo(signed_in.id) == before
    assert services.mailbox.preview_photo(signed_in.id) is None


def test_a_huge_upload_is_refused_before_it_is_read(
    client: TestClient, signed_in: UserInfo, services: Services
) -> None:
    services.ctx.settings.max_upload_bytes = 10_000
    r = upload(client, b"\xff\xd8\xff" + b"\0" * 200_000)  # over the limit and the form's margin
    assert r.status_code == 413
    assert "far too big" in (alert(r.text) or "")
    r = upload(client, b"\xff\xd8\xff" + b"\0" * 20_000)  # over, but not far over
    assert r.status_code == 413
    assert "at most" in (alert(r.text) or "")
    assert services.mailbox.preview_photo(signed_in.id) is None


def test_a_crop_outside_the_picture_is_explained(
    client: TestClient, signed_in: UserInfo, services: Services
) -> None:
    r = upload(client, bands(800, 600, [RED]), left=500, top=0, side=600)
    assert r.status_code == 400
    assert "does not fit" in (alert(r.text) or "")
    assert services.mailbox.preview_photo(signed_in.id) is None


def test_remove_photo(client: TestClient, signed_in: UserInfo, services: Services) -> None:
    services.mailbox.set_photo(signed_in.id, bands(700, 700, [RED]), actor="test")
    assert "Remove photo" in client.get("/photo").text
    r = client.post(
        "/photo/remove", data={"csrf_token": page_token(client)}, follow_redirects=False
    )
    assert r.headers["location"] == "/photo?done=removed"
    assert services.mailbox.current_photo(signed_in.id) is None
    assert client.get("/v1.0/me/photo/$value").status_code == 404
    page = client.get("/photo?done=removed").text
    assert "Your photo was removed." in page
    assert "Remove photo" not in page


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_photo_forms_without_the_session_token_are_refused(
    client: TestClient, signed_in: UserInfo, services: Services, token: str | None
) -> None:
    services.mailbox.set_photo(signed_in.id, bands(700, 700, [RED]), actor="test")
    before = services.mailbox.current_photo(signed_in.id)
    form = {} if token is None else {"csrf_token": token}
    for action in ("/photo/remove", "/photo/save", "/photo/cancel"):
        r = client.post(action, data=form, follow_redirects=False)
        assert r.status_code == 403, action
        assert "another site" in r.text
    r = client.post(
        "/photo/preview",
        data=form,
        files={"photo": ("x.jpg", bands(700, 700, [BLUE]), "image/jpeg")},
        follow_redirects=False,
    )
    assert r.status_code == 403
    assert services.mailbox.current_photo(signed_in.id) == before
    assert services.mailbox.preview_photo(signed_in.id) is None


def test_another_sessions_token_is_no_good(
    client: TestClient, signed_in: UserInfo, services: Services, app: FastAPI
) -> None:
    services.mailbox.set_photo(signed_in.id, bands(700, 700, [RED]), actor="test")
    with TestClient(app) as other:
        sign_in(other, signed_in.upn)
        other_token = page_token(other)
    r = client.post("/photo/remove", data={"csrf_token": other_token})
    assert r.status_code == 403
    assert services.mailbox.current_photo(signed_in.id) is not None


def test_save_without_a_preview_says_so(client: TestClient, signed_in: UserInfo) -> None:
    r = client.post("/photo/save", data={"csrf_token": page_token(client)})
    assert r.status_code == 409
    assert "no preview" in (alert(r.text) or "")


def test_a_user_without_a_mailbox_uploads_to_sharepoint(
    client: TestClient, services: Services
) -> None:
    kiosk = services.directory.add_user(
        "kiosk@example.org", "Kiosk", password="pw-kiosk-123", has_mailbox=False
    )
    sign_in(client, "kiosk@example.org", password="pw-kiosk-123")
    page = client.get("/photo")
    assert page.status_code == 200
    assert "no mailbox" in page.text and "ask your administrator" not in page.text.lower()

    r = upload(client, bands(700, 700, [BLUE]))
    assert r.status_code == 200, r.text
    assert "picture is uploaded to SharePoint" in r.text
    status = services.sites.profile_status(kiosk.id)
    assert status.has_picture and status.picture_source == "upload"
    # The header shows the picture SharePoint shows, not initials.
    home = client.get("/").text
    header = re.search(r"<summary>.*?</summary>", home, re.S)
    assert header and "userphoto.aspx?size=S&amp;accountname=kiosk@example.org&amp;t=" in header[0]
    assert "avatar-initials" not in header[0]

    token = page_token(client, "/")
    for action in ("/photo/save", "/photo/cancel"):
        r = client.post(action, data={"csrf_token": token})
        assert r.status_code in (200, 303, 409), action  # explained or a no-op, never a crash
    r = client.post("/photo/remove", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    assert not services.sites.profile_status(kiosk.id).has_picture


def test_without_a_mailbox_and_with_editing_off_the_page_says_ask_an_admin(
    client: TestClient, services: Services
) -> None:
    services.directory.add_user(
        "kiosk@example.org", "Kiosk", password="pw-kiosk-123", has_mailbox=False
    )
    services.sync.set_picture_editable(False, actor="test")
    sign_in(client, "kiosk@example.org", password="pw-kiosk-123")
    page = client.get("/photo")
    assert "Ask your administrator" in page.text and 'id="upload-form"' not in page.text
    r = upload(client, bands(700, 700, [BLUE]), token=page_token(client, "/"))
    assert r.status_code == 403
