"""A bad PHOTOSYNC_* value stops every command with one line that names it, before any work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import photosync
from photosync.cli import main
from photosync.settings import SYNC_POLICIES, SettingsError, load_settings
from tests.conftest import TEST_KEY

SRC = Path(photosync.__file__).resolve().parent.parent
POLICY_LINE = (
    "Error: PHOTOSYNC_SYNC_POLICY='sometimes' is not valid: "
    "expected one of on-user-action, manual, automatic"
)
UPLOAD_LINE = "Error: PHOTOSYNC_MAX_UPLOAD_BYTES='abc' is not valid: expected a whole number"


def photosync_process(data: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The real ``python -m photosync`` of this checkout, with PHOTOSYNC_* values in ``env``."""
    python_path = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "photosync", *args],
        env={
            **os.environ,
            "PYTHONPATH": python_path,
            "PHOTOSYNC_DATA_DIR": str(data),
            "PHOTOSYNC_SECRET_KEY": TEST_KEY,
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    [
        ("PHOTOSYNC_SYNC_POLICY", "sometimes", POLICY_LINE),
        ("PHOTOSYNC_MAX_UPLOAD_BYTES", "abc", UPLOAD_LINE),
    ],
)
@pytest.mark.parametrize(
    "args", [("serve", "--port", "1"), ("users", "list"), ("sync", "status", "a@example.org")]
)
def test_a_bad_value_stops_the_real_command_with_one_line(
    tmp_path: Path, variable: str, value: str, line: str, args: tuple[str, ...]
) -> None:
    data = tmp_path / "data"
    done = photosync_process(data, *args, **{variable: value})
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [line]
    assert not data.exists()  # stopped before it made anything


def test_every_valid_policy_starts(tmp_path: Path) -> None:
    for policy in ("on-user-action", "manual", "automatic"):
        done = photosync_process(
            tmp_path / "data", "sync", "picture-editable", PHOTOSYNC_SYNC_POLICY=policy
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("users may edit the Picture property: on")


def _leaf_commands(group: click.Group, path: list[str]) -> list[list[str]]:
    ctx = click.Context(group)
    found: list[list[str]] = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            found += _leaf_commands(command, [*path, name])
        elif command is not None:
            found.append([*path, name])
    return found


def _valid_arguments(command: click.Command, existing_file: Path) -> list[str]:
    """Arguments click accepts for ``command``, so that only the settings can stop it."""

    def value(param: click.Parameter) -> str:
        if isinstance(param.type, click.Choice):
            return str(param.type.choices[0])
        if isinstance(param.type, click.Path) and param.type.exists:
            return str(existing_file)
        if isinstance(param.type, click.types.IntParamType):
            return "1"
        return "x@example.org"

    args: list[str] = []
    for param in command.params:
        if isinstance(param, click.Argument) and param.required:
            args.append(value(param))
        elif isinstance(param, click.Option) and param.required:
            args += [param.opts[0], value(param)]
    return args


COMMANDS = _leaf_commands(main, [])


def test_every_command_is_covered() -> None:
    assert ["serve"] in COMMANDS and ["photo", "set"] in COMMANDS and ["db", "upgrade"] in COMMANDS
    assert len(COMMANDS) >= 15


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_stops_on_a_bad_value(path: list[str], tmp_path: Path) -> None:
    command: click.Command = main
    for name in path:
        assert isinstance(command, click.Group)
        found = command.get_command(click.Context(command), name)
        assert found is not None
        command = found
    existing = tmp_path / "photo.jpg"
    existing.write_bytes(b"not read")
    data = tmp_path / "data"
    for variable, value, line in [
        ("PHOTOSYNC_SYNC_POLICY", "sometimes", POLICY_LINE),
        ("PHOTOSYNC_MAX_UPLOAD_BYTES", "abc", UPLOAD_LINE),
    ]:
        result = CliRunner().invoke(
            main,
            ["--data", str(data), *path, *_valid_arguments(command, existing)],
            env={"PHOTOSYNC_SECRET_KEY": TEST_KEY, variable: value},
            input="a password\n",
        )
        assert result.exit_code == 2, result.output
        assert result.output.splitlines() == [line]
        assert not data.exists()


def test_the_message_names_each_bad_variable_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PHOTOSYNC_PHOTO_EXPIRATION_HOURS", "a day")
    monkeypatch.setenv("PHOTOSYNC_SYNC_POLICY", "On-User-Action")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value) == (
        "PHOTOSYNC_PHOTO_EXPIRATION_HOURS='a day' is not valid: expected a number; "
        "PHOTOSYNC_SYNC_POLICY='On-User-Action' is not valid: "
        "expected one of on-user-action, manual, automatic"
    )


def test_the_valid_policies() -> None:
    assert SYNC_POLICIES == ("on-user-action", "manual", "automatic")
    assert load_settings().sync_policy == "on-user-action"
    assert load_settings(sync_policy="automatic").sync_policy == "automatic"


def test_a_shared_deployment_needs_the_secret_key(tmp_path: Path) -> None:
    """With PostgreSQL or S3 the servers are many: a key made in one data folder would not be
    the others', so it must be given, and the command stops before doing anything."""
    shared = "PHOTOSYNC_SECRET_KEY must be set when the database is not the embedded SQLite"
    with pytest.raises(SettingsError, match=shared):
        load_settings(database_url="postgresql+psycopg://db/photosync")
    with pytest.raises(SettingsError, match=shared):
        load_settings(blob_store="s3", s3_bucket="photos")
    with pytest.raises(SettingsError, match="PHOTOSYNC_BLOB_STORE=s3 needs PHOTOSYNC_S3_BUCKET"):
        load_settings(blob_store="s3", secret_key="k")
    assert load_settings(blob_store="s3", s3_bucket="photos", secret_key="k").shared
    assert not load_settings(data_dir=tmp_path).shared  # the embedded default makes its own

    data = tmp_path / "data"
    result = CliRunner().invoke(
        main,
        ["--data", str(data), "users", "list"],
        env={"PHOTOSYNC_DATABASE_URL": "postgresql+psycopg://db/x", "PHOTOSYNC_SECRET_KEY": ""},
    )
    assert result.exit_code == 2 and shared in result.output and not data.exists()
