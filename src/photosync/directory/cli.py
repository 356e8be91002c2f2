"""``photosync users …`` and ``photosync apps …``."""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol, TypeAlias

import click
from rich.console import Console
from rich.table import Table

from photosync.cli_support import CommandEnv, fail, pass_env
from photosync.directory.importing import BadUsersFile, Refused, UserRow, read_users
from photosync.directory.services import DirectoryError, DirectoryService
from photosync.directory.tokens import APP_ROLES


class Needs(Protocol):
    """What ``photosync users`` and ``photosync apps`` use of the services the CLI built."""

    @property
    def directory(self) -> DirectoryService: ...


Env: TypeAlias = CommandEnv[Needs]


@click.group()
def users() -> None:
    """Directory users."""


@users.command("add")
@click.argument("upn")
@click.option("--name", required=True, help="Display name.")
@click.option("--admin", is_flag=True, help="Give the admin role.")
@click.option("--no-mailbox", is_flag=True, help="The user has no mailbox (uploads go to sites).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_env
def users_add(
    env: Env, upn: str, name: str, admin: bool, no_mailbox: bool, password_stdin: bool
) -> None:
    """Add a user."""
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    if password_stdin and not password:
        raise fail("no password on standard input")
    try:
        user = env.services().directory.add_user(
            upn, name, password=password, is_admin=admin, has_mailbox=not no_mailbox, actor="cli"
        )
    except DirectoryError as exc:
        raise fail(str(exc)) from exc
    click.echo(f"added {user.upn} (id {user.id}){' as admin' if user.is_admin else ''}")


@users.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@pass_env
def users_import(env: Env, file: Path) -> None:
    """Create or update many users from a CSV FILE ('-' for standard input).

    \b
    The first line names the columns: upn and name, and any of
    mail, admin, has_mailbox (yes/no, true/false, 1/0), password and
    aliases (other e-mail addresses, separated by ';'; '-' removes them).
    An empty cell leaves an existing user's value as it is.

    A row that cannot be used is reported with its line number, and nothing of it is
    written; the other rows are imported. Exit status 1 if any row was refused.
    """
    # Read and decoded whole before anything is written (10,000 rows are about 0.5 MB), so a
    # file that is not text stops the command before its first row, not half-way.
    try:
        data = sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
        text = data.decode("utf-8-sig")
    except OSError as exc:
        raise click.UsageError(f"cannot read {file}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise click.UsageError(f"{file} is not a UTF-8 text file") from None
    refused: list[Refused] = []

    def usable(rows: Iterator[UserRow | Refused]) -> Iterator[UserRow]:
        for row in rows:
            if isinstance(row, Refused):
                refused.append(row)
                click.echo(str(row), err=True)
            else:
                yield row

    started = time.monotonic()
    try:
        rows = read_users(io.StringIO(text, newline=""))
        summary = env.services().directory.import_users(usable(rows), actor="cli")
    except BadUsersFile as exc:
        raise click.UsageError(f"{file}: {exc}") from None
    click.echo(
        f"created {summary.created}, updated {summary.updated}, unchanged {summary.unchanged}, "
        f"refused {len(refused)} ({time.monotonic() - started:.1f} s)"
    )
    if refused:
        sys.exit(1)


@users.command("list")
@click.option("--search", default="", help="Part of a name or user principal name.")
@pass_env
def users_list(env: Env, search: str) -> None:
    """List users."""
    table = Table("user principal name", "display name", "admin", "mailbox", "id")
    for u in env.services().directory.list_users(search):
        table.add_row(
            u.upn,
            u.display_name,
            "yes" if u.is_admin else "",
            "yes" if u.has_mailbox else "no",
            u.id,
        )
    Console().print(table)


@users.command("set-password")
@click.argument("upn")
@pass_env
def users_set_password(env: Env, upn: str) -> None:
    """Set a user's password, read from standard input."""
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise fail("no password on standard input")
    try:
        env.services().directory.set_password(upn, password, actor="cli")
    except DirectoryError as exc:
        raise fail(str(exc)) from exc
    click.echo(f"password set for {upn}")


@users.command("set-thumbnail")
@click.argument("upn")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_env
def users_set_thumbnail(env: Env, upn: str, file: Path) -> None:
    """Set the directory's small thumbnailPhoto (a JPEG of at most 100 KB). Sites never reads it."""
    try:
        env.services().directory.set_thumbnail(upn, file.read_bytes(), actor="cli")
    except DirectoryError as exc:
        raise fail(str(exc)) from exc
    click.echo(f"thumbnailPhoto set for {upn} ({file.stat().st_size:,} bytes)")


@click.group()
def apps() -> None:
    """Registered applications (client credentials)."""


@apps.command("add")
@click.argument("name")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice(APP_ROLES),
    help="An application role; repeat for more.",
)
@pass_env
def apps_add(env: Env, name: str, roles: tuple[str, ...]) -> None:
    """Register an app; prints its client id and secret (shown once)."""
    try:
        client_id, secret = env.services().directory.add_app(name, list(roles), actor="cli")
    except DirectoryError as exc:
        raise fail(str(exc)) from exc
    click.echo(f"client_id: {client_id}")
    click.echo(f"client_secret: {secret}")
