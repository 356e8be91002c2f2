"""The Entra-ID-shaped token endpoint, and how every API verifies what it issues."""

from __future__ import annotations

from collections.abc import Callable

import jwt
from fastapi.testclient import TestClient

from photosync.directory.interfaces import UserInfo
from photosync.services import Services
from tests.conftest import PASSWORD, TEST_KEY, MovableClock, bearer, password_token

TOKEN = "/oauth2/v2.0/token"
# The test clock is fixed in the past, so decode here without PyJWT's wall-clock expiry check.
AT_TEST_CLOCK = {"verify_exp": False, "verify_iat": False, "verify_nbf": False}


def test_password_grant_issues_a_verifiable_user_token(
    client: TestClient, make_user: Callable[..., UserInfo]
) -> None:
    alice = make_user("Alice@Example.org", "Alice")
    r = client.post(
        TOKEN,
        data={"grant_type": "password", "username": "alice@example.org", "password": PASSWORD},
    )
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert r.headers["cache-control"] == "no-store"
    claims = jwt.decode(
        body["access_token"],
        TEST_KEY,
        algorithms=["HS256"],
        audience="api://photosync",
        options=AT_TEST_CLOCK,
    )
    assert claims["sub"] == alice.id
    assert claims["upn"] == "Alice@Example.org"
    assert set(claims["scp"].split()) >= {"User.Read", "User.ReadWrite"}
    assert claims["sid"]


def test_each_password_sign_in_is_a_new_session(
    client: TestClient, make_user: Callable[..., UserInfo]
) -> None:
    make_user("bob@example.org")
    sids = {
        jwt.decode(password_token(client, "bob@example.org"), options={"verify_signature": False})[
            "sid"
        ]
        for _ in range(3)
    }
    assert len(sids) == 3


def test_tenant_path_form_works_like_entra_id(
    client: TestClient, make_user: Callable[..., UserInfo]
) -> None:
    make_user("carol@example.org")
    r = client.post(
        "/contoso.onmicrosoft.com/oauth2/v2.0/token",
        data={"grant_type": "password", "username": "carol@example.org", "password": PASSWORD},
    )
    assert r.status_code == 200


def test_wrong_password_and_unknown_user_get_the_same_answer(
    client: TestClient, make_user: Callable[..., UserInfo]
) -> None:
    make_user("dave@example.org")
    wrong = client.post(
        TOKEN, data={"grant_type": "password", "username": "dave@example.org", "password": "nope"}
    )
    unknown = client.post(
        TOKEN, data={"grant_type": "password", "username": "who@example.org", "password": "nope"}
    )
    assert wrong.status_code == unknown.status_code == 400
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"] == "invalid_grant"


def test_client_credentials_carry_app_roles(client: TestClient, services: Services) -> None:
    client_id, secret = services.directory.add_app("hr sync", ["ProfilePhoto.ReadWrite.All"])
    r = client.post(
        TOKEN,
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert r.status_code == 200
    claims = jwt.decode(
        r.json()["access_token"],
        TEST_KEY,
        algorithms=["HS256"],
        audience="api://photosync",
        options=AT_TEST_CLOCK,
    )
    assert claims["roles"] == ["ProfilePhoto.ReadWrite.All"]
    assert claims["idtyp"] == "app"


def test_wrong_client_secret_is_invalid_client(client: TestClient, services: Services) -> None:
    client_id, _ = services.directory.add_app("x", ["User.Read.All"])
    r = client.post(
        TOKEN,
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": "bad"},
    )
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"


def test_unsupported_grant_and_json_body_are_refused(client: TestClient) -> None:
    assert client.post(TOKEN, data={"grant_type": "implicit"}).json()["error"] == (
        "unsupported_grant_type"
    )
    r = client.post(TOKEN, json={"grant_type": "password"})
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"


def test_tokens_are_verified_on_every_request(
    client: TestClient, make_user: Callable[..., UserInfo], clock: MovableClock
) -> None:
    make_user("erin@example.org")
    token = password_token(client, "erin@example.org")
    url = "/v1.0/me/photo"
    # Forged: same claims, another key.
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode(claims, "someone-elses-key-of-at-least-32-bytes", algorithm="HS256")
    assert client.get(url, headers=bearer(forged)).status_code == 401
    # Wrong audience, signed with our key.
    other_aud = jwt.encode({**claims, "aud": "api://other"}, TEST_KEY, algorithm="HS256")
    assert client.get(url, headers=bearer(other_aud)).status_code == 401
    # Missing.
    r = client.get(url)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "InvalidAuthenticationToken"
    # Expired: move the server's clock past the lifetime.
    assert client.get(url, headers=bearer(token)).status_code != 401
    clock.advance(seconds=3600 + 1)
    expired = client.get(url, headers=bearer(token))
    assert expired.status_code == 401
    assert "expired" in expired.json()["error"]["message"]
