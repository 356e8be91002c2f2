"""Mailbox fixtures: real images (photo-like, not flat colours), and ways to prove that a refused
upload stored nothing (blob files and table rows counted before and after)."""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageChops, ImageStat
from sqlalchemy import func, inspect, select

from photosync.context import Context
from photosync.directory.interfaces import UserInfo
from photosync.directory.tokens import DELEGATED_SCOPES
from photosync.imaging.testimages import photo_jpeg, photo_like
from photosync.models import metadata
from photosync.services import Services
from tests.conftest import bearer

__all__ = ["photo_jpeg", "photo_like"]


def jpeg(width: int, height: int, seed: int = 0, quality: int = 90) -> bytes:
    return photo_jpeg(width, height, seed=seed, quality=quality)


def open_image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def centre_square(image: Image.Image, size: int) -> Image.Image:
    """What a correct pipeline should produce: the centre square, resized well."""
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    square = image.convert("RGB").crop((left, top, left + side, top + side))
    return square.resize((size, size), Image.Resampling.LANCZOS)


def psnr(a: Image.Image, b: Image.Image) -> float:
    assert a.size == b.size
    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB"))
    mse = sum(v**2 for v in ImageStat.Stat(diff).rms) / 3
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def mean_colour(image: Image.Image) -> tuple[float, float, float]:
    r, g, b = ImageStat.Stat(image.convert("RGB")).mean
    return r, g, b


def blob_files(ctx: Context) -> set[Path]:
    return {p for p in ctx.settings.blob_dir.rglob("*") if p.is_file()}


def row_counts(ctx: Context) -> dict[str, int]:
    """Rows in every table the database has (models of roles still in progress may not be
    migrated yet, so the database, not the metadata, says which tables exist)."""
    present = set(inspect(ctx.db.engine).get_table_names())
    with ctx.db.session() as session:
        return {
            table.name: int(session.scalar(select(func.count()).select_from(table)) or 0)
            for table in metadata.sorted_tables
            if table.name in present
        }


# Users here have no password and get their tokens minted directly, as the token endpoint
# would issue them: argon2 costs ~0.1 s per hash or check, which would dominate this suite.
# The password grant itself is tested by the directory's tests and the end-to-end tests.


@pytest.fixture
def add_user(services: Services) -> Callable[..., UserInfo]:
    def add(upn: str, *, admin: bool = False, mailbox: bool = True) -> UserInfo:
        name = upn.split("@")[0].title()
        return services.directory.add_user(upn, name, is_admin=admin, has_mailbox=mailbox)

    return add


@pytest.fixture
def auth_for(services: Services) -> Callable[[UserInfo], dict[str, str]]:
    def mint(user: UserInfo) -> dict[str, str]:
        directory = services.directory
        session_id = directory.start_session(user.id, "token").id
        now = services.ctx.clock()
        return bearer(
            directory.tokens.issue_user_token(user.id, user.upn, session_id, DELEGATED_SCOPES, now)
        )

    return mint


@pytest.fixture
def alice(add_user: Callable[..., UserInfo]) -> UserInfo:
    return add_user("alice@example.org")


@pytest.fixture
def alice_auth(alice: UserInfo, auth_for: Callable[[UserInfo], dict[str, str]]) -> dict[str, str]:
    return auth_for(alice)


def put_photo(
    client: TestClient,
    auth: dict[str, str],
    data: bytes,
    *,
    owner: str = "me",
    content_type: str = "image/jpeg",
    method: str = "PUT",
) -> httpx.Response:
    return client.request(
        method,
        f"/v1.0/{owner}/photo/$value",
        content=data,
        headers={**auth, "Content-Type": content_type},
    )
