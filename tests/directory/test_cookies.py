"""The signed values the browser keeps: the session cookie and the sign-in form's token."""

from __future__ import annotations

import secrets
import time

import pytest
from itsdangerous import TimestampSigner

from photosync.directory.cookies import (
    SIGNIN_FORM_MAX_AGE,
    sign_session_id,
    signin_form_token_for,
    signin_form_token_ok,
    unsign_session_id,
)
from tests.conftest import TEST_KEY

SESSION_ID = "6f1c1b8e-3a52-4c43-9b7e-1d2f0f5c9a10"


def test_a_session_cookie_gives_back_its_session_id() -> None:
    value = sign_session_id(TEST_KEY, SESSION_ID)
    assert value.startswith(f"{SESSION_ID}.")
    assert unsign_session_id(TEST_KEY, value) == SESSION_ID


@pytest.mark.parametrize(
    "forged",
    [
        "",
        SESSION_ID,
        f"{SESSION_ID}.",
        f"{SESSION_ID}.forged",
        "00000000-0000-0000-0000-000000000000.forged",
    ],
)
def test_a_forged_session_cookie_gives_nothing(forged: str) -> None:
    assert unsign_session_id(TEST_KEY, forged) is None


def test_a_session_cookie_is_bound_to_its_id_and_key() -> None:
    value = sign_session_id(TEST_KEY, SESSION_ID)
    signature = value.rpartition(".")[2]
    other = "00000000-0000-0000-0000-000000000000"
    assert unsign_session_id(TEST_KEY, f"{other}.{signature}") is None
    assert unsign_session_id("another-key", value) is None


def test_the_sign_in_token_matches_only_its_nonce() -> None:
    nonce, other = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    token = signin_form_token_for(TEST_KEY, nonce)
    assert nonce not in token  # the nonce stays in its HttpOnly cookie
    assert signin_form_token_ok(TEST_KEY, nonce, token)
    assert not signin_form_token_ok(TEST_KEY, other, token)
    assert not signin_form_token_ok("another-key", nonce, token)
    assert not signin_form_token_ok(TEST_KEY, nonce, "")
    assert not signin_form_token_ok(TEST_KEY, nonce, f"{token}x")


def test_a_signature_for_one_use_never_passes_for_the_other() -> None:
    # Same key, same value: only the salts tell them apart.
    nonce = SESSION_ID
    cookie = sign_session_id(TEST_KEY, nonce)
    assert not signin_form_token_ok(TEST_KEY, nonce, cookie.partition(".")[2])
    token = signin_form_token_for(TEST_KEY, nonce)
    assert unsign_session_id(TEST_KEY, f"{nonce}.{token}") is None
    assert unsign_session_id(TEST_KEY, f"{nonce}.{token.rpartition('.')[2]}") is None


def test_the_sign_in_token_expires_with_its_cookie(monkeypatch: pytest.MonkeyPatch) -> None:
    nonce = secrets.token_urlsafe(32)
    token = signin_form_token_for(TEST_KEY, nonce)
    now = time.time()
    monkeypatch.setattr(
        TimestampSigner, "get_timestamp", lambda self: int(now) + SIGNIN_FORM_MAX_AGE - 5
    )
    assert signin_form_token_ok(TEST_KEY, nonce, token)
    monkeypatch.setattr(
        TimestampSigner, "get_timestamp", lambda self: int(now) + SIGNIN_FORM_MAX_AGE + 5
    )
    assert not signin_form_token_ok(TEST_KEY, nonce, token)
