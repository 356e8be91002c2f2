"""The admin page with 2,000 people, at 1280 px and on a 390 px phone: every column fits on a
laptop, one card per person on a phone, the brand link keeps its name; the screenshots saved
(test-artifacts/portal-admin-2000*.png, copied to docs/) are for people to look at."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from population import people_with_one_photo
from sqlalchemy import insert, select, update

from photosync.context import Context
from photosync.demo import PASSWORD as DEMO_PASSWORD
from photosync.directory.models import User
from photosync.services import build_services
from photosync.sync.models import SyncState
from tests.browser.conftest import screenshot, sign_in
from tests.conftest import LiveServer, make_settings, start_server, stop_server

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]

PEOPLE = 2000
FIRST = (
    "Aino",
    "Bram",
    "Chiara",
    "Dmitri",
    "Elif",
    "Farid",
    "Greta",
    "Hiroshi",
    "Ines",
    "Jonas",
    "Kalani",
    "Lucía",
    "Mateus",
    "Nadia",
    "Oskar",
    "Priya",
    "Quentin",
    "Rosa",
    "Soren",
    "Tamar",
)
LAST = (
    "Abara",
    "Bergström",
    "Castellanos-Whitfield",
    "Dąbrowski",
    "Eriksen",
    "Fontaine",
    "Gallagher",
    "Hakimi",
    "Ivanova",
    "Jablonski",
    "Kowalczyk",
    "Lindqvist",
    "Moreau",
    "Nakamura",
    "Okonkwo",
    "Petrov",
    "Quispe",
    "Rahman",
    "Schneider",
    "Tanaka",
)


def _populate(data: Path) -> None:
    """2,000 people with a mailbox photo, then varied: some without a mailbox, some copied to
    sites by a check, some whose last check failed."""
    settings = make_settings(data, "")
    people_with_one_photo(settings, PEOPLE)
    ctx = Context.from_settings(settings)
    try:
        with ctx.db.engine.begin() as conn:
            ids = [row[0] for row in conn.execute(select(User.id).order_by(User.upn_key))]
            for n, user_id in enumerate(ids):
                first, last = FIRST[n % len(FIRST)], LAST[(n // len(FIRST)) % len(LAST)]
                local = f"{first}.{last}{n // 400 or ''}".lower().replace(" ", "")
                conn.execute(
                    update(User)
                    .where(User.id == user_id)
                    .values(
                        display_name=f"{first} {last}",
                        upn=f"{local}@example.org",
                        upn_key=f"{local}@example.org",
                        mail=f"{local}@example.org",
                        has_mailbox=n % 17 != 3,
                    )
                )
            conn.execute(
                insert(SyncState),
                [
                    {
                        "user_id": user_id,
                        "last_check_at": ctx.clock(),
                        "last_result": "error",
                        "last_error_at": ctx.clock(),
                        "last_error": "SharePoint answered 503 Service Unavailable.",
                    }
                    for user_id in ids[7::23]
                ],
            )
        services = build_services(ctx)
        for user_id in ids[::9]:
            if user_id not in ids[7::23]:
                services.sync.check_now(user_id, actor="admin@example.org")
    finally:
        ctx.db.dispose()


@pytest.fixture(scope="module")
def crowd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("crowd") / "data"
    data.mkdir()
    _populate(data)
    live = start_server(data, "--demo")
    try:
        yield live
    finally:
        stop_server(live)


def _admin_page(browser: Browser, crowd: LiveServer, width: int, height: int) -> Page:
    context = browser.new_context(
        base_url=crowd.url,  # type: ignore[arg-type]
        viewport={"width": width, "height": height},
    )
    context.set_default_timeout(20_000)
    page = context.new_page()
    sign_in(page, "admin@example.org", DEMO_PASSWORD)
    page.goto("/admin")
    expect(page.locator("#admin-count")).to_contain_text("of 2,006 people")
    page.wait_for_load_state("load")
    return page


def test_at_1280_px_every_column_fits(browser: Browser, crowd: LiveServer, artifacts: Path) -> None:
    page = _admin_page(browser, crowd, 1280, 900)
    try:
        expect(page.locator("tbody tr")).to_have_count(50)
        fit = page.evaluate(
            """() => {
                const wrap = document.querySelector(".table-wrap");
                const cells = [...document.querySelectorAll(".people-table thead th")];
                const right = wrap.getBoundingClientRect().right;
                return {
                    overflow: wrap.scrollWidth - wrap.clientWidth,
                    cut: cells.filter(c => c.getBoundingClientRect().right > right + 0.5).length,
                    page: document.documentElement.scrollWidth - window.innerWidth,
                };
            }"""
        )
        assert fit == {"overflow": 0, "cut": 0, "page": 0}
        screenshot(page, artifacts, "admin-2000", full_page=False)
        # Sorted by state, filtered: the view is kept in the pager and the export.
        page.get_by_label("State").select_option("error")
        page.get_by_role("button", name="Show").click()
        expect(page.locator("tbody tr[data-state=error]").first).to_be_visible()
        assert page.locator("tbody tr:not([data-state=error])").count() == 0
        href = page.locator("#export-link").get_attribute("href")
        assert href == "/admin/people.csv?state=error"
        screenshot(page, artifacts, "admin-2000-errors", full_page=False)
    finally:
        page.context.close()


def test_on_a_phone_one_card_per_person(
    browser: Browser, crowd: LiveServer, artifacts: Path
) -> None:
    page = _admin_page(browser, crowd, 390, 844)
    try:
        # The brand link is still "photosync" to a screen reader, with its word hidden.
        expect(page.get_by_role("link", name="photosync", exact=True)).to_be_visible()
        layout = page.evaluate(
            """() => {
                const row = document.querySelector(".people-table tbody tr");
                const cells = [...row.children].map(c => c.getBoundingClientRect());
                const tops = cells.map(c => Math.round(c.top));
                return {
                    page: document.documentElement.scrollWidth - window.innerWidth,
                    display: getComputedStyle(row).display,
                    stacked: tops.every((top, i) => i === 0 || top >= tops[i - 1] + 1),
                    widest: Math.max(...cells.map(c => c.width)),
                    narrowest: Math.min(...cells.map(c => c.width)),
                };
            }"""
        )
        assert layout["page"] == 0 and layout["display"] == "block" and layout["stacked"]
        assert layout["narrowest"] == layout["widest"]  # each line spans the card
        # From the list's controls down: the cards are what this screenshot is for.
        top = page.locator(".people-filter").bounding_box()
        assert top is not None
        page.evaluate("y => window.scrollTo(0, y)", top["y"] - 8)
        screenshot(page, artifacts, "admin-2000-phone", full_page=False)
    finally:
        page.context.close()
