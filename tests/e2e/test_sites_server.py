"""The real ``photosync serve`` process driving sites over HTTP: a photo put through Graph shows in
sites only after its owner's own-Large request, and the CLI on the same data folder says why."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image

from tests.conftest import PASSWORD, LiveServer, bearer
from tests.sites.helpers import USERPHOTO, jpeg

pytestmark = pytest.mark.slow

ALICE, BOB = "alice@example.org", "bob@example.org"


def sign_in(http: httpx.Client, upn: str) -> dict[str, str]:
    r = http.post(
        "/oauth2/v2.0/token", data={"grant_type": "password", "username": upn, "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    return bearer(r.json()["access_token"])


def picture(http: httpx.Client, auth: dict[str, str], upn: str, size: str) -> httpx.Response:
    r = http.get(USERPHOTO, params={"size": size, "accountname": upn}, headers=auth)
    assert r.status_code == 200, r.text
    return r


def test_sites_over_http(live_server: LiveServer) -> None:
    for upn, name in ((ALICE, "Alice"), (BOB, "Bob")):
        r = live_server.cli("users", "add", upn, "--name", name, "--password-stdin", input=PASSWORD)
        assert r.returncode == 0, r.stderr

    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        alice, bob = sign_in(http, ALICE), sign_in(http, BOB)
        assert http.get(USERPHOTO, params={"size": "M", "accountname": ALICE}).status_code == 401
        placeholder = picture(http, bob, ALICE, "M").content

        r = http.put(
            "/v1.0/me/photo/$value",
            content=jpeg(900, 700, seed=5),
            headers={**alice, "Content-Type": "image/jpeg"},
        )
        assert r.status_code == 200, r.text
        # The mailbox has it, sites does not yet: nobody asked for their own Large picture.
        assert picture(http, bob, ALICE, "L").content == placeholder_l(http, bob)
        assert picture(http, bob, ALICE, "M").content == placeholder

        # Alice opens OneDrive in a fresh session: her own Large picture pulls the photo.
        fresh = sign_in(http, ALICE)
        large = picture(http, fresh, ALICE, "L")
        assert Image.open(io.BytesIO(large.content)).size == (300, 300)
        assert large.content != placeholder_l(http, bob)
        medium = picture(http, bob, ALICE, "M")
        assert medium.content != placeholder
        r = http.get("/User%20Photos/Profile%20Pictures/alice_example_org_MThumb.jpg", headers=bob)
        assert r.status_code == 200 and r.content == medium.content
        r = http.get(
            USERPHOTO,
            params={"size": "M", "accountname": ALICE},
            headers={**bob, "If-None-Match": medium.headers["etag"]},
        )
        assert r.status_code == 304

    status = live_server.cli("sync", "status", ALICE)
    assert status.returncode == 0, status.stderr
    assert "own-large/never-checked: updated" in status.stdout
    assert "sites shows: picture from mailbox" in status.stdout


def placeholder_l(http: httpx.Client, auth: dict[str, str]) -> bytes:
    """The Large placeholder, as served for Bob (who has no picture)."""
    return picture(http, auth, BOB, "L").content
