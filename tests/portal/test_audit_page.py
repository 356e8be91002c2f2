"""The admin's audit page: newest first, filters, 50 a page, the same few queries on any page."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from photosync import audit
from photosync.directory.interfaces import UserInfo
from photosync.services import Services
from tests.portal.conftest import alert, sign_in
from tests.portal.test_admin import counting_statements

ROW = re.compile(r'<tr class="audit-row" data-action="([^"]+)">(.*?)</tr>', re.S)


def fill(services: Services, subjects: list[str | None], count: int) -> None:
    with (
        services.ctx.db.write_connection() as conn,
        audit.from_origin(audit.Origin("198.51.100.4", "Safari/17")),
    ):
        audit.record_many(
            conn,
            actor="someone@example.org",
            action="test.change",
            subjects=[(subjects[n % len(subjects)], {"n": n}) for n in range(count)],
        )


def test_only_admins_see_it_and_the_admin_page_links_to_it(
    client: TestClient, make_user: Callable[..., UserInfo]
) -> None:
    make_user("ada@example.org", "Ada", admin=True)
    make_user("bob@example.org", "Bob")
    sign_in(client, "bob@example.org")
    r = client.get("/admin/audit")
    assert r.status_code == 403 and "for administrators only" in r.text
    with TestClient(client.app) as admins:
        sign_in(admins, "ada@example.org")
        assert 'href="/admin/audit"' in admins.get("/admin").text
        assert admins.get("/admin/audit").status_code == 200


def test_the_page_shows_who_what_and_from_where_and_filters(
    client: TestClient, make_user: Callable[..., UserInfo], services: Services
) -> None:
    make_user("ada@example.org", "Ada", admin=True)
    bob = make_user("bob@example.org", "Bob")
    client.headers["User-Agent"] = "Firefox/140"
    sign_in(client, "bob@example.org", "wrong")
    sign_in(client, "ada@example.org")

    page = client.get("/admin/audit").text
    actions = [action for action, _ in ROW.findall(page)]
    assert actions[:2] == ["signin.portal", "signin.failed"]  # newest first
    failed = dict(ROW.findall(page))["signin.failed"]
    assert "bob@example.org" in failed and "testclient" in failed and "Firefox/140" in failed
    assert "wrong-password" in failed
    added = dict(ROW.findall(page))["user.added"]
    assert "testclient" not in added and "Not made over HTTP" in added  # no request

    page = client.get("/admin/audit", params={"user": "bob@example.org"}).text
    assert {action for action, _ in ROW.findall(page)} == {"user.added", "signin.failed"}
    assert 'value="bob@example.org"' in page
    page = client.get("/admin/audit", params={"action": "signin."}).text
    assert [action for action, _ in ROW.findall(page)] == ["signin.portal", "signin.failed"]
    page = client.get("/admin/audit", params={"since": "2999-01-01"}).text
    assert ROW.findall(page) == [] and "No changes match." in page

    page = client.get("/admin/audit", params={"user": "nobody@example.org"}).text
    assert alert(page) == "There is no user nobody@example.org."
    page = client.get("/admin/audit", params={"since": "yesterday"}).text
    assert "is not a date" in (alert(page) or "")
    assert ROW.findall(page) == []
    assert bob.upn in failed


def test_paging_through_many_changes_costs_the_same_queries(
    client: TestClient, make_user: Callable[..., UserInfo], services: Services
) -> None:
    make_user("ada@example.org", "Ada", admin=True)
    people = [make_user(f"p{n}@example.org", f"P {n}").id for n in range(7)]
    fill(services, [*people, None], 180)
    sign_in(client, "ada@example.org")
    params = {"action": "test."}
    assert client.get("/admin/audit", params=params).status_code == 200

    pages: dict[int, str] = {}
    counts: dict[int, int] = {}
    for number in (1, 3, 4):
        with counting_statements(services) as statements:
            r = client.get("/admin/audit", params={**params, "page": str(number)})
        assert r.status_code == 200
        pages[number], counts[number] = r.text, len(statements)
    assert counts[1] == counts[3] == counts[4] <= 8, counts

    assert len(ROW.findall(pages[1])) == 50 and len(ROW.findall(pages[4])) == 30
    assert "Showing 101–150 of 180 changes." in pages[3]
    assert 'href="/admin/audit?action=test.&amp;page=2" rel="prev"' in pages[3]
    assert 'href="/admin/audit?action=test.&amp;page=4" rel="next"' in pages[3]
    assert 'rel="next"' not in pages[4] and "Page 1 of 4" in pages[1]
    first = ROW.findall(pages[1])[0][1]
    assert "198.51.100.4" in first and "Safari/17" in first
    # Every row of a page names its person (one look-up for the page, not one a row); rows
    # written together have one time, so the pages hold every n once, in some order.
    seen = []
    for text in pages.values():
        for _, row in ROW.findall(text):
            match = re.search(r"n: (\d+)", row)
            assert match is not None
            n = int(match.group(1))
            seen.append(n)
            person = f"<td>p{n % 8}@example.org</td>" if n % 8 != 7 else "<td></td>"
            assert person in row, row
    assert len(set(seen)) == len(seen) == 130
    # Past the end: the last page.
    assert "Page 4 of 4" in client.get("/admin/audit", params={**params, "page": "9"}).text
