"""A person's and an app's life in the directory: disable, enable, the admin role, remove; revoke
and rotate an app's secret. Through the real app (token endpoint, Graph, SharePoint, portal) in
this process; tests/e2e/test_people_server.py covers a change made by another process."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from photosync.audit import AuditEvent
from photosync.directory.interfaces import UserInfo
from photosync.directory.services import DirectoryError
from photosync.mailbox.models import PhotoVersion
from photosync.services import Services
from photosync.sites.models import Profile
from tests.conftest import PASSWORD, bearer, password_token
from tests.mailbox.conftest import jpeg, put_photo
from tests.portal.conftest import sign_in

ALICE = "alice@example.org"


def _token_refused(client: TestClient, upn: str) -> str:
    r = client.post(
        "/oauth2/v2.0/token",
        data={"grant_type": "password", "username": upn, "password": PASSWORD},
    )
    assert r.status_code == 400, r.text
    code: str = r.json()["error"]
    return code


def _actions(services: Services) -> list[str]:
    with services.ctx.db.session() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.at)))


def test_a_disabled_user_cannot_sign_in_and_their_token_stops_at_the_next_request(
    client: TestClient, services: Services, make_user: Callable[..., UserInfo]
) -> None:
    alice = make_user(ALICE)
    token = password_token(client, ALICE)
    assert client.get("/v1.0/me", headers=bearer(token)).status_code == 200

    services.directory.set_disabled(ALICE, True, actor="admin@example.org")
    r = client.get("/v1.0/me", headers=bearer(token))
    assert r.status_code == 401
    assert r.json()["error"]["message"] == "The user account is disabled."
    assert _token_refused(client, ALICE) == "invalid_grant"
    # Nothing of theirs is gone: they are listed, and shown as disabled.
    assert services.directory.get_user(alice.id) == UserInfo(
        alice.id, ALICE, "Alice", ALICE, False, True, True
    )

    services.directory.set_disabled(ALICE, False, actor="admin@example.org")
    assert client.get("/v1.0/me", headers=bearer(password_token(client, ALICE))).status_code == 200
    assert [a for a in _actions(services) if a.startswith("user.")] == [
        "user.added",
        "user.disabled",
        "user.enabled",
    ]
    with services.ctx.db.session() as session:
        refused = session.scalars(
            select(AuditEvent.detail).where(AuditEvent.action == "signin.failed")
        ).all()
    assert [detail["reason"] for detail in refused] == ["disabled"]


def test_a_disabled_users_portal_session_ends_and_the_form_refuses_them(
    client: TestClient, services: Services, make_user: Callable[..., UserInfo]
) -> None:
    make_user(ALICE)
    assert sign_in(client, ALICE).status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 200

    services.directory.set_disabled(ALICE, True)
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")
    assert sign_in(client, ALICE).status_code == 400
    # Enabling does not bring the old session back: they sign in anew.
    services.directory.set_disabled(ALICE, False)
    assert client.get("/", follow_redirects=False).status_code == 303
    assert sign_in(client, ALICE).status_code == 303


def test_a_disabled_users_photo_is_no_photo_to_others_and_the_placeholder_in_sites(
    client: TestClient, services: Services, make_user: Callable[..., UserInfo]
) -> None:
    alice = make_user(ALICE)
    make_user("carol@example.org")  # never had a picture: what the placeholder looks like
    make_user("boss@example.org", admin=True)
    bob = bearer(password_token(client, make_user("bob@example.org").upn))
    boss = bearer(password_token(client, "boss@example.org"))
    assert put_photo(client, bearer(password_token(client, ALICE)), jpeg(400, 400)).is_success
    services.sync.request_check(alice.id, actor="test")

    def userphoto(auth: dict[str, str], upn: str) -> bytes:
        r = client.get(f"/_layouts/15/userphoto.aspx?size=M&accountname={upn}", headers=auth)
        assert r.status_code == 200
        return r.content

    placeholder = userphoto(bob, "carol@example.org")
    picture = userphoto(bob, ALICE)
    assert picture != placeholder
    assert client.get(f"/v1.0/users/{ALICE}/photo/$value", headers=bob).status_code == 200

    services.directory.set_disabled(ALICE, True)
    for path in ("photo", "photo/$value", "photos/96x96/$value"):
        r = client.get(f"/v1.0/users/{ALICE}/{path}", headers=bob)
        assert r.status_code == 404 and r.json()["error"]["code"] == "ImageNotFound"
    assert userphoto(bob, ALICE) == placeholder
    # Admins still see what there is (to decide whether to remove it); nothing was deleted.
    assert client.get(f"/v1.0/users/{ALICE}/photo/$value", headers=boss).status_code == 200
    assert userphoto(boss, ALICE) == picture

    services.directory.set_disabled(ALICE, False)
    assert userphoto(bob, ALICE) == picture


def test_remove_deletes_the_user_and_everything_of_theirs_and_is_audited(
    client: TestClient, services: Services, make_user: Callable[..., UserInfo]
) -> None:
    alice = make_user(ALICE)
    make_user("bob@example.org")
    token = password_token(client, ALICE)
    assert put_photo(client, bearer(token), jpeg(300, 300)).is_success
    assert put_photo(client, bearer(token), jpeg(300, 300, seed=2)).is_success
    services.sync.request_check(alice.id, actor="test")

    removed = services.directory.remove_user(ALICE, actor="admin@example.org")
    assert removed.id == alice.id
    assert services.directory.get_user(ALICE) is None
    r = client.get("/v1.0/me", headers=bearer(token))
    assert r.status_code == 401 and "no longer exists" in r.json()["error"]["message"]
    with services.ctx.db.session() as session:
        for model in (PhotoVersion, Profile):
            count = session.scalar(select(func.count()).select_from(model))
            assert count == 0, model
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "user.removed")).one()
    assert (event.actor, event.detail["upn"]) == ("admin@example.org", ALICE)
    assert [u.upn for u in services.directory.list_users()] == ["bob@example.org"]
    with pytest.raises(DirectoryError, match=f"no user {ALICE}"):
        services.directory.remove_user(ALICE)


def test_nobody_can_leave_photosync_without_an_enabled_admin(
    services: Services, make_user: Callable[..., UserInfo]
) -> None:
    make_user("boss@example.org", admin=True)
    make_user("bob@example.org")
    for attempt in (
        lambda: services.directory.set_admin("boss@example.org", False),
        lambda: services.directory.set_disabled("boss@example.org", True),
        lambda: services.directory.remove_user("boss@example.org"),
    ):
        with pytest.raises(DirectoryError, match="only enabled admin"):
            attempt()
    assert services.directory.set_admin("bob@example.org", True).is_admin
    assert not services.directory.set_admin("boss@example.org", False).is_admin
    assert services.directory.get_user("boss@example.org") == UserInfo(
        services.directory.get_user("boss@example.org").id,  # type: ignore[union-attr]
        "boss@example.org",
        "Boss",
        "boss@example.org",
        False,
        True,
    )
    assert [a for a in _actions(services) if a.startswith("user.admin")] == [
        "user.admin_granted",
        "user.admin_revoked",
    ]


def _app_token(client: TestClient, client_id: str, secret: str) -> str | None:
    r = client.post(
        "/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    if r.status_code == 401:
        assert r.json()["error"] == "invalid_client"
        return None
    assert r.status_code == 200, r.text
    token: str = r.json()["access_token"]
    return token


def test_rotating_an_apps_secret_retires_the_old_one_and_revoking_stops_its_tokens(
    client: TestClient, services: Services, make_user: Callable[..., UserInfo]
) -> None:
    make_user(ALICE)
    directory = services.directory
    client_id, first = directory.add_app("HR sync", ["User.Read.All"])
    token = _app_token(client, client_id, first)
    assert token is not None
    assert client.get("/v1.0/users", headers=bearer(token)).status_code == 200

    app, second = directory.rotate_secret(client_id, actor="cli")
    assert second != first and app.revoked_at is None
    assert _app_token(client, client_id, first) is None
    fresh = _app_token(client, client_id, second)
    assert fresh is not None
    # A token issued before the rotation runs until it expires, as in Entra ID.
    assert client.get("/v1.0/users", headers=bearer(token)).status_code == 200

    directory.revoke_app(client_id, actor="cli")
    for old in (token, fresh):
        r = client.get("/v1.0/users", headers=bearer(old))
        assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]
    assert _app_token(client, client_id, second) is None
    with pytest.raises(DirectoryError, match="revoked"):
        directory.rotate_secret(client_id)
    [listed] = directory.list_apps()
    assert (listed.client_id, listed.name, listed.disabled) == (client_id, "HR sync", True)
    assert [a for a in _actions(services) if a.startswith("app.")] == [
        "app.added",
        "app.secret_rotated",
        "app.revoked",
    ]
