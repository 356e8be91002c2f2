"""One app per module for the hostile-input tests, and the checks every way in shares: a
refusal is a 4xx with one sentence and changes nothing stored; an acceptance stores only
re-encoded JPEGs, with no byte of an appended payload."""

from __future__ import annotations

import hashlib
import io
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from photosync.app import app_for
from photosync.context import Context
from photosync.directory.interfaces import UserInfo
from photosync.directory.tokens import DELEGATED_SCOPES
from photosync.imaging.testimages import photo_jpeg
from photosync.services import Services, build_services
from tests.conftest import bearer, make_settings
from tests.hostile.corpus import ACCEPT, REFUSE, Item, corpus, for_sites

GRAPH_LIMIT = 4 * 1024 * 1024  # Settings.max_upload_bytes' default
SITES_LIMIT = 5_000_000  # sites.services.UPLOAD_MAX_BYTES

# Built once per run: the bombs take a moment to compress.
GRAPH_CORPUS = corpus(GRAPH_LIMIT)
SITES_CORPUS = for_sites(corpus(SITES_LIMIT))
BY_NAME = {item.name: item for item in GRAPH_CORPUS}


@dataclass
class World:
    services: Services
    client: TestClient
    alice: UserInfo  # signs in, changes her own photo
    bob: UserInfo  # whose photo the admin changes
    admin: UserInfo

    def auth(self, user: UserInfo) -> dict[str, str]:
        directory = self.services.directory
        session = directory.start_session(user.id, "token").id
        return bearer(
            directory.tokens.issue_user_token(
                user.id, user.upn, session, DELEGATED_SCOPES, self.services.ctx.clock()
            )
        )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("hostile")
    shutil.copy(sqlite_template, folder / "photosync.db")
    settings = make_settings(folder / "data", f"sqlite:///{folder / 'photosync.db'}")
    ctx = Context.from_settings(settings)
    services = build_services(ctx)
    directory = services.directory
    alice = directory.add_user("alice@example.org", "Alice")
    bob = directory.add_user("bob@example.org", "Bob")
    admin = directory.add_user("admin@example.org", "Admin", is_admin=True)
    for seed, user in enumerate((alice, bob), start=1):
        services.mailbox.set_photo(user.id, photo_jpeg(700, 600, seed=seed), actor="test")
    with TestClient(app_for(services), raise_server_exceptions=False) as client:
        yield World(services, client, alice, bob, admin)
    ctx.db.dispose()


def stored(ctx: Context) -> dict[str, str]:
    """Every blob file and its digest: what a refusal must leave exactly as it was."""
    return {
        str(path): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in ctx.settings.blob_dir.rglob("*")
        if path.is_file()
    }


def check_new_blobs(ctx: Context, before: dict[str, str], item: Item) -> None:
    """Everything written since ``before`` is a JPEG we encoded, without the item's payload."""
    for name in stored(ctx).keys() - before.keys():
        data = Path(name).read_bytes()
        with Image.open(io.BytesIO(data)) as image:
            assert image.format == "JPEG", (item.name, name)
            image.load()
        assert item.payload is None or item.payload not in data, (item.name, name)
        assert b"<script" not in data.lower() and b"PK\x03\x04" not in data, (item.name, name)


def check_sentence(item: Item, message: str) -> None:
    """One plain sentence: no traceback, no exception name, ends like a sentence."""
    assert message, item.name
    assert "Traceback" not in message and "Error:" not in message, (item.name, message)
    assert len(message) < 300, (item.name, message)
    assert message.rstrip().endswith((".", ")")), (item.name, message)


def check_outcome(item: Item, status: int, refused_status: bool) -> None:
    assert status < 500, (item.name, status)
    if item.outcome == ACCEPT:
        assert not refused_status, (item.name, status)
    elif item.outcome == REFUSE:
        assert refused_status, (item.name, status)


__all__ = ["ACCEPT", "BY_NAME", "GRAPH_CORPUS", "REFUSE", "SITES_CORPUS", "World"]
