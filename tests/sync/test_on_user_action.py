"""SPEC §2 through HTTP with a moved clock: what makes sites pull from the mailbox, and what not."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import update

from photosync.directory.interfaces import UserInfo
from photosync.directory.models import User
from photosync.services import Services
from tests.conftest import MovableClock
from tests.sites.helpers import (
    LIBRARY,
    PEOPLE,
    checks,
    count_checks,
    image_bytes,
    is_placeholder,
    jpeg,
    open_image,
    set_mailbox_photo,
    sign_in,
    userphoto,
)
from tests.sync.conftest import CountingSource


def own_large_etag(client: TestClient, auth: dict[str, str], user: UserInfo) -> str:
    r = userphoto(client, auth, user.upn, "L")
    assert r.status_code == 200
    return r.headers["etag"]


def library_etag(client: TestClient, auth: dict[str, str], user: UserInfo, code: str) -> str:
    r = client.get(
        f"{LIBRARY}/{user.upn.replace('@', '_').replace('.', '_')}_{code}Thumb.jpg", headers=auth
    )
    assert r.status_code == 200
    return r.headers["etag"]


def test_never_synced_user_gets_their_picture_on_the_first_own_large_request(
    client: TestClient, services: Services, alice: UserInfo
) -> None:
    set_mailbox_photo(services, alice)
    auth = sign_in(services, alice)
    r = userphoto(client, auth, alice.upn, "L")
    # The request that triggered the sync answers with the new picture, not the placeholder.
    assert not is_placeholder(r)
    assert open_image(r.content).size == (300, 300)
    [check] = checks(services.ctx, alice)
    assert (check.trigger, check.reason, check.result) == (
        "own-large",
        "never-checked",
        "updated",
    )
    assert check.to_etag == services.mailbox.current_photo(alice.id).etag  # type: ignore[union-attr]
    assert check.session_id is not None


def test_a_new_sign_in_session_gets_a_check_the_same_session_does_not(
    client: TestClient, services: Services, alice: UserInfo, clock: MovableClock
) -> None:
    set_mailbox_photo(services, alice, seed=1)
    session_one = sign_in(services, alice)
    first = own_large_etag(client, session_one, alice)
    set_mailbox_photo(services, alice, seed=2)
    clock.advance(minutes=5)
    assert own_large_etag(client, session_one, alice) == first  # same session: still fresh
    assert count_checks(services.ctx, alice) == 1
    # The "open a private window and sign in again" advice, made a rule.
    session_two = sign_in(services, alice)
    second = own_large_etag(client, session_two, alice)
    assert second != first
    last = checks(services.ctx, alice)[-1]
    assert (last.reason, last.result) == ("new-session", "updated")
    # The old session sees the new picture too (it is one profile), without another check.
    assert own_large_etag(client, session_one, alice) == second
    assert count_checks(services.ctx, alice) == 2


def test_expiration_after_24_hours_in_the_same_session(
    client: TestClient, services: Services, alice: UserInfo, clock: MovableClock
) -> None:
    set_mailbox_photo(services, alice, seed=1)
    auth = sign_in(services, alice)
    first = own_large_etag(client, auth, alice)
    set_mailbox_photo(services, alice, seed=2)
    clock.advance(hours=23)
    assert own_large_etag(client, auth, alice) == first
    clock.advance(hours=2)  # 25 h after the check
    assert own_large_etag(client, auth, alice) != first
    assert [c.reason for c in checks(services.ctx, alice)] == ["never-checked", "expired"]


def test_error_back_off_then_retry(
    client: TestClient,
    services: Services,
    alice: UserInfo,
    clock: MovableClock,
    counting: CountingSource,
) -> None:
    set_mailbox_photo(services, alice)
    counting.failing = True
    r = userphoto(client, sign_in(services, alice), alice.upn, "L")
    assert r.status_code == 200 and is_placeholder(r)  # the check failed, the old picture stays
    [failed] = checks(services.ctx, alice)
    assert failed.result == "error" and "did not answer" in (failed.error or "")
    history = services.sync.status(alice.id).history
    assert history.last_result == "error" and "did not answer" in (history.last_error or "")

    counting.failing = False
    clock.advance(minutes=30)
    # Not even a new sign-in gets a check while backing off.
    assert is_placeholder(userphoto(client, sign_in(services, alice), alice.upn, "L"))
    assert count_checks(services.ctx, alice) == 1
    clock.advance(minutes=31)  # 61 min after the error
    assert not is_placeholder(userphoto(client, sign_in(services, alice), alice.upn, "L"))
    assert [c.result for c in checks(services.ctx, alice)] == ["error", "updated"]
    assert checks(services.ctx, alice)[-1].reason == "error-retry"


def test_small_medium_and_other_peoples_pictures_never_trigger(
    client: TestClient, services: Services, alice: UserInfo, bob: UserInfo
) -> None:
    set_mailbox_photo(services, alice)
    set_mailbox_photo(services, bob, seed=3)
    auth = sign_in(services, alice)
    for size in ("S", "M"):
        assert is_placeholder(userphoto(client, auth, alice.upn, size))
    assert is_placeholder(userphoto(client, auth, bob.upn, "L"))
    for code in ("S", "M", "L"):  # the library has no files yet for anyone
        slug = "bob_jones_example_org"
        assert client.get(f"{LIBRARY}/{slug}_{code}Thumb.jpg", headers=auth).status_code == 404
    assert client.get(f"{PEOPLE}/GetMyProperties", headers=auth).status_code == 200
    assert count_checks(services.ctx, alice) == count_checks(services.ctx, bob) == 0
    # Alice's own L file is an own-Large request, like userphoto.aspx?size=L.
    assert library_etag(client, auth, alice, "L")
    assert [c.result for c in checks(services.ctx, alice)] == ["updated"]
    assert count_checks(services.ctx, bob) == 0


def test_a_photo_only_in_the_directory_never_reaches_sites(
    client: TestClient, services: Services, alice: UserInfo
) -> None:
    thumb = image_bytes(open_image(jpeg(64, 64, seed=9)), "JPEG")
    services.directory.set_thumbnail(alice.upn, thumb)
    r = userphoto(client, sign_in(services, alice), alice.upn, "L")
    assert is_placeholder(r)
    [check] = checks(services.ctx, alice)
    assert check.result == "no-photo"
    body = client.get(f"{PEOPLE}/GetMyProperties", headers=sign_in(services, alice)).json()
    props = {p["Key"]: p["Value"] for p in body["UserProfileProperties"]}
    assert props["SPS-PicturePlaceholderState"] == "1"
    assert body["PictureUrl"] is None


def test_deleted_mailbox_photo_goes_back_to_the_placeholder(
    client: TestClient, services: Services, alice: UserInfo, bob: UserInfo
) -> None:
    set_mailbox_photo(services, alice)
    assert not is_placeholder(userphoto(client, sign_in(services, alice), alice.upn, "L"))
    before = services.sites.profile_status(alice.id).picture_timestamp
    services.mailbox.delete_photo(alice.id, actor="test")
    r = userphoto(client, sign_in(services, alice), alice.upn, "L")
    assert is_placeholder(r)
    assert checks(services.ctx, alice)[-1].result == "placeholder"
    status = services.sites.profile_status(alice.id)
    assert not status.has_picture and status.picture_source is None
    assert status.picture_timestamp != before  # versioned URLs of the old picture are dead
    bob_auth = sign_in(services, bob)
    assert is_placeholder(userphoto(client, bob_auth, alice.upn, "M"))
    assert (
        client.get(f"{LIBRARY}/alice_example_org_MThumb.jpg", headers=bob_auth).status_code == 404
    )


def test_no_mailbox_user_uploads_then_a_mailbox_photo_overwrites_it(
    client: TestClient, services: Services, carol: UserInfo
) -> None:
    auth = sign_in(services, carol)
    upload = jpeg(500, 500, seed=11)
    assert (
        client.post(f"{PEOPLE}/SetMyProfilePicture", content=upload, headers=auth).status_code
        == 200
    )
    uploaded = own_large_etag(client, auth, carol)  # first own-L: a check, nothing to sync from
    assert checks(services.ctx, carol)[-1].result == "no-mailbox"
    assert services.sites.profile_status(carol.id).picture_source == "upload"
    body = client.get(f"{PEOPLE}/GetMyProperties", headers=auth).json()
    props = {p["Key"]: p["Value"] for p in body["UserProfileProperties"]}
    assert props["SPS-PictureExchangeSyncState"] == "0"
    assert props["SPS-PicturePlaceholderState"] == "0"

    # Later she gets a mailbox (the directory has no call for that yet) and a photo in it.
    with services.ctx.db.session() as session:
        session.execute(update(User).where(User.id == carol.id).values(has_mailbox=True))
    set_mailbox_photo(services, carol, seed=12)
    mailbox_l = own_large_etag(client, sign_in(services, carol), carol)
    assert mailbox_l != uploaded
    assert services.sites.profile_status(carol.id).picture_source == "mailbox"


def test_mailbox_user_upload_stays_until_the_mailbox_has_a_photo(
    client: TestClient, services: Services, alice: UserInfo
) -> None:
    auth = sign_in(services, alice)
    assert (
        client.post(f"{PEOPLE}/SetMyProfilePicture", content=jpeg(seed=5), headers=auth).status_code
        == 200
    )
    uploaded = own_large_etag(client, auth, alice)
    assert checks(services.ctx, alice)[-1].result == "no-photo"  # an upload is not taken back
    assert not is_placeholder(userphoto(client, auth, alice.upn, "L"))
    set_mailbox_photo(services, alice, seed=6)
    assert own_large_etag(client, sign_in(services, alice), alice) != uploaded
    assert checks(services.ctx, alice)[-1].result == "updated"


def test_picture_not_editable_means_no_sync_and_says_so(
    client: TestClient, services: Services, alice: UserInfo, admin: UserInfo
) -> None:
    services.sync.set_picture_editable(False, actor=admin.upn)
    set_mailbox_photo(services, alice)
    auth = sign_in(services, alice)
    assert is_placeholder(userphoto(client, auth, alice.upn, "L"))
    assert checks(services.ctx, alice)[-1].result == "not-editable"
    status = services.sites.profile_status(alice.id)
    assert not status.picture_editable and status.exchange_sync_state == 0
    assert services.sync.status(alice.id).history.last_result == "not-editable"
    body = client.get(f"{PEOPLE}/GetMyProperties", headers=auth).json()
    props = {p["Key"]: p["Value"] for p in body["UserProfileProperties"]}
    assert props["SPS-PictureExchangeSyncState"] == "0"
    # Users cannot set it by hand either; an admin still can.
    r = client.post(f"{PEOPLE}/SetMyProfilePicture", content=jpeg(seed=2), headers=auth)
    assert r.status_code == 403
    r = client.post(
        f"{PEOPLE}/SetMyProfilePicture", content=jpeg(seed=2), headers=sign_in(services, admin)
    )
    assert r.status_code == 200

    services.sync.set_picture_editable(True, actor=admin.upn)
    assert not is_placeholder(userphoto(client, sign_in(services, alice), alice.upn, "L"))
    assert services.sites.profile_status(alice.id).exchange_sync_state == 1
