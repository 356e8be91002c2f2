"""The admin's list of 2,000 people: filter by state, sort, search, CSV export of the view, a
link to each person, all in the same few queries per page whatever the directory's size."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update

from photosync.directory.interfaces import UserInfo
from photosync.directory.models import User
from photosync.portal.people import PeopleQuery
from photosync.services import Services
from photosync.sync.models import SyncState
from tests.portal.conftest import RED, bands, sign_in
from tests.portal.test_admin import PEOPLE, ROW, add_people, counting_statements

PER_PAGE = 50


def expected_state(i: int) -> str:
    """What the list must say of "Person i" as ``people_in_every_state`` made them."""
    if i % 10 == 0:
        return "no-mailbox"
    if i % 16 == 4:
        return "not-editable"
    if i % 8 == 0:
        return "error"
    if i == 121:
        return "pending"
    if i == 5:
        return "picture"
    return "placeholder"


def people_in_every_state(services: Services) -> list[str]:
    """2,000 people of ``add_people``, then: every 10th without a mailbox, checks that failed
    (every 8th) or found editing off (4, 20, 36, …), each check a minute older than the one of
    the person before, a photo copied to sites (5) and one not copied yet (121)."""
    upns = add_people(services, PEOPLE)
    ids = {upn: services.directory.get_user(upn) for upn in upns}
    key = [ids[upn].id for upn in upns]  # type: ignore[union-attr]
    now = services.ctx.clock()
    with services.ctx.db.write_connection() as conn:
        conn.execute(update(User).where(User.id.in_(key[::10])).values(has_mailbox=False))
        conn.execute(
            update(SyncState).where(SyncState.user_id.in_(key[::8])).values(last_result="error")
        )
        conn.execute(
            update(SyncState)
            .where(SyncState.user_id.in_(key[4::16]))
            .values(last_result="not-editable")
        )
        for i in range(0, PEOPLE, 4):
            conn.execute(
                update(SyncState)
                .where(SyncState.user_id == key[i])
                .values(last_check_at=now - timedelta(minutes=i + 1))
            )
    for i in (5, 121):
        services.mailbox.set_photo(key[i], bands(300, 300, [RED]), actor="test")
    services.sync.check_now(upns[5], actor="test")
    # check_now recorded a newer check for person 5: it is "picture" now, checked last.
    return upns


def shown(html: str) -> list[str]:
    return [upn for upn, _ in ROW.findall(html)]


def states(html: str) -> list[str]:
    return re.findall(r'<tr data-upn="[^"]+" data-state="([^"]+)"', html)


def test_filter_sort_search_and_export_in_the_same_few_queries(
    client: TestClient, make_user: Callable[..., UserInfo], services: Services
) -> None:
    admin = make_user("ada@example.org", "Ada Admin", admin=True)  # first by name; placeholder
    upns = people_in_every_state(services)
    sign_in(client, admin.upn)
    assert client.get("/admin").status_code == 200  # anything loaded once per process

    # The same statements for the plain first page and for a filtered, sorted later page.
    counts = {}
    for params in ({}, {"state": "error", "sort": "-checked", "page": 2}, {"sort": "state"}):
        with counting_statements(services) as statements:
            r = client.get("/admin", params=params)  # type: ignore[arg-type]
        assert r.status_code == 200
        counts[str(params)] = len(statements)
    assert len(set(counts.values())) == 1 and max(counts.values()) <= 12, counts

    # Filter by each state: exactly the people in it, by name, with its count.
    for state in ("placeholder", "pending", "error", "no-mailbox", "not-editable"):
        want = [upn for i, upn in enumerate(upns) if expected_state(i) == state]
        if state == "placeholder":
            want = [admin.upn, *want]
        page = client.get("/admin", params={"state": state}).text
        assert shown(page) == want[:PER_PAGE], state
        assert set(states(page)) == {state}
        count = re.search(r'id="admin-count">(.*?)</p>', page)
        assert count and f"{len(want):,} " in count[1] and "in state" in count[1], state

    # Sort: by user name backwards; by state (no mailbox first); by last check (newest first,
    # never checked last either way).
    everyone = [admin.upn, *upns]
    page = client.get("/admin", params={"sort": "-upn"}).text
    assert shown(page) == sorted(everyone, reverse=True)[:PER_PAGE]
    page = client.get("/admin", params={"sort": "state"}).text
    assert (
        shown(page)
        == [u for i, u in enumerate(upns) if expected_state(i) == "no-mailbox"][:PER_PAGE]
    )
    page = client.get("/admin", params={"sort": "-checked"}).text
    checked_newest_first = [upns[5], *(upns[i] for i in range(0, PEOPLE, 4))]
    assert shown(page) == checked_newest_first[:PER_PAGE]
    page = client.get("/admin", params={"sort": "checked", "page": 41}).text
    assert shown(page)[-1] == upns[-1]  # never checked: last, by name
    assert 'aria-sort="ascending"' in page

    # Search, filter and sort together, and kept by the pager's links.
    page = client.get("/admin", params={"q": "person 1", "state": "error", "sort": "-upn"}).text
    want = sorted(
        (u for i, u in enumerate(upns) if 1000 <= i < 2000 and expected_state(i) == "error"),
        reverse=True,
    )
    assert shown(page) == want[:PER_PAGE]
    assert 'href="/admin?q=person+1&amp;state=error&amp;sort=-upn&amp;page=2" rel="next"' in page

    # Each person links to their own admin page and to their photo.
    row = dict(ROW.findall(page))[want[0]]
    assert f'href="/admin/users/{want[0].replace("@", "%40")}"' in row
    assert f'href="/photo?user={want[0].replace("@", "%40")}"' in row

    # The CSV export: the view (same filter and sort), every page, in a few queries.
    assert 'href="/admin/people.csv?q=person+1&amp;state=error&amp;sort=-upn"' in page
    with counting_statements(services) as statements:
        export = client.get("/admin/people.csv")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert len(statements) <= 12, statements
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [r["upn"] for r in rows] == everyone
    assert [r["state"] for r in rows[1:]] == [expected_state(i) for i in range(PEOPLE)]
    assert rows[9]["last_result"] == "error" and rows[9]["last_check_utc"]  # person 8
    export = client.get(
        "/admin/people.csv", params={"q": "person 1", "state": "error", "sort": "-upn"}
    )
    assert [r["upn"] for r in csv.DictReader(io.StringIO(export.text))] == want


def test_a_view_is_read_from_its_parameters_and_defaults_on_nonsense() -> None:
    assert PeopleQuery.parse(" bob ", "error", "-checked") == PeopleQuery(
        "bob", "error", "checked", True
    )
    assert PeopleQuery.parse("", "nonsense", "--name") == PeopleQuery()
    view = PeopleQuery.parse("", "", "upn")
    assert view.sorted_by("upn") == {"q": "", "state": "", "sort": "-upn"}
    assert view.sorted_by("name") == {"q": "", "state": "", "sort": ""}


def test_the_csv_export_keeps_a_name_from_becoming_a_formula(
    client: TestClient, make_user: Callable[..., UserInfo]
) -> None:
    admin = make_user("ada@example.org", "Ada Admin", admin=True)
    make_user("eve@example.org", '=HYPERLINK("http://evil")')
    sign_in(client, admin.upn)
    rows = list(csv.DictReader(io.StringIO(client.get("/admin/people.csv").text)))
    assert rows[0]["name"] == '\'=HYPERLINK("http://evil")'


def test_the_export_is_for_admins_only(
    client: TestClient, make_user: Callable[..., UserInfo]
) -> None:
    bob = make_user("bob@example.org", "Bob Jones")
    sign_in(client, bob.upn)
    assert client.get("/admin/people.csv").status_code == 403
