"""/_docs (Swagger UI) on a machine without internet: every request to another host is refused,
and the page still draws the API description from files shipped in the package."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import screenshot
from tests.conftest import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]


def test_the_api_docs_render_with_the_internet_cut_off(
    server: LiveServer, page: Page, artifacts: Path
) -> None:
    ours = urlsplit(server.url).netloc
    refused: list[str] = []

    def offline(route: Route) -> None:
        if urlsplit(route.request.url).netloc == ours:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort("internetdisconnected")

    page.route("**/*", offline)
    page.goto("/_docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("photosync")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    assert page.locator(".opblock").count() > 10
    assert refused == []
    screenshot(page, artifacts, "api-docs-offline", full_page=False)
