"""The admin page: where each person's photo is, searching, checking now, the tenant setting."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from photosync.directory.interfaces import UserInfo
from photosync.services import Services
from tests.portal.conftest import RED, bands, page_token, sign_in

ROW = re.compile(r'<tr data-upn="([^"]+)">(.*?)</tr>', re.S)


def test_admin_lists_where_each_photo_is(
    client: TestClient, make_user: Callable[..., UserInfo], services: Services
) -> None:
    admin = make_user("ada@example.org", "Ada Admin", admin=True)
    bob = make_user("bob@example.org", "Bob Jones")
    carol = make_user("carol@example.org", "Carol White")
    services.mailbox.set_photo(bob.id, bands(700, 700, [RED]), actor="test")
    services.directory.set_thumbnail(carol.id, bands(64, 64, [RED]), actor="test")
    sign_in(client, admin.upn)

    page = client.get("/admin")
    assert page.status_code == 200
    rows = dict(re.findall(r'<tr data-upn="([^"]+)">(.*?)</tr>', page.text, re.S))
    assert set(rows) == {"ada@example.org", "bob@example.org", "carol@example.org"}
    assert "Mailbox photo of Bob Jones" in rows["bob@example.org"]
    assert "Never checked" in rows["bob@example.org"]
    assert "Placeholder" in rows["bob@example.org"]
    assert "Not set" not in rows["carol@example.org"]  # the directory thumbnail is set
    assert "Directory thumbnail of Carol White" in rows["carol@example.org"]
    thumb = client.get(f"/admin/users/{carol.id}/thumbnail")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert client.get(f"/admin/users/{admin.id}/thumbnail").status_code == 404

    # Bob signs in elsewhere and opens OneDrive: sites copies his photo; the admin sees it.
    with TestClient(client.app) as bobs_browser:
        sign_in(bobs_browser, bob.upn)
        bobs_browser.get("/_layouts/15/userphoto.aspx?size=L&accountname=bob@example.org")
    rows = dict(re.findall(r'<tr data-upn="([^"]+)">(.*?)</tr>', client.get("/admin").text, re.S))
    assert "Copied a new photo" in rows["bob@example.org"]
    assert "Picture" in rows["bob@example.org"]
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", rows["bob@example.org"])


def test_admin_search_by_name(client: TestClient, make_user: Callable[..., UserInfo]) -> None:
    admin = make_user("ada@example.org", "Ada Admin", admin=True)
    make_user("bob@example.org", "Bob Jones")
    make_user("carol@example.org", "Carol White")
    sign_in(client, admin.upn)
    page = client.get("/admin", params={"q": "jon"}).text
    assert re.findall(r'<tr data-upn="([^"]+)">', page) == ["bob@example.org"]
    assert 'value="jon"' in page
    page = client.get("/admin", params={"q": "nobody"}).text
    assert "Nobody matches that search." in page


def test_a_non_admin_gets_a_friendly_403_on_admin_pages(
    client: TestClient, signed_in: UserInfo, make_user: Callable[..., UserInfo]
) -> None:
    other = make_user("bob@example.org")
    for path in ("/admin", f"/admin/users/{other.id}/thumbnail"):
        r = client.get(path)
        assert r.status_code == 403
        assert r.headers["content-type"].startswith("text/html")
        assert "for administrators only" in r.text
        assert "Go to your home page" in r.text


def test_an_admin_can_check_a_person_now(
    client: TestClient, make_user: Callable[..., UserInfo], services: Services
) -> None:
    admin = make_user("ada@example.org", "Ada Admin", admin=True)
    bob = make_user("bob@example.org", "Bob Jones")
    services.mailbox.set_photo(bob.id, bands(700, 700, [RED]), actor="test")
    sign_in(client, admin.upn)
    token = page_token(client, "/admin")

    r = client.post("/admin/check", data={"user_id": bob.id, "q": "bob"})
    assert r.status_code == 403  # no token: refused, nothing checked
    assert services.sync.status(bob.id).history.last_check_at is None

    r = client.post(
        "/admin/check",
        data={"csrf_token": token, "user_id": bob.id, "q": "bob"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"/admin?q=bob&checked={bob.id}"
    page = client.get(r.headers["location"]).text
    assert "Checked Bob Jones: copied a new photo." in page
    assert services.sites.profile_status(bob.id).has_picture
    assert "Picture" in dict(ROW.findall(page))["bob@example.org"]

    r = client.post("/admin/check", data={"csrf_token": token, "user_id": "nobody"})
    assert r.status_code == 404


def test_an_admin_can_turn_picture_editing_off_and_on(
    client: TestClient, make_user: Callable[..., UserInfo], services: Services
) -> None:
    admin = make_user("ada@example.org", "Ada Admin", admin=True)
    sign_in(client, admin.upn)
    token = page_token(client, "/admin")
    assert 'id="editable-state">On<' in client.get("/admin").text
    r = client.post("/admin/picture-editable", data={"csrf_token": token, "enabled": "0"})
    assert r.status_code == 200
    assert 'id="editable-state">Off<' in r.text
    assert services.sites.picture_editable() is False
    client.post("/admin/picture-editable", data={"csrf_token": token, "enabled": "1"})
    assert services.sites.picture_editable() is True


def test_admin_actions_are_for_admins_only(
    client: TestClient, signed_in: UserInfo, services: Services
) -> None:
    token = page_token(client, "/")
    r = client.post("/admin/check", data={"csrf_token": token, "user_id": signed_in.id})
    assert r.status_code == 403
    r = client.post("/admin/picture-editable", data={"csrf_token": token, "enabled": "0"})
    assert r.status_code == 403
    assert services.sites.picture_editable() is True
    assert services.sync.status(signed_in.id).history.last_check_at is None
