"""``photosync photo …`` on an embedded data folder, as an admin at a terminal runs it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from photosync.cli import main
from tests.conftest import TEST_KEY
from tests.mailbox.conftest import jpeg, open_image

UPN = "alice@example.org"


class Cli:
    def __init__(self, data: Path) -> None:
        self.data = data
        self.runner = CliRunner()

    def __call__(self, *args: str, ok: bool = True) -> Result:
        result = self.runner.invoke(
            main, ["--data", str(self.data), *args], env={"PHOTOSYNC_SECRET_KEY": TEST_KEY}
        )
        if ok:
            assert result.exit_code == 0, result.output
        else:
            assert result.exit_code == 1, result.output
            assert "Traceback" not in result.output
            assert result.exception is None or isinstance(result.exception, SystemExit)
        return result


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    run = Cli(tmp_path / "data")
    run("users", "add", UPN, "--name", "Alice")
    return run


@pytest.fixture
def picture(tmp_path: Path) -> Path:
    path = tmp_path / "alice.jpg"
    path.write_bytes(jpeg(700, 520, seed=1))
    return path


def test_set_info_get_rm(cli: Cli, picture: Path, tmp_path: Path) -> None:
    out = cli("photo", "set", UPN, str(picture)).output
    assert out.startswith(f"photo set for {UPN}: version ")
    assert "sizes 48, 64, 96, 120, 240, 360, 432, 504" in out

    info = cli("photo", "info", UPN).output
    assert "sizes: 48x48, 64x64, 96x96, 120x120, 240x240, 360x360, 432x432, 504x504" in info
    assert "preview: none" in info
    etag = next(line.split()[-1] for line in info.splitlines() if "etag:" in line)
    assert len(etag) == 8 and etag == etag.upper()

    target = tmp_path / "out96.jpg"
    out = cli("photo", "get", UPN, "--size", "96", "-o", str(target)).output
    assert f"etag {etag}" in out
    image = open_image(target.read_bytes())
    assert (image.format, image.size) == ("JPEG", (96, 96))
    master = tmp_path / "master.jpg"
    cli("photo", "get", UPN, "-o", str(master))
    assert open_image(master.read_bytes()).size == (504, 504)

    stdout = cli("photo", "get", UPN, "--size", "48", "-o", "-").stdout_bytes
    assert open_image(stdout).size == (48, 48)

    assert cli("photo", "rm", UPN).output.strip() == f"photo removed for {UPN}"
    assert cli("photo", "get", UPN, "-o", str(target), ok=False).output.strip() == (
        f"Error: {UPN} has no photo"
    )
    assert cli("photo", "rm", UPN, ok=False).output.strip() == f"Error: {UPN} has no photo"
    assert cli("photo", "info", UPN, ok=False).output.strip() == f"Error: {UPN} has no photo"


def test_size_not_offered(cli: Cli, picture: Path, tmp_path: Path) -> None:
    cli("photo", "set", UPN, str(picture))
    r = cli("photo", "get", UPN, "--size", "648", "-o", str(tmp_path / "x.jpg"), ok=False)
    # The photo exists; the truth is that a 520 px upload offers nothing above 504.
    assert r.output.strip() == (
        "Error: 648 is not offered for this photo; offered: 48, 64, 96, 120, 240, 360, 432, 504"
    )
    assert not (tmp_path / "x.jpg").exists()


def test_preview_save_cancel(cli: Cli, picture: Path, tmp_path: Path) -> None:
    out = cli("photo", "set", UPN, str(picture), "--preview").output
    assert out.startswith(f"preview stored (run `photo save` to use it) for {UPN}")
    info = cli("photo", "info", UPN).output
    assert "photo: none" in info and "preview: version" in info
    target = tmp_path / "p.jpg"
    cli("photo", "get", UPN, "--preview", "--size", "64", "-o", str(target))
    assert open_image(target.read_bytes()).size == (64, 64)
    assert "has no photo" in cli("photo", "get", UPN, "-o", str(target), ok=False).output

    assert "preview saved as the photo" in cli("photo", "save", UPN).output
    cli("photo", "get", UPN, "-o", str(target))
    r = cli("photo", "save", UPN, ok=False)
    assert r.output.strip() == f"Error: {UPN} has no photo preview"

    cli("photo", "set", UPN, str(picture), "--preview")
    assert cli("photo", "cancel", UPN).output.strip() == f"preview cancelled for {UPN}"
    assert "preview: none" in cli("photo", "info", UPN).output
    r = cli("photo", "cancel", UPN, ok=False)
    assert r.output.strip() == f"Error: {UPN} has no photo preview"


def test_crop(cli: Cli, tmp_path: Path, picture: Path) -> None:
    out = cli("photo", "set", UPN, str(picture), "--crop", "0,0,250").output
    assert "master 240x240" in out
    bad = cli.runner.invoke(
        main, ["--data", str(cli.data), "photo", "set", UPN, str(picture), "--crop", "1,2"]
    )
    assert bad.exit_code == 2 and "LEFT,TOP,SIDE" in bad.output
    r = cli("photo", "set", UPN, str(picture), "--crop", "600,0,400", ok=False)
    assert "crop" in r.output.lower() and r.output.count("\n") == 1


def test_errors_are_one_line(cli: Cli, picture: Path, tmp_path: Path) -> None:
    r = cli("photo", "set", "nobody@example.org", str(picture), ok=False)
    assert r.output == "Error: no user nobody@example.org\n"
    for command in (["info"], ["rm"], ["save"], ["cancel"], ["get", "-o", str(tmp_path / "x")]):
        r = cli("photo", command[0], "nobody@example.org", *command[1:], ok=False)
        assert r.output == "Error: no user nobody@example.org\n", command

    text = tmp_path / "notes.txt"
    text.write_text("not a photo at all")
    r = cli("photo", "set", UPN, str(text), ok=False)
    assert r.output.startswith("Error: This file is not an image") and r.output.count("\n") == 1

    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff\xd8\xff" + b"\x00" * (4 * 1024 * 1024))
    r = cli("photo", "set", UPN, str(big), ok=False)
    assert "4 MB" in r.output and r.output.count("\n") == 1

    cli("users", "add", "lee@example.org", "--name", "Lee", "--no-mailbox")
    r = cli("photo", "set", "lee@example.org", str(picture), ok=False)
    assert r.output == "Error: lee@example.org has no mailbox, so no mailbox photo\n"
