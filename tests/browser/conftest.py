"""One Chromium per test session, a new context (a private window) per test, and one real
`photosync serve --demo` process that every browser test talks to over HTTP."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageChops, ImageStat
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from photosync.context import Context
from photosync.directory.services import DirectoryService
from photosync.imaging.testimages import photo_like
from tests.conftest import (
    ARTIFACTS,
    PASSWORD,
    LiveServer,
    make_settings,
    start_server,
    stop_server,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}
RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Person:
    upn: str
    name: str
    admin: bool = False


# Everyone the browser tests sign in as; created once, in parallel, through the CLI.
PEOPLE = {
    "seed-onedrive": Person("olivia@example.org", "Olivia Owens"),
    "seed-sharepoint": Person("sam@example.org", "Sam Price"),
    "thumbnail": Person("theo@example.org", "Theo Thumb"),
    "upload": Person("uma@example.org", "Uma Upload"),
    "cancel": Person("cody@example.org", "Cody Cancel"),
    "remove": Person("rob@example.org", "Rob Remove"),
    "nojs": Person("noah@example.org", "Noah Noscript"),
    "drop": Person("dora@example.org", "Dora Drop"),
    "exif": Person("eve@example.org", "Eve Exif"),
    "csrf": Person("carl@example.org", "Carl Cross"),
    "plain": Person("nina@example.org", "Nina Normal"),
    "keyboard": Person("kim@example.org", "Kim Keys"),
    "restore": Person("rhea@example.org", "Rhea Restore"),
    "admin": Person("root@example.org", "Rita Root", admin=True),
}


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (make test installs it)")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    chromium = playwright_driver.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    yield chromium
    chromium.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The real server with the demo people (their faces make screenshots worth looking at)."""
    data = tmp_path_factory.mktemp("browser") / "data"
    data.mkdir()
    live = start_server(data, "--demo")
    try:
        _add_people(live)
        yield live
    finally:
        stop_server(live)


def _add_people(server: LiveServer) -> None:
    """Straight into the server's data folder through the directory service: a CLI process per
    person costs over a second of start-up each (the thumbnail test still goes through the CLI)."""
    ctx = Context.from_settings(make_settings(server.data_dir, ""))
    try:
        directory = DirectoryService(ctx)
        for person in PEOPLE.values():
            directory.add_user(person.upn, person.name, password=PASSWORD, is_admin=person.admin)
    finally:
        ctx.db.dispose()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def context(browser: Browser, server: LiveServer) -> Iterator[BrowserContext]:
    """A fresh browser context: what a private window is, with no cookies and no cache."""
    ctx = browser.new_context(base_url=server.url, viewport=VIEWPORT)  # type: ignore[arg-type]
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


# --- driving the portal ----------------------------------------------------------------------


def sign_in(page: Page, upn: str, password: str = PASSWORD) -> None:
    """Portal address → sign-in page → the work account → home, as a person does it."""
    page.goto("/")
    page.wait_for_url("**/signin*")
    page.get_by_label("User name").fill(upn)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/signin" not in url)


def shown_image(page: Page, selector: str) -> Image.Image:
    """The pixels of an <img> exactly as the page decoded them (drawn into a canvas)."""
    page.wait_for_function(
        "s => { const i = document.querySelector(s); return i?.complete && i.naturalWidth > 0 }",
        arg=selector,
    )
    data_url: str = page.evaluate(
        """s => {
            const img = document.querySelector(s);
            const canvas = document.createElement("canvas");
            canvas.width = img.naturalWidth;
            canvas.height = img.naturalHeight;
            canvas.getContext("2d").drawImage(img, 0, 0);
            return canvas.toDataURL("image/png");
        }""",
        selector,
    )
    raw = base64.b64decode(data_url.split(",", 1)[1])
    image = Image.open(io.BytesIO(raw))
    image.load()
    return image.convert("RGB")


def screenshot(page: Page, artifacts: Path, name: str, *, full_page: bool = True) -> Path:
    path = artifacts / f"portal-{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


# --- talking to the APIs ---------------------------------------------------------------------


def api_token(server: LiveServer, upn: str) -> str:
    r = httpx.post(
        f"{server.url}/oauth2/v2.0/token",
        data={"grant_type": "password", "username": upn, "password": PASSWORD},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    token: str = r.json()["access_token"]
    return token


def put_photo(server: LiveServer, upn: str, data: bytes) -> None:
    """Set a user's mailbox photo through Graph, as a phone app or a script would."""
    r = httpx.put(
        f"{server.url}/v1.0/me/photo/$value",
        content=data,
        headers={"Authorization": f"Bearer {api_token(server, upn)}", "Content-Type": "image/jpeg"},
        timeout=30,
    )
    assert r.status_code == 200, r.text


def mailbox_photo(server: LiveServer, upn: str) -> bytes | None:
    r = httpx.get(
        f"{server.url}/v1.0/me/photo/$value",
        headers={"Authorization": f"Bearer {api_token(server, upn)}"},
        timeout=30,
    )
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    return r.content


# --- images ----------------------------------------------------------------------------------


def tinted_photo(seed: int, tint: RGB, size: int = 800) -> Image.Image:
    """A photo-like picture with a strong colour cast: two of them differ in every pixel."""
    return Image.blend(photo_like(size, size, seed=seed), Image.new("RGB", (size, size), tint), 0.6)


def jpeg_bytes(image: Image.Image, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92, **options)
    return out.getvalue()


def open_jpeg(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image.convert("RGB")


def mean_colour(image: Image.Image) -> tuple[float, float, float]:
    r, g, b = ImageStat.Stat(image.convert("RGB")).mean
    return r, g, b


def psnr(shown: Image.Image, reference: Image.Image) -> float:
    """Similarity in dB of what a page showed to a reference, at the shown size."""
    ref = reference.convert("RGB").resize(shown.size, Image.Resampling.LANCZOS)
    diff = ImageChops.difference(shown.convert("RGB"), ref)
    mse = sum(v**2 for v in ImageStat.Stat(diff).rms) / 3
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)
