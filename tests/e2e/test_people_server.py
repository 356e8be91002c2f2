"""People and apps across processes: the admin's CLI changes what a running server lets in, and
Microsoft's msgraph-sdk lists users page by page the way the Microsoft 365 connector will."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.user import User
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from msgraph_core import PageIterator

from tests.conftest import PASSWORD, LiveServer, eventually, run_async, start_server, stop_server
from tests.e2e.test_msgraph_sdk import graph_client

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("people-server")]

PEOPLE = 7


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("people") / "data"
    data.mkdir()
    running = start_server(data)
    users = "upn,name,mail\n" + "".join(
        f"p{n}@example.org,Person {n},person.{n}@mail.test\n" for n in range(PEOPLE)
    )
    assert running.cli("users", "import", "-", input=users).returncode == 0
    r = running.cli("users", "add", "megan@example.org", "--name", "Megan", "--password",
                    input=PASSWORD + "\n")  # fmt: skip
    assert r.returncode == 0, r.stderr
    yield running
    stop_server(running)


def _app(server: LiveServer, *roles: str) -> dict[str, str]:
    args = [arg for role in roles for arg in ("--role", role)]
    r = server.cli("apps", "add", "connector", *args)
    found = dict(re.findall(r"^(client_id|client_secret): (\S+)$", r.stdout, re.M))
    return {
        "grant_type": "client_credentials",
        **found,
        "scope": "https://graph.microsoft.com/.default",
    }


def _token(server: LiveServer, form: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{server.url}/oauth2/v2.0/token", data=form)


def test_msgraph_sdk_lists_every_user_following_next_links(server: LiveServer) -> None:
    form = _app(server, "User.Read.All")
    query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
        select=["id", "userPrincipalName", "mail"], top=3
    )
    seen: list[User] = []

    async def scenario() -> None:
        client, http = graph_client(server.url, form)
        async with http:
            first = await client.users.get(RequestConfiguration(query_parameters=query))
            assert first is not None and first.odata_next_link
            # As msgraph-core's docs do it: the page type is taken from the first page.
            pages = PageIterator(first, client.request_adapter)
            await pages.iterate(lambda user: seen.append(user) or True)

    run_async(scenario())
    upns = [user.user_principal_name for user in seen]
    assert upns == ["megan@example.org", *(f"p{n}@example.org" for n in range(PEOPLE))]
    assert all(user.id and user.display_name is None for user in seen)
    assert seen[1].mail == "person.0@mail.test"


def test_a_change_made_by_the_cli_reaches_the_running_server(server: LiveServer) -> None:
    megan = {"grant_type": "password", "username": "megan@example.org", "password": PASSWORD}
    token = _token(server, megan).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{server.url}/v1.0/me", headers=auth).status_code == 200

    assert server.cli("users", "disable", "megan@example.org").returncode == 0
    # The server learns of it through its identity cache's freshness (FRESHNESS_SECONDS).
    assert eventually(lambda: httpx.get(f"{server.url}/v1.0/me", headers=auth).status_code == 401)
    assert _token(server, megan).json()["error"] == "invalid_grant"
    assert server.cli("users", "enable", "megan@example.org").returncode == 0
    assert eventually(lambda: _token(server, megan).status_code == 200)

    form = _app(server, "User.Read.All")
    app_auth = {"Authorization": f"Bearer {_token(server, form).json()['access_token']}"}
    assert httpx.get(f"{server.url}/v1.0/users", headers=app_auth).status_code == 200
    assert server.cli("apps", "revoke", form["client_id"]).returncode == 0
    assert eventually(
        lambda: httpx.get(f"{server.url}/v1.0/users", headers=app_auth).status_code == 401
    )
    assert _token(server, form).status_code == 401
    listed = json.loads(server.cli("apps", "list", "--json").stdout)
    revoked = next(app for app in listed if app["client_id"] == form["client_id"])
    assert revoked["revoked_at"] is not None and revoked["roles"] == ["User.Read.All"]


def test_serve_on_a_busy_port_says_so_before_announcing_anything(
    server: LiveServer, tmp_path: Path
) -> None:
    port = server.url.rsplit(":", 1)[1]
    r = subprocess.run(
        [sys.executable, "-m", "photosync", "serve", "--port", port],
        env={**server.env, "PHOTOSYNC_DATA_DIR": str(tmp_path / "other")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    assert "photosync on" not in r.stdout and r.stdout == ""
    assert r.stderr.strip() == (
        f"Error: port {port} on 127.0.0.1 is already in use: stop what listens there, "
        "or choose another port with --port"
    )
