"""userphoto.aspx and the User Photos library: who gets what, placeholders, ETags and caching."""

from __future__ import annotations

from fastapi.testclient import TestClient

from photosync.directory.interfaces import UserInfo
from photosync.imaging import placeholder
from photosync.services import Services
from tests.conftest import another_process
from tests.sites.helpers import (
    USERPHOTO,
    app_auth,
    cookie_session,
    is_placeholder,
    open_image,
    set_mailbox_photo,
    sign_in,
    userphoto,
)

LIBRARY = "/User Photos/Profile Pictures"


def test_known_user_without_picture_gets_the_placeholder_never_404(
    client: TestClient, services: Services, alice: UserInfo, bob: UserInfo
) -> None:
    auth = sign_in(services, alice)
    for size, pixels in (("S", 48), ("M", 72), ("L", 300)):
        r = userphoto(client, auth, bob.upn, size)
        assert r.status_code == 200
        assert r.headers["content-type"] == "image/jpeg"
        assert open_image(r.content).size == (pixels, pixels)
        assert r.content == placeholder(pixels)


def test_unknown_user_is_404_and_anonymous_is_401(
    client: TestClient, services: Services, alice: UserInfo
) -> None:
    auth = sign_in(services, alice)
    r = userphoto(client, auth, "nobody@example.org", "M")
    assert r.status_code == 404
    assert "error" in r.json()
    r = client.get(USERPHOTO, params={"size": "M", "accountname": alice.upn})
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_size_defaults_to_small_and_accepts_username_and_claims_names(
    client: TestClient, services: Services, alice: UserInfo, bob: UserInfo
) -> None:
    set_mailbox_photo(services, bob)
    services.sync.check_now(bob.upn, actor="test")
    auth = sign_in(services, alice)
    small = client.get(USERPHOTO, params={"accountname": bob.upn}, headers=auth)
    assert small.status_code == 200 and open_image(small.content).size == (48, 48)
    by_username = client.get(USERPHOTO, params={"username": bob.upn, "size": "s"}, headers=auth)
    claims = f"i:0#.f|membership|{bob.upn}"
    by_claims = client.get(USERPHOTO, params={"AccountName": claims, "Size": "S"}, headers=auth)
    assert by_username.content == small.content == by_claims.content
    assert not is_placeholder(small)
    assert (
        client.get(
            USERPHOTO, params={"size": "XL", "accountname": bob.upn}, headers=auth
        ).status_code
        == 400
    )


def test_etag_and_304(
    client: TestClient, services: Services, alice: UserInfo, bob: UserInfo
) -> None:
    set_mailbox_photo(services, bob)
    services.sync.check_now(bob.upn, actor="test")
    auth = sign_in(services, alice)
    first = userphoto(client, auth, bob.upn, "M")
    etag = first.headers["etag"]
    again = userphoto(client, {**auth, "If-None-Match": etag}, bob.upn, "M")
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    other = userphoto(client, {**auth, "If-None-Match": '"something-else"'}, bob.upn, "M")
    assert other.status_code == 200
    # The placeholder has its own validator too.
    ph = userphoto(client, auth, alice.upn, "S")
    assert (
        userphoto(client, {**auth, "If-None-Match": ph.headers["etag"]}, alice.upn, "S").status_code
        == 304
    )


def test_versioned_urls_are_cached_for_good_and_others_revalidate(
    client: TestClient, services: Services, alice: UserInfo, bob: UserInfo
) -> None:
    set_mailbox_photo(services, bob)
    services.sync.check_now(bob.upn, actor="test")
    timestamp = services.sites.profile_status(bob.id).picture_timestamp
    assert timestamp
    auth = sign_in(services, alice)
    versioned = userphoto(client, auth, bob.upn, "M", t=timestamp)
    assert "immutable" in versioned.headers["cache-control"]
    assert "max-age=31536000" in versioned.headers["cache-control"]
    stale = userphoto(client, auth, bob.upn, "M", t="12345")
    plain = userphoto(client, auth, bob.upn, "M")
    for r in (stale, plain):
        assert "must-revalidate" in r.headers["cache-control"]  # no-cache, said as Graph says it
        assert "immutable" not in r.headers["cache-control"]
    assert stale.content == plain.content == versioned.content


def test_library_files_with_a_space_in_the_path_both_spellings(
    client: TestClient, services: Services, alice: UserInfo, bob: UserInfo
) -> None:
    set_mailbox_photo(services, bob)
    services.sync.check_now(bob.upn, actor="test")
    auth = sign_in(services, alice)
    slug = "bob_jones_example_org"
    sizes = {}
    for code, pixels in (("S", 48), ("M", 72), ("L", 300)):
        spaced = client.get(f"{LIBRARY}/{slug}_{code}Thumb.jpg", headers=auth)
        encoded = client.get(
            f"/User%20Photos/Profile%20Pictures/{slug}_{code}Thumb.jpg", headers=auth
        )
        assert spaced.status_code == encoded.status_code == 200
        assert spaced.content == encoded.content
        assert open_image(spaced.content).size == (pixels, pixels)
        sizes[code] = spaced.content
        # The library and userphoto.aspx serve the same bytes.
        assert userphoto(client, auth, bob.upn, code).content == spaced.content
    assert len(set(sizes.values())) == 3
    assert client.get(f"{LIBRARY}/{slug}_XThumb.jpg", headers=auth).status_code == 404
    assert client.get(f"{LIBRARY}/alice_example_org_MThumb.jpg", headers=auth).status_code == 404
    assert client.get(f"{LIBRARY}/{slug}_MThumb.jpg").status_code == 401


def test_portal_cookie_reads_pictures(
    client: TestClient, services: Services, alice: UserInfo, bob: UserInfo
) -> None:
    cookies, _ = cookie_session(services, alice)
    client.cookies.update(cookies)
    r = userphoto(client, {}, bob.upn, "M")
    assert r.status_code == 200 and is_placeholder(r)


def test_apps_with_a_sites_or_users_role_read_any_picture(
    client: TestClient, services: Services, bob: UserInfo
) -> None:
    for role in ("Sites.Read.All", "User.Read.All"):
        r = userphoto(client, app_auth(services, role), bob.upn, "M")
        assert r.status_code == 200 and is_placeholder(r)
    no_roles = app_auth(services)
    assert userphoto(client, no_roles, bob.upn, "M").status_code == 403
    assert (
        client.get(f"{LIBRARY}/bob_jones_example_org_MThumb.jpg", headers=no_roles).status_code
        == 403
    )
    # An app has no picture of its own to ask for.
    r = client.get(USERPHOTO, params={"size": "M"}, headers=app_auth(services, "Sites.Read.All"))
    assert r.status_code == 400


def test_a_picture_served_from_memory_changes_at_once_when_this_process_syncs(
    client: TestClient, services: Services, alice: UserInfo, bob: UserInfo
) -> None:
    set_mailbox_photo(services, alice, seed=1)
    services.sync.check_now(alice.upn, actor="test")
    auth = sign_in(services, bob)
    first = {size: userphoto(client, auth, alice.upn, size) for size in "SML"}
    # Asked again at once: the answer now comes from memory, and is the same picture.
    again = {size: userphoto(client, auth, alice.upn, size) for size in "SML"}
    assert {s: r.content for s, r in again.items()} == {s: r.content for s, r in first.items()}

    set_mailbox_photo(services, alice, seed=2)
    assert services.sync.check_now(alice.upn, actor="test").result == "updated"
    after = {size: userphoto(client, auth, alice.upn, size) for size in "SML"}
    for size in "SML":
        assert after[size].status_code == 200
        assert after[size].content != first[size].content, size
        assert after[size].headers["etag"] != first[size].headers["etag"], size


def _remembered_then_synced_elsewhere(
    client: TestClient, services: Services, alice: UserInfo, bob: UserInfo
) -> tuple[dict[str, str], bytes, str]:
    """Bob's view of Alice's M picture, held in memory; then a second process (a worker,
    another server) on the same data syncs a new one. Returns Bob's auth, the picture he saw
    and the new SPS-PictureTimestamp."""
    set_mailbox_photo(services, alice, seed=1)
    services.sync.check_now(alice.upn, actor="test")
    auth = sign_in(services, bob)
    before = userphoto(client, auth, alice.upn, "M").content
    assert userphoto(client, auth, alice.upn, "M").content == before  # from memory now
    with another_process(services) as other:
        set_mailbox_photo(other, alice, seed=2)
        assert other.sync.check_now(alice.upn, actor="test").result == "updated"
        timestamp = other.sites.profile_status(alice.id).picture_timestamp
    assert timestamp is not None
    return auth, before, timestamp


def test_a_picture_changed_by_another_process_is_served_within_the_cache_lifetime(
    client: TestClient, services: Services, alice: UserInfo, bob: UserInfo
) -> None:
    import time

    from photosync.ttlcache import FRESHNESS_SECONDS

    auth, before, _ = _remembered_then_synced_elsewhere(client, services, alice, bob)
    time.sleep(FRESHNESS_SECONDS + 0.2)
    after = userphoto(client, auth, alice.upn, "M")
    assert after.status_code == 200 and after.content != before
    assert not is_placeholder(after)


def test_a_versioned_url_newer_than_memory_is_read_from_the_database_at_once(
    client: TestClient, services: Services, alice: UserInfo, bob: UserInfo
) -> None:
    auth, before, timestamp = _remembered_then_synced_elsewhere(client, services, alice, bob)
    # Within the cache lifetime, yet the URL with the new ?t= gets the new picture, for good.
    r = userphoto(client, auth, alice.upn, "M", t=timestamp)
    assert r.status_code == 200 and r.content != before
    assert "immutable" in r.headers["cache-control"]


def test_own_large_picture_is_never_answered_from_memory(
    client: TestClient, services: Services, alice: UserInfo
) -> None:
    auth = sign_in(services, alice)
    # Seen once as the placeholder (and remembered), then the mailbox gets a photo: the
    # next own-Large request checks and answers the new picture, not the remembered one.
    assert is_placeholder(userphoto(client, auth, alice.upn, "L"))
    set_mailbox_photo(services, alice)
    fresh = sign_in(services, alice)
    large = userphoto(client, fresh, alice.upn, "L")
    assert large.status_code == 200 and not is_placeholder(large)
    assert open_image(large.content).size == (300, 300)
