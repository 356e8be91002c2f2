"""Helpers shared by the sites and sync tests: photo-like images, pixel comparisons, sign-ins."""

from __future__ import annotations

import io
import math
from functools import lru_cache
from typing import Any

import httpx
from fastapi.testclient import TestClient
from PIL import Image, ImageChops, ImageStat
from sqlalchemy import func, select

from photosync.context import Context
from photosync.directory.auth import SESSION_COOKIE, sign_session_id
from photosync.directory.interfaces import UserInfo
from photosync.directory.tokens import DELEGATED_SCOPES
from photosync.imaging.testimages import photo_jpeg
from photosync.services import Services
from photosync.sync.models import SyncCheck
from tests.conftest import bearer, password_token

USERPHOTO = "/_layouts/15/userphoto.aspx"
LIBRARY = "/User Photos/Profile Pictures"
PEOPLE = "/_api/SP.UserProfiles.PeopleManager"
VERBOSE = {"Accept": "application/json;odata=verbose"}
NOMETADATA = {"Accept": "application/json;odata=nometadata"}


@lru_cache(maxsize=64)
def jpeg(width: int = 800, height: int = 700, seed: int = 1) -> bytes:
    """A photo-like JPEG (0.2 s to make at 800×700, so each is made once per test process)."""
    return photo_jpeg(width, height, seed=seed)


def image_bytes(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def open_image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def mean_abs_diff(a: Image.Image, b: Image.Image) -> float:
    assert a.size == b.size
    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB"))
    return sum(ImageStat.Stat(diff).mean) / 3


def psnr(a: Image.Image, b: Image.Image) -> float:
    assert a.size == b.size
    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB"))
    mse = sum(v**2 for v in ImageStat.Stat(diff).rms) / 3
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def resized(data: bytes, size: int) -> Image.Image:
    return open_image(data).convert("RGB").resize((size, size), Image.Resampling.LANCZOS)


def sign_in(services: Services, user: UserInfo) -> dict[str, str]:
    """Bearer headers of a NEW sign-in session, as the password grant makes them.

    The same session row and token the token endpoint would issue, minus the argon2 check
    (0.15 s a time): these tests sign in dozens of times. The token endpoint has its own tests.
    """
    directory = services.directory
    sid = directory.start_session(user.id, "token").id
    token = directory.tokens.issue_user_token(
        user.id, user.upn, sid, DELEGATED_SCOPES, services.ctx.clock()
    )
    return bearer(token)


def app_auth(services: Services, *roles: str) -> dict[str, str]:
    """Bearer headers of a newly registered app with ``roles`` (client credentials, as the
    token endpoint would issue them, without its argon2 secret check)."""
    client_id, _ = services.directory.add_app("test app", list(roles))
    return bearer(
        services.directory.tokens.issue_app_token(client_id, list(roles), services.ctx.clock())
    )


def password_sign_in(client: TestClient | httpx.Client, user: UserInfo) -> dict[str, str]:
    return bearer(password_token(client, user.upn))


def cookie_session(services: Services, user: UserInfo) -> tuple[dict[str, str], str]:
    """A portal sign-in session as the browser holds it: (cookies, csrf token)."""
    row = services.directory.start_session(user.id, "portal")
    value = sign_session_id(services.ctx.settings.signing_key, row.id)
    return {SESSION_COOKIE: value}, row.csrf_token


def userphoto(
    client: TestClient | httpx.Client,
    headers: dict[str, str],
    account: str,
    size: str | None = "L",
    **params: str,
) -> httpx.Response:
    query: dict[str, Any] = {"accountname": account, **params}
    if size is not None:
        query["size"] = size
    return client.get(USERPHOTO, params=query, headers=headers)


def set_mailbox_photo(services: Services, user: UserInfo, seed: int = 1) -> str:
    """Store a new mailbox photo (800×700, so the master is 648); its etag."""
    return services.mailbox.set_photo(user.id, jpeg(800, 700, seed), actor="test").etag


def mailbox_master(services: Services, user: UserInfo) -> bytes:
    return services.mailbox.photo_bytes(user.id)[1]


def checks(ctx: Context, user: UserInfo, result: str | None = None) -> list[SyncCheck]:
    with ctx.db.session() as session:
        query = select(SyncCheck).where(SyncCheck.user_id == user.id)
        if result is not None:
            query = query.where(SyncCheck.result == result)
        return list(session.scalars(query.order_by(SyncCheck.started_at)))


def count_checks(ctx: Context, user: UserInfo) -> int:
    with ctx.db.session() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(SyncCheck).where(SyncCheck.user_id == user.id)
            )
            or 0
        )


def is_placeholder(response: httpx.Response) -> bool:
    return response.headers["etag"].startswith('"ph')
