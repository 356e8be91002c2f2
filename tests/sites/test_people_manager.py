"""PeopleManager REST and contextinfo: SharePoint's JSON shapes, who may read and write what."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi.testclient import TestClient
from PIL import Image

from photosync.directory.interfaces import UserInfo
from photosync.services import Services
from tests.sites.helpers import (
    NOMETADATA,
    PEOPLE,
    VERBOSE,
    app_auth,
    cookie_session,
    image_bytes,
    jpeg,
    open_image,
    psnr,
    resized,
    set_mailbox_photo,
    sign_in,
    userphoto,
)


def props(body: dict[str, Any]) -> dict[str, str]:
    """UserProfileProperties as a dict, from either JSON flavour."""
    entries = (
        body["d"]["UserProfileProperties"]["results"]
        if "d" in body
        else body["UserProfileProperties"]
    )
    return {e["Key"]: e["Value"] for e in entries}


def test_get_my_properties_verbose_shape(
    client: TestClient, services: Services, alice: UserInfo
) -> None:
    set_mailbox_photo(services, alice)
    services.sync.check_now(alice.upn, actor="test")
    r = client.get(f"{PEOPLE}/GetMyProperties", headers={**sign_in(services, alice), **VERBOSE})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json;odata=verbose")
    d = r.json()["d"]
    assert d["__metadata"]["type"] == "SP.UserProfiles.PersonProperties"
    assert d["AccountName"] == "i:0#.f|membership|alice@example.org"
    assert d["DisplayName"] == "Alice Smith"
    assert d["Email"] == "alice@example.org"
    assert d["PersonalUrl"] == "http://testserver/personal/alice_example_org/"
    entries = d["UserProfileProperties"]["results"]
    assert all(
        e["__metadata"] == {"type": "SP.KeyValue"} and e["ValueType"] == "Edm.String"
        for e in entries
    )
    p = props(r.json())
    timestamp = services.sites.profile_status(alice.id).picture_timestamp
    m_url = "http://testserver/User%20Photos/Profile%20Pictures/alice_example_org_MThumb.jpg"
    assert p["PictureURL"] == d["PictureUrl"] == f"{m_url}?t={timestamp}"
    assert p["SPS-PicturePlaceholderState"] == "0"
    assert p["SPS-PictureExchangeSyncState"] == "1"
    assert p["SPS-PictureTimestamp"] == timestamp
    assert p["AccountName"] == d["AccountName"]
    # PictureURL really is the Medium thumbnail.
    pic = client.get(
        d["PictureUrl"].removeprefix("http://testserver"), headers=sign_in(services, alice)
    )
    assert open_image(pic.content).size == (72, 72)
    assert "immutable" in pic.headers["cache-control"]


def test_get_properties_for_nometadata_alias_and_inline_forms(
    client: TestClient, services: Services, alice: UserInfo, bob: UserInfo
) -> None:
    auth = sign_in(services, alice)
    claims = f"i:0#.f|membership|{bob.upn}"
    by_alias = client.get(
        f"{PEOPLE}/GetPropertiesFor(accountName=@v)?@v={quote(repr(claims), safe='')}",
        headers={**auth, **NOMETADATA},
    )
    inline = client.post(
        f"{PEOPLE}/GetPropertiesFor(accountName='{quote(claims, safe='@')}')",
        headers={**auth, "Accept": "application/json"},
    )
    plain_upn = client.get(
        f"{PEOPLE}/GetPropertiesFor(accountName=@v)", params={"@v": f"'{bob.upn}'"}, headers=auth
    )
    for r in (by_alias, inline, plain_upn):
        assert r.status_code == 200, r.text
        body = r.json()
        assert "d" not in body and "__metadata" not in body
        assert body["AccountName"] == claims
        assert body["DisplayName"] == "Bob Jones"
        assert body["PictureUrl"] is None  # the placeholder is shown
        assert isinstance(body["UserProfileProperties"], list)
        assert set(body["UserProfileProperties"][0]) == {"Key", "Value", "ValueType"}
        assert props(body)["SPS-PicturePlaceholderState"] == "1"
        assert props(body)["PictureURL"] == ""
    assert by_alias.json() == inline.json() == plain_upn.json()
    missing = client.get(
        f"{PEOPLE}/GetPropertiesFor(accountName=@v)",
        params={"@v": "'i:0#.f|membership|nobody@example.org'"},
        headers={**auth, **VERBOSE},
    )
    assert missing.status_code == 404
    assert "value" in missing.json()["error"]["message"]


def test_set_single_value_property_own_other_admin_app(
    client: TestClient,
    services: Services,
    alice: UserInfo,
    bob: UserInfo,
    admin: UserInfo,
) -> None:
    def set_prop(headers: dict[str, str], user: UserInfo, name: str, value: str) -> int:
        r = client.post(
            f"{PEOPLE}/SetSingleValueProfileProperty",
            json={
                "accountName": f"i:0#.f|membership|{user.upn}",
                "propertyName": name,
                "propertyValue": value,
            },
            headers={**headers, **VERBOSE},
        )
        if r.status_code == 200:
            assert r.json() == {"d": {"SetSingleValueProfileProperty": None}}
        return r.status_code

    alice_auth = sign_in(services, alice)
    assert set_prop(alice_auth, alice, "AboutMe", "Likes ferns") == 200
    assert set_prop(alice_auth, bob, "AboutMe", "hacked") == 403
    assert set_prop(sign_in(services, admin), bob, "Department", "Sales") == 200
    assert set_prop(app_auth(services, "Sites.FullControl.All"), bob, "Office", "B12") == 200
    assert set_prop(app_auth(services, "Sites.Read.All"), bob, "Office", "C3") == 403
    # Picture properties are kept by photosync: only admins and full-control apps set them
    # (tests/sites/test_library_files.py), not people by hand.
    assert set_prop(alice_auth, alice, "PictureURL", "http://evil/x.jpg") == 403
    assert set_prop(alice_auth, alice, "SPS-PicturePlaceholderState", "0") == 403
    assert set_prop(alice_auth, alice, "bad name!", "x") == 400

    mine = props(client.get(f"{PEOPLE}/GetMyProperties", headers=alice_auth).json())
    assert mine["AboutMe"] == "Likes ferns"
    assert mine["PictureURL"] == ""
    bobs = props(
        client.get(
            f"{PEOPLE}/GetPropertiesFor(accountName=@v)",
            params={"@v": f"'{bob.upn}'"},
            headers=alice_auth,
        ).json()
    )
    assert bobs["Department"] == "Sales" and bobs["Office"] == "B12"
    assert "AboutMe" not in bobs
    # An empty value removes the property.
    assert set_prop(alice_auth, alice, "AboutMe", "") == 200
    assert "AboutMe" not in props(
        client.get(f"{PEOPLE}/GetMyProperties", headers=alice_auth).json()
    )


def test_set_my_profile_picture_formats_and_limits(
    client: TestClient, services: Services, carol: UserInfo
) -> None:
    auth = sign_in(services, carol)
    source = open_image(jpeg(500, 400, seed=7)).convert("RGB")
    for fmt in ("PNG", "BMP", "JPEG"):
        data = image_bytes(source, fmt)
        r = client.post(f"{PEOPLE}/SetMyProfilePicture", content=data, headers={**auth, **VERBOSE})
        assert r.status_code == 200, r.text
        assert r.json() == {"d": {"SetMyProfilePicture": None}}
        large = userphoto(client, auth, carol.upn, "L")
        assert open_image(large.content).size == (300, 300)
        expected = source.crop((50, 0, 450, 400)).resize((300, 300), Image.Resampling.LANCZOS)
        assert psnr(open_image(large.content), expected) > 28
    status = services.sites.profile_status(carol.id)
    assert status.has_picture and status.picture_source == "upload"

    gif = image_bytes(source, "GIF")
    r = client.post(f"{PEOPLE}/SetMyProfilePicture", content=gif, headers=auth)
    assert r.status_code in (400, 415)
    too_big = b"\xff\xd8\xff" + b"\0" * 5_000_000
    r = client.post(f"{PEOPLE}/SetMyProfilePicture", content=too_big, headers=auth)
    assert r.status_code == 413
    assert "5,000,000" in r.json()["error"]["message"]["value"]
    r = client.post(f"{PEOPLE}/SetMyProfilePicture", content=b"not an image", headers=auth)
    assert r.status_code == 415
    app = app_auth(services, "Sites.FullControl.All")
    r = client.post(
        f"{PEOPLE}/SetMyProfilePicture", content=image_bytes(source, "PNG"), headers=app
    )
    assert r.status_code == 403
    # Nothing of the refused uploads replaced the picture.
    assert services.sites.profile_status(carol.id).picture_timestamp == status.picture_timestamp


def test_small_upload_still_gets_a_large_thumbnail(
    client: TestClient, services: Services, carol: UserInfo
) -> None:
    auth = sign_in(services, carol)
    small = jpeg(120, 120, seed=3)
    assert (
        client.post(f"{PEOPLE}/SetMyProfilePicture", content=small, headers=auth).status_code == 200
    )
    large = open_image(userphoto(client, auth, carol.upn, "L").content)
    assert large.size == (300, 300)
    assert psnr(large, resized(small, 300)) > 28


def test_contextinfo_digest_is_the_cookie_sessions_csrf_token(
    client: TestClient, services: Services, alice: UserInfo
) -> None:
    cookies, csrf = cookie_session(services, alice)
    client.cookies.update(cookies)
    # As a SharePoint client in the browser does: ask for the digest without one.
    r = client.post("/_api/contextinfo", headers=VERBOSE)
    assert r.status_code == 200, r.text
    info = r.json()["d"]["GetContextWebInformation"]
    assert info["FormDigestValue"] == csrf
    assert info["FormDigestTimeoutSeconds"] == 1800
    assert info["LibraryVersion"] == "16.0.0.0"
    assert info["WebFullUrl"] == info["SiteFullUrl"] == "http://testserver"
    body = {"accountName": alice.upn, "propertyName": "AboutMe", "propertyValue": "hi"}
    url = f"{PEOPLE}/SetSingleValueProfileProperty"
    assert client.post(url, json=body).status_code == 403  # cookie POST without the digest
    r = client.post(url, json=body, headers={"X-RequestDigest": info["FormDigestValue"]})
    assert r.status_code == 200
    assert r.json() == {"odata.null": True}


def test_contextinfo_for_bearer_callers_and_both_spellings(
    client: TestClient, services: Services, alice: UserInfo
) -> None:
    auth = sign_in(services, alice)
    plain = client.post("/_api/contextinfo", headers=auth)
    camel = client.post("/_api/contextInfo", headers={**auth, **VERBOSE})
    assert plain.status_code == camel.status_code == 200
    assert plain.json()["FormDigestValue"].startswith("0x")
    assert camel.json()["d"]["GetContextWebInformation"]["FormDigestValue"]
    assert client.post("/_api/contextinfo").status_code == 401


def test_unknown_operation_and_wrong_method(
    client: TestClient, services: Services, alice: UserInfo
) -> None:
    auth = sign_in(services, alice)
    assert client.get(f"{PEOPLE}/DoSomethingElse", headers=auth).status_code == 404
    assert client.get(f"{PEOPLE}/SetMyProfilePicture", headers=auth).status_code == 405
    assert client.get(f"{PEOPLE}/GetPropertiesFor(accountName=@v)", headers=auth).status_code == 400
    assert client.get(f"{PEOPLE}/GetMyProperties").status_code == 401


def test_picture_url_uses_the_configured_public_base_url(
    client: TestClient, services: Services, alice: UserInfo
) -> None:
    set_mailbox_photo(services, alice)
    services.sync.check_now(alice.upn, actor="test")
    services.ctx.settings.base_url = "https://photos.example.org/"
    body = client.get(f"{PEOPLE}/GetMyProperties", headers=sign_in(services, alice)).json()
    assert body["PictureUrl"].startswith(
        "https://photos.example.org/User%20Photos/Profile%20Pictures/alice_example_org_MThumb.jpg?t="
    )
    assert body["PersonalUrl"] == "https://photos.example.org/personal/alice_example_org/"
