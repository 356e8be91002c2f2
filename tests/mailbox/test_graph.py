"""The Graph profilePhoto API through the ASGI app (on SQLite and on PostgreSQL)."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from photosync.directory.interfaces import UserInfo
from photosync.services import Services
from tests.conftest import MovableClock, bearer
from tests.mailbox.conftest import (
    centre_square,
    jpeg,
    open_image,
    photo_like,
    psnr,
    put_photo,
)

ALL_SIZES = [48, 64, 96, 120, 240, 360, 432, 504, 648]
IMAGE_NOT_FOUND_MESSAGE = (
    "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ImageNotFoundException' was thrown."
)


def assert_graph_error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """A Graph error body: {"error": {"code", "message", "innerError": {date, request-id, …}}}."""
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code, error
    assert error["message"]
    inner = error["innerError"]
    assert set(inner) == {"date", "request-id", "client-request-id"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", inner["date"])
    result: dict[str, Any] = error
    return result


# --- metadata ----------------------------------------------------------------------------


def test_put_then_metadata_has_graphs_exact_shape(
    client: TestClient, alice: UserInfo, alice_auth: dict[str, str]
) -> None:
    r = put_photo(client, alice_auth, jpeg(900, 700))
    assert r.status_code == 200, r.text
    put_etag = r.json()["@odata.mediaEtag"]

    r = client.get("/v1.0/me/photo", headers=alice_auth)
    assert r.status_code == 200
    body = r.json()
    assert body == {
        "@odata.context": f"http://testserver/v1.0/$metadata#users('{alice.id}')/photo/$entity",
        "@odata.mediaContentType": "image/jpeg",
        "@odata.mediaEtag": put_etag,
        "id": "648x648",
        "height": 648,
        "width": 648,
    }
    assert re.fullmatch(r'"[0-9A-F]{8}"', body["@odata.mediaEtag"])
    # The same photo by id, by UPN and by UPN in another case.
    for owner in (f"users/{alice.id}", "users/alice@example.org", "users/ALICE@Example.org"):
        assert client.get(f"/v1.0/{owner}/photo", headers=alice_auth).json() == body


def test_photos_lists_every_offered_size_ascending(
    client: TestClient, alice: UserInfo, alice_auth: dict[str, str]
) -> None:
    put_photo(client, alice_auth, jpeg(800, 700))
    r = client.get(f"/v1.0/users/{alice.upn}/photos", headers=alice_auth)
    assert r.status_code == 200
    body = r.json()
    assert body["@odata.context"].endswith(f"/v1.0/$metadata#users('{alice.id}')/photos")
    assert [item["id"] for item in body["value"]] == [f"{s}x{s}" for s in ALL_SIZES]
    etag = body["value"][0]["@odata.mediaEtag"]
    for item, size in zip(body["value"], ALL_SIZES, strict=True):
        assert item == {
            "@odata.mediaContentType": "image/jpeg",
            "@odata.mediaEtag": etag,
            "id": f"{size}x{size}",
            "height": size,
            "width": size,
        }


def test_one_size_metadata(client: TestClient, alice: UserInfo, alice_auth: dict[str, str]) -> None:
    put_photo(client, alice_auth, jpeg(700, 700))
    r = client.get("/v1.0/me/photos/240x240", headers=alice_auth)
    assert r.status_code == 200
    assert r.json()["@odata.context"].endswith(f"users('{alice.id}')/photos/$entity")
    assert (r.json()["id"], r.json()["width"], r.json()["height"]) == ("240x240", 240, 240)
    # Graph's own ids are sometimes upper-case X.
    assert client.get("/v1.0/me/photos/96X96", headers=alice_auth).json()["id"] == "96x96"
    for odd in ("100x100", "96x48", "large", "0x0", "-96x-96"):
        assert_graph_error(
            client.get(f"/v1.0/me/photos/{odd}", headers=alice_auth), 404, "ImageNotFound"
        )


def test_a_size_not_offered_says_what_is_offered(
    client: TestClient, alice_auth: dict[str, str]
) -> None:
    put_photo(client, alice_auth, jpeg(800, 600))
    for path in ("photos/648x648", "photos/648x648/$value"):
        error = assert_graph_error(
            client.get(f"/v1.0/me/{path}", headers=alice_auth), 404, "ImageNotFound"
        )
        assert error["message"] == (
            "648 is not offered for this photo; offered: 48, 64, 96, 120, 240, 360, 432, 504."
        )
    error = assert_graph_error(
        client.get("/v1.0/me/photos/100x100", headers=alice_auth), 404, "ImageNotFound"
    )
    assert error["message"].startswith("No photo has the size '100x100'; sizes: 48x48, ")
    assert "Exception" not in error["message"]


@pytest.mark.parametrize(
    ("side", "offered"),
    [(504, ALL_SIZES[:-1]), (300, [48, 64, 96, 120, 240]), (1000, ALL_SIZES)],
)
def test_sizes_above_the_uploads_short_side_are_not_offered(
    client: TestClient, alice_auth: dict[str, str], side: int, offered: list[int]
) -> None:
    put_photo(client, alice_auth, jpeg(side + 100, side))
    listed = [
        item["width"] for item in client.get("/v1.0/me/photos", headers=alice_auth).json()["value"]
    ]
    assert listed == offered
    assert client.get("/v1.0/me/photo", headers=alice_auth).json()["width"] == offered[-1]
    for size in set(ALL_SIZES) - set(offered):
        for path in (f"/v1.0/me/photos/{size}x{size}", f"/v1.0/me/photos/{size}x{size}/$value"):
            assert_graph_error(client.get(path, headers=alice_auth), 404, "ImageNotFound")
    master = open_image(client.get("/v1.0/me/photo/$value", headers=alice_auth).content)
    assert master.size == (offered[-1], offered[-1])


# --- $value -------------------------------------------------------------------------------


def test_value_is_a_jpeg_of_each_size_like_the_source(
    client: TestClient, alice_auth: dict[str, str]
) -> None:
    source = photo_like(900, 700, seed=3)
    out = io.BytesIO()
    source.save(out, "JPEG", quality=92)
    put_photo(client, alice_auth, out.getvalue())
    for size in (648, 240, 96, 48):
        r = client.get(f"/v1.0/me/photos/{size}x{size}/$value", headers=alice_auth)
        assert r.status_code == 200
        assert r.headers["content-type"] == "image/jpeg"
        image = open_image(r.content)
        assert image.format == "JPEG"
        assert image.mode == "RGB"
        assert image.size == (size, size)
        # Similar to the centre square of the source (not merely "some JPEG").
        assert psnr(image, centre_square(source, size)) > 28, size
    # …and not similar to a different picture.
    other = centre_square(photo_like(900, 700, seed=4), 240)
    got = open_image(client.get("/v1.0/me/photos/240x240/$value", headers=alice_auth).content)
    assert psnr(got, other) < 20
    assert (
        client.get("/v1.0/me/photo/$value", headers=alice_auth).content
        == client.get("/v1.0/me/photos/648x648/$value", headers=alice_auth).content
    )


def test_exif_orientation_is_applied_and_metadata_stripped(
    client: TestClient, alice_auth: dict[str, str]
) -> None:
    # Upright: red top half, blue bottom half. Stored on its side, with EXIF orientation 6
    # ("rotate 90° clockwise to view") and a GPS position that must not survive.
    upright = Image.new("RGB", (700, 800), (220, 30, 30))
    upright.paste((30, 30, 220), (0, 400, 700, 800))
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "PhoneMaker"
    exif.get_ifd(0x8825).update({1: "N", 2: (51.0, 30.0, 0.0), 3: "W", 4: (0.0, 7.0, 0.0)})
    out = io.BytesIO()
    stored.save(out, "JPEG", quality=92, exif=exif)
    assert Image.open(io.BytesIO(out.getvalue())).getexif().get_ifd(0x8825)

    assert put_photo(client, alice_auth, out.getvalue()).status_code == 200
    for size in (648, 96):
        data = client.get(f"/v1.0/me/photos/{size}x{size}/$value", headers=alice_auth).content
        image = open_image(data)
        top = image.getpixel((size // 2, size // 8))
        bottom = image.getpixel((size // 2, size - size // 8))
        assert isinstance(top, tuple) and isinstance(bottom, tuple)
        assert top[0] > 180 and top[2] < 80, top  # red on top: upright
        assert bottom[2] > 180 and bottom[0] < 80, bottom
        assert not image.getexif(), dict(image.getexif())
        assert b"Exif" not in data and b"PhoneMaker" not in data


def test_etag_cache_control_and_304(client: TestClient, alice_auth: dict[str, str]) -> None:
    meta = put_photo(client, alice_auth, jpeg(700, 700)).json()
    media_etag = meta["@odata.mediaEtag"].strip('"')
    url = "/v1.0/me/photos/96x96/$value"
    r = client.get(url, headers=alice_auth)
    etag = r.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert media_etag in etag
    assert r.headers["cache-control"] == "private, max-age=0, must-revalidate"
    # A strong ETag per version *and* size.
    assert client.get("/v1.0/me/photos/48x48/$value", headers=alice_auth).headers["etag"] != etag

    for sent in (etag, f"W/{etag}", f'"nope", {etag}', "*"):
        r304 = client.get(url, headers={**alice_auth, "If-None-Match": sent})
        assert r304.status_code == 304, sent
        assert r304.content == b""
        assert r304.headers["etag"] == etag
    assert client.get(url, headers={**alice_auth, "If-None-Match": '"other"'}).status_code == 200

    # A new version: the old ETag no longer matches.
    put_photo(client, alice_auth, jpeg(700, 700, seed=9))
    r = client.get(url, headers={**alice_auth, "If-None-Match": etag})
    assert r.status_code == 200
    assert r.headers["etag"] != etag


def test_head_answers_headers_without_a_body(
    client: TestClient, alice_auth: dict[str, str]
) -> None:
    put_photo(client, alice_auth, jpeg(700, 700))
    full = client.get("/v1.0/me/photos/120x120/$value", headers=alice_auth)
    head = client.head("/v1.0/me/photos/120x120/$value", headers=alice_auth)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["etag"] == full.headers["etag"]
    assert head.headers["content-type"] == "image/jpeg"
    assert int(head.headers["content-length"]) == len(full.content)


def test_versioned_url_may_be_cached_for_good(
    client: TestClient, alice_auth: dict[str, str]
) -> None:
    etag = put_photo(client, alice_auth, jpeg(700, 700)).json()["@odata.mediaEtag"].strip('"')
    r = client.get(f"/v1.0/me/photos/96x96/$value?v={etag}", headers=alice_auth)
    assert r.headers["cache-control"] == "private, max-age=31536000, immutable"
    stale = client.get("/v1.0/me/photos/96x96/$value?v=00000000", headers=alice_auth)
    assert stale.headers["cache-control"] == "private, max-age=0, must-revalidate"


# --- writing ------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["image/jpeg", "image/png", "application/octet-stream"])
def test_upload_content_types_accepted(
    client: TestClient, alice_auth: dict[str, str], content_type: str
) -> None:
    # The bytes are sniffed: a JPEG declared as PNG is still a JPEG.
    r = put_photo(client, alice_auth, jpeg(300, 300), content_type=content_type)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("content_type", ["text/plain", "application/json", "multipart/form-data"])
def test_other_content_types_are_refused_with_415(
    client: TestClient, alice_auth: dict[str, str], content_type: str
) -> None:
    r = put_photo(client, alice_auth, jpeg(300, 300), content_type=content_type)
    error = assert_graph_error(r, 415, "UnsupportedMediaType")
    assert "application/octet-stream" in str(error["message"])
    assert_graph_error(client.get("/v1.0/me/photo", headers=alice_auth), 404, "ImageNotFound")


def test_patch_works_like_put(client: TestClient, alice_auth: dict[str, str]) -> None:
    first = put_photo(client, alice_auth, jpeg(300, 300)).json()["@odata.mediaEtag"]
    r = put_photo(client, alice_auth, jpeg(300, 300, seed=5), method="PATCH")
    assert r.status_code == 200
    assert client.get("/v1.0/me/photo", headers=alice_auth).json()["@odata.mediaEtag"] not in (
        first,
    )


def test_delete_then_everything_answers_image_not_found(
    client: TestClient, alice: UserInfo, alice_auth: dict[str, str], services: Services
) -> None:
    put_photo(client, alice_auth, jpeg(300, 300))
    assert services.directory.get_thumbnail(alice.id) is not None
    r = client.delete("/v1.0/me/photo/$value", headers=alice_auth)
    assert r.status_code == 200
    for path in ("photo", "photos/96x96", "photo/$value", "photos/96x96/$value"):
        error = assert_graph_error(
            client.get(f"/v1.0/me/{path}", headers=alice_auth), 404, "ImageNotFound"
        )
        assert error["message"] == IMAGE_NOT_FOUND_MESSAGE
    assert_graph_error(
        client.delete("/v1.0/me/photo/$value", headers=alice_auth), 404, "ImageNotFound"
    )
    # Deleting the mailbox photo clears the directory's copy too (a flag, not a fall-back).
    assert services.directory.get_thumbnail(alice.id) is None


def test_no_photo_yet_is_graphs_image_not_found(
    client: TestClient, alice_auth: dict[str, str]
) -> None:
    r = client.get("/v1.0/me/photo", headers={**alice_auth, "client-request-id": "abc-123"})
    error = assert_graph_error(r, 404, "ImageNotFound")
    assert error["message"] == IMAGE_NOT_FOUND_MESSAGE
    assert error["innerError"]["client-request-id"] == "abc-123"
    assert client.get("/v1.0/me/photos", headers=alice_auth).status_code == 404


def test_saved_photo_reaches_the_directory_thumbnail(
    client: TestClient, alice: UserInfo, alice_auth: dict[str, str], services: Services
) -> None:
    put_photo(client, alice_auth, jpeg(900, 700, seed=2))
    thumb = services.directory.get_thumbnail(alice.id)
    assert thumb is not None and len(thumb) <= 10 * 1024
    image = open_image(thumb)
    assert (image.format, image.size) == ("JPEG", (64, 64))
    big = open_image(client.get("/v1.0/me/photos/64x64/$value", headers=alice_auth).content)
    assert psnr(image.convert("RGB"), big) > 25


def test_changes_emit_photo_changed_after_commit_and_are_audited(
    client: TestClient, alice: UserInfo, alice_auth: dict[str, str], services: Services
) -> None:
    seen: list[dict[str, object]] = []
    services.ctx.events.subscribe("photo.changed", lambda **ids: seen.append(ids))
    put_photo(client, alice_auth, jpeg(300, 300))
    info = services.mailbox.current_photo(alice.id)
    assert info is not None
    assert seen == [{"user_id": alice.id, "version_id": info.version_id}]
    client.delete("/v1.0/me/photo/$value", headers=alice_auth)
    assert seen[-1] == {"user_id": alice.id, "version_id": None}
    put_photo(client, alice_auth, b"not a picture")
    assert len(seen) == 2

    from sqlalchemy import select

    from photosync.audit import AuditEvent

    with services.ctx.db.session() as session:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.action.like("mailbox.%")).order_by(AuditEvent.at)
        ).all()
        assert [(row.action, row.actor, row.subject_user_id) for row in rows] == [
            ("mailbox.photo.set", alice.upn, alice.id),
            ("mailbox.photo.deleted", alice.upn, alice.id),
        ]


# --- who may do what -----------------------------------------------------------------------


def test_unknown_user_is_request_resource_not_found(
    client: TestClient, alice_auth: dict[str, str]
) -> None:
    for method, path in (
        ("GET", "photo"),
        ("GET", "photos"),
        ("GET", "photo/$value"),
        ("DELETE", "photo/$value"),
    ):
        r = client.request(method, f"/v1.0/users/nobody@example.org/{path}", headers=alice_auth)
        assert_graph_error(r, 404, "Request_ResourceNotFound")


def test_user_without_mailbox_gets_exchanges_mailbox_error(
    client: TestClient,
    add_user: Callable[..., UserInfo],
    auth_for: Callable[[UserInfo], dict[str, str]],
) -> None:
    auth = auth_for(add_user("lee@example.org", mailbox=False))
    for r in (
        client.get("/v1.0/me/photo", headers=auth),
        client.get("/v1.0/me/photos/48x48/$value", headers=auth),
        put_photo(client, auth, jpeg(300, 300)),
        client.delete("/v1.0/me/photo/$value", headers=auth),
    ):
        assert_graph_error(r, 404, "MailboxNotEnabledForRESTAPI")


def test_missing_forged_and_expired_tokens_are_401(
    client: TestClient, alice: UserInfo, alice_auth: dict[str, str], clock: MovableClock
) -> None:
    put_photo(client, alice_auth, jpeg(300, 300))
    now = datetime.now(UTC)
    forged = jwt.encode(
        {
            "sub": alice.id,
            "idtyp": "user",
            "scp": "User.ReadWrite",
            "aud": "api://photosync",
            "iss": "https://photosync.local/",
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(hours=1)).timestamp()),
        },
        "some-other-key-that-is-long-enough-0123456789",
        algorithm="HS256",
    )
    paths = (
        "/v1.0/me/photo/$value",
        f"/v1.0/users/{alice.upn}/photos/96x96/$value",
        "/v1.0/users/nobody@example.org/photos/999x999/$value",  # 401 before any 404
        "/v1.0/me/photos",
    )
    for headers in ({}, bearer(forged), bearer("garbage"), {"Authorization": "Basic YTpi"}):
        for path in paths:
            assert_graph_error(client.get(path, headers=headers), 401, "InvalidAuthenticationToken")
        for method in ("PUT", "PATCH", "DELETE"):
            r = client.request(method, "/v1.0/me/photo/$value", headers=headers, content=b"x")
            assert_graph_error(r, 401, "InvalidAuthenticationToken")
    clock.advance(hours=2)
    assert_graph_error(
        client.get("/v1.0/me/photo", headers=alice_auth), 401, "InvalidAuthenticationToken"
    )


def test_users_read_others_but_change_only_their_own(
    client: TestClient,
    alice: UserInfo,
    alice_auth: dict[str, str],
    add_user: Callable[..., UserInfo],
    auth_for: Callable[[UserInfo], dict[str, str]],
) -> None:
    put_photo(client, alice_auth, jpeg(300, 300))
    bob = auth_for(add_user("bob@example.org"))
    assert client.get(f"/v1.0/users/{alice.upn}/photo", headers=bob).status_code == 200
    before = client.get("/v1.0/me/photo", headers=alice_auth).json()
    for method in ("PUT", "PATCH"):
        r = put_photo(
            client, bob, jpeg(300, 300, seed=1), owner=f"users/{alice.upn}", method=method
        )
        assert_graph_error(r, 403, "ErrorAccessDenied")
    r = client.delete(f"/v1.0/users/{alice.id}/photo/$value", headers=bob)
    assert_graph_error(r, 403, "ErrorAccessDenied")
    assert client.get("/v1.0/me/photo", headers=alice_auth).json() == before
    # Their own photo, named by UPN, is fine.
    assert put_photo(client, bob, jpeg(300, 300), owner="users/bob@example.org").status_code == 200


def test_admin_user_may_change_anyones_photo(
    client: TestClient,
    alice: UserInfo,
    add_user: Callable[..., UserInfo],
    auth_for: Callable[[UserInfo], dict[str, str]],
) -> None:
    admin = auth_for(add_user("root@example.org", admin=True))
    assert put_photo(client, admin, jpeg(300, 300), owner=f"users/{alice.id}").status_code == 200
    assert client.delete(f"/v1.0/users/{alice.upn}/photo/$value", headers=admin).status_code == 200


def test_app_roles(
    client: TestClient, alice: UserInfo, alice_auth: dict[str, str], app_token: Callable[..., str]
) -> None:
    put_photo(client, alice_auth, jpeg(300, 300))
    reader = bearer(app_token("ProfilePhoto.Read.All"))
    writer = bearer(app_token("ProfilePhoto.ReadWrite.All"))
    sites_only = bearer(app_token("Sites.Read.All"))
    owner = f"users/{alice.upn}"
    assert client.get(f"/v1.0/{owner}/photos/48x48/$value", headers=reader).status_code == 200
    assert_graph_error(
        put_photo(client, reader, jpeg(300, 300), owner=owner), 403, "ErrorAccessDenied"
    )
    assert_graph_error(
        client.get(f"/v1.0/{owner}/photo", headers=sites_only), 403, "ErrorAccessDenied"
    )
    assert put_photo(client, writer, jpeg(300, 300, seed=8), owner=owner).status_code == 200
    assert client.delete(f"/v1.0/{owner}/photo/$value", headers=writer).status_code == 200
    # An app has no "me".
    assert_graph_error(client.get("/v1.0/me/photo", headers=writer), 400, "BadRequest")


def test_a_preview_is_never_served_as_the_photo(
    client: TestClient, alice: UserInfo, alice_auth: dict[str, str], services: Services
) -> None:
    saved = put_photo(client, alice_auth, jpeg(300, 300)).json()["@odata.mediaEtag"]
    preview = services.mailbox.set_photo(
        alice.id, jpeg(300, 300, seed=1), actor="test", preview=True
    )
    assert client.get("/v1.0/me/photo", headers=alice_auth).json()["@odata.mediaEtag"] == saved
    value = client.get("/v1.0/me/photos/96x96/$value", headers=alice_auth)
    assert preview.etag not in value.headers["etag"]
    services.mailbox.save_preview(alice.id, actor="test")
    now = client.get("/v1.0/me/photo", headers=alice_auth).json()["@odata.mediaEtag"]
    assert now == f'"{preview.etag}"'


def test_image_work_and_reads_run_off_the_event_loop(
    client: TestClient,
    alice_auth: dict[str, str],
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Decoding (and blocking reads) in the thread pool: never where the event loop runs."""
    import asyncio

    import photosync.mailbox.services as mailbox_services

    def on_loop() -> bool:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        return True

    seen: list[tuple[str, bool]] = []
    real_process = mailbox_services.imaging.process_upload
    real_stored = services.mailbox.stored_photo

    def process(*args: object, **kwargs: object) -> object:
        seen.append(("process_upload", on_loop()))
        return real_process(*args, **kwargs)  # type: ignore[arg-type]

    def stored(*args: object, **kwargs: object) -> object:
        seen.append(("stored_photo", on_loop()))
        return real_stored(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(mailbox_services.imaging, "process_upload", process)
    monkeypatch.setattr(services.mailbox, "stored_photo", stored)
    assert put_photo(client, alice_auth, jpeg(300, 300)).status_code == 200
    for path in ("photo", "photos", "photos/96x96", "photo/$value", "photos/96x96/$value"):
        assert client.get(f"/v1.0/me/{path}", headers=alice_auth).status_code == 200
    assert {name for name, _ in seen} == {"process_upload", "stored_photo"}
    assert not any(loop for _, loop in seen), seen
