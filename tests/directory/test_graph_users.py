"""Graph's ``GET /me``, ``GET /users`` and ``GET /users/{id}``: shapes, query options, paging,
who may ask, and Graph's error body for what is not supported or not there."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from photosync.directory.interfaces import UserInfo
from photosync.services import Services
from tests.conftest import bearer
from tests.mailbox.conftest import auth_for as auth_for
from tests.mailbox.test_graph import assert_graph_error

Auth = Callable[[UserInfo], dict[str, str]]


@pytest.fixture
def people(services: Services) -> list[UserInfo]:
    """Five people whose UPNs sort differently from their names and ids."""
    names = [("zoe", "Zoë Adams"), ("ann", "Ann Young"), ("Bob", "Bob Ray"), ("cy", "Cy Lee")]
    made = [
        services.directory.add_user(f"{upn}@example.org", name, mail=f"{upn.lower()}@mail.test")
        for upn, name in names
    ]
    made.append(services.directory.add_user("o'neil@example.org", "Pat O'Neil"))
    return made


def _get(client: TestClient, path: str, auth: dict[str, str]) -> dict[str, Any]:
    r = client.get(path, headers=auth)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_me_and_one_user_in_graphs_shape(
    client: TestClient, people: list[UserInfo], auth_for: Auth
) -> None:
    zoe = people[0]
    me = _get(client, "/v1.0/me", auth_for(zoe))
    assert me["@odata.context"].endswith("/v1.0/$metadata#users/$entity")
    assert (me["id"], me["userPrincipalName"], me["mail"], me["displayName"]) == (
        zoe.id,
        "zoe@example.org",
        "zoe@mail.test",
        "Zoë Adams",
    )
    assert me["businessPhones"] == [] and me["jobTitle"] is None
    by_upn = _get(client, "/v1.0/users/BOB@example.org?$select=id,displayName", auth_for(zoe))
    assert by_upn == {
        "@odata.context": by_upn["@odata.context"],
        "id": people[2].id,
        "displayName": "Bob Ray",
    }
    assert by_upn["@odata.context"].endswith("#users(id,displayName)/$entity")
    assert _get(client, f"/v1.0/users/{people[1].id}", auth_for(zoe))["displayName"] == "Ann Young"
    error = assert_graph_error(
        client.get("/v1.0/users/nobody@example.org", headers=auth_for(zoe)),
        404,
        "Request_ResourceNotFound",
    )
    assert "nobody@example.org" in error["message"]


def test_listing_pages_in_upn_order_with_next_links_until_the_end(
    client: TestClient, people: list[UserInfo], auth_for: Auth
) -> None:
    auth = auth_for(people[0])
    url: str | None = "/v1.0/users?$select=id,userPrincipalName,mail&$top=2"
    pages: list[list[dict[str, Any]]] = []
    while url:
        body = _get(client, url, auth)
        assert body["@odata.context"].endswith("#users(id,userPrincipalName,mail)")
        pages.append(body["value"])
        url = body.get("@odata.nextLink")
        if url:
            assert url.startswith("http://testserver/v1.0/users?") and "%24skiptoken=" in url
            assert "%24top=2" in url and "%24select=" in url
    assert [len(page) for page in pages] == [2, 2, 1]
    upns = [user["userPrincipalName"] for page in pages for user in page]
    assert upns == sorted((u.upn for u in people), key=str.lower)
    assert set(pages[0][0]) == {"id", "userPrincipalName", "mail"}
    # Without $top: Graph's page of 100, so everyone here, and no next link.
    body = _get(client, "/v1.0/users", auth)
    assert len(body["value"]) == 5 and "@odata.nextLink" not in body
    assert "givenName" in body["value"][0] and "accountEnabled" not in body["value"][0]


def test_paging_is_stable_while_people_are_added(
    client: TestClient, services: Services, people: list[UserInfo], auth_for: Auth
) -> None:
    auth = auth_for(people[0])
    first = _get(client, "/v1.0/users?$top=2&$select=userPrincipalName", auth)
    services.directory.add_user("aaron@example.org", "Aaron")  # sorts before the first page
    rest = _get(client, first["@odata.nextLink"], auth)
    seen = [u["userPrincipalName"] for u in first["value"] + rest["value"]]
    assert seen == ["ann@example.org", "Bob@example.org", "cy@example.org", "o'neil@example.org"]


@pytest.mark.parametrize(
    ("expression", "upns"),
    [
        ("userPrincipalName eq 'BOB@example.org'", ["Bob@example.org"]),
        ("mail eq 'cy@mail.test'", ["cy@example.org"]),
        ("startswith(userPrincipalName,'z')", ["zoe@example.org"]),
        ("startsWith(mail, 'A')", ["ann@example.org"]),
        ("userPrincipalName eq 'o''neil@example.org'", ["o'neil@example.org"]),
        ("startswith(userPrincipalName,'%')", []),
    ],
)
def test_filter_eq_and_startswith_on_upn_and_mail(
    client: TestClient, people: list[UserInfo], auth_for: Auth, expression: str, upns: list[str]
) -> None:
    r = client.get("/v1.0/users", params={"$filter": expression}, headers=auth_for(people[0]))
    assert r.status_code == 200, r.text
    assert [u["userPrincipalName"] for u in r.json()["value"]] == upns


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"$orderby": "displayName"}, "Query option '$orderby' is not supported"),
        ({"$search": '"displayName:a"'}, "Query option '$search' is not supported"),
        ({"$top": "1000"}, "Must be between 1 and 999 inclusive"),
        ({"$top": "0"}, "Must be between 1 and 999 inclusive"),
        ({"$select": "id,jobTitle2"}, "Could not find a property named 'jobTitle2'"),
        ({"$filter": "displayName eq 'Ann Young'"}, "property 'displayName'"),
        ({"$filter": "mail ne 'x'"}, "Invalid filter clause"),
        ({"$skiptoken": "%%%"}, "The $skiptoken is not valid"),
    ],
)
def test_unsupported_query_options_are_graph_400s(
    client: TestClient,
    people: list[UserInfo],
    auth_for: Auth,
    params: dict[str, str],
    message: str,
) -> None:
    r = client.get("/v1.0/users", params=params, headers=auth_for(people[0]))
    error = assert_graph_error(r, 400, "BadRequest")
    assert message in error["message"]


def test_who_may_list_and_what_me_means_for_an_app(
    client: TestClient, people: list[UserInfo], app_token: Callable[..., str]
) -> None:
    reader = bearer(app_token("User.Read.All"))
    assert len(_get(client, "/v1.0/users?$select=id", reader)["value"]) == 5
    assert_graph_error(client.get("/v1.0/me", headers=reader), 400, "BadRequest")
    photos_only = bearer(app_token("ProfilePhoto.Read.All"))
    for path in ("/v1.0/users", f"/v1.0/users/{people[0].id}"):
        assert_graph_error(
            client.get(path, headers=photos_only), 403, "Authorization_RequestDenied"
        )
    assert_graph_error(client.get("/v1.0/users"), 401, "InvalidAuthenticationToken")


def test_a_disabled_user_is_listed_as_not_enabled(
    client: TestClient, services: Services, people: list[UserInfo], auth_for: Auth
) -> None:
    services.directory.set_disabled(people[3].upn, True)
    body = _get(client, "/v1.0/users?$select=userPrincipalName,accountEnabled", auth_for(people[0]))
    enabled = {u["userPrincipalName"]: u["accountEnabled"] for u in body["value"]}
    assert enabled["cy@example.org"] is False and enabled["zoe@example.org"] is True


@pytest.mark.parametrize("path", ["/v1.0/whatever", "/v1.0/users/x/manager", "/v1.0/"])
def test_unknown_graph_paths_answer_a_graph_error(
    client: TestClient, people: list[UserInfo], auth_for: Auth, path: str
) -> None:
    r = client.get(path, headers=auth_for(people[0]))
    error = assert_graph_error(r, 404, "Request_ResourceNotFound")
    assert "detail" not in r.json()
    assert error["message"].startswith("Resource not found for the segment")
