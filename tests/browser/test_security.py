"""What the browser must refuse or allow: cross-site form posts, admin pages for non-admins,
and a sign-in done with the keyboard alone."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    PEOPLE,
    jpeg_bytes,
    mailbox_photo,
    put_photo,
    screenshot,
    sign_in,
    tinted_photo,
)
from tests.conftest import PASSWORD, LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]


@pytest.fixture
def attacker(server: LiveServer) -> Iterator[str]:
    """Another origin (same host, another port) serving pages that auto-submit forms to us.

    Same host means the browser still sends our SameSite=Lax cookie with the post, so it is
    the CSRF token, not the cookie policy, that has to refuse it.
    """

    class Pages(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            token = self.path.rsplit("token=", 1)[-1] if "token=" in self.path else None
            field = f'<input type="hidden" name="csrf_token" value="{token}">' if token else ""
            body = (
                "<!doctype html><title>You won a prize</title>"
                f'<form id="f" method="post" action="{server.url}/photo/remove">{field}</form>'
                "<script>document.getElementById('f').submit()</script>"
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("token", [None, "guessed"])
def test_a_cross_site_form_post_is_refused(
    server: LiveServer, page: Page, attacker: str, artifacts: Path, token: str | None
) -> None:
    person = PEOPLE["csrf"]
    put_photo(server, person.upn, jpeg_bytes(tinted_photo(11, (40, 160, 90), 700)))
    before = mailbox_photo(server, person.upn)
    sign_in(page, person.upn)

    with page.expect_response(f"{server.url}/photo/remove") as posted:
        page.goto(f"{attacker}/prize" + (f"?token={token}" if token else ""))
    assert posted.value.request.method == "POST"
    assert posted.value.request.header_value("cookie")  # the session cookie did go along
    assert posted.value.status == 403
    expect(page.get_by_role("heading", level=1)).to_contain_text("You can't open this page")
    expect(page.locator("body")).to_contain_text("sent from another site")
    if token is None:
        screenshot(page, artifacts, "403-cross-site")
    assert mailbox_photo(server, person.upn) == before
    # The real page, signed in, still works with its own token.
    page.goto("/photo")
    expect(page.get_by_role("button", name="Remove photo")).to_be_visible()


def test_a_non_admin_gets_403_on_admin_pages(
    server: LiveServer, page: Page, artifacts: Path
) -> None:
    sign_in(page, PEOPLE["plain"].upn)
    expect(page.get_by_role("link", name="Admin")).to_have_count(0)
    response = page.goto("/admin")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_contain_text("You can't open this page")
    expect(page.locator("main")).to_contain_text("for administrators only")
    screenshot(page, artifacts, "403-admin")


def test_sign_in_with_the_keyboard_alone(page: Page, artifacts: Path) -> None:
    person = PEOPLE["keyboard"]
    page.goto("/")
    page.wait_for_url("**/signin")
    # The user name field has focus on arrival; otherwise Tab gets there.
    for _ in range(5):
        if page.evaluate("document.activeElement.id") == "username":
            break
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "username"
    page.keyboard.type(person.upn)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "password"
    page.keyboard.type(PASSWORD)
    screenshot(page, artifacts, "signin-keyboard", full_page=False)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/signin" not in url)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Welcome, {person.name}")

    # From there, the tiles are reachable with Tab and open with Enter.
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.matches('a.tile[href=\"/onedrive\"]')"):
            break
    else:
        pytest.fail("Tab never reached the OneDrive tile")
    page.keyboard.press("Enter")
    page.wait_for_url("**/onedrive")


def test_a_wrong_password_shows_one_message_in_the_page(page: Page, artifacts: Path) -> None:
    page.goto("/signin")
    page.get_by_label("User name").fill(PEOPLE["plain"].upn)
    page.get_by_label("Password").fill("not my password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("did not match")
    expect(page.get_by_label("User name")).to_have_value(PEOPLE["plain"].upn)
    expect(page.get_by_label("Password")).to_have_value("")
    screenshot(page, artifacts, "signin-error", full_page=False)


def test_an_unknown_address_is_a_friendly_404(page: Page, artifacts: Path) -> None:
    response = page.goto("/no/such/page")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_contain_text("find that page")
    screenshot(page, artifacts, "404", full_page=False)
