"""Every corpus item through the ways in that are not HTTP: ``photosync photo set``, a bulk
``--from folder:PATH`` run and the LDAP import (``--from ldap --to mailbox``). Each is refused
in one line (exit status 1, or the run's report row ``error`` with the reason) and leaves the
previous photo as it was, or is stored re-encoded; never a traceback."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from slapd import ROOT_DN, ROOT_PASSWORD, Slapd, running_slapd

from photosync.cli import main
from photosync.context import Context
from photosync.imaging.testimages import photo_jpeg
from photosync.services import Services, build_services
from photosync.settings import Settings
from tests.conftest import TEST_KEY
from tests.hostile.conftest import (
    GRAPH_CORPUS,
    check_new_blobs,
    check_outcome,
    check_sentence,
    stored,
)
from tests.hostile.corpus import Item

pytestmark = pytest.mark.xdist_group("hostile-cli")


@dataclass
class Data:
    folder: Path
    ctx: Context
    services: Services

    def cli(self, *args: str, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(
            main,
            ["--data", str(self.folder), *args],
            env={"PHOTOSYNC_SECRET_KEY": TEST_KEY, **(env or {})},
        )

    def add_people(self, items: list[Item]) -> dict[str, str]:
        """One person per item, each with a photo already (which a refusal must leave)."""
        upns = {}
        for n, item in enumerate(items):
            upn = f"h{n:03d}-{id(items) % 10_000}@example.org"
            user = self.services.directory.add_user(upn, f"H {n}")
            self.services.mailbox.set_photo(user.id, photo_jpeg(200, 200, seed=n), actor="test")
            upns[item.name] = upn
        return upns

    def etag(self, upn: str) -> str:
        user = self.services.directory.get_user(upn)
        assert user is not None
        photo = self.services.mailbox.current_photo(user.id)
        assert photo is not None
        return photo.etag


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Data]:
    folder = tmp_path_factory.mktemp("hostile-cli") / "data"
    ctx = Context.from_settings(Settings(data_dir=folder, secret_key=TEST_KEY))
    ctx.db.upgrade()
    services = build_services(ctx)
    services.directory.add_user("alice@example.org", "Alice")
    services.mailbox.set_photo("alice@example.org", photo_jpeg(300, 300, seed=1), actor="test")
    yield Data(folder, ctx, services)
    ctx.db.dispose()


@pytest.mark.parametrize("item", GRAPH_CORPUS, ids=lambda item: item.name)
def test_photo_set(data: Data, item: Item, tmp_path: Path) -> None:
    upn = "alice@example.org"
    picture = tmp_path / "upload.jpg"
    picture.write_bytes(item.data)
    before, etag = stored(data.ctx), data.etag(upn)
    result = data.cli("photo", "set", upn, str(picture))
    assert result.exit_code in (0, 1), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    check_outcome(item, 200, refused_status=result.exit_code == 1)
    if result.exit_code == 1:
        lines = result.output.strip().splitlines()
        assert len(lines) == 1, result.output
        assert lines[0].startswith("Error: "), result.output  # click's way of saying it
        check_sentence(item, lines[0].removeprefix("Error: ").rstrip(".") + ".")
        assert stored(data.ctx) == before
        assert data.etag(upn) == etag
    else:
        check_new_blobs(data.ctx, before, item)
        assert data.etag(upn) != etag


def report_rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as f:
        return {row["upn"]: row for row in csv.DictReader(f)}


def check_run(data: Data, items: list[Item], upns: dict[str, str], report: Path) -> None:
    rows = report_rows(report)
    for item in items:
        upn = upns[item.name]
        row = rows[upn]
        assert row["result"] in ("updated", "error"), (item.name, row)
        check_outcome(item, 200, refused_status=row["result"] == "error")
        if row["result"] == "error":
            assert row["error"] and "Traceback" not in row["error"], (item.name, row)


def test_a_folder_run_over_the_corpus(data: Data, tmp_path: Path) -> None:
    upns = data.add_people(GRAPH_CORPUS)
    etags = {name: data.etag(upn) for name, upn in upns.items()}
    photos = tmp_path / "photos"
    photos.mkdir()
    for item in GRAPH_CORPUS:
        (photos / f"{upns[item.name]}.jpg").write_bytes(item.data)
    before = stored(data.ctx)
    report = tmp_path / "report.csv"
    run = data.cli(
        "sync", "now", "--all", "--from", f"folder:{photos}", "--to", "mailbox",
        "--report", str(report),
    )  # fmt: skip
    assert run.exit_code == 1, run.output  # some files are refused
    assert "Traceback" not in run.output
    check_run(data, GRAPH_CORPUS, upns, report)
    rows = report_rows(report)
    for item in GRAPH_CORPUS:
        unchanged = data.etag(upns[item.name]) == etags[item.name]
        assert unchanged == (rows[upns[item.name]]["result"] == "error"), item.name
        check_new_blobs(data.ctx, before, item)


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    yield from running_slapd(tmp_path_factory.mktemp("slapd"))


@pytest.mark.slow
def test_an_ldap_import_of_the_corpus(data: Data, slapd: Slapd, tmp_path: Path) -> None:
    # LDAP holds no empty value; files near the size limit make the directory the slow part.
    items = [item for item in GRAPH_CORPUS if 0 < len(item.data) < 1_000_000]
    upns = data.add_people(items)
    etags = {name: data.etag(upn) for name, upn in upns.items()}
    unit = slapd.add_unit("hostile")
    for item in items:
        slapd.add_person(unit, upns[item.name], jpeg_photo=item.data)
    env = {
        "PHOTOSYNC_LDAP_URL": slapd.url,
        "PHOTOSYNC_LDAP_BIND_DN": ROOT_DN,
        "PHOTOSYNC_LDAP_PASSWORD": ROOT_PASSWORD,
        "PHOTOSYNC_LDAP_BASE_DN": unit,
        "PHOTOSYNC_LDAP_FILTER": "(objectClass=inetOrgPerson)",
        "PHOTOSYNC_LDAP_MATCH_ATTRIBUTE": "mail",
    }
    before = stored(data.ctx)
    report = tmp_path / "report.csv"
    run = data.cli(
        "sync", "now", "--all", "--from", "ldap", "--to", "mailbox", "--report", str(report),
        env=env,
    )  # fmt: skip
    assert run.exit_code == 1, run.output
    assert "Traceback" not in run.output
    check_run(data, items, upns, report)
    rows = report_rows(report)
    for item in items:
        unchanged = data.etag(upns[item.name]) == etags[item.name]
        assert unchanged == (rows[upns[item.name]]["result"] == "error"), item.name
        check_new_blobs(data.ctx, before, item)
