""" "My photo doesn't show" and the admin's diagnostic per person: every state on both pages,
and the person's rate-limited "Check now"."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from photosync.app import app_for
from photosync.context import Context
from photosync.directory.interfaces import UserInfo
from photosync.services import Services, build_services
from photosync.settings import Settings
from photosync.sync.service import SyncService
from photosync.sync.sources import MailboxPhotoSource
from tests.conftest import MovableClock, make_settings
from tests.portal.conftest import RED, alert, bands, csrf_token, sign_in
from tests.sites.helpers import PEOPLE, count_checks, jpeg
from tests.sites.helpers import sign_in as token_sign_in
from tests.sync.conftest import CountingSource

STATE = re.compile(r'data-state="([a-z-]+)"')


def state_of(page: str) -> str:
    match = STATE.search(page)
    assert match, "the page shows no state"
    return match.group(1)


def text(page: str) -> str:
    """The page's words, tags dropped, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


# --- setting each state up, through the services as the rest of the system would ----------


def set_photo(services: Services, user: UserInfo, seed: int = 1) -> None:
    services.mailbox.set_photo(user.id, jpeg(800, 700, seed), actor="test")


def fail_a_check(services: Services, user: UserInfo) -> None:
    """A check whose mailbox does not answer (a sync service of its own, then the real one
    back in charge of own-Large requests)."""
    failing = CountingSource(MailboxPhotoSource(services.mailbox))
    failing.failing = True
    SyncService(
        services.ctx,
        directory=services.directory,
        mailbox=services.mailbox,
        sites=services.sites,
        source=failing,
    ).check_now(user.id, actor="test")
    services.sites.set_own_large_hook(services.sync.on_own_large_request)


Make = Callable[..., UserInfo]
PAT = "pat@example.org"


def _in_sync(services: Services, make_user: Make) -> UserInfo:
    person = make_user(PAT, "Pat Person")
    set_photo(services, person)
    services.sync.check_now(person.id, actor="test")
    return person


def _pending(services: Services, make_user: Make) -> UserInfo:
    person = make_user(PAT, "Pat Person")
    set_photo(services, person)
    return person


def _no_photo(services: Services, make_user: Make) -> UserInfo:
    return make_user(PAT, "Pat Person")


def _no_mailbox(services: Services, make_user: Make) -> UserInfo:
    return make_user(PAT, "Pat Person", mailbox=False)


def _not_editable(services: Services, make_user: Make) -> UserInfo:
    person = _pending(services, make_user)
    services.sync.set_picture_editable(False, actor="test")
    return person


def _error_backoff(services: Services, make_user: Make) -> UserInfo:
    person = _pending(services, make_user)
    fail_a_check(services, person)
    return person


def _directory_only(services: Services, make_user: Make) -> UserInfo:
    person = make_user(PAT, "Pat Person")
    services.directory.set_thumbnail(person.id, bands(64, 64, [RED]), actor="test")
    return person


def _upload_kept(services: Services, make_user: Make) -> UserInfo:
    person = make_user(PAT, "Pat Person", mailbox=False)
    with TestClient(app_for(services)) as api:
        r = api.post(
            f"{PEOPLE}/SetMyProfilePicture",
            content=jpeg(seed=6),
            headers=token_sign_in(services, person),
        )
        assert r.status_code == 200, r.text
    return person


# state: (set-up, what the person reads, what an admin reads)
SETUPS: dict[str, tuple[Callable[[Services, Make], UserInfo], str, str]] = {
    "in-sync": (
        _in_sync,
        "OneDrive and SharePoint show your current photo",
        "OneDrive and SharePoint show Pat Person's current photo",
    ),
    "pending": (
        _pending,
        "Your new photo has not reached SharePoint yet: it still shows the blank placeholder "
        "picture. SharePoint copies it the next time you open OneDrive or SharePoint.",
        "Pat Person's new photo has not reached SharePoint yet",
    ),
    "no-photo": (
        _no_photo,
        "You have not added a photo yet",
        "Pat Person has not added a photo yet",
    ),
    "no-mailbox": (
        _no_mailbox,
        "Your account has no mailbox",
        "Pat Person's account has no mailbox",
    ),
    "not-editable": (
        _not_editable,
        "Ask your administrator to turn on “People may change their picture in SharePoint”.",
        "The organisation has turned off “People may change their picture in SharePoint”",
    ),
    "error-backoff": (
        _error_backoff,
        "failed: ConnectionError: the mailbox server did not answer",
        "failed: ConnectionError: the mailbox server did not answer",
    ),
    "directory-only": (
        _directory_only,
        "SharePoint never reads that picture",
        "SharePoint never reads that picture: it copies photos only from the mailbox, "
        "and Pat Person's mailbox has none.",
    ),
    "upload-kept": (
        _upload_kept,
        "SharePoint shows a picture that was uploaded straight to it",
        "SharePoint shows a picture that was uploaded straight to it",
    ),
}


@pytest.mark.parametrize("state", list(SETUPS))
def test_each_state_on_both_pages(
    state: str, client: TestClient, services: Services, make_user: Make
) -> None:
    admin = make_user("ada@example.org", "Ada Admin", admin=True)
    set_up, mine, theirs = SETUPS[state]
    person = set_up(services, make_user)

    sign_in(client, admin.upn)
    page = client.get(f"/admin/users/{person.id}/diagnostic")
    assert page.status_code == 200
    assert state_of(page.text) == state
    assert theirs in text(page.text)
    assert "Last checks" in page.text
    assert 'id="check-now"' in page.text  # an admin may always check

    with TestClient(client.app) as own:
        sign_in(own, person.upn)
        page = own.get("/photo/doctor")
        assert page.status_code == 200
        assert state_of(page.text) == state
        assert mine in text(page.text)
        offers_check = 'id="check-now"' in page.text
        assert offers_check == (state in ("pending", "error-backoff")), state
        offers_upload = 'id="add-photo"' in page.text
        assert offers_upload == (state in ("no-photo", "directory-only")), state


def test_home_and_admin_rows_link_to_the_diagnostic(client: TestClient, make_user: Make) -> None:
    admin = make_user("ada@example.org", "Ada Admin", admin=True)
    bob = make_user("bob@example.org", "Bob Jones")
    sign_in(client, admin.upn)
    assert 'href="/photo/doctor">My photo doesn\'t show</a>' in client.get("/").text
    row = re.compile(r'<tr data-upn="([^"]+)"[^>]*>(.*?)</tr>', re.S)
    rows = dict(row.findall(client.get("/admin").text))
    assert f'href="/admin/users/{bob.id}/diagnostic"' in rows["bob@example.org"]
    assert f'href="/admin/users/{admin.id}/diagnostic"' in rows["ada@example.org"]


def test_the_pictures_shown_are_the_mailbox_and_sites_and_looking_does_not_check(
    client: TestClient, services: Services, signed_in: UserInfo, make_user: Make
) -> None:
    set_photo(services, signed_in)
    etag = services.mailbox.current_photo(signed_in.id).etag  # type: ignore[union-attr]
    page = client.get("/photo/doctor").text
    mailbox = re.search(r'src="(/v1\.0/me/photos/96x96/\$value\?v=' + etag + ')"', page)
    assert mailbox, page
    sites = "/_layouts/15/userphoto.aspx?size=M&amp;accountname=alice@example.org"
    assert f'src="{sites}"' in page
    assert f"Version {etag}" in page
    for url in (mailbox.group(1), html.unescape(sites)):
        image = client.get(url)
        assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert count_checks(services.ctx, signed_in) == 0  # Medium never prompts a check
    assert "SharePoint has not checked the mailbox for your photo yet." in text(page)

    admin = make_user("ada@example.org", "Ada Admin", admin=True)
    with TestClient(client.app) as admins:
        sign_in(admins, admin.upn)
        page = admins.get(f"/admin/users/{signed_in.id}/diagnostic").text
        src = re.search(
            rf'src="(/v1\.0/users/{signed_in.id}/photos/96x96/\$value\?v={etag})"', page
        )
        assert src, page
        assert admins.get(src.group(1)).status_code == 200


def test_check_now_copies_the_photo_then_waits_a_minute_on_every_server(
    client: TestClient,
    services: Services,
    signed_in: UserInfo,
    clock: MovableClock,
    settings: Settings,
) -> None:
    set_photo(services, signed_in)
    page = client.get("/photo/doctor").text
    assert state_of(page) == "pending"
    token = csrf_token(page)

    r = client.post("/photo/doctor/check", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/photo/doctor?checked=1"
    page = client.get("/photo/doctor?checked=1").text
    assert state_of(page) == "in-sync"
    assert "Checked just now: copied a new photo." in page
    assert re.search(r"<td>Check now</td>\s*<td>Copied a new photo</td>", page)
    assert count_checks(services.ctx, signed_in) == 1

    # At once again: refused, with the time to wait, and nothing checked.
    clock.advance(seconds=15)
    r = client.post("/photo/doctor/check", data={"csrf_token": token})
    assert r.status_code == 429
    assert alert(r.text) == "A check ran moments ago. You can check again in 45 seconds."
    assert state_of(r.text) == "in-sync"
    assert count_checks(services.ctx, signed_in) == 1

    # Another server on the same data refuses too: the time comes from sync's records.
    other_ctx = Context.from_settings(settings, clock=clock)
    try:
        with TestClient(app_for(build_services(other_ctx))) as elsewhere:
            elsewhere.cookies.update(client.cookies)
            r = elsewhere.post("/photo/doctor/check", data={"csrf_token": token})
            assert r.status_code == 429
            assert "You can check again in 45 seconds." in (alert(r.text) or "")
    finally:
        other_ctx.db.dispose()

    # A minute after the check it may run again.
    clock.advance(seconds=46)
    r = client.post("/photo/doctor/check", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    assert count_checks(services.ctx, signed_in) == 2
    assert "Checked just now: up to date." in client.get("/photo/doctor?checked=1").text


def test_check_now_needs_the_form_token(
    client: TestClient, services: Services, signed_in: UserInfo
) -> None:
    set_photo(services, signed_in)
    for data in ({}, {"csrf_token": "forged"}):
        r = client.post("/photo/doctor/check", data=data)
        assert r.status_code == 403
    assert count_checks(services.ctx, signed_in) == 0


def test_check_now_after_a_failure_tries_again(
    client: TestClient, services: Services, signed_in: UserInfo, clock: MovableClock
) -> None:
    set_photo(services, signed_in)
    fail_a_check(services, signed_in)
    page = client.get("/photo/doctor").text
    assert state_of(page) == "error-backoff"
    assert "waits until 2026-03-02 10:00 UTC" in text(page)
    assert "ConnectionError: the mailbox server did not answer" in page  # in the checks table
    clock.advance(seconds=61)
    r = client.post("/photo/doctor/check", data={"csrf_token": csrf_token(page)})
    assert r.status_code == 200  # followed the redirect
    assert state_of(r.text) == "in-sync"


def test_admin_checks_from_the_diagnostic_page(
    client: TestClient, services: Services, make_user: Make
) -> None:
    admin = make_user("ada@example.org", "Ada Admin", admin=True)
    person = _pending(services, make_user)
    sign_in(client, admin.upn)
    page = client.get(f"/admin/users/{person.id}/diagnostic").text
    assert "Policy: on-user-action" in page
    url = f"/admin/users/{person.id}/diagnostic/check"
    for _ in range(2):  # admins are not rate-limited
        r = client.post(url, data={"csrf_token": csrf_token(page)}, follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"] == f"/admin/users/{person.id}/diagnostic?checked=1"
    page = client.get(f"/admin/users/{person.id}/diagnostic?checked=1").text
    assert state_of(page) == "in-sync"
    assert "Checked just now: up to date." in page
    assert client.post(url, data={}).status_code == 403  # no form token


def test_the_admin_diagnostic_is_for_admins(
    client: TestClient, signed_in: UserInfo, make_user: Make
) -> None:
    other = make_user("bob@example.org")
    for r in (
        client.get(f"/admin/users/{other.id}/diagnostic"),
        client.post(f"/admin/users/{other.id}/diagnostic/check", data={}),
    ):
        assert r.status_code == 403
        assert "for administrators only" in r.text
    admin = make_user("ada@example.org", "Ada Admin", admin=True)
    with TestClient(client.app) as admins:
        sign_in(admins, admin.upn)
        r = admins.get("/admin/users/nobody/diagnostic")
        assert r.status_code == 404


def test_the_own_page_needs_a_sign_in(client: TestClient) -> None:
    r = client.get("/photo/doctor", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/signin?next=/photo/doctor"


class TestManualPolicy:
    @pytest.fixture
    def settings(self, tmp_path: Path, database_url: str) -> Settings:
        return make_settings(tmp_path / "data", database_url, sync_policy="manual")

    def test_the_person_is_told_to_ask_an_admin_and_cannot_check(
        self, client: TestClient, services: Services, signed_in: UserInfo
    ) -> None:
        set_photo(services, signed_in)
        page = client.get("/photo/doctor").text
        assert state_of(page) == "pending"
        assert "only when an administrator runs a check (the manual policy)" in text(page)
        assert "Ask your administrator to run a check." in page
        assert 'id="check-now"' not in page
        r = client.post("/photo/doctor/check", data={"csrf_token": csrf_token(page)})
        assert r.status_code == 429
        assert alert(r.text) == (
            "In this organisation only an administrator can start a check. "
            "Ask your administrator to run one."
        )
        assert count_checks(services.ctx, signed_in) == 0
