"""The ``photosync`` command: serve, db, users, apps, photo, sync, doctor.

The composition root on the command line: this module builds the services (on a command's first
use) and hands them to the role commands through click's context object (see ``cli_support``).
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

import click

from photosync import __version__
from photosync.cli_support import BadSettings, CommandEnv, pass_env
from photosync.context import Context
from photosync.directory.cli import Needs as DirectoryNeeds
from photosync.directory.cli import apps, users
from photosync.mailbox.cli import Needs as MailboxNeeds
from photosync.mailbox.cli import photo
from photosync.services import Services, build_services
from photosync.settings import Settings, SettingsError, load_settings
from photosync.sync.cli import Needs as SyncNeeds
from photosync.sync.cli import doctor, sync


class Env:
    """Settings from the environment and --data, and every role's services, each made once."""

    def __init__(self, data_dir: Path | None) -> None:
        self.data_dir = data_dir

    @cached_property
    def settings(self) -> Settings:
        try:
            if self.data_dir is None:
                return load_settings()
            return load_settings(data_dir=self.data_dir)
        except SettingsError as exc:
            raise BadSettings(str(exc)) from None

    @cached_property
    def _services(self) -> Services:
        ctx = Context.from_settings(self.settings)
        ctx.db.upgrade()
        return build_services(ctx)

    def services(self) -> Services:
        return self._services


def _serves_every_role(
    env: Env,
) -> tuple[CommandEnv[DirectoryNeeds], CommandEnv[MailboxNeeds], CommandEnv[SyncNeeds]]:
    # Never called: mypy checks here that the services built above are what each role's
    # commands ask for (they say so in a Protocol, having no import of photosync.services).
    return env, env, env


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="photosync")
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="PHOTOSYNC_DATA_DIR",
    help="Data folder (SQLite file, blobs, secret key). Default: ./photosync-data",
)
@click.pass_context
def main(ctx: click.Context, data_dir: Path | None) -> None:
    """photosync: an organisation's profile pictures, self-hosted."""
    ctx.obj = Env(data_dir)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Data folder (same as the global --data).",
)
@click.option(
    "--demo", is_flag=True, help="Create demo users with photos (once) and say how to sign in."
)
@click.pass_obj
def serve(env: Env, host: str, port: int, data_dir: Path | None, demo: bool) -> None:
    """Run the whole system (directory, mailbox, sites, portal) on one port."""
    import uvicorn

    from photosync.app import app_for

    if data_dir is not None:
        env.data_dir = data_dir
    services = env.services()  # applies migrations
    if demo:
        from photosync.demo import create_demo

        for line in create_demo(services):
            click.echo(line)
    base = f"http://{host}:{port}"
    click.echo(f"photosync {__version__} on {base}  (data: {env.settings.data_dir.resolve()})")
    click.echo(f"  portal {base}/   Graph {base}/v1.0   SharePoint {base}/_api")
    uvicorn.run(
        app_for(services),
        host=host,
        port=port,
        log_level=os.environ.get("PHOTOSYNC_LOG_LEVEL", "info"),
        proxy_headers=True,
        server_header=False,
    )


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@pass_env
def db_upgrade(env: Env) -> None:
    """Apply every migration (also done at start-up)."""
    env.services()
    click.echo(f"database is at the newest schema ({env.settings.sqlalchemy_url.split('@')[-1]})")


main.add_command(users)
main.add_command(apps)
main.add_command(photo)
main.add_command(sync)
main.add_command(doctor)
