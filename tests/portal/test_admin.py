"""The admin page: where each person's photo is, searching, checking now, the tenant setting."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event, insert

from photosync.db import new_id
from photosync.directory.interfaces import UserInfo
from photosync.directory.models import User
from photosync.services import Services
from photosync.sites.models import PLACEHOLDER_SHOWN, Profile
from photosync.sync.models import SyncState
from tests.portal.conftest import GREEN, RED, bands, page_token, sign_in

ROW = re.compile(r'<tr data-upn="([^"]+)"[^>]*>(.*?)</tr>', re.S)


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
    rows = dict(ROW.findall(page.text))
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
    rows = dict(ROW.findall(client.get("/admin").text))
    assert "Copied a new photo" in rows["bob@example.org"]
    assert "Picture" in rows["bob@example.org"]
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", rows["bob@example.org"])


def test_admin_search_by_name(client: TestClient, make_user: Callable[..., UserInfo]) -> None:
    admin = make_user("ada@example.org", "Ada Admin", admin=True)
    make_user("bob@example.org", "Bob Jones")
    make_user("carol@example.org", "Carol White")
    sign_in(client, admin.upn)
    page = client.get("/admin", params={"q": "jon"}).text
    assert re.findall(r'<tr data-upn="([^"]+)"[^>]*>', page) == ["bob@example.org"]
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


# --- a large directory -----------------------------------------------------------------------

PEOPLE = 2000


def add_people(services: Services, count: int) -> list[str]:
    """``count`` people "Person 0000"… in one transaction (no passwords: hashing 2,000 would
    take minutes), every 5th with a directory thumbnail, every 3rd with a placeholder profile
    and every 4th with a recorded check. Returns their UPNs in name order."""
    now = services.ctx.clock()
    thumbnail = bands(64, 64, [GREEN])
    users = [
        {
            "id": new_id(),
            "upn": f"person{i:04d}@example.org",
            "upn_key": f"person{i:04d}@example.org",
            "display_name": f"Person {i:04d}",
            "mail": f"person{i:04d}@example.org",
            "is_admin": False,
            "has_mailbox": True,
            "thumbnail_photo": thumbnail if i % 5 == 0 else None,
            "failed_sign_ins": 0,
            "created_at": now,
        }
        for i in range(count)
    ]
    with services.ctx.db.write_connection() as conn:
        conn.execute(insert(User), users)
        conn.execute(
            insert(Profile),
            [
                {
                    "user_id": u["id"],
                    "placeholder_state": PLACEHOLDER_SHOWN,
                    "exchange_sync_state": 1,
                }
                for u in users[::3]
            ],
        )
        conn.execute(
            insert(SyncState),
            [
                {"user_id": u["id"], "last_check_at": now, "last_result": "no-photo"}
                for u in users[::4]
            ],
        )
    return [str(u["upn"]) for u in users]


@contextmanager
def counting_statements(services: Services) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # Not SQLite's BEGIN, which photosync issues itself (db._sqlite_begin) where other
        # databases begin implicitly: the count is then the same on both.
        if not statement.startswith("BEGIN"):
            statements.append(statement)

    engine = services.ctx.db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_admin_pages_through_2000_people_with_the_same_few_queries_per_page(
    client: TestClient, make_user: Callable[..., UserInfo], services: Services
) -> None:
    admin = make_user("ada@example.org", "Ada Admin", admin=True)  # first by name
    upns = add_people(services, PEOPLE)
    everyone = [admin.upn, *upns]
    # Real photos for one person on page 1 and one on page 3, the first also synced to sites.
    for upn in (upns[5], upns[120]):
        user = services.directory.get_user(upn)
        assert user is not None
        services.mailbox.set_photo(user.id, bands(300, 300, [RED]), actor="test")
    services.sync.check_now(upns[5], actor="test")
    sign_in(client, admin.upn)
    assert client.get("/admin").status_code == 200  # anything loaded once per process

    pages: dict[int, str] = {}
    counts: dict[int, int] = {}
    for number in (1, 3):
        with counting_statements(services) as statements:
            r = client.get("/admin", params={"page": number})
        assert r.status_code == 200
        pages[number], counts[number] = r.text, len(statements)
    assert counts[1] == counts[3] <= 12, counts

    for number, text in pages.items():
        shown = [upn for upn, _ in ROW.findall(text)]
        assert shown == everyone[(number - 1) * 50 : number * 50]
    assert "Showing 101–150 of 2,001 people." in pages[3]
    assert 'href="/admin?page=2" rel="prev"' in pages[3]
    assert 'href="/admin?page=4" rel="next"' in pages[3]
    assert 'rel="prev"' not in pages[1] and "Page 1 of 41" in pages[1]

    rows = dict(ROW.findall(pages[1]))
    assert "Mailbox photo of Person 0005" in rows[upns[5]]
    assert "Copied a new photo" in rows[upns[5]] and "Picture" in rows[upns[5]]
    assert "Directory thumbnail of Person 0005" in rows[upns[5]]
    assert "Not set" in rows[upns[6]] and "No mailbox photo" in rows[upns[4]]
    assert "Never checked" in rows[upns[6]] and "Placeholder" in rows[upns[6]]
    rows = dict(ROW.findall(pages[3]))
    assert "Mailbox photo of Person 0120" in rows[upns[120]]
    assert "Never checked" in rows[upns[121]]

    # The search is kept from page to page.
    page = client.get("/admin", params={"q": "person 01", "page": 2}).text
    assert [upn for upn, _ in ROW.findall(page)] == upns[150:200]
    assert "Showing 51–100 of 100 people matching “person 01”." in page
    assert 'href="/admin?q=person+01" rel="prev"' in page and 'rel="next"' not in page
    # Past the last page: the last page.
    page = client.get("/admin", params={"page": 99}).text
    assert [upn for upn, _ in ROW.findall(page)] == everyone[2000:]
