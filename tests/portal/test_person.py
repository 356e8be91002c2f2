"""An admin's page for one person: disable, enable, the admin role, remove after confirming;
CSRF and admins only. And ``/personal/<account>/``, the OneDrive address PersonalUrl names."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from photosync.directory.interfaces import UserInfo
from photosync.services import Services
from tests.conftest import bearer, password_token
from tests.portal.conftest import alert, csrf_token, sign_in


@pytest.fixture
def admin_client(client: TestClient, make_user: Callable[..., UserInfo]) -> TestClient:
    make_user("ada@example.org", "Ada Admin", admin=True)
    assert sign_in(client, "ada@example.org").status_code == 303
    return client


def _post(client: TestClient, path: str, page: str, **fields: str) -> tuple[int, str]:
    token = csrf_token(client.get(page).text)
    r = client.post(path, data={"csrf_token": token, **fields}, follow_redirects=False)
    return r.status_code, r.headers.get("location", r.text)


def test_disable_enable_and_the_admin_role_from_the_page(
    admin_client: TestClient, services: Services, make_user: Callable[..., UserInfo]
) -> None:
    bob = make_user("bob@example.org", "Bob Jones")
    page = f"/admin/users/{bob.upn}"  # by UPN; the forms use the id
    html = admin_client.get(page).text
    assert "Bob Jones" in html and 'id="person-state">Enabled' in html
    assert f'action="/admin/users/{bob.id}/disable"' in html

    status, where = _post(admin_client, f"/admin/users/{bob.id}/disable", page)
    assert (status, where) == (303, f"/admin/users/{bob.id}?done=disabled")
    html = admin_client.get(where).text
    assert "Disabled:" in html and "badge-warn" in html
    assert services.directory.get_user(bob.id).disabled  # type: ignore[union-attr]

    assert _post(admin_client, f"/admin/users/{bob.id}/enable", page)[0] == 303
    assert _post(admin_client, f"/admin/users/{bob.id}/admin", page, admin="1")[0] == 303
    assert services.directory.get_user(bob.id) == UserInfo(
        bob.id, bob.upn, "Bob Jones", bob.upn, True, True, False
    )
    assert 'id="person-role">Admin' in admin_client.get(page).text
    # What the page changed is audited as the admin who did it.
    entries = admin_client.get("/admin/audit?user=bob@example.org").text
    assert "user.admin_granted" in entries and "ada@example.org" in entries


def test_remove_needs_the_confirmation_step(
    admin_client: TestClient, services: Services, make_user: Callable[..., UserInfo]
) -> None:
    bob = make_user("bob@example.org", "Bob Jones")
    page = f"/admin/users/{bob.id}"
    status, where = _post(admin_client, f"{page}/remove", page)
    assert (status, where) == (303, f"{page}?confirm=remove")
    assert services.directory.get_user(bob.id) is not None
    confirm = admin_client.get(where).text
    assert 'id="confirm-remove"' in confirm and 'name="confirmed" value="yes"' in confirm

    status, where = _post(admin_client, f"{page}/remove", page, confirmed="yes")
    assert (status, where) == (303, "/admin")
    assert services.directory.get_user(bob.id) is None
    assert admin_client.get(page).status_code == 404


def test_a_refusal_is_shown_on_the_page(
    admin_client: TestClient, services: Services, make_user: Callable[..., UserInfo]
) -> None:
    ada = services.directory.get_user("ada@example.org")
    assert ada is not None
    # The page offers no buttons for oneself; a form sent by hand meets the service's rule.
    html = admin_client.get(f"/admin/users/{ada.id}").text
    assert 'id="toggle-admin"' not in html and 'id="disable"' not in html
    status, body = _post(admin_client, f"/admin/users/{ada.id}/admin", "/admin", admin="0")
    assert status == 409
    assert alert(body) == (
        "Not done: cannot take the admin role from ada@example.org: "
        "they are the only enabled admin."
    )
    assert services.directory.get_user(ada.id) == ada


def test_admins_only_and_csrf(admin_client: TestClient, make_user: Callable[..., UserInfo]) -> None:
    bob = make_user("bob@example.org", "Bob Jones")
    r = admin_client.post(
        f"/admin/users/{bob.id}/disable", data={"csrf_token": "wrong"}, follow_redirects=False
    )
    assert r.status_code == 403
    with TestClient(admin_client.app) as bobs_browser:
        sign_in(bobs_browser, bob.upn)
        assert bobs_browser.get(f"/admin/users/{bob.id}").status_code == 403
        token = csrf_token(bobs_browser.get("/").text)
        r = bobs_browser.post(
            f"/admin/users/{bob.id}/admin", data={"csrf_token": token, "admin": "1"}
        )
        assert r.status_code == 403
    assert admin_client.get("/admin/users/nobody@example.org").status_code == 404


def test_personal_url_leads_to_the_owners_onedrive(
    client: TestClient, make_user: Callable[..., UserInfo]
) -> None:
    make_user("bob@example.org", "Bob Jones")
    make_user("cy@example.org", "Cy")
    token = password_token(client, "bob@example.org")
    r = client.get(
        "/_api/SP.UserProfiles.PeopleManager/GetMyProperties",
        headers={**bearer(token), "Accept": "application/json;odata=nometadata"},
    )
    personal = r.json()["PersonalUrl"]
    assert personal == "http://testserver/personal/bob_example_org/"
    sign_in(client, "bob@example.org")
    r = client.get(personal.removeprefix("http://testserver"), follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/onedrive")
    assert client.get("/onedrive").status_code == 200
    assert client.get("/personal/cy_example_org/").status_code == 403
