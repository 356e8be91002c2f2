"""Routes (``--from``/``--to``): the folder source into the mailbox with good and bad files, a
CSV as PnP's uploader takes it, usage errors, dry runs, and runs told apart by their route."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from photosync.cli import main
from photosync.context import Context
from photosync.imaging.testimages import photo_jpeg, photo_like
from photosync.services import Services, build_services
from photosync.settings import Settings
from photosync.sync.connectors import UnknownConnector, parse_route
from photosync.sync.interfaces import DEFAULT_ROUTE, Route
from photosync.sync.models import SyncCheck, SyncMark
from tests.conftest import TEST_KEY


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    photo_like(width, height, seed=4).save(out, "PNG")
    return out.getvalue()


def cli(data: Path, *args: str) -> Result:
    return CliRunner().invoke(
        main, ["--data", str(data), *args], env={"PHOTOSYNC_SECRET_KEY": TEST_KEY}
    )


def report_rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as f:
        return {row["upn"]: row for row in csv.DictReader(f)}


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    for name in ("ada", "bob", "cy", "dee", "eve"):
        assert cli(folder, "users", "add", f"{name}@example.org", "--name", name).exit_code == 0
    # Cy has a photo already, which a bad file must not touch.
    picture = tmp_path / "cy.jpg"
    picture.write_bytes(photo_jpeg(300, 300, seed=5))
    assert cli(folder, "photo", "set", "cy@example.org", str(picture)).exit_code == 0
    return folder


def open_services(data: Path) -> tuple[Context, Services]:
    ctx = Context.from_settings(Settings(data_dir=data, secret_key=TEST_KEY))
    return ctx, build_services(ctx)


def master_sizes(data: Path) -> dict[str, int | None]:
    ctx, services = open_services(data)
    try:
        sizes: dict[str, int | None] = {}
        for user in services.directory.iter_users():
            photo = services.mailbox.current_photo(user.id)
            sizes[user.upn] = photo.master_size if photo else None
        return sizes
    finally:
        ctx.db.dispose()


def test_folder_into_the_mailbox_with_good_and_bad_files(data: Path, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "ada@example.org.jpg").write_bytes(photo_jpeg(800, 600, seed=1))
    (photos / "BOB@example.org.png").write_bytes(png(400, 400))
    (photos / "cy@example.org.jpg").write_bytes(b"this is not a picture at all")
    (photos / "dee@example.org.jpeg").write_bytes(photo_jpeg(60, 60, seed=2))
    (photos / "zed@example.org.jpg").write_bytes(photo_jpeg(200, 200, seed=3))  # not ours
    (photos / "notes.txt").write_text("ignored: not an image file name")
    before = master_sizes(data)
    report = tmp_path / "report.csv"
    run = ("sync", "now", "--all", "--from", f"folder:{photos}", "--to", "mailbox")

    first = cli(data, *run, "--report", str(report))
    assert first.exit_code == 1, first.output  # Cy's file is bad, Zed is no user of ours
    rows = report_rows(report)
    assert {u: r["result"] for u, r in rows.items()} == {
        "ada@example.org": "updated",
        "bob@example.org": "updated",
        "cy@example.org": "error",
        "dee@example.org": "updated",
        "zed@example.org": "error",
    }
    assert "cy@example.org.jpg" in rows["cy@example.org"]["error"]
    assert "not" in rows["cy@example.org"]["error"]  # the mailbox's own words for the refusal
    assert rows["zed@example.org"]["error"] == "no such user"
    assert "60 px" in rows["dee@example.org"]["note"]
    after = master_sizes(data)
    assert after["ada@example.org"] == 504  # a 600 px square: never upscaled to 648
    assert after["dee@example.org"] == 48  # the largest Graph size within 60 px, not 648
    assert after["cy@example.org"] == before["cy@example.org"]  # untouched
    assert after["eve@example.org"] is None

    second = cli(data, *run, "--report", str(report))
    assert {u: r["result"] for u, r in report_rows(report).items() if r["result"] != "error"} == {
        "ada@example.org": "unchanged",
        "bob@example.org": "unchanged",
        "dee@example.org": "unchanged",
    }, second.output
    # A new file is a new version: written once more, the others not.
    (photos / "ada@example.org.jpg").write_bytes(photo_jpeg(800, 600, seed=9))
    cli(data, *run, "--report", str(report))
    assert report_rows(report)["ada@example.org"]["result"] == "updated"
    assert report_rows(report)["bob@example.org"]["result"] == "unchanged"


def test_a_csv_of_upn_and_path_as_pnp_takes_it(data: Path, tmp_path: Path) -> None:
    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "a.jpg").write_bytes(photo_jpeg(300, 300, seed=1))
    (tmp_path / "pics" / "e.jpg").write_bytes(photo_jpeg(300, 300, seed=2))
    listing = tmp_path / "photos.csv"
    listing.write_text(
        "UserPrincipalName,Path\nada@example.org,pics/a.jpg\neve@example.org,pics/e.jpg\n"
    )
    result = cli(data, "sync", "now", "--all", "--from", f"folder:{listing}", "--to", "mailbox")
    assert result.exit_code == 0, result.output
    assert "2 updated" in result.output
    sizes = master_sizes(data)
    assert sizes["ada@example.org"] == sizes["eve@example.org"] == 240  # the 300 px square's
    assert sizes["bob@example.org"] is None


def test_a_dry_run_over_a_route_writes_nothing(data: Path, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "ada@example.org.jpg").write_bytes(photo_jpeg(300, 300, seed=1))
    run = ("sync", "now", "--all", "--from", f"folder:{photos}", "--to", "mailbox")
    result = cli(data, *run, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "ada@example.org: would be updated" in result.output
    assert master_sizes(data)["ada@example.org"] is None


@pytest.mark.parametrize(
    ("source", "target", "words"),
    [
        ("nowhere", "sites", "no source 'nowhere'; the sources are mailbox, folder:PATH, ldap"),
        ("mailbox", "paper", "no target 'paper'; the targets are sites, mailbox, ldap"),
        ("folder", "mailbox", "the source folder needs folder:PATH"),
        ("ldap:x", "mailbox", "the source ldap takes no ':x'"),
        ("ldap", "sites", "the sites target takes its photos from the mailbox only"),
    ],
)
def test_unknown_routes_are_usage_errors(data: Path, source: str, target: str, words: str) -> None:
    result = cli(data, "sync", "now", "--all", "--from", source, "--to", target)
    assert result.exit_code == 2, result.output
    assert words in result.output
    with pytest.raises(UnknownConnector):
        parse_route(source, target)


def test_the_default_route_is_todays_sync() -> None:
    assert parse_route("mailbox", "sites") is DEFAULT_ROUTE
    assert parse_route(" Mailbox ", "SITES").is_default
    assert parse_route("folder:photos", "ldap") == Route(
        f"folder:{Path('photos').resolve()}", "ldap"
    )


def test_a_run_is_identified_by_its_scope_and_route(services: Services) -> None:
    services.directory.add_user("ada@example.org", "Ada")
    to_mailbox = Route("mailbox", "mailbox")
    default, resumed = services.sync.open_bulk(None, actor="test")
    assert not resumed
    other, resumed = services.sync.open_bulk(None, actor="test", route=to_mailbox)
    assert not resumed and other != default
    again, resumed = services.sync.open_bulk(None, actor="test", route=to_mailbox)
    assert resumed and again == other
    assert services.sync.runs.route(other) == to_mailbox
    assert services.sync.runs.route(default) == DEFAULT_ROUTE
    progress = services.sync.runs.progress(other)
    assert progress is not None and progress.route == to_mailbox  # the run page says so


def test_people_outside_our_directory_reach_an_outside_target(
    services: Services, tmp_path: Path
) -> None:
    """A store outside our database takes people we do not know; their checks name them."""
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "stranger@example.org.jpg").write_bytes(photo_jpeg(120, 120, seed=1))
    written: dict[str, dict[str, bytes]] = {}

    class Paper:
        def sizes(self) -> dict[str, int]:
            return {"photo": 96}

        def put(self, user: object, files: dict[str, bytes], **_: object) -> None:
            written[getattr(user, "upn")] = files  # noqa: B009

        def remove(self, user: object, **_: object) -> None:
            written.pop(getattr(user, "upn"))  # noqa: B009

    from photosync.sync import connectors

    connectors.TARGETS["paper"] = connectors.TargetKind(lambda env, arg: Paper())
    try:
        route = parse_route(f"folder:{photos}", "paper")
        run_id, _ = services.sync.open_bulk(None, actor="test", route=route)
        progress = services.sync.continue_bulk(run_id, actor="test")
        assert (progress.done, progress.failed) == (1, 0)
        assert set(written) == {"stranger@example.org"}
        with services.ctx.db.session() as session:
            check = session.scalars(select(SyncCheck)).one()
            mark = session.scalars(select(SyncMark)).one()
        assert (check.user_id, check.person, check.target) == (
            None,
            "stranger@example.org",
            "paper",
        )
        assert (mark.user_key, mark.target) == ("stranger@example.org", "paper")
        # Again, nothing new: nothing written.
        written.clear()
        run_id, _ = services.sync.open_bulk(None, actor="test", route=route)
        services.sync.continue_bulk(run_id, actor="test")
        assert written == {}
        assert [i.result for i in services.sync.runs.items(run_id)] == ["unchanged"]
        # The file is gone: the picture is taken back.
        (photos / "stranger@example.org.jpg").unlink()
        written["stranger@example.org"] = {}
        run_id, _ = services.sync.open_bulk(["stranger@example.org"], actor="test", route=route)
        services.sync.continue_bulk(run_id, actor="test")
        assert written == {}
        assert [i.result for i in services.sync.runs.items(run_id)] == ["placeholder"]
    finally:
        del connectors.TARGETS["paper"]
