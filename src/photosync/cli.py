"""The ``photosync`` command: serve, worker, db, users, apps, photo, sync, doctor.

The composition root on the command line: this module builds the services (on a command's first
use) and hands them to the role commands through click's context object (see ``cli_support``).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import logging.config
import os
import shutil
import tempfile
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

import click

from photosync import __version__
from photosync.audit import AuditLog, UnknownUser
from photosync.cli_support import (
    BadSettings,
    CommandEnv,
    Commands,
    bind_port,
    columns,
    fail,
    pass_env,
)
from photosync.context import Context
from photosync.directory.cli import Needs as DirectoryNeeds
from photosync.directory.cli import apps, users
from photosync.logs import logging_config
from photosync.mailbox.cli import Needs as MailboxNeeds
from photosync.mailbox.cli import photo
from photosync.metrics import MULTIPROCESS_DIR_ENV
from photosync.services import Services, build_services
from photosync.settings import Settings, SettingsError, load_settings
from photosync.sync.cli import Needs as SyncNeeds
from photosync.sync.cli import doctor, sync
from photosync.sync.tasks import PerProcess, SyncTasks, worker_argv


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

    def close(self) -> None:
        """At the end of a command: the checks it set off (automatic policy) run to the end."""
        if "_services" in self.__dict__:
            self._services.tasks.close()


def _serves_every_role(
    env: Env,
) -> tuple[CommandEnv[DirectoryNeeds], CommandEnv[MailboxNeeds], CommandEnv[SyncNeeds]]:
    # Never called: mypy checks here that the services built above are what each role's
    # commands ask for (they say so in a Protocol, having no import of photosync.services).
    return env, env, env


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
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
    """photosync: an organisation's profile pictures, self-hosted.

    \b
    For scripts:
      Every listing and status command takes --json; its keys (named in the
      command's help) are stable: new keys may be added, none renamed or removed.
      Exit status 0: done; 1: an error, said in one sentence on standard error;
      2: bad usage or a bad PHOTOSYNC_* setting. PHOTOSYNC_DEBUG=1 shows the
      traceback of an unexpected error instead of its sentence.
      Passwords are asked with a hidden prompt on a terminal, else read from the
      first line of standard input.
    """
    ctx.obj = env = Env(data_dir)
    ctx.call_on_close(env.close)


def _proxy_addresses(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    for item in value.split(","):
        if item.strip() == "*":
            continue
        try:
            ipaddress.ip_network(item.strip(), strict=False)
        except ValueError:
            raise click.BadParameter(
                f"{item.strip()!r} is not an address or CIDR (e.g. 10.0.0.0/8), nor *"
            ) from None
    return value


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
@click.option(
    "--certfile",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Serve HTTPS with this PEM certificate (chain); needs --keyfile.",
)
@click.option(
    "--keyfile",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The PEM private key of --certfile.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Server processes sharing the port (each with its own connections and caches).",
)
@click.option(
    "--forwarded-allow-ips",
    default="127.0.0.1",
    show_default=True,
    envvar="FORWARDED_ALLOW_IPS",  # uvicorn's own name for it
    show_envvar=True,
    callback=_proxy_addresses,
    help="Proxies (addresses or CIDRs, comma-separated; * for any) whose X-Forwarded-For and "
    "X-Forwarded-Proto are believed: the client address then comes from the header.",
)
@click.pass_obj
def serve(
    env: Env,
    host: str,
    port: int,
    data_dir: Path | None,
    demo: bool,
    certfile: Path | None,
    keyfile: Path | None,
    workers: int,
    forwarded_allow_ips: str,
) -> None:
    """Run the whole system (directory, mailbox, sites, portal) on one port."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from photosync.app import WORKER_APP, app_for
    from photosync.serving import NoDelayH11Protocol
    from photosync.web import MAX_HEADER_BYTES

    if (certfile is None) != (keyfile is None):
        raise click.UsageError("--certfile and --keyfile go together: give both for HTTPS")
    if data_dir is not None:
        env.data_dir = data_dir
    settings = env.settings  # a bad setting is reported before the port is taken
    listening = bind_port(host, port)
    level = os.environ.get("PHOTOSYNC_LOG_LEVEL", "info").lower()
    log_config = logging_config(settings.log_format, level)
    logging.config.dictConfig(log_config)
    logging.captureWarnings(True)  # a warning is a log line too (JSON with the rest)
    say = click.echo if settings.log_format == "text" else logging.getLogger("photosync").info
    if workers > 1:
        # Each process builds the app from the environment: the same data folder as this one,
        # and one folder where every process of this serve keeps its metrics (read by the
        # process answering /metrics). Set before anything counts (see photosync.metrics).
        os.environ["PHOTOSYNC_DATA_DIR"] = str(settings.data_dir.resolve())
        os.environ[MULTIPROCESS_DIR_ENV] = tempfile.mkdtemp(prefix="photosync-metrics-")
    services = env.services()  # applies migrations
    if demo:
        from photosync.demo import create_demo

        for line in create_demo(services):
            say(line)
    base = f"{'https' if certfile else 'http'}://{host}:{port}"
    say(f"photosync {__version__} on {base}  (data: {settings.data_dir.resolve()})")
    say(f"  portal {base}/   Graph {base}/v1.0   SharePoint {base}/_api")
    say(f"  sync policy {settings.sync_policy}; tasks run {services.tasks.describe()}")
    # Without a broker the schedule runs here; with one, Celery beat in a worker runs it.
    scheduler = services.tasks.schedule(services.ctx.clock)
    if scheduler is not None:
        say(f"  check of everyone on schedule '{settings.sync_schedule}' (UTC)")
        scheduler.start()
    collector = services.tasks.garbage_schedule(services.ctx.clock)
    if collector is not None:
        say(f"  old photo versions collected on schedule '{settings.gc_schedule}' (UTC)")
        collector.start()
    if workers > 1:
        say(f"  {workers} server processes")
    config = uvicorn.Config(
        app_for(services) if workers == 1 else WORKER_APP,
        factory=workers > 1,
        workers=workers,
        log_config=log_config,
        log_level=level,
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        server_header=False,
        http=NoDelayH11Protocol,
        # Request line and headers: over this h11 answers 431 before the app is called.
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        timeout_keep_alive=settings.keep_alive_seconds,
        # uvicorn loads them with ssl.SSLContext.load_cert_chain: a bad file fails at start.
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
    )
    try:
        if workers > 1:
            # What uvicorn.run does for workers, on the socket bound above.
            listening.set_inheritable(True)
            Multiprocess(config, sockets=[listening]).run()
        else:
            uvicorn.Server(config).run(sockets=[listening])
    finally:
        for running in (scheduler, collector):
            if running is not None:
                running.stop()
        services.tasks.close(cancel_pending=True)
        if workers > 1:
            shutil.rmtree(os.environ[MULTIPROCESS_DIR_ENV], ignore_errors=True)


@main.command()
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(min=1),
    default=None,
    help="Checks at once: processes (threads with --pool threads). Default: one per core.",
)
@click.option(
    "--pool",
    type=click.Choice(["prefork", "threads", "solo"]),
    default="prefork",
    show_default=True,
    help="Celery's execution pool.",
)
@click.option(
    "--beat/--no-beat",
    default=None,
    help="Run Celery beat here for PHOTOSYNC_SYNC_SCHEDULE and PHOTOSYNC_GC_SCHEDULE "
    "(default: when either is set). With several workers, let one only run it.",
)
@click.option(
    "--loglevel",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="warning",
    show_default=True,
    help="Celery's log level (info: a line per task).",
)
@pass_env
def worker(env: Env, concurrency: int | None, pool: str, beat: bool | None, loglevel: str) -> None:
    """Run sync's tasks from the broker (PHOTOSYNC_BROKER_URL): a Celery worker."""
    settings = env.settings
    if not settings.broker_url:
        raise BadSettings(
            "PHOTOSYNC_BROKER_URL is empty: tasks run inside photosync serve; "
            "set it (redis://… or amqp://…) to run them in workers"
        )
    services = env.services()  # applies migrations once, before any worker process starts
    # Each worker process builds its own services from the same settings; this one's
    # connections are closed first, so that none is shared with a forked child.
    services.ctx.db.dispose()
    per_process = PerProcess(lambda: build_services(Context.from_settings(settings)))
    tasks = SyncTasks(
        settings, lambda: per_process().sync, lambda: per_process().mailbox.collect_garbage()
    )
    run_beat = bool(settings.sync_schedule or settings.gc_schedule) if beat is None else beat
    argv = worker_argv(
        settings, concurrency=concurrency, pool=pool, beat=run_beat, loglevel=loglevel
    )
    started = (
        f"photosync {__version__} worker: tasks from {tasks.broker_address()}, "
        f"queue {settings.task_queue}" + (", with beat" if run_beat else "")
    )
    if settings.log_format == "json":
        # Celery then applies our configuration instead of its own (in every pool process,
        # inherited) and prints no banner: every line on stderr is a JSON object, as serve's
        # are (Celery's "worker: Warm shutdown" notice still goes to stdout).
        from celery.signals import setup_logging

        log_config = logging_config("json", loglevel)
        setup_logging.connect(lambda **_: logging.config.dictConfig(log_config), weak=False)
        logging.config.dictConfig(log_config)
        logging.captureWarnings(True)
        logging.getLogger("photosync").info(started)
        argv = ["--quiet", *argv]
    else:
        click.echo(started)
    tasks.celery.worker_main(argv)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@pass_env
def db_upgrade(env: Env) -> None:
    """Apply every migration (also done at start-up)."""
    env.services()
    click.echo(f"database is at the newest schema ({env.settings.sqlalchemy_url.split('@')[-1]})")


@main.command()
@pass_env
def gc(env: Env) -> None:
    """Delete old photo versions and the photo files no version uses.

    Each user keeps PHOTOSYNC_PHOTO_HISTORY_KEEP versions (the current photo and a pending
    preview among them). A file no version uses is deleted only once nothing has written it
    for an hour: an upload may be on its way to using it.
    """
    report = env.services().mailbox.collect_garbage()
    click.echo(
        f"removed {report.versions} photo version(s) ({report.renditions} renditions) and "
        f"{report.blobs} unused file(s); {report.young_blobs} unused file(s) newer than an hour "
        "left for later"
        + (
            f"; {report.leftovers} file(s) an interrupted write left cleared"
            if report.leftovers
            else ""
        )
    )


@main.command("backup")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@pass_env
def backup_command(env: Env, folder: Path) -> None:
    """Copy the database and the photo files into FOLDER (new or empty), consistently.

    Every table is read in one snapshot while the servers keep running; the photo files the
    snapshot names follow. The copy restores into an empty deployment of either kind (SQLite and
    a folder, or PostgreSQL and S3) with `photosync restore`.
    """
    from photosync.backup import BackupError, backup

    ctx = Context.from_settings(env.settings)
    try:
        ctx.db.upgrade()  # as every command does: the backup is of the newest schema
        summary = backup(ctx, folder)
    except BackupError as exc:
        raise fail(str(exc)) from None
    finally:
        ctx.db.dispose()
    click.echo(
        f"backed up {summary.rows} rows of {summary.tables} tables and {summary.blobs} photo "
        f"files ({summary.blob_bytes} bytes) at schema {summary.revision} to {folder}"
    )


@main.command("restore")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@pass_env
def restore_command(env: Env, folder: Path) -> None:
    """Restore a `photosync backup` FOLDER into this deployment, which must be empty.

    The database is migrated to the backup's schema, every file is checked against the
    backup's manifest, the photo files are copied (each one's sha256 checked), the rows are
    inserted in one transaction, and the schema is brought up to date.
    """
    from photosync.backup import BackupError, restore

    ctx = Context.from_settings(env.settings)
    try:
        summary = restore(ctx, folder)
    except BackupError as exc:
        raise fail(str(exc)) from None
    finally:
        ctx.db.dispose()
    click.echo(
        f"restored {summary.rows} rows of {summary.tables} tables and {summary.blobs} photo "
        f"files ({summary.blob_bytes} bytes) from {folder}"
    )


def _since(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("expected an ISO date or time, e.g. 2026-03-01T09:00") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@main.command("audit")
@click.option("--user", "upn", help="Only changes about this user (UPN).")
@click.option("--since", callback=_since, help="Only from this ISO date or time (UTC if no zone).")
@click.option("--action", default="", help="Only actions starting with this, e.g. mailbox.photo")
@click.option(
    "--limit", default=100, show_default=True, type=click.IntRange(min=0), help="0: no limit."
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="JSON lines instead of a table, one object a change: "
    "{at, actor, action, user, address, user_agent, detail}.",
)
@pass_env
def audit_log(
    env: Env, upn: str | None, since: datetime | None, action: str, limit: int, as_json: bool
) -> None:
    """Show the audit log, newest first: who changed what, when, and from where."""
    services = env.services()
    log = AuditLog(services.ctx.db, services.directory)
    try:
        query = log.query(user=upn, since=since, action=action)
    except UnknownUser:
        raise fail(f"no user {upn}") from None
    entries = log.entries(query, limit=limit or None)
    if as_json:
        for entry in entries:
            click.echo(json.dumps(entry.as_json(), ensure_ascii=False))
        return
    rows = [
        (
            f"{entry.at:%Y-%m-%d %H:%M:%S}",
            entry.actor,
            entry.action,
            entry.user or "-",
            entry.address or "-",
            " ".join(f"{key}={value}" for key, value in entry.detail.items()),
        )
        for entry in entries
    ]
    click.echo(columns(("at (UTC)", "actor", "action", "user", "from", "detail"), rows))


main.add_command(users)
main.add_command(apps)
main.add_command(photo)
main.add_command(sync)
main.add_command(doctor)
