"""The seed document's scenario, end to end in a real browser against the real server.

A photo set in the mailbox does not reach sites for a browser session that already had its
check; a fresh private window → portal → sign in → OneDrive or SharePoint tile shows it. The
pixels the page shows are compared with the photos, not just the URL.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page

from photosync.imaging import placeholder
from tests.browser.conftest import (
    PEOPLE,
    VIEWPORT,
    jpeg_bytes,
    open_jpeg,
    psnr,
    put_photo,
    screenshot,
    shown_image,
    sign_in,
    tinted_photo,
)
from tests.conftest import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]

OLD_TINT = (200, 40, 40)
NEW_TINT = (30, 80, 220)
SITES_PHOTO = "#sites-photo"


def looks_like(shown: Image.Image, expected: Image.Image, other: Image.Image) -> bool:
    """Clearly closer to ``expected`` than to ``other``, and a good likeness in itself."""
    near, far = psnr(shown, expected), psnr(shown, other)
    return near > 24 and near > far + 6


@pytest.mark.parametrize(
    ("who", "tile"), [("seed-onedrive", "OneDrive"), ("seed-sharepoint", "SharePoint")]
)
def test_a_fresh_private_window_and_the_tile_bring_the_new_photo(
    browser: Browser,
    server: LiveServer,
    page: Page,
    artifacts: Path,
    who: str,
    tile: str,
) -> None:
    person = PEOPLE[who]
    old = tinted_photo(seed=3, tint=OLD_TINT)
    new = tinted_photo(seed=4, tint=NEW_TINT)
    put_photo(server, person.upn, jpeg_bytes(old))

    # The user's existing browser session: signed in, opened the tile, sites took the photo.
    sign_in(page, person.upn)
    page.get_by_role("link", name=tile).first.click()
    assert looks_like(shown_image(page, SITES_PHOTO), old, new)

    # The photo changes in the mailbox (through Graph, as any client would).
    put_photo(server, person.upn, jpeg_bytes(new))

    # Same session: sites already checked it, so it still shows the old one.
    page.reload()
    assert looks_like(shown_image(page, SITES_PHOTO), old, new)

    # A new private window: portal, sign in, click the tile → the new photo.
    private = browser.new_context(base_url=server.url, viewport=VIEWPORT)  # type: ignore[arg-type]
    try:
        fresh = private.new_page()
        sign_in(fresh, person.upn)
        fresh.get_by_role("link", name=tile).first.click()
        fresh.wait_for_url(f"**/{tile.lower()}")
        shown = shown_image(fresh, SITES_PHOTO)
        assert shown.size == (300, 300)
        assert looks_like(shown, new, old)
        screenshot(fresh, artifacts, f"seed-{tile.lower()}-new-photo")
    finally:
        private.close()


def test_a_directory_thumbnail_never_shows_in_sites(
    server: LiveServer, page: Page, artifacts: Path, tmp_path: Path
) -> None:
    person = PEOPLE["thumbnail"]
    green = Image.new("RGB", (64, 64), (20, 200, 60))
    thumb = tmp_path / "thumb.jpg"
    thumb.write_bytes(jpeg_bytes(green))
    r = server.cli("users", "set-thumbnail", person.upn, str(thumb))
    assert r.returncode == 0, r.stderr

    grey = open_jpeg(placeholder(300))
    sign_in(page, person.upn)
    # Whatever the user clicks, sites shows the placeholder, never the directory's photo.
    for step in ("OneDrive", "Home", "Change your photo", "SharePoint"):
        page.get_by_role("link", name=step).first.click()
        if step in ("OneDrive", "SharePoint"):
            shown = shown_image(page, SITES_PHOTO)
            assert looks_like(shown, grey, green), step
    page.reload()
    assert looks_like(shown_image(page, SITES_PHOTO), grey, green)
    screenshot(page, artifacts, "thumbnail-only-placeholder")
