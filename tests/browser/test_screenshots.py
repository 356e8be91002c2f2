"""Every page as the demo's admin sees it, saved to test-artifacts/ for people to look at
(the README shows one). Checks only that each page rendered whole: no broken images."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from photosync.demo import PASSWORD as DEMO_PASSWORD
from tests.browser.conftest import screenshot, sign_in
from tests.conftest import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]

DEMO_ADMIN = "admin@example.org"
# The demo people with mailbox photos: each opens their own Large picture once (as if they had
# clicked OneDrive), so that sites has copied their faces for the People list.
DEMO_WITH_PHOTOS = ("admin", "adele", "alex", "megan")


def _visit_own_large_picture(server: LiveServer, local: str) -> None:
    upn = f"{local}@example.org"
    r = httpx.post(
        f"{server.url}/oauth2/v2.0/token",
        data={"grant_type": "password", "username": upn, "password": DEMO_PASSWORD},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    r = httpx.get(
        f"{server.url}/_layouts/15/userphoto.aspx",
        params={"size": "L", "accountname": upn},
        headers={"Authorization": f"Bearer {r.json()['access_token']}"},
        timeout=30,
    )
    assert r.status_code == 200


def assert_no_broken_images(page: Page) -> None:
    page.wait_for_load_state("load")
    broken = page.evaluate(
        "[...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)"
    )
    assert broken == []


def test_every_page_as_the_demo_admin_sees_it(
    server: LiveServer, page: Page, artifacts: Path
) -> None:
    for local in DEMO_WITH_PHOTOS:
        _visit_own_large_picture(server, local)
    sign_in(page, DEMO_ADMIN, DEMO_PASSWORD)
    pages = [
        ("/", "home"),
        ("/onedrive", "onedrive"),
        ("/sharepoint", "sharepoint"),
        ("/photo", "photo"),
        ("/admin", "admin"),
        ("/admin?q=diego", "admin-search"),
    ]
    for path, name in pages:
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        assert_no_broken_images(page)
        screenshot(page, artifacts, name)
    expect(page.locator("tbody tr")).to_have_count(1)  # the search found Diego only

    # The account menu opens from the keyboard and offers sign-out.
    page.goto("/")
    page.locator(".account summary").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    screenshot(page, artifacts, "account-menu", full_page=False)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/signin?signedout=1")
    expect(page.get_by_role("status")).to_have_text("You signed out.")

    # A narrow phone screen: the same pages reflow to one column.
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, DEMO_ADMIN, DEMO_PASSWORD)
    screenshot(page, artifacts, "home-phone")
    page.goto("/sharepoint")
    screenshot(page, artifacts, "sharepoint-phone")
