"""Avatar fixtures: Alice with a photo (a 300 px upload: sizes 48 to 240 are stored), Bob
without one, a bearer token, and the same data served under other PHOTOSYNC_AVATAR_ACCESS
values (another app on the same database, as another server of the deployment would be)."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from photosync.app import app_for
from photosync.context import Context
from photosync.directory.interfaces import UserInfo
from photosync.directory.tokens import DELEGATED_SCOPES
from photosync.services import Services, build_services
from photosync.settings import Settings
from tests.conftest import MovableClock, bearer, make_settings
from tests.mailbox.conftest import jpeg

ALICE = "alice@example.org"
ALICE_MAIL = "Alice.Liddell@Mail.Example.org"
BOB = "bob@example.org"
ALLOWED = "https://intranet.example.org/avatars/"


def md5(address: str) -> str:
    return hashlib.md5(address.strip().lower().encode()).hexdigest()


def sha256(address: str) -> str:
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()


def image(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


@pytest.fixture
def alice(services: Services) -> UserInfo:
    user = services.directory.add_user(ALICE, "Alice Liddell", mail=ALICE_MAIL)
    services.mailbox.set_photo(user.id, jpeg(300, 300), actor="test")
    return user


@pytest.fixture
def bob(services: Services) -> UserInfo:
    return services.directory.add_user(BOB, "Bob Builder")


@pytest.fixture
def auth(services: Services, bob: UserInfo) -> dict[str, str]:
    """A bearer token (Bob's: any signed-in person may fetch anyone's avatar)."""
    directory = services.directory
    session_id = directory.start_session(bob.id, "token").id
    token = directory.tokens.issue_user_token(
        bob.id, bob.upn, session_id, DELEGATED_SCOPES, services.ctx.clock()
    )
    return bearer(token)


@pytest.fixture
def served_with(
    settings: Settings, clock: MovableClock
) -> Iterator[Callable[..., tuple[TestClient, Services]]]:
    """A client of an app on the same data with other settings (e.g. avatar_access)."""
    opened: list[tuple[TestClient, Context]] = []

    def open_app(**overrides: object) -> tuple[TestClient, Services]:
        other = make_settings(settings.data_dir, settings.sqlalchemy_url, **overrides)
        ctx = Context.from_settings(other, clock=clock)
        services = build_services(ctx)
        client = TestClient(app_for(services))
        client.__enter__()
        opened.append((client, ctx))
        return client, services

    yield open_app
    for client, ctx in opened:
        client.__exit__(None, None, None)
        ctx.db.dispose()


@pytest.fixture
def public(served_with: Callable[..., tuple[TestClient, Services]]) -> TestClient:
    client, _ = served_with(avatar_access="public", avatar_default_urls=ALLOWED)
    return client
