"""The developer's set-up: ``make test`` on a machine without PostgreSQL says what is missing,
and the pg_hba.conf helper of tools/ensure-services.sh changes the file only when needed, and
says so."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
TRUST = ROOT / "tools" / "pg-trust-loopback.sh"
DEBIAN_HBA = """# Database administrative login by Unix domain socket
local   all             postgres                                peer
host    all             all             127.0.0.1/32            scram-sha-256
host    all             all             ::1/128                 scram-sha-256
"""


def test_without_postgresql_the_postgres_tests_say_what_is_missing(tmp_path: Path) -> None:
    nobody = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    env = {**os.environ, "PHOTOSYNC_TEST_POSTGRES": nobody}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:randomly",
            "-p",
            "no:xdist",
            "-p",
            "no:cacheprovider",
            "tests/directory/test_services.py::test_rejects_what_is_not_a_upn",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed, 1 skipped" in done.stdout
    assert f"PostgreSQL is missing: no connection to {nobody}" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    assert "error" not in done.stdout.lower().split("short test summary")[0]


def _trust(hba: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(TRUST), str(hba)], capture_output=True, text=True, check=True, timeout=30
    )


def test_pg_hba_is_rewritten_only_when_needed_and_says_so(tmp_path: Path) -> None:
    hba = tmp_path / "pg_hba.conf"
    hba.write_text(DEBIAN_HBA)

    first = _trust(hba)
    assert first.stdout.strip() == "changed"
    assert f"rewriting {hba}" in first.stderr
    lines = hba.read_text().splitlines()
    assert lines[:2] == ["host all all 127.0.0.1/32 trust", "host all all ::1/128 trust"]
    assert hba.read_text().endswith(DEBIAN_HBA)

    again = _trust(hba)
    assert (again.stdout, again.stderr) == ("", "")
    assert hba.read_text().splitlines() == lines


def test_pg_hba_with_the_lines_spaced_otherwise_is_left_alone(tmp_path: Path) -> None:
    hba = tmp_path / "pg_hba.conf"
    text = "host\tall\tall\t127.0.0.1/32\ttrust\nhost  all  all  ::1/128  trust\n" + DEBIAN_HBA
    hba.write_text(text)
    assert _trust(hba).stdout == ""
    assert hba.read_text() == text


@pytest.mark.parametrize("script", ["ensure-services.sh", "pg-trust-loopback.sh"])
def test_the_set_up_scripts_parse(script: str) -> None:
    subprocess.run(["bash", "-n", str(ROOT / "tools" / script)], check=True, timeout=30)
