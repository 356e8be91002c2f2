"""``photosync users …`` and ``photosync apps …`` as a script and as a person at a terminal
run them: --json with stable keys, one-sentence errors, passwords asked without echo."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import subprocess
import sys
import termios
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from photosync.cli import main
from tests.conftest import PASSWORD, TEST_KEY, free_port
from tests.mailbox.conftest import jpeg

UPN = "alice@example.org"


class Cli:
    def __init__(self, data: Path) -> None:
        self.data = data

    def __call__(self, *args: str, input: str | None = None, status: int = 0) -> Result:
        result = CliRunner().invoke(
            main,
            ["--data", str(self.data), *args],
            env={"PHOTOSYNC_SECRET_KEY": TEST_KEY},
            input=input,
        )
        assert result.exit_code == status, result.output
        if status:
            assert "Traceback" not in result.output
            assert result.exception is None or isinstance(result.exception, SystemExit)
        return result


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    run = Cli(tmp_path / "data")
    run("users", "add", "boss@example.org", "--name", "Boss", "--admin")
    return run


def test_users_add_without_a_password_says_the_account_cannot_sign_in_yet(cli: Cli) -> None:
    out = cli("users", "add", UPN, "--name", "Alice").stdout.splitlines()
    assert out[1] == (
        f"{UPN} has no password, so cannot sign in yet: "
        f"set one with `photosync users set-password {UPN}`"
    )
    out = cli("users", "add", "bob@example.org", "--name", "Bob", "--password",
              input=PASSWORD + "\n").stdout  # fmt: skip
    assert "cannot sign in" not in out


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", "the password is too short: use at least 12 characters"),
        ("password1234", "the password is one of the most common ones: choose another"),
        ("", "no password on standard input"),
    ],
)
def test_weak_passwords_are_refused_and_nothing_is_written(
    cli: Cli, password: str, message: str
) -> None:
    r = cli("users", "add", UPN, "--name", "A", "--password", input=password + "\n", status=1)
    assert r.stderr.strip() == f"Error: {message}"
    cli("users", "add", UPN, "--name", "Alice")
    r = cli("users", "set-password", UPN, input=password + "\n", status=1)
    assert r.stderr.strip() == f"Error: {message}"
    assert "password set" not in r.stdout


def test_users_list_json_keys_and_a_table_that_keeps_ids_whole(cli: Cli) -> None:
    cli("users", "add", UPN, "--name", "Alice", "--no-mailbox")
    cli("users", "disable", UPN)
    listed = json.loads(cli("users", "list", "--json").stdout)
    assert [sorted(user) for user in listed] == [
        ["admin", "disabled", "display_name", "id", "mail", "mailbox", "upn"]
    ] * 2
    alice = next(user for user in listed if user["upn"] == UPN)
    assert (alice["disabled"], alice["mailbox"], alice["admin"]) == (True, False, False)
    table = cli("users", "list").stdout.splitlines()
    assert table[0].split() == [
        "user",
        "principal",
        "name",
        "name",
        "admin",
        "mailbox",
        "state",
        "id",
    ]
    row = next(line for line in table if line.startswith(UPN))
    assert row.split()[-2:] == ["disabled", alice["id"]]


def test_disable_enable_set_admin_and_remove(cli: Cli) -> None:
    cli("users", "add", UPN, "--name", "Alice")
    assert cli("users", "disable", UPN).stdout.startswith(f"disabled {UPN}")
    assert cli("users", "enable", UPN).stdout.strip() == f"enabled {UPN}"
    assert cli("users", "set-admin", UPN).stdout.strip() == f"{UPN} is now an admin"
    assert cli("users", "set-admin", UPN, "--no").stdout.strip() == f"{UPN} is no longer an admin"
    r = cli("users", "set-admin", "boss@example.org", "--no", status=1)
    assert r.stderr.strip() == (
        "Error: cannot take the admin role from boss@example.org: they are the only enabled admin"
    )
    # remove asks first; "n" keeps the user (click's Abort: exit status 1).
    assert "Aborted" in cli("users", "remove", UPN, input="n\n", status=1).output
    assert UPN in cli("users", "list").stdout
    assert cli("users", "remove", UPN, "--yes").stdout.startswith(f"removed {UPN}")
    assert UPN not in cli("users", "list").stdout
    for command in ("disable", "enable", "set-admin", "remove"):
        assert cli("users", command, UPN, status=1).stderr.strip() == f"Error: no user {UPN}"
    actions = [e["action"] for e in map(json.loads, cli("audit", "--json").stdout.splitlines())]
    assert actions[:6] == [
        "user.removed",
        "user.admin_revoked",
        "user.admin_granted",
        "user.enabled",
        "user.disabled",
        "user.added",
    ]


def test_apps_list_rotate_and_revoke(cli: Cli) -> None:
    out = cli("apps", "add", "HR", "--role", "User.Read.All").stdout
    client_id = out.split()[1]
    first = out.split()[3]
    rotated = cli("apps", "rotate-secret", client_id).stdout.splitlines()
    assert rotated[0] == f"client_id: {client_id}"
    assert rotated[1].startswith("client_secret: ") and rotated[1].split()[1] != first
    listed = json.loads(cli("apps", "list", "--json").stdout)
    assert listed == [
        {
            "client_id": client_id,
            "name": "HR",
            "roles": ["User.Read.All"],
            "created_at": listed[0]["created_at"],
            "revoked_at": None,
        }
    ]
    assert cli("apps", "revoke", client_id).stdout.strip() == f"revoked {client_id} (HR)"
    table = cli("apps", "list").stdout.splitlines()
    assert table[1].startswith(client_id) and "revoked " in table[1]
    r = cli("apps", "rotate-secret", client_id, status=1)
    assert r.stderr.strip() == f"Error: app {client_id} is revoked; register a new one"
    assert cli("apps", "revoke", "nope", status=1).stderr.strip() == (
        "Error: no app with client id nope"
    )


# --- errors nothing else explained: one sentence, or the traceback on request ---------------


def _photosync(data: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "photosync", "--data", str(data), *args],
        env={**os.environ, "PHOTOSYNC_SECRET_KEY": TEST_KEY, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
def test_an_unreachable_database_is_one_sentence_unless_debugging(tmp_path: Path) -> None:
    closed = f"postgresql://postgres@127.0.0.1:{free_port()}/photosync"
    r = _photosync(tmp_path, "users", "list", PHOTOSYNC_DATABASE_URL=closed)
    assert r.returncode == 1 and r.stdout == ""
    [line] = r.stderr.splitlines()
    assert line.startswith("Error: cannot use the database (connection failed: ")
    assert line.endswith(
        "check PHOTOSYNC_DATABASE_URL and that the database server is running "
        "(set PHOTOSYNC_DEBUG=1 for the traceback)"
    )
    debug = _photosync(
        tmp_path, "users", "list", PHOTOSYNC_DATABASE_URL=closed, PHOTOSYNC_DEBUG="1"
    )
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr


@pytest.mark.slow
def test_a_bad_setting_is_one_line_for_every_command(tmp_path: Path) -> None:
    for args in (("users", "list", "--json"), ("apps", "list"), ("users", "disable", UPN)):
        r = _photosync(tmp_path, *args, PHOTOSYNC_MAX_UPLOAD_BYTES="abc")
        assert r.returncode == 2 and r.stdout == ""
        assert r.stderr.strip() == (
            "Error: PHOTOSYNC_MAX_UPLOAD_BYTES='abc' is not valid: expected a whole number"
        )


# --- a person at a terminal -------------------------------------------------------------------


def _own_terminal() -> None:
    """In the child: a new session whose controlling terminal is the pty (getpass reads
    /dev/tty, and turns echo off there)."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _at_a_terminal(args: list[str], answers: list[str]) -> tuple[int, str]:
    """Run photosync with a pseudo-terminal as its standard input and output; answer each
    prompt in turn. Returns the exit status and everything the terminal showed."""
    parent, child = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "photosync", *args],
        stdin=child,
        stdout=child,
        stderr=child,
        env={**os.environ, "PHOTOSYNC_SECRET_KEY": TEST_KEY},
        close_fds=True,
        preexec_fn=_own_terminal,  # the child runs no threads yet
    )
    os.close(child)
    shown, pending = b"", list(answers)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([parent], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(parent, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
            # click writes "Password:", then getpass flushes the terminal's input, turns echo
            # off and writes the " ": answer only after that space, or the answer is flushed.
            if pending and shown.endswith(b": "):
                os.write(parent, pending.pop(0).encode() + b"\n")
        elif process.poll() is not None:
            break
    os.close(parent)
    return process.wait(timeout=10), shown.decode(errors="replace")


@pytest.mark.slow
def test_set_password_at_a_terminal_asks_twice_without_echo(tmp_path: Path) -> None:
    data = tmp_path / "data"
    Cli(data)("users", "add", UPN, "--name", "Alice")
    secret = "a long enough passphrase"
    status, shown = _at_a_terminal(
        ["--data", str(data), "users", "set-password", UPN], [secret, secret]
    )
    assert status == 0, shown
    assert "Password:" in shown and "Repeat the password:" in shown
    assert secret not in shown
    assert f"password set for {UPN}" in shown


# --- every listing and status command speaks JSON ------------------------------------------

LISTING_AND_STATUS = {
    ("users", "list"),
    ("apps", "list"),
    ("photo", "info"),
    ("photo", "history"),
    ("sync", "status"),
    ("sync", "picture-editable"),
    ("audit",),
    ("doctor",),
}


def test_every_listing_and_status_command_takes_json() -> None:
    def option_names(path: tuple[str, ...]) -> set[str]:
        command: click.Command = main
        for name in path:
            assert isinstance(command, click.Group)
            found = command.get_command(click.Context(command), name)
            assert found is not None, path
            command = found
        return {opt for param in command.params for opt in getattr(param, "opts", [])}

    for path in sorted(LISTING_AND_STATUS):
        assert "--json" in option_names(path), path


def test_photo_info_and_picture_editable_as_json(cli: Cli, tmp_path: Path) -> None:
    cli("users", "add", UPN, "--name", "Alice")
    assert json.loads(cli("photo", "info", UPN, "--json").stdout) == {
        "upn": UPN,
        "photo": None,
        "preview": None,
    }
    picture = tmp_path / "a.jpg"
    picture.write_bytes(jpeg(300, 300))
    cli("photo", "set", UPN, str(picture))
    info = json.loads(cli("photo", "info", UPN, "--json").stdout)
    assert sorted(info["photo"]) == ["etag", "set_at", "set_by", "sizes", "version"]
    assert info["photo"]["sizes"] == [48, 64, 96, 120, 240] and info["preview"] is None
    assert json.loads(cli("sync", "picture-editable", "off", "--json").stdout) == {
        "picture_editable": False
    }
