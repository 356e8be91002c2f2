"""Every corpus item through every HTTP way a photo comes in: Graph PUT and PATCH on /me and
/users/{id}, SharePoint's SetMyProfilePicture, and the portal's upload form. Each is refused
with a 4xx and a sentence (nothing stored changes, the previous photo is served as before) or
accepted and stored re-encoded; never a 5xx."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from photosync.directory.auth import SESSION_COOKIE, sign_session_id
from tests.hostile.conftest import (
    GRAPH_CORPUS,
    SITES_CORPUS,
    World,
    check_new_blobs,
    check_outcome,
    check_sentence,
    stored,
)
from tests.hostile.corpus import Item, jpeg

pytestmark = pytest.mark.xdist_group("hostile-http")

WAYS = {
    "PUT me": ("PUT", "me"),
    "PATCH me": ("PATCH", "me"),
    "PUT users/{id}": ("PUT", "users"),
    "PATCH users/{id}": ("PATCH", "users"),
}


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("item", GRAPH_CORPUS, ids=lambda item: item.name)
def test_graph_upload(world: World, item: Item, way: str) -> None:
    method, owner = WAYS[way]
    user = world.alice if owner == "me" else world.bob
    path = "/v1.0/me/photo" if owner == "me" else f"/v1.0/users/{user.id}/photo"
    auth = world.auth(world.alice if owner == "me" else world.admin)
    ctx = world.services.ctx
    before_blobs = stored(ctx)
    before = world.client.get(f"{path}/$value", headers=auth)
    assert before.status_code == 200

    r = world.client.request(
        method,
        f"{path}/$value",
        content=item.data,
        headers={**auth, "Content-Type": "application/octet-stream"},
    )
    check_outcome(item, r.status_code, refused_status=r.status_code >= 400)
    after = world.client.get(f"{path}/$value", headers=auth)
    if r.status_code >= 400:
        check_sentence(item, r.json()["error"]["message"])
        assert stored(ctx) == before_blobs, item.name
        assert after.headers["etag"] == before.headers["etag"], item.name
        assert after.content == before.content
    else:
        assert r.status_code == 200, (item.name, r.text)
        check_new_blobs(ctx, before_blobs, item)
        metadata = r.json()
        assert after.headers["etag"] != before.headers["etag"]
        # The served JPEG is the size the metadata promised, never larger than the source.
        with_size = world.client.get(path, headers=auth).json()
        assert with_size["width"] == with_size["height"] == metadata["width"]


@pytest.mark.parametrize(
    "content_type", ["text/html", "application/pdf", "multipart/form-data; boundary=x", None]
)
def test_graph_refuses_a_photo_declared_as_something_else(
    world: World, content_type: str | None
) -> None:
    auth = world.auth(world.alice)
    before = stored(world.services.ctx)
    headers = {**auth, **({"Content-Type": content_type} if content_type else {})}
    r = world.client.put("/v1.0/me/photo/$value", content=jpeg(), headers=headers)
    assert r.status_code == 415
    assert r.json()["error"]["code"] == "UnsupportedMediaType"
    check_sentence(GRAPH_CORPUS[0], r.json()["error"]["message"])
    assert stored(world.services.ctx) == before


def test_graph_refuses_a_chunked_upload_that_runs_past_the_limit(world: World) -> None:
    """No Content-Length: the body is counted as it streams and refused past the limit."""
    auth = world.auth(world.alice)
    before = stored(world.services.ctx)
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        yield jpeg()
        for _ in range(200):  # 12.8 MB of padding, far past 4 MB
            sent += 65_536
            yield b"\0" * 65_536

    r = world.client.put(
        "/v1.0/me/photo/$value", content=chunks(), headers={**auth, "Content-Type": "image/jpeg"}
    )
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "RequestEntityTooLarge"
    check_sentence(GRAPH_CORPUS[0], r.json()["error"]["message"])
    assert stored(world.services.ctx) == before


@pytest.mark.parametrize("item", SITES_CORPUS, ids=lambda item: item.name)
def test_set_my_profile_picture(world: World, item: Item) -> None:
    ctx = world.services.ctx
    auth = world.auth(world.alice)
    before = stored(ctx)
    r = world.client.post(
        "/_api/SP.UserProfiles.PeopleManager/SetMyProfilePicture",
        content=item.data,
        headers={**auth, "Content-Type": "application/octet-stream"},
    )
    check_outcome(item, r.status_code, refused_status=r.status_code >= 400)
    if r.status_code >= 400:
        check_sentence(item, r.json()["error"]["message"]["value"])
        assert stored(ctx) == before, item.name
    else:
        assert r.status_code == 200, (item.name, r.text)
        check_new_blobs(ctx, before, item)


ALERT = re.compile(r'role="alert"[^>]*>([^<]+)<')
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.mark.parametrize("item", GRAPH_CORPUS, ids=lambda item: item.name)
def test_portal_upload(world: World, item: Item) -> None:
    services, ctx = world.services, world.services.ctx
    session = services.directory.start_session(world.alice.id, "portal")
    cookies = {SESSION_COOKIE: sign_session_id(ctx.settings.signing_key, session.id)}
    world.client.cookies.clear()
    world.client.cookies.update(cookies)
    before_photo = services.mailbox.current_photo(world.alice.id)
    before = stored(ctx)
    try:
        r = world.client.post(
            "/photo/preview",
            data={"csrf_token": session.csrf_token},
            files={"photo": ("me.jpg", item.data, item.content_type)},
            follow_redirects=False,
        )
    finally:
        world.client.cookies.clear()
    check_outcome(item, r.status_code, refused_status=r.status_code >= 400)
    # A preview is only a preview: the current photo changes on "save", never here.
    assert services.mailbox.current_photo(world.alice.id) == before_photo
    if r.status_code >= 400:
        match = ALERT.search(r.text)
        assert match, (item.name, r.text[:500])
        check_sentence(item, match.group(1).strip())
        assert stored(ctx) == before, item.name
    else:
        assert r.status_code == 303, (item.name, r.status_code)
        check_new_blobs(ctx, before, item)
