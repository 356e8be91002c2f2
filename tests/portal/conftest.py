"""Portal helpers: sign in through the real form, read CSRF tokens, make recognisable images."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageStat

from photosync.directory.interfaces import UserInfo
from tests.conftest import PASSWORD

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
ALERT = re.compile(r'role="alert"[^>]*>([^<]+)<')

RGB = tuple[int, int, int]
RED: RGB = (220, 30, 30)
GREEN: RGB = (30, 170, 60)
BLUE: RGB = (30, 60, 220)


def csrf_token(html: str) -> str:
    match = TOKEN.search(html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def alert(html: str) -> str | None:
    match = ALERT.search(html)
    return match.group(1).strip() if match else None


def sign_in(
    client: TestClient, upn: str, password: str = PASSWORD, next_path: str = "/"
) -> httpx.Response:
    """The sign-in form as a browser sends it (token from the page, cookie from the jar)."""
    page = client.get("/signin")
    assert page.status_code == 200
    response: httpx.Response = client.post(
        "/signin",
        data={
            "username": upn,
            "password": password,
            "csrf_token": csrf_token(page.text),
            "next": next_path,
        },
        follow_redirects=False,
    )
    return response


def page_token(client: TestClient, path: str = "/photo") -> str:
    r = client.get(path)
    assert r.status_code == 200, r.text
    return csrf_token(r.text)


def bands(width: int, height: int, colours: list[RGB], fmt: str = "JPEG") -> bytes:
    """Vertical bands of flat colour, left to right: which band a crop kept is easy to tell."""
    image = Image.new("RGB", (width, height))
    step = width // len(colours)
    for i, colour in enumerate(colours):
        image.paste(
            colour, (i * step, 0, width if i == len(colours) - 1 else (i + 1) * step, height)
        )
    out = io.BytesIO()
    image.save(out, fmt, quality=95)
    return out.getvalue()


def mean_colour(data: bytes) -> tuple[float, float, float]:
    with Image.open(io.BytesIO(data)) as image:
        r, g, b = ImageStat.Stat(image.convert("RGB")).mean
    return r, g, b


def near(colour: tuple[float, float, float], target: RGB, tolerance: float = 25) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, target, strict=True))


@pytest.fixture
def alice(make_user: Callable[..., UserInfo]) -> UserInfo:
    return make_user("alice@example.org", "Alice Smith")


@pytest.fixture
def signed_in(client: TestClient, alice: UserInfo) -> UserInfo:
    r = sign_in(client, alice.upn)
    assert r.status_code == 303, r.text
    return alice
