"""Bulk runs: every user or a list, a report, a dry run that writes nothing, exit statuses, and
a run killed with SIGKILL that the same command finishes: everyone synced, no one twice."""

from __future__ import annotations

import csv
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from population import people_with_one_photo
from sqlalchemy import func, select

from photosync.cli import main
from photosync.context import Context
from photosync.settings import Settings
from photosync.sites.models import Profile
from photosync.sync.models import SyncCheck, SyncRunItem
from tests.conftest import TEST_KEY
from tests.sites.helpers import jpeg


def cli(data: Path, *args: str) -> Result:
    return CliRunner().invoke(
        main, ["--data", str(data), *args], env={"PHOTOSYNC_SECRET_KEY": TEST_KEY}
    )


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    for name in ("alice", "bob", "carol"):
        assert cli(folder, "users", "add", f"{name}@example.org", "--name", name).exit_code == 0
    picture = tmp_path / "p.jpg"
    for seed, name in enumerate(("alice", "bob")):
        picture.write_bytes(jpeg(500, 400, seed=seed))
        assert cli(folder, "photo", "set", f"{name}@example.org", str(picture)).exit_code == 0
    return folder


def read_report(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_all_users_with_a_report(data: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.csv"
    result = cli(data, "sync", "now", "--all", "--report", str(report))
    assert result.exit_code == 0, result.output
    assert "checking every user (3)" in result.output
    assert "3 checked, 0 failed" in result.output
    rows = read_report(report)
    assert list(rows[0]) == ["upn", "result", "reason", "error", "note"]
    assert {r["upn"]: r["result"] for r in rows} == {
        "alice@example.org": "updated",
        "bob@example.org": "updated",
        "carol@example.org": "no-photo",
    }
    status = cli(data, "sync", "status", "alice@example.org").output
    assert "bulk/" in status and "updated" in status
    [check] = json.loads(cli(data, "sync", "status", "alice@example.org", "--json").output)[
        "checks"
    ]
    run_id = re.search(r"run (\S+) finished", result.output)
    assert run_id and (check["trigger"], check["run"]) == ("bulk", run_id.group(1))
    # The admin action is in the audit log: who started which run.
    cli(data, "sync", "now", "carol@example.org")
    lines = cli(data, "audit", "--json", "--action", "sync.").output.splitlines()
    actions = [(row["action"], row["actor"]) for row in map(json.loads, lines)]
    assert ("sync.bulk.started", "cli") in actions
    assert ("sync.check_requested", "cli") in actions
    started = next(json.loads(line) for line in lines if "bulk.started" in line)
    assert started["detail"]["run"] == run_id.group(1)
    # A finished run is not resumed: the same command is a new run, and finds nothing to do.
    again = cli(data, "sync", "now", "--all", "--report", str(report))
    assert "resuming" not in again.output and again.exit_code == 0
    assert {r["result"] for r in read_report(report)} == {"unchanged", "no-photo"}


def test_a_failed_user_makes_exit_status_1_and_is_in_the_report(data: Path, tmp_path: Path) -> None:
    report = tmp_path / "r.csv"
    result = cli(
        data, "sync", "now", "alice@example.org", "nobody@example.org", "--report", str(report)
    )
    assert result.exit_code == 1, result.output
    rows = {r["upn"]: r for r in read_report(report)}
    assert rows["alice@example.org"]["result"] == "updated"
    assert rows["nobody@example.org"]["result"] == "error"
    assert rows["nobody@example.org"]["error"] == "no such user"


def test_a_dry_run_says_what_would_change_and_writes_nothing(data: Path) -> None:
    settings = Settings(data_dir=data, secret_key=TEST_KEY)
    before = _counts(settings)
    result = cli(data, "sync", "now", "--all", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "alice@example.org: would be updated" in result.output
    assert "carol@example.org: would be no-photo" in result.output
    assert "2 would change; nothing was written" in result.output
    assert _counts(settings) == before


def test_bad_usage_is_exit_status_2(data: Path) -> None:
    assert cli(data, "sync", "now").exit_code == 2
    assert cli(data, "sync", "now", "--all", "alice@example.org").exit_code == 2
    assert cli(data, "sync", "now", "--all", "--concurrency", "0").exit_code == 2


def _counts(settings: Settings) -> tuple[int, int]:
    ctx = Context.from_settings(settings)
    with ctx.db.engine.connect() as conn:
        checks = conn.execute(select(func.count()).select_from(SyncCheck)).scalar_one()
        items = conn.execute(select(func.count()).select_from(SyncRunItem)).scalar_one()
    ctx.db.dispose()
    return checks, items


# --- killed half-way ----------------------------------------------------------------------------

PEOPLE = 1000


def _many_people_with_photos(data: Path) -> Settings:
    settings = Settings(data_dir=data, secret_key=TEST_KEY)
    people_with_one_photo(settings, PEOPLE)
    return settings


@pytest.mark.slow
def test_a_run_killed_half_way_is_finished_by_the_same_command(tmp_path: Path) -> None:
    data = tmp_path / "data"
    settings = _many_people_with_photos(data)
    env = {**os.environ, "PHOTOSYNC_DATA_DIR": str(data), "PHOTOSYNC_SECRET_KEY": TEST_KEY}
    command = [sys.executable, "-m", "photosync", "sync", "now", "--all", "--concurrency", "2"]
    ctx = Context.from_settings(settings)

    def done() -> int:
        with ctx.db.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(SyncRunItem).where(SyncRunItem.done)
                ).scalar_one()
            )

    # Kill -9 at a random point between a tenth and nine tenths of the way.
    kill_at = random.randint(PEOPLE // 10, 9 * PEOPLE // 10)
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    while done() < kill_at and first.poll() is None:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    # Its checking processes die with it; wait until nothing moves any more.
    killed_at, settled = done(), time.monotonic()
    while time.monotonic() - settled < 1.0:
        time.sleep(0.1)
        if (now := done()) != killed_at:
            killed_at, settled = now, time.monotonic()
    assert 0 < killed_at < PEOPLE, "the run should have been killed half-way"

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "resuming run" in second.stdout
    assert f"{killed_at} of {PEOPLE} users were done" in second.stdout

    with ctx.db.engine.connect() as conn:
        per_user = conn.execute(
            select(SyncCheck.user_id, func.count())
            .where(SyncCheck.run_id.is_not(None))
            .group_by(SyncCheck.user_id)
        ).all()
        shown = conn.execute(
            select(func.count()).select_from(Profile).where(Profile.source_etag.is_not(None))
        ).scalar_one()
        items = conn.execute(select(SyncRunItem.done, SyncRunItem.result)).all()
    ctx.db.dispose()
    assert len(per_user) == PEOPLE  # everyone was checked by the run...
    assert {count for _, count in per_user} == {1}  # ...exactly once
    assert shown == PEOPLE  # and sites shows everyone's photo
    assert all(item_done and result == "updated" for item_done, result in items)
