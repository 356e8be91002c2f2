"""Every page runs under its Content-Security-Policy with nothing refused: no inline script or
style left in a template, nothing loaded from elsewhere (Chromium reports each refusal on the
console and as a securitypolicyviolation event)."""

from __future__ import annotations

import pytest
from playwright.sync_api import ConsoleMessage, Page

from tests.browser.conftest import PEOPLE, sign_in
from tests.conftest import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]

WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""


def _visit(page: Page, path: str) -> list[str]:
    """The CSP refusals while ``path`` loads and settles."""
    page.goto(path)
    page.wait_for_load_state("networkidle")
    found: list[str] = page.evaluate("window.__violations")
    return found


def test_pages_load_without_a_csp_violation(server: LiveServer, page: Page) -> None:
    console: list[str] = []

    def record(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            console.append(message.text)

    page.on("console", record)
    page.add_init_script(WATCH)
    refused = {"/signin": _visit(page, "/signin")}
    admin = next(person for person in PEOPLE.values() if person.admin)
    sign_in(page, admin.upn)
    for path in (
        "/",
        "/onedrive",
        "/sharepoint",
        "/photo",
        "/photo/doctor",
        "/admin",
        "/admin/audit",
        "/_docs",
    ):
        refused[path] = _visit(page, path)
    assert page.locator(".swagger-ui .info .title").count() == 1  # /_docs started
    assert {path: found for path, found in refused.items() if found} == {}
    assert console == []
    # The watch sees a refusal: an inline style attribute, as an injected one would be.
    page.goto("/")
    page.evaluate("document.body.setAttribute('style', 'background: red')")
    page.wait_for_function("window.__violations.length > 0")
    assert page.evaluate("window.__violations")[0].startswith("style-src")
