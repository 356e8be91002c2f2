"""Sign-in and sign-out through the portal's forms: cookie flags, CSRF, lock-out, redirects."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from photosync.directory import passwords
from photosync.directory.auth import SESSION_COOKIE, unsign_session_id
from photosync.directory.interfaces import UserInfo
from photosync.directory.passwords import HashingBusy
from photosync.directory.services import SignInFailed
from photosync.services import Services
from tests.conftest import PASSWORD, TEST_KEY, MovableClock
from tests.portal.conftest import alert, csrf_token, sign_in


def session_id(client: TestClient) -> str:
    value = client.cookies.get(SESSION_COOKIE)
    assert value
    sid = unsign_session_id(TEST_KEY, value)
    assert sid
    return sid


def test_pages_send_a_signed_out_browser_to_sign_in(client: TestClient) -> None:
    for path, target in [
        ("/", "/signin"),
        ("/onedrive", "/signin?next=/onedrive"),
        ("/photo?done=saved", "/signin?next=/photo%3Fdone%3Dsaved"),
        ("/admin", "/signin?next=/admin"),
    ]:
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303, path
        assert r.headers["location"] == target


def test_sign_in_sets_an_httponly_lax_session_cookie_and_shows_home(
    client: TestClient, alice: UserInfo
) -> None:
    r = sign_in(client, alice.upn, next_path="/onedrive")
    assert r.status_code == 303
    assert r.headers["location"] == "/onedrive"
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith(f"{SESSION_COOKIE}="))
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags
    assert "samesite=lax" in flags
    assert "path=/" in flags
    assert "secure" not in flags  # plain http: a Secure cookie would never come back
    home = client.get("/")
    assert home.status_code == 200
    assert "Welcome, Alice Smith" in home.text


def test_session_cookie_is_secure_behind_an_https_proxy(
    client: TestClient, alice: UserInfo
) -> None:
    page = client.get("/signin")
    r = client.post(
        "/signin",
        data={"username": alice.upn, "password": PASSWORD, "csrf_token": csrf_token(page.text)},
        headers={"X-Forwarded-Proto": "https"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith(f"{SESSION_COOKIE}="))
    assert "secure" in [part.strip().lower() for part in cookie.split(";")]


def test_each_sign_in_is_a_new_session(
    client: TestClient, alice: UserInfo, services: Services
) -> None:
    sign_in(client, alice.upn)
    first = session_id(client)
    client.cookies.clear()  # a fresh (private) browser window
    sign_in(client, alice.upn)
    second = session_id(client)
    assert first != second
    # The other window's session goes on: they are two browsers.
    assert services.directory.get_session(first) is not None
    assert services.directory.get_session(second) is not None


def test_signing_in_again_in_the_same_browser_replaces_its_session(
    client: TestClient, alice: UserInfo, services: Services
) -> None:
    # Two tabs showing the sign-in form; the second one posted after the first signed in.
    token = csrf_token(client.get("/signin").text)
    form = {"username": alice.upn, "password": PASSWORD, "csrf_token": token}
    assert client.post("/signin", data=form, follow_redirects=False).status_code == 303
    first = session_id(client)
    assert client.get("/signin", follow_redirects=False).status_code == 303  # signed in
    assert client.post("/signin", data=form, follow_redirects=False).status_code == 303
    second = session_id(client)
    assert second != first
    assert services.directory.get_session(first) is None


@pytest.mark.parametrize("who", ["alice@example.org", "nobody@example.org"])
def test_a_wrong_password_or_unknown_user_gets_one_generic_message(
    client: TestClient, alice: UserInfo, who: str
) -> None:
    r = sign_in(client, who, password="not the password")
    assert r.status_code == 400
    assert alert(r.text) == SignInFailed.message
    assert SESSION_COOKIE not in client.cookies
    # The form keeps what was typed as the user name, never the password.
    assert f'value="{who}"' in r.text
    assert "not the password" not in r.text


def test_lock_out_reads_the_same_and_lifts_with_time(
    client: TestClient, alice: UserInfo, clock: MovableClock
) -> None:
    for _ in range(6):
        r = sign_in(client, alice.upn, password="guess")
        assert alert(r.text) == SignInFailed.message
    # Locked: even the right password is refused, with the same words.
    r = sign_in(client, alice.upn)
    assert r.status_code == 400
    assert alert(r.text) == SignInFailed.message
    clock.advance(minutes=16)
    assert sign_in(client, alice.upn).status_code == 303


def test_sign_in_without_or_with_a_wrong_form_token_is_refused(
    client: TestClient, alice: UserInfo
) -> None:
    form = {"username": alice.upn, "password": PASSWORD}
    r = client.post("/signin", data=form, follow_redirects=False)
    assert r.status_code == 403
    r = client.post("/signin", data={**form, "csrf_token": "forged"}, follow_redirects=False)
    assert r.status_code == 403
    assert "expired" in (alert(r.text) or "")
    assert SESSION_COOKIE not in client.cookies
    # A token from one browser is no good with another browser's cookie.
    token = csrf_token(client.get("/signin").text)
    client.cookies.clear()
    client.get("/signin")
    r = client.post("/signin", data={**form, "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 403


def test_empty_fields_ask_for_both(client: TestClient) -> None:
    token = csrf_token(client.get("/signin").text)
    r = client.post("/signin", data={"username": "", "password": "", "csrf_token": token})
    assert r.status_code == 400
    assert alert(r.text) == "Enter your user name and password."


@pytest.mark.parametrize(
    ("asked", "went"),
    [
        ("/sharepoint", "/sharepoint"),
        ("/photo?done=saved", "/photo?done=saved"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
    ],
)
def test_next_goes_only_to_paths_on_this_site(
    client: TestClient, alice: UserInfo, asked: str, went: str
) -> None:
    r = sign_in(client, alice.upn, next_path=asked)
    assert r.status_code == 303
    assert r.headers["location"] == went


def test_sign_out_needs_the_token_then_ends_the_session(
    client: TestClient, alice: UserInfo, services: Services
) -> None:
    sign_in(client, alice.upn)
    sid = session_id(client)
    cookie = client.cookies.get(SESSION_COOKIE)
    r = client.post("/signout", data={"csrf_token": "wrong"})
    assert r.status_code == 403
    assert client.get("/", follow_redirects=False).status_code == 200  # still signed in

    token = csrf_token(client.get("/").text)
    r = client.post("/signout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/signin?signedout=1"
    assert services.directory.get_session(sid) is None
    assert "You signed out." in client.get("/signin?signedout=1").text
    # The old cookie, replayed, is worth nothing now.
    client.cookies.set(SESSION_COOKIE, cookie or "")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_forged_session_cookie_is_ignored(
    client: TestClient, make_user: Callable[..., UserInfo]
) -> None:
    make_user("bob@example.org")
    client.cookies.set(SESSION_COOKIE, "00000000-0000-0000-0000-000000000000.forged")
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303


def test_with_every_hashing_place_taken_sign_in_asks_to_come_back(
    client: TestClient, alice: UserInfo
) -> None:
    admitted = passwords._hashing.bound._admitted  # running and waiting checks
    taken = 0
    while admitted.acquire(blocking=False):  # as a flood of checks would
        taken += 1
    try:
        r = sign_in(client, alice.upn)
    finally:
        for _ in range(taken):
            admitted.release()
    assert r.status_code == 503
    assert r.headers["retry-after"] == str(HashingBusy.retry_after)
    assert alert(r.text) == HashingBusy.message
    assert SESSION_COOKIE not in client.cookies
    assert sign_in(client, alice.upn).status_code == 303  # the places given back
