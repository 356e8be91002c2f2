"""Restore an earlier photo from the change-photo page, and find the change in the audit log."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    PEOPLE,
    jpeg_bytes,
    mailbox_photo,
    mean_colour,
    open_jpeg,
    put_photo,
    screenshot,
    shown_image,
    sign_in,
    tinted_photo,
)
from tests.conftest import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]

RED = (200, 40, 40)
BLUE = (30, 80, 220)


def reddish(colour: tuple[float, float, float]) -> bool:
    r, _, b = colour
    return r > b + 40


def test_restore_an_earlier_photo_and_see_it_audited(
    server: LiveServer, page: Page, artifacts: Path
) -> None:
    person = PEOPLE["restore"]
    put_photo(server, person.upn, jpeg_bytes(tinted_photo(21, RED, 700)))
    put_photo(server, person.upn, jpeg_bytes(tinted_photo(22, BLUE, 700)))
    sign_in(page, person.upn)
    page.goto("/photo")

    earlier = page.locator(".earlier-item")
    expect(earlier).to_have_count(1)
    assert reddish(mean_colour(shown_image(page, ".earlier-item img")))
    screenshot(page, artifacts, "earlier-photos")
    earlier.get_by_role("button", name="Restore").click()
    page.wait_for_url("**/photo?done=restored")
    expect(page.locator("#photo-notice")).to_contain_text("Your earlier photo is your photo again")
    data = mailbox_photo(server, person.upn)
    assert data is not None and reddish(mean_colour(open_jpeg(data)))
    assert reddish(mean_colour(shown_image(page, "img.current-photo")))
    expect(page.locator(".earlier-item")).to_have_count(2)  # the blue one, and the red original

    admin = page.context.browser.new_context(base_url=server.url)  # type: ignore[union-attr]
    try:
        admin_page = admin.new_page()
        sign_in(admin_page, PEOPLE["admin"].upn)
        admin_page.goto("/admin")
        admin_page.get_by_role("link", name="Audit log").click()
        admin_page.get_by_label("Person (user name)").fill(person.upn)
        admin_page.get_by_role("button", name="Filter").click()
        row = admin_page.locator('tr[data-action="mailbox.photo.restored"]')
        expect(row).to_have_count(1)
        expect(row).to_contain_text("127.0.0.1")
        expect(row).to_contain_text("Chrome")  # the browser's user agent
        screenshot(admin_page, artifacts, "audit-log")
    finally:
        admin.close()
