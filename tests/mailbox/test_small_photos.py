"""A photo smaller than 96 px is accepted with a warning: in the Graph metadata answers (a
``Warning`` header, Graph's JSON untouched) and in the CLI's output; never an upscale to a
size the upload does not reach (a 30 px upload offers 48 only)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from photosync.directory.interfaces import UserInfo
from photosync.services import Services
from tests.mailbox.conftest import jpeg, put_photo
from tests.mailbox.test_cli import UPN, Cli

SMALL_WARNING = "smaller than 96 x 96 pixels"


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    run = Cli(tmp_path / "data")
    run("users", "add", UPN, "--name", "Alice")
    return run


def test_graph_warns_of_a_30_px_photo_in_a_header(
    client: TestClient, alice: UserInfo, alice_auth: dict[str, str], services: Services
) -> None:
    r = put_photo(client, alice_auth, jpeg(30, 30))
    assert r.status_code == 200, r.text
    assert r.headers["warning"].startswith('199 photosync "This photo is smaller than 96 x 96')
    assert r.json()["id"] == "48x48"
    for path in ("/v1.0/me/photo", "/v1.0/me/photos", "/v1.0/me/photos/48x48"):
        answer = client.get(path, headers=alice_auth)
        assert answer.status_code == 200 and SMALL_WARNING in answer.headers["warning"], path
    listed = client.get("/v1.0/me/photos", headers=alice_auth).json()["value"]
    assert [entry["id"] for entry in listed] == ["48x48"]
    assert client.get("/v1.0/me/photos/96x96", headers=alice_auth).status_code == 404


def test_graph_says_nothing_of_a_photo_large_enough(
    client: TestClient, alice_auth: dict[str, str]
) -> None:
    r = put_photo(client, alice_auth, jpeg(100, 100))  # offers up to 96: sharp on a card
    assert r.status_code == 200 and "warning" not in r.headers
    assert "warning" not in client.get("/v1.0/me/photo", headers=alice_auth).headers


def test_the_cli_sets_a_small_photo_with_a_warning_on_stderr(cli: Cli, tmp_path: Path) -> None:
    tiny = tmp_path / "tiny.jpg"
    tiny.write_bytes(jpeg(30, 30))
    result = cli("photo", "set", UPN, str(tiny))
    assert result.stdout.startswith(f"photo set for {UPN}:") and "sizes 48" in result.stdout
    assert "warning: This photo is smaller than 96 × 96 pixels" in result.stderr
    big = tmp_path / "big.jpg"
    big.write_bytes(jpeg(700, 700))
    assert cli("photo", "set", UPN, str(big)).stderr == ""


def test_the_cli_sets_and_removes_the_picture_of_someone_without_a_mailbox(
    cli: Cli, tmp_path: Path
) -> None:
    kiosk = "kiosk@example.org"
    cli("users", "add", kiosk, "--name", "Kiosk", "--no-mailbox")
    picture = tmp_path / "kiosk.jpg"
    picture.write_bytes(jpeg(200, 200))
    result = cli("photo", "set", kiosk, str(picture))
    assert result.stdout == f"picture uploaded to SharePoint for {kiosk} (no mailbox)\n"
    assert "smaller than 300 × 300 pixels" in result.stderr  # SharePoint's Large size
    for command in ("save", "cancel"):
        refused = cli("photo", command, kiosk, ok=False)
        assert "has no mailbox: their picture goes straight into SharePoint" in refused.stderr
    refused = cli("photo", "set", kiosk, str(picture), "--preview", ok=False)
    assert "keeps no preview" in refused.stderr
    assert cli("photo", "rm", kiosk).stdout == (
        f"picture uploaded to SharePoint removed for {kiosk} (no mailbox)\n"
    )
    again = cli("photo", "rm", kiosk, ok=False)
    assert "has no mailbox and no picture uploaded to SharePoint" in again.stderr


def test_the_cli_says_a_size_above_the_photo_is_not_offered(cli: Cli, tmp_path: Path) -> None:
    photo = tmp_path / "wide.jpg"
    photo.write_bytes(jpeg(800, 600))  # a 600 px square: 504 is the largest size
    cli("photo", "set", UPN, str(photo))
    refused = cli("photo", "get", UPN, "--size", "648", "-o", str(tmp_path / "x.jpg"), ok=False)
    assert refused.stderr == (
        "Error: 648 is not offered for this photo; offered: 48, 64, 96, 120, 240, 360, 432, 504\n"
    )
    assert not (tmp_path / "x.jpg").exists()
    cli("photo", "get", UPN, "--size", "504", "-o", str(tmp_path / "y.jpg"))
