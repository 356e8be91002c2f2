"""Home, OneDrive, SharePoint and admin pages as a signed-in browser gets them."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from photosync.directory.interfaces import UserInfo
from photosync.services import Services
from tests.portal.conftest import RED, bands

PAGE_BUDGET = 200 * 1024


def test_home_shows_name_initials_and_tiles(client: TestClient, signed_in: UserInfo) -> None:
    page = client.get("/").text
    assert "Welcome, Alice Smith" in page
    assert 'aria-label="Your photo">AS</span>' in page  # no photo yet: initials
    for href in ("/onedrive", "/sharepoint", "/photo"):
        assert f'class="tile" href="{href}"' in page
    assert 'href="/admin"' not in page  # not an admin


def test_home_shows_the_mailbox_photo_with_a_versioned_url(
    client: TestClient, signed_in: UserInfo, services: Services
) -> None:
    info = services.mailbox.set_photo(signed_in.id, bands(700, 700, [RED]), actor="test")
    page = client.get("/").text
    assert f'src="/v1.0/me/photos/96x96/$value?v={info.etag}"' in page
    assert f"/v1.0/me/photos/240x240/$value?v={info.etag} 2x" in page
    r = client.get(f"/v1.0/me/photos/96x96/$value?v={info.etag}")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"


def test_a_small_photo_uses_the_sizes_it_has(
    client: TestClient, signed_in: UserInfo, services: Services
) -> None:
    info = services.mailbox.set_photo(signed_in.id, bands(80, 80, [RED]), actor="test")
    assert 96 not in info.sizes
    page = client.get("/").text
    for url in re.findall(r'(/v1\.0/me/photos/[^"\s]+)', page):
        assert client.get(url).status_code == 200, url


def test_onedrive_and_sharepoint_show_the_users_own_large_sites_picture(
    client: TestClient, signed_in: UserInfo, make_user: Callable[..., UserInfo]
) -> None:
    make_user("bob@example.org", "Bob Jones")
    make_user("carol@example.org", "Carol White")
    own_large = 'src="/_layouts/15/userphoto.aspx?size=L&amp;accountname=alice@example.org"'
    onedrive = client.get("/onedrive").text
    assert own_large in onedrive
    sharepoint = client.get("/sharepoint").text
    assert own_large in sharepoint
    people = re.findall(r"userphoto\.aspx\?size=M&amp;accountname=([^\"]+)\"", sharepoint)
    assert people == ["bob@example.org", "carol@example.org"]
    r = client.get("/_layouts/15/userphoto.aspx?size=L&accountname=alice@example.org")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"


def test_pages_carry_strict_security_headers(client: TestClient, signed_in: UserInfo) -> None:
    for path in ("/", "/onedrive", "/sharepoint", "/photo", "/signin", "/nowhere"):
        r = client.get(path)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert r.headers["cache-control"] == "no-store", path
        assert r.headers["x-content-type-options"] == "nosniff", path


def test_every_page_with_its_styles_scripts_and_pictures_stays_under_200_kb(
    client: TestClient, signed_in: UserInfo, services: Services
) -> None:
    services.mailbox.set_photo(signed_in.id, bands(1200, 1200, [RED]), actor="test")
    for n in range(12):  # no passwords: hashing twelve would only slow the test down
        services.directory.add_user(f"person{n}@example.org", f"Person {n}")
    for path in ("/", "/onedrive", "/sharepoint", "/photo", "/signin"):
        page = client.get(path)
        total = len(page.content)
        for url in set(
            re.findall(r'(?:src|href)="(/(?:portal-static|v1\.0|_layouts)[^"]+)"', page.text)
        ):
            total += len(client.get(url.replace("&amp;", "&")).content)
        assert total < PAGE_BUDGET, (path, total)


def test_static_files_are_served_with_a_content_hash(client: TestClient) -> None:
    page = client.get("/signin").text
    css = re.search(r'href="(/portal-static/portal\.css\?v=[0-9a-f]{10})"', page)
    assert css
    r = client.get(css.group(1))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/css")


def test_the_account_menu_signs_out_with_the_session_token(
    client: TestClient, signed_in: UserInfo
) -> None:
    page = client.get("/").text
    form = re.search(r'<form method="post" action="/signout">(.*?)</form>', page, re.S)
    assert form and 'name="csrf_token"' in form.group(1)
