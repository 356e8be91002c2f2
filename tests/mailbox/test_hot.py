"""Image GETs answered from memory (web.memory_first): as fresh and as guarded as the database path.

A write through this process is served at once; one by another process within
FRESHNESS_SECONDS; authorisation is checked on every request, from memory or not.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
from fastapi.testclient import TestClient

from photosync.directory.interfaces import UserInfo
from photosync.services import Services
from photosync.ttlcache import FRESHNESS_SECONDS
from tests.conftest import another_process, bearer
from tests.mailbox.conftest import jpeg, put_photo

VALUE = "/v1.0/users/alice@example.org/photos/96x96/$value"


@pytest.fixture
def db_reads(services: Services, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The users whose current photo was read from the database, in order."""
    seen: list[str] = []
    real = services.mailbox.stored_photo

    def counted(user_id: str, *, preview: bool = False) -> object:
        seen.append(user_id)
        return real(user_id, preview=preview)

    monkeypatch.setattr(services.mailbox, "stored_photo", counted)
    return seen


def _get(client: TestClient, auth: dict[str, str], **headers: str) -> httpx.Response:
    return client.get(VALUE, headers={**auth, **headers})


def test_a_photo_read_a_moment_ago_is_answered_from_memory(
    client: TestClient, alice: UserInfo, alice_auth: dict[str, str], db_reads: list[str]
) -> None:
    put_photo(client, alice_auth, jpeg(300, 300))
    first = _get(client, alice_auth)
    reads = len(db_reads)
    again = _get(client, alice_auth)
    head = client.head(VALUE, headers=alice_auth)
    cached = _get(client, alice_auth, **{"If-None-Match": first.headers["etag"]})
    assert len(db_reads) == reads  # none of these three asked the database
    assert again.status_code == head.status_code == 200 and again.content == first.content
    assert again.headers["etag"] == head.headers["etag"] == first.headers["etag"]
    assert head.content == b"" and head.headers["content-length"] == str(len(first.content))
    assert cached.status_code == 304 and cached.content == b""


def test_a_write_in_this_process_is_served_at_once(
    client: TestClient,
    services: Services,
    alice: UserInfo,
    alice_auth: dict[str, str],
    add_user: Callable[..., UserInfo],
    auth_for: Callable[[UserInfo], dict[str, str]],
) -> None:
    bob = auth_for(add_user("bob@example.org"))
    put_photo(client, alice_auth, jpeg(300, 300, seed=1))
    old = _get(client, bob)
    old_etag = old.headers["etag"]
    version = old_etag.strip('"').split("-")[0]
    assert _get(client, bob, **{"If-None-Match": old_etag}).status_code == 304  # from memory

    put_photo(client, alice_auth, jpeg(300, 300, seed=2))
    new = _get(client, bob, **{"If-None-Match": old_etag})
    assert new.status_code == 200 and new.content != old.content
    assert new.headers["etag"] != old_etag
    assert _get(client, bob, **{"If-None-Match": new.headers["etag"]}).status_code == 304
    # The old version's URL is no longer the one served: it must not be cached for good.
    stale = client.get(VALUE, params={"v": version}, headers=bob)
    assert stale.headers["etag"] == new.headers["etag"]
    assert "immutable" not in stale.headers["cache-control"]

    # A preview is never served; saving it (in this process) is, at once.
    preview = services.mailbox.set_photo(alice.id, jpeg(300, 300, seed=3), actor="t", preview=True)
    assert _get(client, bob).headers["etag"] == new.headers["etag"]
    services.mailbox.save_preview(alice.id, actor="t")
    assert _get(client, bob).headers["etag"] == f'"{preview.etag}-96"'


def test_a_photo_deleted_in_this_process_is_404_at_once(
    client: TestClient, alice: UserInfo, alice_auth: dict[str, str]
) -> None:
    put_photo(client, alice_auth, jpeg(300, 300))
    for _ in range(2):
        assert client.get("/v1.0/me/photo/$value", headers=alice_auth).status_code == 200
    assert client.delete("/v1.0/me/photo/$value", headers=alice_auth).status_code == 200
    for path in ("/v1.0/me/photo/$value", VALUE):
        r = client.get(path, headers=alice_auth)
        assert r.status_code == 404 and r.json()["error"]["code"] == "ImageNotFound"


def test_a_change_by_another_process_is_served_within_the_cache_lifetime(
    client: TestClient, services: Services, alice: UserInfo, alice_auth: dict[str, str]
) -> None:
    put_photo(client, alice_auth, jpeg(300, 300, seed=1))
    before = _get(client, alice_auth)
    assert _get(client, alice_auth).content == before.content  # from memory now

    # A second process (the CLI, another server) on the same database and blob store.
    with another_process(services) as other:
        other.mailbox.set_photo(alice.id, jpeg(300, 300, seed=2), actor="other")
        time.sleep(FRESHNESS_SECONDS + 0.2)
        after = _get(client, alice_auth, **{"If-None-Match": before.headers["etag"]})
        assert after.status_code == 200 and after.content != before.content
        assert _get(client, alice_auth).content == after.content  # remembered again

        other.mailbox.delete_photo(alice.id, actor="other")
        time.sleep(FRESHNESS_SECONDS + 0.2)
        assert _get(client, alice_auth).status_code == 404


def test_a_versioned_url_newer_than_memory_is_read_from_the_database_at_once(
    client: TestClient, services: Services, alice: UserInfo, alice_auth: dict[str, str]
) -> None:
    put_photo(client, alice_auth, jpeg(300, 300, seed=1))
    before = _get(client, alice_auth)
    assert _get(client, alice_auth).content == before.content  # from memory now

    # Another process changes the photo; a page built from the database names the new etag.
    with another_process(services) as other:
        new = other.mailbox.set_photo(alice.id, jpeg(300, 300, seed=2), actor="other")
    # Within the cache lifetime, yet the versioned URL gets the new bytes, cacheable for good.
    r = client.get(f"{VALUE}?v={new.etag}", headers=alice_auth)
    assert r.status_code == 200 and r.content != before.content
    assert r.headers["etag"] == f'"{new.etag}-96"'
    assert "immutable" in r.headers["cache-control"]


def test_authorisation_is_checked_on_the_memory_path(
    client: TestClient,
    services: Services,
    alice: UserInfo,
    alice_auth: dict[str, str],
    add_user: Callable[..., UserInfo],
    auth_for: Callable[[UserInfo], dict[str, str]],
    app_token: Callable[..., str],
) -> None:
    put_photo(client, alice_auth, jpeg(300, 300))
    reader = auth_for(add_user("bob@example.org"))
    # Carol's token may read only her own photo.
    carol = add_user("carol@example.org")
    session_id = services.directory.start_session(carol.id, "token").id
    own_only = bearer(
        services.directory.tokens.issue_user_token(
            carol.id, carol.upn, session_id, frozenset({"User.Read"}), services.ctx.clock()
        )
    )
    sites_only = bearer(app_token("Sites.Read.All"))
    for auth in (reader, own_only, sites_only):
        _get(client, auth)  # the callers, the user in the URL and the photo are all in memory
    assert _get(client, reader).status_code == 200
    etag = _get(client, reader).headers["etag"]
    for auth in (own_only, sites_only):
        for r in (
            _get(client, auth),
            _get(client, auth, **{"If-None-Match": etag}),
            client.head(VALUE, headers=auth),
        ):
            assert r.status_code == 403, r.text
    refused = _get(client, own_only)
    assert refused.json()["error"]["code"] == "ErrorAccessDenied"
    # Carol's token is still good for her own photo.
    assert client.get("/v1.0/me/photo/$value", headers=own_only).status_code == 404
