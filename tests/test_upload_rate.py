"""Photo uploads per person (PHOTOSYNC_UPLOAD_RATE_LIMIT): one limit, counted in the database,
on every way a person uploads over HTTP. Over it: 429, Retry-After, a sentence, nothing
written, the previous photo intact, and one audit row for the run of refusals."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from photosync.audit import AuditEvent
from photosync.context import Context
from photosync.directory.interfaces import UserInfo
from photosync.directory.ratelimit import UploadRate, parse_rate
from photosync.directory.services import UploadsThrottled
from photosync.services import Services, build_services
from photosync.settings import Settings, SettingsError, load_settings
from tests.conftest import MovableClock, bearer, make_settings
from tests.mailbox.conftest import jpeg
from tests.portal.conftest import alert, page_token, sign_in
from tests.sites.helpers import PEOPLE

LIMIT = "2/minute"  # small, so that the third upload is refused
PHOTO = "/v1.0/me/photo/$value"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path / "data", database_url, upload_rate_limit=LIMIT)


def throttled(services: Services, user_id: str) -> list[AuditEvent]:
    with services.ctx.db.session() as session:
        rows = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "upload.throttled", AuditEvent.subject_user_id == user_id
            )
        )
        return list(rows)


def assert_refused(r: httpx.Response, retry_after: int) -> str:
    """The 429 every way answers; returns its sentence."""
    assert r.status_code == 429, r.text
    assert r.headers["retry-after"] == str(retry_after)
    return r.text


def test_parse_rate() -> None:
    assert parse_rate("10/minute") == UploadRate(10, 60)
    assert parse_rate(" 30 / hour ") == UploadRate(30, 3600)
    assert parse_rate("5/10seconds") == UploadRate(5, 10)
    assert str(UploadRate(10, 60)) == "10/minute"
    for off in ("", "off", "0"):
        assert parse_rate(off) is None
    for bad in ("ten/minute", "10", "10/fortnight", "10/0second"):
        with pytest.raises(ValueError):
            parse_rate(bad)
    with pytest.raises(SettingsError, match="PHOTOSYNC_UPLOAD_RATE_LIMIT"):
        load_settings(upload_rate_limit="lots")
    assert load_settings().upload_rate == UploadRate(10, 60)  # the default


def test_graph_put_over_the_limit(
    client: TestClient,
    services: Services,
    make_user: Callable[..., UserInfo],
    user_token: Callable[[str], str],
    clock: MovableClock,
) -> None:
    alice = make_user("alice@example.org")
    auth = {**bearer(user_token(alice.upn)), "Content-Type": "image/jpeg"}
    for seed in (1, 2):
        assert client.put(PHOTO, content=jpeg(300, 300, seed=seed), headers=auth).status_code == 200
    before = services.mailbox.current_photo(alice.id)
    assert before is not None

    # Two at once pass; then one every 30 s: the third waits 30 s.
    r = client.put(PHOTO, content=jpeg(300, 300, seed=3), headers=auth)
    assert_refused(r, 30)
    error = r.json()["error"]
    assert error["code"] == "TooManyRequests"
    assert error["message"] == (
        "Too many photo uploads in a short time: each person may upload 2 per minute. "
        "Try again in 30 seconds."
    )
    assert "request-id" in error["innerError"]
    # PATCH is the same upload; the wait shrinks as time passes, and nothing was written.
    clock.advance(seconds=10)
    r = client.patch(PHOTO, content=jpeg(300, 300, seed=4), headers=auth)
    assert_refused(r, 20)
    assert services.mailbox.current_photo(alice.id) == before

    # One audit row for the run of refusals, not one per refused request.
    rows = throttled(services, alice.id)
    assert len(rows) == 1
    assert rows[0].actor == alice.upn
    assert rows[0].detail == {"limit": LIMIT, "retry_after": 30}

    clock.advance(seconds=20)
    r = client.put(PHOTO, content=jpeg(300, 300, seed=5), headers=auth)
    assert r.status_code == 200, r.text
    assert services.mailbox.current_photo(alice.id) != before


def test_an_admin_is_counted_for_themselves_and_apps_are_not_counted(
    client: TestClient,
    services: Services,
    make_user: Callable[..., UserInfo],
    user_token: Callable[[str], str],
    app_token: Callable[..., str],
) -> None:
    admin = make_user("admin@example.org", admin=True)
    bob = make_user("bob@example.org")
    carol = make_user("carol@example.org")
    admin_auth = {**bearer(user_token(admin.upn)), "Content-Type": "image/jpeg"}
    for target in (bob, carol):
        r = client.put(
            f"/v1.0/users/{target.id}/photo/$value", content=jpeg(200, 200), headers=admin_auth
        )
        assert r.status_code == 200, r.text
    # The admin's allowance is spent (on two other people), ...
    r = client.put(f"/v1.0/users/{bob.id}/photo/$value", content=jpeg(200, 200), headers=admin_auth)
    assert_refused(r, 30)
    assert [row.actor for row in throttled(services, admin.id)] == [admin.upn]
    assert throttled(services, bob.id) == []
    # ... not Bob's, who still uploads his own.
    bob_auth = {**bearer(user_token(bob.upn)), "Content-Type": "image/jpeg"}
    assert client.put(PHOTO, content=jpeg(200, 200, seed=9), headers=bob_auth).status_code == 200
    # An app (client credentials) is not counted: bulk tools set many people's photos.
    app_auth = {**bearer(app_token("ProfilePhoto.ReadWrite.All")), "Content-Type": "image/jpeg"}
    for seed in range(4):
        r = client.put(
            f"/v1.0/users/{carol.id}/photo/$value",
            content=jpeg(200, 200, seed=seed),
            headers=app_auth,
        )
        assert r.status_code == 200, r.text


def test_set_my_profile_picture_over_the_limit(
    client: TestClient,
    services: Services,
    make_user: Callable[..., UserInfo],
    user_token: Callable[[str], str],
) -> None:
    dave = make_user("dave@example.org", mailbox=False)
    auth = bearer(user_token(dave.upn))
    url = f"{PEOPLE}/SetMyProfilePicture"
    for seed in (1, 2):
        r = client.post(url, content=jpeg(300, 300, seed=seed), headers=auth)
        assert r.status_code == 200, r.text
    before = services.sites.profile_status(dave.id)
    r = client.post(url, content=jpeg(300, 300, seed=3), headers=auth)
    assert_refused(r, 30)
    # SharePoint's OData error shape.
    assert r.json()["error"]["message"]["value"].startswith("Too many photo uploads")
    assert services.sites.profile_status(dave.id) == before
    assert len(throttled(services, dave.id)) == 1


def test_portal_form_over_the_limit_says_so_on_the_page(
    client: TestClient, services: Services, make_user: Callable[..., UserInfo]
) -> None:
    erin = make_user("erin@example.org")
    assert sign_in(client, erin.upn).status_code == 303

    def upload(seed: int) -> httpx.Response:
        response: httpx.Response = client.post(
            "/photo/preview",
            data={"csrf_token": page_token(client)},
            files={"photo": ("me.jpg", jpeg(300, 300, seed=seed), "image/jpeg")},
            follow_redirects=False,
        )
        return response

    for seed in (1, 2):
        assert upload(seed).status_code == 303
    before = services.mailbox.preview_photo(erin.id)
    r = upload(3)
    assert_refused(r, 30)
    # The person's own photo page, with the sentence where its messages go: not a bare 429.
    assert r.headers["content-type"].startswith("text/html")
    assert alert(r.text) == (
        "Too many photo uploads in a short time: each person may upload 2 per minute. "
        "Try again in 30 seconds."
    )
    assert 'name="photo"' in r.text  # the upload form is still there
    assert services.mailbox.preview_photo(erin.id) == before
    assert len(throttled(services, erin.id)) == 1


def test_the_count_is_shared_by_every_process(
    client: TestClient,
    services: Services,
    make_user: Callable[..., UserInfo],
    user_token: Callable[[str], str],
    clock: MovableClock,
) -> None:
    """Counted in the database: an upload through another server process spends the same
    allowance (here that process's service, the one function every route calls)."""
    frank = make_user("frank@example.org")
    auth = {**bearer(user_token(frank.upn)), "Content-Type": "image/jpeg"}
    assert client.put(PHOTO, content=jpeg(200, 200), headers=auth).status_code == 200
    # A second process's services on the same data, at the same (test) time.
    other_ctx = Context.from_settings(services.ctx.settings, clock=clock)
    try:
        other = build_services(other_ctx)
        other.directory.count_upload(frank.id, actor=frank.upn)
        with pytest.raises(UploadsThrottled) as refused:
            other.directory.count_upload(frank.id, actor=frank.upn)
    finally:
        other_ctx.db.dispose()
    assert refused.value.retry_after == 30
    assert_refused(client.put(PHOTO, content=jpeg(200, 200), headers=auth), 30)
