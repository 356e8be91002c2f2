"""``photosync doctor UPN --json`` reaches every state, and ``photosync sync status UPN --json``,
on an embedded data folder, as an admin at a terminal runs them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from photosync.app import app_for
from photosync.cli import main
from photosync.context import Context
from photosync.services import Services, build_services
from photosync.sync.interfaces import TRIGGERS
from photosync.sync.service import SyncService
from photosync.sync.sources import MailboxPhotoSource
from tests.conftest import TEST_KEY, make_settings
from tests.sites.helpers import PEOPLE, jpeg, sign_in
from tests.sync.conftest import CountingSource

UPN = "alice@example.org"
RESULTS = {"updated", "unchanged", "placeholder", "no-photo", "no-mailbox", "not-editable", "error"}


class Cli:
    def __init__(self, data: Path) -> None:
        self.data = data
        self.runner = CliRunner()
        self.policy = "on-user-action"

    def __call__(self, *args: str, ok: bool = True) -> str:
        result = self.runner.invoke(
            main,
            ["--data", str(self.data), *args],
            env={"PHOTOSYNC_SECRET_KEY": TEST_KEY, "PHOTOSYNC_SYNC_POLICY": self.policy},
        )
        assert result.exit_code == (0 if ok else 1), result.output
        assert "Traceback" not in result.output
        return result.output

    def doctor(self, upn: str = UPN) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self(*["doctor", upn, "--json"]))
        return out


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    run = Cli(tmp_path / "data")
    run("db", "upgrade")
    return run


@pytest.fixture
def local(cli: Cli) -> Iterator[Services]:
    """The services of another process on the same data folder, to set up what the CLI cannot."""
    ctx = Context.from_settings(make_settings(cli.data, ""))
    try:
        yield build_services(ctx)
    finally:
        ctx.db.dispose()


def test_every_state_through_the_cli(cli: Cli, local: Services, tmp_path: Path) -> None:
    picture = tmp_path / "a.jpg"
    picture.write_bytes(jpeg(700, 600, seed=4))

    # no-photo: a new person with a mailbox and nothing in it.
    cli("users", "add", UPN, "--name", "Alice")
    out = cli.doctor()
    assert out["state"] == "no-photo"
    assert out["mailbox"]["has_mailbox"] is True and out["mailbox"]["has_photo"] is False
    assert f"photosync photo set {UPN} FILE" in out["fix"]
    assert out["last_checks"] == []

    # pending: a photo in the mailbox that sites has not taken.
    cli("photo", "set", UPN, str(picture))
    out = cli.doctor()
    assert out["state"] == "pending"
    etag = out["mailbox"]["etag"]
    assert etag and out["sites"]["has_picture"] is False
    assert "the next time Alice opens OneDrive or SharePoint" in out["explanation"]
    assert out["next_check_at"] is not None
    assert f"photosync sync now {UPN}" in out["fix"]

    # in-sync: after a check.
    cli("sync", "now", UPN)
    out = cli.doctor()
    assert out["state"] == "in-sync"
    assert out["sites"] == {
        "has_picture": True,
        "picture_source": "mailbox",
        "source_etag": etag,
        "picture_timestamp": out["sites"]["picture_timestamp"],
        "picture_editable": True,
        "exchange_sync_state": 1,
    }
    [check] = out["last_checks"]
    assert (check["trigger"], check["result"], check["to_etag"], check["run"]) == (
        "admin",
        "updated",
        etag,
        None,
    )
    # Fresh for 24 hours in a session that had its check.
    at = datetime.fromisoformat(check["at"])
    assert datetime.fromisoformat(out["next_check_at"]) == at + timedelta(hours=24)

    # not-editable: a newer photo, and the tenant setting off.
    picture.write_bytes(jpeg(700, 600, seed=5))
    cli("photo", "set", UPN, str(picture))
    cli("sync", "picture-editable", "off")
    out = cli.doctor()
    assert out["state"] == "not-editable"
    assert out["sites"]["picture_editable"] is False
    assert "photosync sync picture-editable on" in out["fix"]
    cli("sync", "picture-editable", "on")

    # error-backoff: the mailbox does not answer another process's check.
    failing = CountingSource(MailboxPhotoSource(local.mailbox))
    failing.failing = True
    SyncService(
        local.ctx,
        directory=local.directory,
        mailbox=local.mailbox,
        sites=local.sites,
        source=failing,
    ).check_now(UPN, actor="test")
    out = cli.doctor()
    assert out["state"] == "error-backoff"
    assert "the mailbox server did not answer" in out["explanation"]
    assert out["last_checks"][0]["result"] == "error"
    assert out["last_checks"][0]["error"] == "ConnectionError: the mailbox server did not answer"
    failed_at = datetime.fromisoformat(out["last_checks"][0]["at"])
    assert datetime.fromisoformat(out["next_check_at"]) == failed_at + timedelta(hours=1)
    text = cli("doctor", UPN)
    assert text.startswith(f"{UPN}: error-backoff (The last copy failed)")
    assert "fix: Fix what the error names" in text
    assert "last checks:" in text and "admin/admin-request: error" in text

    # no-mailbox.
    cli("users", "add", "nomail@example.org", "--name", "Nomi", "--no-mailbox")
    out = cli.doctor("nomail@example.org")
    assert out["state"] == "no-mailbox"
    assert out["mailbox"]["has_mailbox"] is False
    assert out["sites"]["exchange_sync_state"] == 0

    # upload-kept: that person uploads straight to sites (SetMyProfilePicture).
    nomi = local.directory.get_user("nomail@example.org")
    assert nomi is not None
    with TestClient(app_for(local)) as client:
        r = client.post(
            f"{PEOPLE}/SetMyProfilePicture", content=jpeg(seed=6), headers=sign_in(local, nomi)
        )
        assert r.status_code == 200, r.text
    out = cli.doctor("nomail@example.org")
    assert out["state"] == "upload-kept"
    assert out["sites"]["picture_source"] == "upload"
    assert out["fix"] == "Nothing to do."

    # directory-only: only the directory's thumbnailPhoto is set.
    cli("users", "add", "theo@example.org", "--name", "Theo")
    thumb = tmp_path / "t.jpg"
    thumb.write_bytes(jpeg(64, 64, seed=7))
    cli("users", "set-thumbnail", "theo@example.org", str(thumb))
    out = cli.doctor("theo@example.org")
    assert out["state"] == "directory-only"
    assert "SharePoint never reads that picture" in out["explanation"]
    assert "photosync photo set theo@example.org FILE" in out["fix"]


def test_doctor_json_keys_and_the_manual_policy(cli: Cli, tmp_path: Path) -> None:
    cli.policy = "manual"
    cli("users", "add", UPN, "--name", "Alice")
    picture = tmp_path / "a.jpg"
    picture.write_bytes(jpeg(700, 600, seed=4))
    cli("photo", "set", UPN, str(picture))
    out = cli.doctor()
    assert list(out) == [
        "upn",
        "state",
        "explanation",
        "fix",
        "mailbox",
        "sites",
        "last_checks",
        "next_check_at",
    ]
    assert (out["upn"], out["state"], out["next_check_at"]) == (UPN, "pending", None)
    assert "only when an administrator runs a check (the manual policy)" in out["explanation"]
    assert "next check: when an admin runs one" in cli("doctor", UPN)


def test_sync_status_json(cli: Cli, tmp_path: Path) -> None:
    cli("users", "add", UPN, "--name", "Alice")
    cli("sync", "now", UPN)
    picture = tmp_path / "a.jpg"
    picture.write_bytes(jpeg(700, 600, seed=4))
    cli("photo", "set", UPN, str(picture))
    cli("sync", "now", UPN)
    out = json.loads(cli("sync", "status", UPN, "--json"))
    assert list(out) == ["upn", "policy", "sites", "checks"]
    assert (out["upn"], out["policy"]) == (UPN, "on-user-action")
    assert out["sites"]["picture_source"] == "mailbox"
    assert [c["result"] for c in out["checks"]] == ["updated", "no-photo"]  # newest first
    for check in out["checks"]:
        assert list(check) == [
            "at",
            "trigger",
            "reason",
            "result",
            "error",
            "from_etag",
            "to_etag",
            "run",
        ]
        assert check["trigger"] in TRIGGERS and check["result"] in RESULTS
        assert check["run"] is None
        assert datetime.fromisoformat(check["at"]).utcoffset() == timedelta(0)
    assert out["checks"][0]["to_etag"] == out["sites"]["source_etag"]
    assert len(json.loads(cli("sync", "status", UPN, "--json", "--checks", "1"))["checks"]) == 1


def test_sync_status_text_follows_the_policy(cli: Cli, local: Services) -> None:
    cli("users", "add", UPN, "--name", "Alice")
    cli("sync", "now", UPN)
    status = cli("sync", "status", UPN)
    assert "no check [fresh]" in status and "a new sign-in session gets a check" in status

    cli.policy = "manual"
    status = cli("sync", "status", UPN)
    assert "a new sign-in session" not in status
    assert "only an admin's check runs (photosync sync now)" in status

    cli.policy = "on-user-action"
    failing = CountingSource(MailboxPhotoSource(local.mailbox))
    failing.failing = True
    SyncService(
        local.ctx,
        directory=local.directory,
        mailbox=local.mailbox,
        sites=local.sites,
        source=failing,
    ).check_now(UPN, actor="test")
    status = cli("sync", "status", UPN)
    assert "no check [error-backoff]" in status
    assert "not even a new sign-in session gets a check" in status
    assert "; a new sign-in session gets a check" not in status


def test_doctor_unknown_user_is_one_clear_line(cli: Cli) -> None:
    assert "no user nobody@example.org" in cli("doctor", "nobody@example.org", ok=False)
