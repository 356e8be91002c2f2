"""A real SharePoint client, Office365-REST-Python-Client, against the running server.

Its SharePoint context is pointed at our base URL and given bearer tokens from our token
endpoint. It fetches ``/_api/contextInfo`` (the form digest) before every call, then calls
PeopleManager, so this also checks that handshake.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from office365.runtime.auth.token_response import TokenResponse
from office365.runtime.client_request_exception import ClientRequestException
from office365.runtime.paths.resource_path import ResourcePath
from office365.sharepoint.client_context import ClientContext
from office365.sharepoint.userprofiles.person_properties import PersonProperties

from tests.conftest import PASSWORD, LiveServer, bearer
from tests.sites.helpers import USERPHOTO, jpeg

pytestmark = pytest.mark.slow

ALICE, BOB = "alice@example.org", "bob@example.org"


def token(http: httpx.Client, **form: str) -> str:
    r = http.post("/oauth2/v2.0/token", data=form)
    assert r.status_code == 200, r.text
    access: str = r.json()["access_token"]
    return access


def sharepoint(url: str, access_token: str) -> ClientContext:
    def token_func() -> TokenResponse:
        return TokenResponse(access_token=access_token, token_type="Bearer")

    ctx: ClientContext = ClientContext(url).with_access_token(token_func)
    return ctx


def my_properties(ctx: ClientContext) -> Any:
    """GetMyProperties: this client version has no helper for it, so build the GET path."""
    people = ctx.people_manager
    props = PersonProperties(ctx, ResourcePath("GetMyProperties", people.resource_path))
    ctx.load(props).execute_query()
    return props


def add_user(server: LiveServer, upn: str, name: str) -> None:
    r = server.cli("users", "add", upn, "--name", name, "--password-stdin", input=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr


def test_people_manager_through_the_office365_client(
    live_server: LiveServer, tmp_path: Any
) -> None:
    add_user(live_server, ALICE, "Alice Smith")
    add_user(live_server, BOB, "Bob Jones")
    picture = tmp_path / "alice.jpg"
    picture.write_bytes(jpeg(700, 600, seed=2))
    assert live_server.cli("photo", "set", ALICE, str(picture)).returncode == 0
    r = live_server.cli("apps", "add", "profile-sync", "--role", "Sites.FullControl.All")
    client_id = re.search(r"^client_id: (\S+)$", r.stdout, re.M)
    secret = re.search(r"^client_secret: (\S+)$", r.stdout, re.M)
    assert client_id and secret

    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        alice_token = token(http, grant_type="password", username=ALICE, password=PASSWORD)
        app_token = token(
            http,
            grant_type="client_credentials",
            client_id=client_id.group(1),
            client_secret=secret.group(1),
        )
        alice = sharepoint(live_server.url, alice_token)

        bob = alice.people_manager.get_properties_for(f"i:0#.f|membership|{BOB}").execute_query()
        assert bob.account_name == f"i:0#.f|membership|{BOB}"
        assert bob.display_name == "Bob Jones"
        assert bob.email == BOB
        assert bob.user_profile_properties["SPS-PicturePlaceholderState"] == "1"

        # Before Alice asks for her own Large picture, sites still shows the placeholder...
        me = my_properties(alice)
        assert me.display_name == "Alice Smith"
        assert me.user_profile_properties["SPS-PicturePlaceholderState"] == "1"
        # ...her own Large request pulls the mailbox photo...
        r = http.get(
            USERPHOTO, params={"size": "L", "accountname": ALICE}, headers=bearer(alice_token)
        )
        assert r.status_code == 200
        # ...and the client sees the new picture's properties.
        me = my_properties(alice)
        props: Callable[[str], str] = me.user_profile_properties.get
        assert props("SPS-PicturePlaceholderState") == "0"
        assert me.picture_url == props("PictureURL")
        assert me.picture_url.endswith(f"?t={props('SPS-PictureTimestamp')}")
        m_thumb = http.get(me.picture_url, headers=bearer(alice_token))
        assert m_thumb.status_code == 200 and m_thumb.headers["content-type"] == "image/jpeg"

        alice.people_manager.set_single_value_profile_property(
            f"i:0#.f|membership|{ALICE}", "AboutMe", "Ferns, mostly"
        ).execute_query()
        assert my_properties(alice).user_profile_properties["AboutMe"] == "Ferns, mostly"

        # Alice may not change Bob's profile; an app with Sites.FullControl.All may.
        with pytest.raises(ClientRequestException) as refused:
            alice.people_manager.set_single_value_profile_property(
                f"i:0#.f|membership|{BOB}", "AboutMe", "hacked"
            ).execute_query()
        assert refused.value.response is not None and refused.value.response.status_code == 403
        app = sharepoint(live_server.url, app_token)
        app.people_manager.set_single_value_profile_property(
            f"i:0#.f|membership|{BOB}", "Department", "Sales"
        ).execute_query()
        bob = app.people_manager.get_properties_for(f"i:0#.f|membership|{BOB}").execute_query()
        assert bob.user_profile_properties["Department"] == "Sales"
