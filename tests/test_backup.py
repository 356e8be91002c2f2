"""``photosync backup`` and ``photosync restore``: SQLite + folder → PostgreSQL + S3 and back,
serving the same photos under the same ETags; a damaged backup or a non-empty target is refused
and changes nothing."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select

from photosync.app import app_for
from photosync.audit import AuditEvent
from photosync.backup import BackupError, backup, restore
from photosync.cli import main
from photosync.context import Context
from photosync.models import metadata
from photosync.services import Services, build_services
from photosync.settings import Settings
from tests.conftest import (
    PASSWORD,
    TEST_KEY,
    bearer,
    make_settings,
    password_token,
    s3_settings,
    truncate_all,
)
from tests.sites.helpers import USERPHOTO, jpeg

pytestmark = pytest.mark.postgres

PEOPLE = ("alice@example.org", "bob@example.org", "carol@example.org", "viewer@example.org")


@contextmanager
def deployment(settings: Settings) -> Iterator[Services]:
    ctx = Context.from_settings(settings)
    try:
        yield build_services(ctx)
    finally:
        ctx.db.dispose()


def seed(services: Services) -> None:
    services.ctx.db.upgrade()
    for upn in PEOPLE:
        services.directory.add_user(upn, upn.split("@")[0].title(), password=PASSWORD)
    for n, upn in enumerate(PEOPLE[:2]):
        user = services.directory.get_user(upn)
        assert user is not None
        services.mailbox.set_photo(user.id, jpeg(500, 400, seed=n), actor="test")
    services.sync.check_now(PEOPLE[0], actor="test")  # Alice's picture in sites; Bob's not yet


def audit(services: Services) -> list[tuple[object, ...]]:
    """The audit log as stored (times, JSON details): a restore keeps each value's type."""
    with services.ctx.db.engine.connect() as conn:
        rows = conn.execute(select(AuditEvent.at, AuditEvent.action, AuditEvent.detail)).all()
    return sorted((tuple(row) for row in rows), key=lambda row: (row[0], row[1], repr(row[2])))


def served(services: Services) -> dict[str, object]:
    """What the viewer gets for everyone: Graph photo and sites picture, status, ETag, bytes."""
    seen: dict[str, object] = {}
    with TestClient(app_for(services)) as client:
        auth = bearer(password_token(client, PEOPLE[3]))
        for upn in PEOPLE:
            for name, url, params in (
                ("graph", f"/v1.0/users/{upn}/photo/$value", {}),
                ("graph-64", f"/v1.0/users/{upn}/photos/64x64/$value", {}),
                ("sites-M", USERPHOTO, {"size": "M", "accountname": upn}),
            ):
                r = client.get(url, params=params, headers=auth)
                seen[f"{upn} {name}"] = (
                    r.status_code,
                    r.headers.get("etag"),
                    # An error body has a date and a request id of its own.
                    hashlib.sha256(r.content).hexdigest() if r.status_code == 200 else None,
                )
    return seen


def test_sqlite_and_folder_to_postgresql_and_s3_and_back(
    tmp_path: Path, sqlite_url: str, postgres_url: str, s3_endpoint: str, s3_bucket: str
) -> None:
    embedded = make_settings(tmp_path / "a", sqlite_url)
    with deployment(embedded) as services:
        seed(services)
        before = served(services)
        log = audit(services)
        first = backup(services.ctx, tmp_path / "backup-1")
        stored = set(services.ctx.blobs.keys())
    assert before[f"{PEOPLE[0]} sites-M"] != before[f"{PEOPLE[1]} sites-M"]  # a synced picture
    assert first.blobs == len(stored) > 0 and first.tables == len(metadata.sorted_tables)
    manifest = json.loads((tmp_path / "backup-1" / "manifest.json").read_text())
    assert manifest["tables"]["users"]["rows"] == 4
    assert manifest["blobs"]["count"] == len(stored)

    truncate_all(postgres_url)
    s3 = {
        k.removeprefix("PHOTOSYNC_").lower(): v
        for k, v in s3_settings(s3_endpoint, s3_bucket).items()
        if k.startswith("PHOTOSYNC_")
    }
    scaled = make_settings(tmp_path / "b", postgres_url, **s3)
    with deployment(scaled) as services:
        restored = restore(services.ctx, tmp_path / "backup-1")
        assert (restored.rows, restored.blobs) == (first.rows, first.blobs)
        assert audit(services) == log and any(isinstance(row[2], dict) for row in log)
        assert served(services) == before
        assert set(services.ctx.blobs.keys()) == stored
        with pytest.raises(BackupError, match="not empty"):
            restore(services.ctx, tmp_path / "backup-1")
    assert not (tmp_path / "b" / "blobs").exists()

    # And back, through the command line, into a data folder nobody has started yet.
    env = {"PHOTOSYNC_SECRET_KEY": TEST_KEY, **s3_settings(s3_endpoint, s3_bucket)}
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["--data", str(tmp_path / "b"), "backup", str(tmp_path / "backup-2")],
        env={**env, "PHOTOSYNC_DATABASE_URL": postgres_url},
    )
    assert result.exit_code == 0, result.output
    assert f"{len(stored)} photo files" in result.output
    back = tmp_path / "c"
    result = runner.invoke(
        main,
        ["--data", str(back), "restore", str(tmp_path / "backup-2")],
        env={"PHOTOSYNC_SECRET_KEY": TEST_KEY},
    )
    assert result.exit_code == 0, result.output
    with deployment(make_settings(back, f"sqlite:///{back / 'photosync.db'}")) as services:
        assert audit(services)[: len(log)] == log  # and the backup-2's own sign-ins
        assert served(services) == before
    assert {p.name for p in (back / "blobs").rglob("*/*/*")} == stored


def test_a_damaged_backup_or_a_used_target_is_refused(tmp_path: Path, sqlite_url: str) -> None:
    with deployment(make_settings(tmp_path / "a", sqlite_url)) as services:
        seed(services)
        backup(services.ctx, tmp_path / "backup")
        with pytest.raises(BackupError, match="not empty"):
            backup(services.ctx, tmp_path / "backup")
        with pytest.raises(BackupError, match="is not empty"):
            restore(services.ctx, tmp_path / "backup")

    # A target blob store with a file of another deployment is refused; one with files of this
    # very backup (a restore that stopped before its rows) is taken, so the restore can rerun.
    retry = make_settings(tmp_path / "retry", f"sqlite:///{tmp_path / 'retry.db'}")
    with deployment(retry) as services:
        foreign = services.ctx.blobs.put(b"someone else's")
        with pytest.raises(BackupError, match="not in this backup"):
            restore(services.ctx, tmp_path / "backup")
        services.ctx.blobs.delete(foreign)
        some = next((tmp_path / "backup" / "blobs").rglob("*/*/*"))
        services.ctx.blobs.put(some.read_bytes())
        assert restore(services.ctx, tmp_path / "backup").rows > 0

    users = tmp_path / "backup" / "tables" / "users.jsonl"
    users.write_bytes(users.read_bytes().replace(b"Alice", b"Mallory"))
    fresh = tmp_path / "fresh"
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["--data", str(fresh), "restore", str(tmp_path / "backup")],
        env={"PHOTOSYNC_SECRET_KEY": TEST_KEY},
    )
    assert result.exit_code == 1
    assert "users.jsonl is damaged" in result.output and "Traceback" not in result.output
    assert not (fresh / "blobs").exists() or not any((fresh / "blobs").iterdir())

    (tmp_path / "backup" / "manifest.json").unlink()
    result = runner.invoke(
        main,
        ["--data", str(fresh), "restore", str(tmp_path / "backup")],
        env={"PHOTOSYNC_SECRET_KEY": TEST_KEY},
    )
    assert result.exit_code == 1 and "no manifest.json" in result.output
