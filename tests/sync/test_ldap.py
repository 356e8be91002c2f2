"""LDAP in and out against a real OpenLDAP slapd: 200 people exported and imported, a second run
that writes nothing, a read-only bind and a wrong password refused cleanly, StartTLS with a test
CA, and the automatic export of a changed mailbox photo."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from PIL import Image
from population import people_with_one_photo
from slapd import READER_DN, READER_PASSWORD, ROOT_DN, ROOT_PASSWORD, Slapd

from photosync.cli import main
from photosync.context import Context
from photosync.imaging import jpeg_size
from photosync.imaging.testimages import photo_jpeg
from photosync.services import build_services
from photosync.settings import Settings
from tests.conftest import TEST_KEY, eventually, free_port, make_settings

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ldap")]

PEOPLE = 200


def ldap_env(slapd: Slapd, unit: str, **more: str) -> dict[str, str]:
    return {
        "PHOTOSYNC_SECRET_KEY": TEST_KEY,
        "PHOTOSYNC_LDAP_URL": slapd.url,
        "PHOTOSYNC_LDAP_BIND_DN": ROOT_DN,
        "PHOTOSYNC_LDAP_PASSWORD": ROOT_PASSWORD,
        "PHOTOSYNC_LDAP_BASE_DN": unit,
        "PHOTOSYNC_LDAP_FILTER": "(objectClass=inetOrgPerson)",
        "PHOTOSYNC_LDAP_MATCH_ATTRIBUTE": "mail",
        **more,
    }


def cli(data: Path, env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, ["--data", str(data), *args], env=env)


def report_rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as f:
        return {row["upn"]: row for row in csv.DictReader(f)}


def population(tmp_path: Path, people: int = PEOPLE) -> Path:
    data = tmp_path / "data"
    people_with_one_photo(Settings(data_dir=data, secret_key=TEST_KEY), people)
    return data


def upn(n: int) -> str:
    return f"p{n:04d}@example.org"


def test_export_writes_thumbnails_then_only_what_changed(slapd: Slapd, tmp_path: Path) -> None:
    data = population(tmp_path)
    unit = slapd.add_unit("export")
    dns = [slapd.add_person(unit, upn(n)) for n in range(PEOPLE)]
    env = ldap_env(slapd, unit)
    report = tmp_path / "report.csv"
    export = ("sync", "now", "--all", "--from", "mailbox", "--to", "ldap", "--report")

    first = cli(data, env, *export, str(report))
    assert first.exit_code == 0, first.output
    rows = report_rows(report)
    assert len(rows) == PEOPLE and {r["result"] for r in rows.values()} == {"updated"}
    thumbnail = slapd.attribute(dns[0], "thumbnailPhoto")
    assert thumbnail is not None and len(thumbnail) <= 100 * 1024
    assert jpeg_size(thumbnail) == (96, 96)
    assert slapd.attribute(dns[0], "jpegPhoto") is None  # not asked for

    second = cli(data, env, *export, str(report))
    assert second.exit_code == 0, second.output
    assert f"{PEOPLE} unchanged" in second.output
    assert {r["result"] for r in report_rows(report).values()} == {"unchanged"}

    picture = tmp_path / "new.jpg"
    picture.write_bytes(photo_jpeg(500, 500, seed=77))
    assert cli(data, env, "photo", "set", upn(7), str(picture)).exit_code == 0
    third = cli(data, env, *export, str(report))
    assert third.exit_code == 0, third.output
    changed = {u for u, r in report_rows(report).items() if r["result"] != "unchanged"}
    assert changed == {upn(7)}
    assert slapd.attribute(dns[7], "thumbnailPhoto") != thumbnail
    assert slapd.attribute(dns[8], "thumbnailPhoto") == thumbnail

    # The default route's status knows nothing of these runs (its own policy history).
    status = cli(data, env, "sync", "status", upn(7)).output
    assert "last check: never" in status


def test_import_keeps_small_photos_small_and_says_so(slapd: Slapd, tmp_path: Path) -> None:
    data = population(tmp_path)
    unit = slapd.add_unit("import")
    for n in range(PEOPLE):
        side = 64 if n % 20 == 0 else 120
        slapd.add_person(unit, upn(n), jpeg_photo=photo_jpeg(side, side, seed=n))
    slapd.add_person(unit, "stranger@example.org", jpeg_photo=photo_jpeg(100, 100))
    env = ldap_env(slapd, unit)
    report = tmp_path / "report.csv"
    run = ("sync", "now", "--all", "--from", "ldap", "--to", "mailbox", "--report", str(report))

    first = cli(data, env, *run)
    assert first.exit_code == 1, first.output  # the stranger is no user of ours
    rows = report_rows(report)
    assert rows["stranger@example.org"]["error"] == "no such user"
    assert sum(r["result"] == "updated" for r in rows.values()) == PEOPLE
    small = {u for u, r in rows.items() if r["note"]}
    assert small == {upn(n) for n in range(0, PEOPLE, 20)}
    assert "64 px" in rows[upn(0)]["note"]

    ctx = Context.from_settings(Settings(data_dir=data, secret_key=TEST_KEY))
    services = build_services(ctx)
    sizes = {}
    for n in (0, 1):
        user = services.directory.get_user(upn(n))
        assert user is not None
        photo = services.mailbox.current_photo(user.id)
        assert photo is not None
        sizes[n] = photo.master_size
    assert sizes == {0: 64, 1: 120}  # never upscaled to the mailbox's 648
    ctx.db.dispose()

    second = cli(data, env, *run)
    assert f"{PEOPLE} unchanged" in second.output, second.output


def test_a_read_only_bind_is_refused_per_user_and_nothing_changes(
    slapd: Slapd, tmp_path: Path
) -> None:
    data = population(tmp_path, 3)
    unit = slapd.add_unit("readonly")
    dns = [slapd.add_person(unit, upn(n)) for n in range(3)]
    env = ldap_env(
        slapd, unit, PHOTOSYNC_LDAP_BIND_DN=READER_DN, PHOTOSYNC_LDAP_PASSWORD=READER_PASSWORD
    )
    report = tmp_path / "report.csv"
    run = ("sync", "now", "--all", "--from", "mailbox", "--to", "ldap", "--report", str(report))
    for _ in range(2):  # nothing was marked as written: the second run tries again
        result = cli(data, env, *run)
        assert result.exit_code == 1, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        rows = report_rows(report)
        assert {r["result"] for r in rows.values()} == {"error"}
        assert all("insufficientAccessRights" in r["error"] for r in rows.values()), rows
    assert all(slapd.attribute(dn, "thumbnailPhoto") is None for dn in dns)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"PHOTOSYNC_LDAP_PASSWORD": "wrong"}, "refused the bind"),
        ({"PHOTOSYNC_LDAP_URL": "ldap://127.0.0.1:{free}"}, "cannot reach"),
    ],
)
def test_a_directory_that_refuses_stops_the_run_in_one_line(
    slapd: Slapd, tmp_path: Path, change: dict[str, str], words: str
) -> None:
    data = population(tmp_path, 2)
    unit = slapd.add_unit("refusing")
    env = ldap_env(slapd, unit, **{k: v.format(free=free_port()) for k, v in change.items()})
    # Reading the directory's people fails before the run starts: one line, exit status 1.
    listing = cli(data, env, "sync", "now", "--all", "--from", "ldap", "--to", "mailbox")
    assert listing.exit_code == 1, listing.output
    assert words in listing.output and "Traceback" not in listing.output
    # Writing: each person's check fails with the reason in the report.
    report = tmp_path / "report.csv"
    export = cli(data, env, "sync", "now", upn(0), upn(1), "--to", "ldap", "--report", str(report))
    assert export.exit_code == 1, export.output
    assert all(words in r["error"] for r in report_rows(report).values())


def test_starttls_with_a_test_ca_and_the_upn_as_the_name(slapd: Slapd, tmp_path: Path) -> None:
    data = population(tmp_path, 2)
    unit = slapd.add_unit("tls")
    dn = slapd.add_person(unit, "someone@example.org", upn=upn(1))
    env = ldap_env(
        slapd,
        unit,
        PHOTOSYNC_LDAP_URL=slapd.host_url,
        PHOTOSYNC_LDAP_STARTTLS="true",
        PHOTOSYNC_LDAP_MATCH_ATTRIBUTE="userPrincipalName",
        PHOTOSYNC_LDAP_WRITE_ATTRIBUTES="thumbnailPhoto,jpegPhoto",
    )
    untrusted = cli(data, env, "sync", "now", upn(1), "--to", "ldap")
    assert untrusted.exit_code == 1, untrusted.output
    assert "TLS" in untrusted.output
    env["PHOTOSYNC_LDAP_CA_BUNDLE"] = str(slapd.ca_pem)
    result = cli(data, env, "sync", "now", upn(1), "--to", "ldap")
    assert result.exit_code == 0, result.output
    thumbnail, jpeg_photo = (slapd.attribute(dn, a) for a in ("thumbnailPhoto", "jpegPhoto"))
    assert thumbnail is not None and jpeg_size(thumbnail) == (96, 96)
    # jpegPhoto keeps the population's 648 px master at its own size.
    assert jpeg_photo is not None and jpeg_size(jpeg_photo) == (648, 648)


def test_ldaps_with_a_test_ca(slapd: Slapd, tmp_path: Path) -> None:
    data = population(tmp_path, 1)
    unit = slapd.add_unit("ldaps")
    dn = slapd.add_person(unit, upn(0))
    env = ldap_env(
        slapd, unit, PHOTOSYNC_LDAP_URL=slapd.ldaps_url, PHOTOSYNC_LDAP_CA_BUNDLE=str(slapd.ca_pem)
    )
    result = cli(data, env, "sync", "now", upn(0), "--to", "ldap")
    assert result.exit_code == 0, result.output
    assert slapd.attribute(dn, "thumbnailPhoto") is not None


def test_automatic_export_of_a_changed_mailbox_photo(slapd: Slapd, tmp_path: Path) -> None:
    unit = slapd.add_unit("automatic")
    dn = slapd.add_person(unit, "ada@example.org")
    env = ldap_env(slapd, unit)
    settings = make_settings(
        tmp_path / "data",
        f"sqlite:///{tmp_path / 'photosync.db'}",
        ldap_export="automatic",
        **{k.removeprefix("PHOTOSYNC_").lower(): v for k, v in env.items() if "LDAP" in k},
    )
    ctx = Context.from_settings(settings)
    ctx.db.upgrade()
    services = build_services(ctx)
    try:
        ada = services.directory.add_user("ada@example.org", "Ada")
        services.mailbox.set_photo(ada.id, photo_jpeg(400, 300, seed=3), actor="ada")
        assert eventually(lambda: slapd.attribute(dn, "thumbnailPhoto") is not None)
        first = slapd.attribute(dn, "thumbnailPhoto")
        assert first is not None
        assert Image.open(io.BytesIO(first)).size == (96, 96)
        services.mailbox.set_photo(ada.id, photo_jpeg(400, 300, seed=4), actor="ada")
        assert eventually(lambda: slapd.attribute(dn, "thumbnailPhoto") != first)
        # A deleted mailbox photo takes the directory's copy away too.
        services.mailbox.delete_photo(ada.id, actor="ada")
        assert eventually(lambda: slapd.attribute(dn, "thumbnailPhoto") is None)
    finally:
        services.tasks.close()
        ctx.db.dispose()


def test_a_folder_into_the_directory_for_people_photosync_does_not_know(
    slapd: Slapd, tmp_path: Path
) -> None:
    unit = slapd.add_unit("folder")
    dn = slapd.add_person(unit, "kim@example.org")
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "kim@example.org.jpg").write_bytes(photo_jpeg(300, 200, seed=1))
    (photos / "nobody@example.org.jpg").write_bytes(photo_jpeg(300, 200, seed=2))
    report = tmp_path / "report.csv"
    result = cli(
        tmp_path / "empty",  # no users at all: the folder and the directory know them
        ldap_env(slapd, unit),
        *("sync", "now", "--all", "--from", f"folder:{photos}", "--to", "ldap"),
        *("--report", str(report)),
    )
    assert result.exit_code == 1, result.output
    rows = report_rows(report)
    assert rows["kim@example.org"]["result"] == "updated"
    assert "no entry with mail=nobody@example.org" in rows["nobody@example.org"]["error"]
    thumbnail = slapd.attribute(dn, "thumbnailPhoto")
    assert thumbnail is not None and jpeg_size(thumbnail) == (96, 96)
