"""Friendly error pages for people; APIs keep their own error shapes; no stack traces anywhere."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from photosync.directory.interfaces import UserInfo
from photosync.web import Root


def test_unknown_page_is_a_friendly_404(client: TestClient) -> None:
    r = client.get("/no/such/page")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert "find that page" in r.text
    assert 'href="/signin"' in r.text  # signed out: offers to sign in


def test_signed_in_404_offers_the_way_home(client: TestClient, signed_in: UserInfo) -> None:
    r = client.get("/no/such/page")
    assert r.status_code == 404
    assert "Go to your home page" in r.text
    assert "Alice Smith" in r.text  # the header knows who is signed in


def test_api_paths_keep_their_json_errors(client: TestClient) -> None:
    r = client.get("/v1.0/me/photo")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "InvalidAuthenticationToken"
    r = client.get("/v1.0/no-such-thing")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/json")


def test_wrong_method_on_a_page(client: TestClient) -> None:
    r = client.put("/signin")
    assert r.status_code == 405
    assert "That didn&#39;t work" in r.text


def test_a_crash_is_a_friendly_500_without_a_stack_trace(
    app: Root, caplog: pytest.LogCaptureFixture
) -> None:
    def boom() -> None:
        raise RuntimeError("secret internals: /etc/passwd")

    # Each sub-application answers its own crashes in its own shape.
    app.app_for_path("/boom").add_api_route("/boom", boom)
    app.app_for_path("/v1.0/boom").add_api_route("/v1.0/boom", boom)
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/boom")
        assert r.status_code == 500
        assert "Something went wrong on our side" in r.text
        assert "secret internals" not in r.text and "Traceback" not in r.text
        r = client.get("/v1.0/boom", headers={"client-request-id": "crash-1"})
        assert r.status_code == 500
        assert r.json()["error"]["code"] == "generalException"
        assert "secret internals" not in r.text
    # The traceback is logged once, by the edge, while the request's id is still known.
    (logged,) = [rec for rec in caplog.records if "/v1.0/boom" in rec.getMessage()]
    assert logged.exc_info is not None and "secret internals" in str(logged.exc_info[1])
    assert r.headers["request-id"] == "crash-1"


def test_a_malformed_form_is_a_friendly_400(client: TestClient, signed_in: UserInfo) -> None:
    r = client.get("/photo/preview/not-a-number")
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("text/html")
