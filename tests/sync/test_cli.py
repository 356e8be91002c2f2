"""``photosync sync …`` on an embedded data folder, as an admin at a terminal runs it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from photosync.cli import main
from tests.conftest import TEST_KEY
from tests.sites.helpers import jpeg

UPN = "alice@example.org"


class Cli:
    def __init__(self, data: Path) -> None:
        self.data = data
        self.runner = CliRunner()

    def __call__(self, *args: str, ok: bool = True) -> Result:
        result = self.runner.invoke(
            main, ["--data", str(self.data), *args], env={"PHOTOSYNC_SECRET_KEY": TEST_KEY}
        )
        assert result.exit_code == (0 if ok else 1), result.output
        assert "Traceback" not in result.output
        return result


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    run = Cli(tmp_path / "data")
    run("users", "add", UPN, "--name", "Alice")
    return run


def test_sync_now_then_status(cli: Cli, tmp_path: Path) -> None:
    out = cli("sync", "now", UPN).output
    assert "admin/admin-request: no-photo" in out
    picture = tmp_path / "a.jpg"
    picture.write_bytes(jpeg(700, 600, seed=4))
    cli("photo", "set", UPN, str(picture))
    out = cli("sync", "now", UPN).output
    assert "admin/admin-request: updated" in out
    assert cli("sync", "now", UPN).output.count("unchanged") == 1

    status = cli("sync", "status", UPN).output
    assert f"user: {UPN} (mailbox: yes)" in status
    assert "sites shows: picture from mailbox" in status
    assert "SPS-PictureExchangeSyncState: 1" in status
    assert "last check: " in status and "-> unchanged" in status
    assert "no check [fresh]" in status
    assert status.count("admin/admin-request") == 3


def test_picture_editable_setting(cli: Cli) -> None:
    assert "Picture property: on" in cli("sync", "picture-editable").output
    out = cli("sync", "picture-editable", "off").output
    assert "off (sites does not sync from the mailbox)" in out
    assert "not-editable" in cli("sync", "now", UPN).output
    status = cli("sync", "status", UPN).output
    assert "SPS-PictureExchangeSyncState: 0 (users may not edit the Picture property)" in status
    assert "Picture property: on" in cli("sync", "picture-editable", "on").output


def test_unknown_user_is_one_clear_line(cli: Cli) -> None:
    assert "no user nobody@example.org" in cli("sync", "now", "nobody@example.org", ok=False).output
    assert (
        "no user nobody@example.org" in cli("sync", "status", "nobody@example.org", ok=False).output
    )
