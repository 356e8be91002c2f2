"""GET /avatar/{hash} over HTTP: every parameter and edge, the headers, and who may ask."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from fastapi.testclient import TestClient

from photosync.avatar.params import parse
from photosync.directory.auth import SESSION_COOKIE, sign_session_id
from photosync.directory.interfaces import UserInfo
from photosync.directory.services import DirectoryService
from photosync.imaging.avatars import generated
from photosync.services import Services
from photosync.ttlcache import NotInMemory
from tests.avatar.conftest import ALICE, ALICE_MAIL, ALLOWED, BOB, image, md5, sha256
from tests.mailbox.conftest import jpeg

Served = Callable[..., tuple[TestClient, Services]]


def get(
    client: TestClient, path: str, auth: dict[str, str] | None = None, **headers: str
) -> httpx.Response:
    return client.get(path, headers={**(auth or {}), **headers}, follow_redirects=False)


# --- whose avatar: the hash ---------------------------------------------------------------


@pytest.mark.parametrize("digest", [md5, sha256])
@pytest.mark.parametrize("address", [ALICE_MAIL, ALICE, f"  {ALICE_MAIL.upper()}  "])
def test_the_md5_or_sha256_of_mail_or_upn_is_the_persons_photo(
    client: TestClient,
    alice: UserInfo,
    auth: dict[str, str],
    digest: Callable[[str], str],
    address: str,
) -> None:
    r = get(client, f"/avatar/{digest(address)}", auth)
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/jpeg"
    assert r.headers["x-avatar-source"] == "photo"
    assert image(r.content).size == (80, 80)


def test_the_hash_may_be_written_in_upper_case_hex(
    client: TestClient, alice: UserInfo, auth: dict[str, str]
) -> None:
    r = get(client, f"/avatar/{md5(ALICE).upper()}", auth)
    assert r.headers["x-avatar-source"] == "photo"


def test_a_hash_of_the_address_not_lower_cased_is_nobodys(
    client: TestClient, alice: UserInfo, auth: dict[str, str]
) -> None:
    import hashlib

    unnormalised = hashlib.md5(ALICE_MAIL.encode()).hexdigest()  # "Alice.Liddell@Mail…"
    r = get(client, f"/avatar/{unnormalised}", auth)
    assert r.status_code == 200
    assert r.headers["x-avatar-source"] == "default"
    assert r.content == generated("mp", unnormalised, 80, "png")


@pytest.mark.parametrize(
    "name",
    ["not-a-hash", "abc", md5(ALICE)[:31], md5(ALICE) + "0", md5(ALICE) + ".gif", "g" * 32],
)
def test_what_is_not_a_hash_is_a_clear_404(
    client: TestClient, alice: UserInfo, auth: dict[str, str], name: str
) -> None:
    r = get(client, f"/avatar/{name}", auth)
    assert r.status_code == 404
    assert "MD5 or SHA-256" in r.json()["error"]["message"]
    assert r.headers["x-content-type-options"] == "nosniff"


# --- size ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "side"),
    [
        ("", 80),
        ("?s=1", 1),
        ("?s=96", 96),
        ("?size=200", 200),
        ("?s=0", 80),
        ("?s=513", 80),
        ("?s=abc", 80),
        ("?s=-5", 80),
        ("?s=12.5", 80),
        # Above the largest stored size (the 300 px upload's master is 240): never upscaled.
        ("?s=512", 240),
    ],
)
def test_size_1_to_512_else_the_default_80_and_never_above_the_master(
    client: TestClient, alice: UserInfo, auth: dict[str, str], query: str, side: int
) -> None:
    r = get(client, f"/avatar/{md5(ALICE)}{query}", auth)
    assert r.status_code == 200
    assert image(r.content).size == (side, side)


def test_a_stored_size_is_served_as_stored(
    client: TestClient, services: Services, alice: UserInfo, auth: dict[str, str]
) -> None:
    _, stored_96 = services.mailbox.photo_bytes(alice.id, 96)
    assert get(client, f"/avatar/{md5(ALICE)}?s=96", auth).content == stored_96


def test_a_size_between_stored_ones_is_made_from_the_next_larger(
    client: TestClient, services: Services, alice: UserInfo, auth: dict[str, str]
) -> None:
    from tests.mailbox.conftest import psnr

    _, stored_120 = services.mailbox.photo_bytes(alice.id, 120)
    made = image(get(client, f"/avatar/{md5(ALICE)}?s=100", auth).content)
    reference = image(stored_120).resize((100, 100))
    assert made.size == (100, 100)
    assert psnr(made, reference) > 30


@pytest.mark.parametrize(("extension", "kind"), [(".jpg", "JPEG"), (".png", "PNG"), ("", "JPEG")])
def test_the_extension_picks_the_format(
    client: TestClient, alice: UserInfo, auth: dict[str, str], extension: str, kind: str
) -> None:
    r = get(client, f"/avatar/{md5(ALICE)}{extension}?s=64", auth)
    assert image(r.content).format == kind
    assert image(r.content).size == (64, 64)
    assert r.headers["content-type"] == f"image/{kind.lower()}"


# --- defaults --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["mp", "mm", "identicon", "retro", "initials", "blank"])
def test_each_default_kind_is_a_png_of_the_size_asked(
    client: TestClient, bob: UserInfo, auth: dict[str, str], kind: str
) -> None:
    r = get(client, f"/avatar/{md5(BOB)}?d={kind}&s=48", auth)
    assert r.status_code == 200
    assert r.headers["x-avatar-source"] == "default"
    assert r.headers["content-type"] == "image/png"
    assert image(r.content).size == (48, 48)
    again = get(client, f"/avatar/{md5(BOB)}?default={kind}&size=48", auth)
    assert again.content == r.content  # deterministic; d= and default= alike


def test_mm_and_mp_are_the_same_mystery_person(
    client: TestClient, bob: UserInfo, auth: dict[str, str]
) -> None:
    mm = get(client, f"/avatar/{md5(BOB)}?d=mm", auth).content
    assert mm == get(client, f"/avatar/{md5(BOB)}?d=mp", auth).content
    assert mm == get(client, f"/avatar/{md5(BOB)}", auth).content  # and the fallback


def test_identicons_differ_between_addresses(
    client: TestClient, bob: UserInfo, auth: dict[str, str]
) -> None:
    ones = {get(client, f"/avatar/{md5(a)}?d=identicon", auth).content for a in ("a@x", "b@x")}
    twos = {get(client, f"/avatar/{md5(a)}?d=retro", auth).content for a in ("a@x", "b@x")}
    assert len(ones) == 2 and len(twos) == 2


def test_blank_is_transparent(client: TestClient, bob: UserInfo, auth: dict[str, str]) -> None:
    img = image(get(client, f"/avatar/{md5(BOB)}?d=blank", auth).content).convert("RGBA")
    assert img.getextrema()[3] == (0, 0)


def test_initials_come_from_the_display_name_for_a_signed_in_caller(
    client: TestClient, bob: UserInfo, auth: dict[str, str]
) -> None:
    r = get(client, f"/avatar/{md5(BOB)}?d=initials&name=Someone+Else", auth)
    assert r.content == generated("initials", md5(BOB), 80, "png", name="Bob Builder")
    unknown = md5("nobody@example.org")
    r = get(client, f"/avatar/{unknown}?d=initials&name=Zoe+Quinn", auth)
    assert r.content == generated("initials", unknown, 80, "png", name="Zoe Quinn")


def test_a_person_without_a_mailbox_gets_the_default(
    client: TestClient, services: Services, auth: dict[str, str]
) -> None:
    services.directory.add_user("nomail@example.org", "No Mail", has_mailbox=False)
    r = get(client, f"/avatar/{md5('nomail@example.org')}?d=retro", auth)
    assert r.headers["x-avatar-source"] == "default"
    assert r.content == generated("retro", md5("nomail@example.org"), 80, "png")


def test_404_when_there_is_no_photo(
    client: TestClient, alice: UserInfo, bob: UserInfo, auth: dict[str, str]
) -> None:
    assert get(client, f"/avatar/{md5(BOB)}?d=404", auth).status_code == 404
    assert get(client, f"/avatar/{md5('x@y')}?d=404", auth).status_code == 404
    assert get(client, f"/avatar/{md5(ALICE)}?d=404", auth).status_code == 200


@pytest.mark.parametrize("query", ["f=y", "forcedefault=y", "f=Y&d=identicon"])
def test_forcedefault_shows_the_default_over_a_photo(
    client: TestClient, alice: UserInfo, auth: dict[str, str], query: str
) -> None:
    r = get(client, f"/avatar/{md5(ALICE)}?{query}", auth)
    assert r.status_code == 200
    assert r.headers["x-avatar-source"] == "default"
    assert get(client, f"/avatar/{md5(ALICE)}?f=y&d=404", auth).status_code == 404


# --- d=URL: only to the allow-list ---------------------------------------------------------


def test_a_default_url_on_the_allow_list_is_a_redirect(
    public: TestClient, alice: UserInfo, bob: UserInfo
) -> None:
    url = ALLOWED + "person.png"
    r = public.get(f"/avatar/{md5(BOB)}", params={"d": url}, follow_redirects=False)
    assert r.status_code == 302
    assert r.headers["location"] == url
    assert r.headers["x-avatar-source"] == "default"
    # A photo wins over the redirect.
    r = public.get(f"/avatar/{md5(ALICE)}", params={"d": url}, follow_redirects=False)
    assert r.status_code == 200 and r.headers["x-avatar-source"] == "photo"


@pytest.mark.parametrize(
    "url",
    [
        "https://intranet.example.org.evil.com/avatars/a.png",
        "https://intranet.example.org@evil.com/avatars/a.png",
    ],
)
def test_any_other_url_is_the_fallback_image_never_a_redirect(
    public: TestClient, bob: UserInfo, url: str
) -> None:
    r = public.get(f"/avatar/{md5(BOB)}", params={"d": url}, follow_redirects=False)
    assert r.status_code == 200
    assert "location" not in r.headers
    assert r.content == generated("mp", md5(BOB), 80, "png")


def test_without_an_allow_list_no_url_redirects(
    client: TestClient, bob: UserInfo, auth: dict[str, str]
) -> None:
    r = client.get(
        f"/avatar/{md5(BOB)}", params={"d": ALLOWED + "a.png"}, headers=auth, follow_redirects=False
    )
    assert r.status_code == 200 and "location" not in r.headers


# --- headers ----------------------------------------------------------------------------------


def test_etag_and_if_none_match_give_304(
    client: TestClient, alice: UserInfo, auth: dict[str, str]
) -> None:
    for path in (f"/avatar/{md5(ALICE)}", f"/avatar/{md5(BOB)}?d=identicon"):
        first = get(client, path, auth)
        assert first.headers["etag"].startswith('"')
        again = get(client, path, auth, **{"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["x-avatar-source"] == first.headers["x-avatar-source"]
        other = get(client, path, auth, **{"If-None-Match": '"something-else"'})
        assert other.status_code == 200


def test_headers_short_max_age_nosniff_and_the_source(
    client: TestClient, alice: UserInfo, auth: dict[str, str]
) -> None:
    r = get(client, f"/avatar/{md5(ALICE)}", auth)
    assert r.headers["cache-control"] == "private, max-age=300"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-avatar-source"] == "photo"
    head = client.head(f"/avatar/{md5(ALICE)}", headers=auth)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(r.content)


def test_the_versioned_url_is_immutable_only_for_the_current_version(
    client: TestClient, services: Services, alice: UserInfo, auth: dict[str, str]
) -> None:
    old = services.mailbox.current_photo(alice.id)
    assert old is not None
    r = get(client, f"/avatar/{md5(ALICE)}?v={old.etag}", auth)
    assert r.headers["cache-control"] == "private, max-age=31536000, immutable"
    new = services.mailbox.set_photo(alice.id, jpeg(300, 300, seed=7), actor="test")
    stale = get(client, f"/avatar/{md5(ALICE)}?v={old.etag}", auth)
    assert stale.headers["cache-control"] == "private, max-age=300"
    assert stale.content != r.content  # the new photo, at once
    fresh = get(client, f"/avatar/{md5(ALICE)}?v={new.etag}", auth)
    assert fresh.headers["cache-control"].endswith("immutable")


# --- who may ask ---------------------------------------------------------------------------


def test_signed_in_is_the_default_and_anonymous_callers_get_401(
    client: TestClient, services: Services, alice: UserInfo, bob: UserInfo, auth: dict[str, str]
) -> None:
    assert services.ctx.settings.avatar_access == "signed-in"
    r = client.get(f"/avatar/{md5(ALICE)}")
    assert r.status_code == 401
    assert "signed-in" in r.json()["error"]["message"]
    assert get(client, f"/avatar/{md5(ALICE)}", auth).status_code == 200
    bad = get(client, f"/avatar/{md5(ALICE)}", {"Authorization": "Bearer nonsense"})
    assert bad.status_code == 401


def test_the_portal_cookie_is_enough_when_signed_in(
    client: TestClient, services: Services, alice: UserInfo, bob: UserInfo
) -> None:
    row = services.directory.start_session(bob.id, "portal")
    cookie = sign_session_id(services.ctx.settings.signing_key, row.id)
    client.cookies.set(SESSION_COOKIE, cookie)
    r = client.get(f"/avatar/{md5(ALICE)}")
    assert r.status_code == 200 and r.headers["x-avatar-source"] == "photo"


def test_off_answers_404_to_everyone(
    served_with: Served, alice: UserInfo, auth: dict[str, str]
) -> None:
    off, _ = served_with(avatar_access="off")
    for headers in ({}, auth):
        r = off.get(f"/avatar/{md5(ALICE)}", headers=headers)
        assert r.status_code == 404, r.text
        assert "turned off" in r.json()["error"]["message"]


def test_public_needs_no_credentials_and_may_be_cached_by_anyone(
    public: TestClient, alice: UserInfo, auth: dict[str, str]
) -> None:
    r = public.get(f"/avatar/{md5(ALICE)}")
    assert r.status_code == 200 and r.headers["x-avatar-source"] == "photo"
    assert r.headers["cache-control"] == "public, max-age=300"
    # A caller with credentials may be shown names: only their own cache keeps the answer.
    assert (
        public.get(f"/avatar/{md5(ALICE)}", headers=auth)
        .headers["cache-control"]
        .startswith("private")
    )


@pytest.mark.parametrize(
    "query", ["", "?d=404", "?d=initials", "?d=initials&name=X+Y", "?d=identicon&s=40", "?d=blank"]
)
def test_unknown_and_photo_less_look_alike_to_anonymous_callers(
    public: TestClient, bob: UserInfo, query: str
) -> None:
    """Bob exists and has no photo; the other address is nobody's. Same status, headers, bytes."""
    unknown = md5("nobody@example.org")
    # The defaults drawn from the address differ by address: compare like with like.
    seeded = "identicon" in query or "initials" in query
    bobs = public.get(f"/avatar/{md5(BOB)}{query}")
    nobody = public.get(f"/avatar/{unknown}{query}")
    assert bobs.status_code == nobody.status_code
    assert _comparable(bobs.headers, seeded) == _comparable(nobody.headers, seeded)
    if not seeded:
        assert bobs.content == nobody.content
    else:  # the same picture as the one drawn for an address nobody has
        name = "X Y" if "name=" in query else ""
        kind = "identicon" if "identicon" in query else "initials"
        size = 40 if "s=40" in query else 80
        assert bobs.content == generated(kind, md5(BOB), size, "png", name=name)


def _comparable(headers: httpx.Headers, seeded: bool) -> dict[str, str]:
    drop = {"date", "etag", "content-length"} if seeded else {"date"}
    return {k: v for k, v in headers.items() if k not in drop}


# --- kept in step with the directory -------------------------------------------------------


def test_a_changed_mail_moves_the_avatar_with_it(
    client: TestClient, services: Services, alice: UserInfo, auth: dict[str, str]
) -> None:
    from photosync.directory.importing import read_users

    rows = [r for r in read_users(["upn,name,mail", f"{ALICE},Alice Liddell,alice@new.example"])]
    summary = services.directory.import_users(rows)  # type: ignore[arg-type]
    assert summary.updated == 1
    assert (
        get(client, f"/avatar/{md5('alice@new.example')}", auth).headers["x-avatar-source"]
        == "photo"
    )
    assert get(client, f"/avatar/{md5(ALICE_MAIL)}", auth).headers["x-avatar-source"] == "default"
    # The UPN stays one of Alice's addresses.
    assert get(client, f"/avatar/{sha256(ALICE)}", auth).headers["x-avatar-source"] == "photo"


def test_an_alias_finds_the_person_too(
    client: TestClient, services: Services, alice: UserInfo, auth: dict[str, str]
) -> None:
    from photosync.directory.importing import UserRow, read_users

    text = ["upn,name,aliases", f"{ALICE},Alice Liddell,SMTP:alice@wonderland.example"]
    services.directory.import_users([r for r in read_users(text) if isinstance(r, UserRow)])
    for digest in (md5, sha256):
        r = get(client, f"/avatar/{digest('Alice@Wonderland.example')}", auth)
        assert r.headers["x-avatar-source"] == "photo"


def test_imported_users_are_found_by_hash(
    client: TestClient, services: Services, auth: dict[str, str]
) -> None:
    from photosync.directory.importing import read_users

    rows = list(read_users(["upn,name", "carol@example.org,Carol Ann"]))
    services.directory.import_users(rows)  # type: ignore[arg-type]
    r = get(client, f"/avatar/{md5('carol@example.org')}?d=initials", auth)
    assert r.content == generated("initials", md5("carol@example.org"), 80, "png", name="Carol Ann")


def test_a_photo_seen_a_moment_ago_is_answered_from_memory(
    client: TestClient, services: Services, alice: UserInfo, auth: dict[str, str]
) -> None:
    get(client, f"/avatar/{md5(ALICE)}?s=80", auth)
    wanted = parse(md5(ALICE), {"s": "80"}, ())
    assert wanted is not None
    principal = services.directory.get_user(BOB)
    assert principal is not None
    from photosync.directory.access import Principal

    caller = Principal("user", principal.id, principal, frozenset(), None, "bearer")
    answer = services.avatar.avatar(caller, wanted, memory_only=True)  # no NotInMemory
    assert answer.source == "photo"
    # An address not asked for before needs the database.
    other = parse(md5("nobody@example.org"), {}, ())
    assert other is not None
    with pytest.raises(NotInMemory):
        services.avatar.avatar(caller, other, memory_only=True)


@pytest.mark.skipif(
    not hasattr(DirectoryService, "set_disabled"), reason="disabling people is not merged yet"
)
def test_a_disabled_persons_address_shows_the_default(
    client: TestClient, services: Services, alice: UserInfo, auth: dict[str, str]
) -> None:
    before = get(client, f"/avatar/{md5(ALICE)}?d=identicon", auth)
    assert before.headers["x-avatar-source"] == "photo"
    services.directory.set_disabled(alice.id, True, actor="test")  # type: ignore[attr-defined]
    after = get(client, f"/avatar/{md5(ALICE)}?d=identicon", auth)
    assert after.headers["x-avatar-source"] == "default"
    assert after.content == generated("identicon", md5(ALICE), 80, "png")
    assert get(client, f"/avatar/{md5(ALICE)}?d=404", auth).status_code == 404
