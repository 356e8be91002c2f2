"""``photosync users …`` and ``photosync apps …``."""

from __future__ import annotations

import io
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeAlias

import click

from photosync.cli_support import CommandEnv, columns, fail, pass_env
from photosync.directory.importing import BadUsersFile, Refused, UserRow, read_users
from photosync.directory.interfaces import AppInfo, UserInfo
from photosync.directory.passwords import password_problem
from photosync.directory.services import DirectoryError, DirectoryService
from photosync.directory.tokens import APP_ROLES

ACTOR = "cli"


class Needs(Protocol):
    """What ``photosync users`` and ``photosync apps`` use of the services the CLI built."""

    @property
    def directory(self) -> DirectoryService: ...


Env: TypeAlias = CommandEnv[Needs]


@contextmanager
def directory_refusals() -> Iterator[None]:
    """What the directory refuses (no such user, a value it does not take) ends the command
    with the directory's own sentence and exit status 1."""
    try:
        yield
    except DirectoryError as exc:
        raise fail(str(exc)) from exc


@click.group()
def users() -> None:
    """Directory users."""


def read_password() -> str:
    """A new password: asked twice with a hidden prompt on a terminal, else the first line of
    standard input (scripts pipe it; it never appears in a process list or shell history).
    Checked against the password policy before anything is written."""
    if sys.stdin.isatty():
        password: str = click.prompt(
            "Password", hide_input=True, confirmation_prompt="Repeat the password"
        )
    else:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise fail("no password on standard input")
    problem = password_problem(password)
    if problem:
        raise fail(problem)
    return password


@users.command("add")
@click.argument("upn")
@click.option("--name", required=True, help="Display name.")
@click.option("--admin", is_flag=True, help="Give the admin role.")
@click.option("--no-mailbox", is_flag=True, help="The user has no mailbox (uploads go to sites).")
@click.option(
    "--password",
    "with_password",
    is_flag=True,
    help="Set a password: asked (hidden, twice) on a terminal, else read from standard input.",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input (the same as --password when piped).",
)
@pass_env
def users_add(
    env: Env,
    upn: str,
    name: str,
    admin: bool,
    no_mailbox: bool,
    with_password: bool,
    password_stdin: bool,
) -> None:
    """Add a user. Without --password the account cannot sign in until one is set."""
    env.settings  # noqa: B018  (a bad setting stops the command before a password is asked)
    password = read_password() if (with_password or password_stdin) else None
    with directory_refusals():
        user = env.services().directory.add_user(
            upn, name, password=password, is_admin=admin, has_mailbox=not no_mailbox, actor=ACTOR
        )
    click.echo(f"added {user.upn} (id {user.id}){' as admin' if user.is_admin else ''}")
    if password is None:
        click.echo(
            f"{user.upn} has no password, so cannot sign in yet: "
            f"set one with `photosync users set-password {user.upn}`"
        )


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


def user_json(user: UserInfo) -> dict[str, Any]:
    """``users list --json``'s keys (documented in docs/cli.md; a public interface)."""
    return {
        "id": user.id,
        "upn": user.upn,
        "display_name": user.display_name,
        "mail": user.mail,
        "admin": user.is_admin,
        "mailbox": user.has_mailbox,
        "disabled": user.disabled,
    }


@users.command("list")
@click.option("--search", default="", help="Part of a name or user principal name.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="A JSON array of {id, upn, display_name, mail, admin, mailbox, disabled}.",
)
@pass_env
def users_list(env: Env, search: str, as_json: bool) -> None:
    """List users, by name."""
    found = env.services().directory.list_users(search)
    if as_json:
        click.echo(json.dumps([user_json(u) for u in found], indent=2, ensure_ascii=False))
        return
    rows = [
        (
            u.upn,
            u.display_name,
            "yes" if u.is_admin else "-",
            "yes" if u.has_mailbox else "no",
            "disabled" if u.disabled else "enabled",
            u.id,
        )
        for u in found
    ]
    click.echo(columns(("user principal name", "name", "admin", "mailbox", "state", "id"), rows))


@users.command("set-password")
@click.argument("upn")
@pass_env
def users_set_password(env: Env, upn: str) -> None:
    """Set a user's password: asked (hidden, twice) on a terminal, else read from standard
    input. At least 12 characters, and not one of the most common passwords."""
    env.settings  # noqa: B018  (a bad setting stops the command before a password is asked)
    password = read_password()
    with directory_refusals():
        env.services().directory.set_password(upn, password, actor=ACTOR)
    click.echo(f"password set for {upn}")


@users.command("disable")
@click.argument("upn")
@pass_env
def users_disable(env: Env, upn: str) -> None:
    """Disable UPN: no sign-in, their tokens and sessions stop working, their photo is no
    longer shown to others. Nothing is deleted (see `users enable`, `users remove`)."""
    with directory_refusals():
        user = env.services().directory.set_disabled(upn, True, actor=ACTOR)
    click.echo(f"disabled {user.upn}: they cannot sign in and their photo is hidden")


@users.command("enable")
@click.argument("upn")
@pass_env
def users_enable(env: Env, upn: str) -> None:
    """Enable a disabled user again (they sign in anew)."""
    with directory_refusals():
        user = env.services().directory.set_disabled(upn, False, actor=ACTOR)
    click.echo(f"enabled {user.upn}")


@users.command("revoke-sessions")
@click.argument("upn")
@pass_env
def users_revoke_sessions(env: Env, upn: str) -> None:
    """Sign UPN out everywhere: their portal sessions and the tokens those sessions issued stop
    working at their next request, on every server process. They may sign in again."""
    with directory_refusals():
        ended = env.services().directory.revoke_sessions(upn, actor=ACTOR)
    click.echo(f"revoked {ended} sign-in session(s) of {upn}")


@users.command("set-admin")
@click.argument("upn")
@click.option("--no", "take_away", is_flag=True, help="Take the admin role away instead.")
@pass_env
def users_set_admin(env: Env, upn: str, take_away: bool) -> None:
    """Give UPN the admin role (or take it away with --no)."""
    with directory_refusals():
        user = env.services().directory.set_admin(upn, not take_away, actor=ACTOR)
    click.echo(f"{user.upn} is {'now' if user.is_admin else 'no longer'} an admin")


@users.command("remove")
@click.argument("upn")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_env
def users_remove(env: Env, upn: str, yes: bool) -> None:
    """Delete UPN with their photos, versions and profile (for good; the audit log keeps
    their UPN). Photo files are deleted by the next `photosync gc`."""
    directory = env.services().directory
    user = directory.get_user(upn)
    if user is None:
        raise fail(f"no user {upn}")
    if not yes:
        click.confirm(f"Remove {user.upn} and all their photos for good?", abort=True)
    with directory_refusals():
        directory.remove_user(user.id, actor=ACTOR)
    click.echo(f"removed {user.upn}; `photosync gc` deletes their photo files")


@users.command("set-thumbnail")
@click.argument("upn")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_env
def users_set_thumbnail(env: Env, upn: str, file: Path) -> None:
    """Set the directory's small thumbnailPhoto (a JPEG of at most 100 KB). Sites never reads it."""
    with directory_refusals():
        env.services().directory.set_thumbnail(upn, file.read_bytes(), actor="cli")
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
@click.option(
    "--certificate",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A PEM certificate: the app may then sign in with client assertions signed by its key.",
)
@pass_env
def apps_add(env: Env, name: str, roles: tuple[str, ...], certificate: Path | None) -> None:
    """Register an app; prints its client id and secret (shown once)."""
    try:
        client_id, secret = env.services().directory.add_app(
            name,
            list(roles),
            actor=ACTOR,
            certificate=certificate.read_bytes() if certificate else None,
        )
    except DirectoryError as exc:
        raise fail(f"{certificate}: {exc}" if certificate else str(exc)) from exc
    click.echo(f"client_id: {client_id}")
    click.echo(f"client_secret: {secret}")


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def app_json(app: AppInfo) -> dict[str, Any]:
    """``apps list --json``'s keys (documented in docs/cli.md; a public interface)."""
    return {
        "client_id": app.client_id,
        "name": app.name,
        "roles": list(app.roles),
        "created_at": _when(app.created_at),
        "revoked_at": _when(app.revoked_at),
    }


@apps.command("list")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="A JSON array of {client_id, name, roles, created_at, revoked_at}.",
)
@pass_env
def apps_list(env: Env, as_json: bool) -> None:
    """List registered apps (revoked ones too), by name. Secrets are never shown."""
    found = env.services().directory.list_apps()
    if as_json:
        click.echo(json.dumps([app_json(a) for a in found], indent=2, ensure_ascii=False))
        return
    rows = [
        (
            a.client_id,
            a.name,
            f"{a.created_at:%Y-%m-%d}",
            f"revoked {a.revoked_at:%Y-%m-%d}" if a.revoked_at else "active",
            ",".join(a.roles),
        )
        for a in found
    ]
    click.echo(columns(("client id", "name", "created", "state", "roles"), rows))


@apps.command("revoke")
@click.argument("client_id")
@pass_env
def apps_revoke(env: Env, client_id: str) -> None:
    """Revoke an app for good: no new token, and its tokens stop working at once."""
    with directory_refusals():
        app = env.services().directory.revoke_app(client_id, actor=ACTOR)
    click.echo(f"revoked {app.client_id} ({app.name})")


@apps.command("rotate-secret")
@click.argument("client_id")
@pass_env
def apps_rotate_secret(env: Env, client_id: str) -> None:
    """A new client secret, printed once; the old one stops working at once (tokens already
    issued run until they expire: revoke the app to stop them)."""
    with directory_refusals():
        app, secret = env.services().directory.rotate_secret(client_id, actor=ACTOR)
    click.echo(f"client_id: {app.client_id}")
    click.echo(f"client_secret: {secret}")
