"""PnP's way into a profile: Files/add into User Photos, then SetSingleValueProfileProperty for
PictureURL and the SPS-Picture* properties, from an app with Sites.FullControl.All; sites applies
them as SharePoint does, so userphoto.aspx shows the uploaded files."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from photosync.directory.interfaces import UserInfo
from photosync.sites.interfaces import account_slug
from tests.conftest import bearer
from tests.sites.helpers import PEOPLE, USERPHOTO, jpeg

FOLDER = "/User Photos/Profile Pictures"


def files_add(client: TestClient, token: str, name: str, data: bytes) -> httpx.Response:
    return client.post(
        f"/_api/web/GetFolderByServerRelativeUrl('{FOLDER}')/Files/add(url='{name}',overwrite=true)",
        content=data,
        headers=bearer(token),
    )


def set_property(client: TestClient, token: str, upn: str, name: str, value: str) -> httpx.Response:
    return client.post(
        f"{PEOPLE}/SetSingleValueProfileProperty",
        json={
            "accountName": f"i:0#.f|membership|{upn}",
            "propertyName": name,
            "propertyValue": value,
        },
        headers=bearer(token),
    )


def properties(client: TestClient, token: str, upn: str) -> dict[str, Any]:
    r = client.get(
        f"{PEOPLE}/GetPropertiesFor(accountName=@v)",
        params={"@v": f"'{upn}'"},
        headers=bearer(token),
    )
    assert r.status_code == 200, r.text
    return {p["Key"]: p["Value"] for p in r.json()["UserProfileProperties"]}


@pytest.fixture
def bob(make_user: Callable[..., UserInfo]) -> UserInfo:
    return make_user("bob.b@example.org")


def upload_all(client: TestClient, token: str, upn: str) -> dict[str, bytes]:
    files = {
        code: jpeg(size, size, seed=i)
        for i, (code, size) in enumerate((("S", 48), ("M", 72), ("L", 300)))
    }
    for code, data in files.items():
        r = files_add(client, token, f"{account_slug(upn)}_{code}Thumb.jpg", data)
        assert r.status_code == 200, r.text
        assert r.json()["ServerRelativeUrl"] == f"{FOLDER}/{account_slug(upn)}_{code}Thumb.jpg"
        assert r.json()["Length"] == str(len(data))
    return files


def test_files_then_properties_show_the_uploaded_picture(
    client: TestClient, app_token: Callable[..., str], bob: UserInfo
) -> None:
    token = app_token("Sites.FullControl.All")
    files = upload_all(client, token, bob.upn)
    # Files alone change nothing a reader sees: the profile still says placeholder.
    before = client.get(
        USERPHOTO, params={"size": "M", "accountname": bob.upn}, headers=bearer(token)
    )
    assert before.content != files["M"]
    url = f"https://my.example{FOLDER}/{account_slug(bob.upn)}_MThumb.jpg"
    for name, value in (
        ("PictureURL", url),
        ("SPS-PicturePlaceholderState", "0"),
        ("SPS-PictureExchangeSyncState", "0"),
        ("SPS-PictureTimestamp", "63871234567"),
    ):
        r = set_property(client, token, bob.upn, name, value)
        assert r.status_code == 200, (name, r.text)
    for code, data in files.items():
        shown = client.get(
            USERPHOTO, params={"size": code, "accountname": bob.upn}, headers=bearer(token)
        )
        assert shown.content == data
    props = properties(client, token, bob.upn)
    assert props["SPS-PicturePlaceholderState"] == "0"
    assert props["SPS-PictureExchangeSyncState"] == "0"
    assert props["SPS-PictureTimestamp"] == "63871234567"
    assert props["PictureURL"].endswith(f"{account_slug(bob.upn)}_MThumb.jpg?t=63871234567")
    # Back to the placeholder, as the connector does when the source photo is gone.
    assert (
        set_property(client, token, bob.upn, "SPS-PicturePlaceholderState", "1").status_code == 200
    )
    gone = client.get(
        USERPHOTO, params={"size": "M", "accountname": bob.upn}, headers=bearer(token)
    )
    assert gone.content != files["M"]
    assert properties(client, token, bob.upn)["PictureURL"] == ""


def test_a_picture_url_without_its_files_is_refused(
    client: TestClient, app_token: Callable[..., str], bob: UserInfo
) -> None:
    token = app_token("Sites.FullControl.All")
    r = set_property(
        client,
        token,
        bob.upn,
        "PictureURL",
        f"https://my.example{FOLDER}/{account_slug(bob.upn)}_MThumb.jpg",
    )
    assert r.status_code == 400
    assert "add the files first" in r.json()["error"]["message"]["value"]


@pytest.mark.parametrize(
    ("roles", "name", "data", "status"),
    [
        (("Sites.Read.All",), "bob_b_example_org_MThumb.jpg", "jpeg", 403),
        (("User.ReadWrite.All",), "bob_b_example_org_MThumb.jpg", "jpeg", 403),
        (("Sites.FullControl.All",), "nobody_example_org_MThumb.jpg", "jpeg", 404),
        (("Sites.FullControl.All",), "bob_b_example_org.png", "jpeg", 400),
        (("Sites.FullControl.All",), "bob_b_example_org_MThumb.jpg", "text", 415),
    ],
)
def test_files_add_refuses_with_a_reason(
    client: TestClient,
    app_token: Callable[..., str],
    bob: UserInfo,
    roles: tuple[str, ...],
    name: str,
    data: str,
    status: int,
) -> None:
    body = jpeg(72, 72) if data == "jpeg" else b"hello, not a picture"
    r = files_add(client, app_token(*roles), name, body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["message"]["value"]


def test_a_full_control_app_may_not_set_the_picture_properties_of_nobody(
    client: TestClient, app_token: Callable[..., str], bob: UserInfo
) -> None:
    # Other apps that change profiles keep their right to other properties, not to the picture.
    token = app_token("User.ReadWrite.All")
    r = set_property(client, token, bob.upn, "SPS-PicturePlaceholderState", "0")
    assert r.status_code == 403
