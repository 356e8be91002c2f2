""" "My photo doesn't show" in a real browser: from the home page to the diagnostic, Check now,
and the new photo in SharePoint's picture, with no private window. Screenshots in
test-artifacts/ (portal-doctor-*.png)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from photosync.context import Context
from photosync.directory.services import DirectoryService
from tests.browser.conftest import (
    PEOPLE,
    VIEWPORT,
    jpeg_bytes,
    mean_colour,
    put_photo,
    screenshot,
    shown_image,
    sign_in,
    tinted_photo,
)
from tests.conftest import PASSWORD, LiveServer, make_settings

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]

DORA = "dolores@example.org"
TEAL = (20, 150, 150)
SITES_IMG = "#doctor-sites img"


def _add_person(server: LiveServer) -> None:
    ctx = Context.from_settings(make_settings(server.data_dir, ""))
    try:
        DirectoryService(ctx).add_user(DORA, "Dolores Doctor", password=PASSWORD)
    finally:
        ctx.db.dispose()


def test_my_photo_does_not_show_then_check_now(
    server: LiveServer, page: Page, browser: Browser, artifacts: Path
) -> None:
    _add_person(server)
    # A new photo from a phone app: the mailbox has it, SharePoint has not copied it.
    put_photo(server, DORA, jpeg_bytes(tinted_photo(3, TEAL)))

    sign_in(page, DORA)
    page.get_by_role("link", name="My photo doesn't show").click()
    page.wait_for_url("**/photo/doctor")
    state = page.locator("[data-state]")
    expect(state).to_have_attribute("data-state", "pending")
    expect(page.get_by_role("heading", name="Not copied yet")).to_be_visible()
    expect(page.locator("#doctor-explanation")).to_contain_text(
        "Your new photo has not reached SharePoint yet"
    )
    expect(page.locator("#doctor-no-checks")).to_be_visible()
    # SharePoint still shows the blank placeholder, not the teal photo.
    assert mean_colour(shown_image(page, SITES_IMG)) != pytest.approx(TEAL, abs=40)
    screenshot(page, artifacts, "doctor-pending")

    page.get_by_role("button", name="Check now").click()
    page.wait_for_url("**/photo/doctor?checked=1")
    expect(page.get_by_role("status")).to_have_text("Checked just now: copied a new photo.")
    expect(state).to_have_attribute("data-state", "in-sync")
    expect(page.get_by_role("button", name="Check now")).to_have_count(0)  # nothing to fix
    expect(page.locator("#doctor-checks tbody tr")).to_have_count(1)
    r, g, b = mean_colour(shown_image(page, SITES_IMG))
    assert g > r + 30 and b > r + 30, (r, g, b)  # SharePoint's picture is the teal photo now
    screenshot(page, artifacts, "doctor-checked")

    # A phone's narrow screen: one column.
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, artifacts, "doctor-phone")

    # An admin opens the same person's diagnostic from the admin page.
    admins = browser.new_context(base_url=server.url, viewport=VIEWPORT)  # type: ignore[arg-type]
    try:
        admin = admins.new_page()
        sign_in(admin, PEOPLE["admin"].upn)
        admin.goto("/admin?q=dolores")
        admin.get_by_role("link", name="Why Dolores Doctor's photo does or does not show").click()
        expect(admin.locator("[data-state]")).to_have_attribute("data-state", "in-sync")
        expect(admin.locator("#doctor-explanation")).to_contain_text(
            "OneDrive and SharePoint show Dolores Doctor's current photo"
        )
        screenshot(admin, artifacts, "doctor-admin")
    finally:
        admins.close()
