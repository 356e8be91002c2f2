"""``photosync sync …``: check a user now, say why their picture is what it is, the setting."""

from __future__ import annotations

import json
import textwrap
from datetime import datetime
from pathlib import Path
from typing import Protocol, TypeAlias

import click

from photosync.cli_support import CommandEnv, fail, pass_env
from photosync.sync import connectors
from photosync.sync.diagnostic import (
    Diagnosis,
    check_json,
    diagnosis_json,
    next_check_text,
    sites_json,
)
from photosync.sync.interfaces import CheckOutcome, ConnectorError
from photosync.sync.service import NoSuchUser, SyncService, SyncStatus
from photosync.sync.tasks import SyncTasks

ACTOR = "cli"


class Needs(Protocol):
    """What ``photosync sync`` uses of the services the CLI built."""

    @property
    def sync(self) -> SyncService: ...

    @property
    def tasks(self) -> SyncTasks: ...


Env: TypeAlias = CommandEnv[Needs]


@click.group()
def sync() -> None:
    """Pictures from the mailbox into sites (or any source into any target): checks, status,
    the Picture setting."""


@sync.command("now")
@click.argument("upns", nargs=-1, metavar="[UPN]...")
@click.option("--all", "everyone", is_flag=True, help="Every user (a bulk run).")
@click.option(
    "--concurrency",
    default=4,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Checks at once.",
)
@click.option("--rate", type=click.FloatRange(min=0.01), help="At most this many users a second.")
@click.option("--dry-run", is_flag=True, help="Say what would change; write nothing.")
@click.option(
    "--from",
    "source",
    default="mailbox",
    show_default=True,
    metavar="SOURCE",
    help=f"Where photos come from: {connectors.source_names()}.",
)
@click.option(
    "--to",
    "target",
    default="sites",
    show_default=True,
    metavar="TARGET",
    help=f"Where they go: {connectors.target_names()}.",
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write upn,result,reason,error,note for every user of the run to this CSV file.",
)
@pass_env
def sync_now(
    env: Env,
    upns: tuple[str, ...],
    everyone: bool,
    concurrency: int,
    rate: float | None,
    dry_run: bool,
    source: str,
    target: str,
    report: Path | None,
) -> None:
    """Check photos now and update the target where they changed (ignores the policy).

    By default from the mailbox into sites; --from and --to name another route (see
    docs/sync.md), which writes only what changed since its last run. One UPN on the default
    route: that user, now. Several UPNs, --all or another route: a bulk run, which the same
    command resumes after a crash (only the users it had not finished). Exit status 0 when
    every user succeeded, 1 when some failed, 2 on bad usage.
    """
    if everyone == bool(upns):
        raise click.UsageError("name the users (UPN...) or give --all, not both")
    try:
        route = connectors.parse_route(source, target)
    except connectors.UnknownConnector as exc:
        raise click.UsageError(str(exc)) from exc
    bulk = (
        everyone
        or len(upns) > 1
        or dry_run
        or report is not None
        or rate is not None
        or not route.is_default
    )
    if bulk:
        # Here, not at the top: its progress bar (rich) is for this command alone, and every
        # other command and `serve` would load it for nothing.
        from photosync.sync import bulk_cli

        try:
            status = bulk_cli.run(
                env.services().sync,
                env.services().tasks,
                None if everyone else list(upns),
                actor=ACTOR,
                concurrency=concurrency,
                rate=rate,
                dry_run=dry_run,
                report=report,
                route=route,
            )
        except ConnectorError as exc:
            raise fail(f"{route}: {exc}") from exc
        raise SystemExit(status)
    [upn] = upns
    try:
        outcome = env.services().sync.request_check(upn, actor=ACTOR)
    except NoSuchUser as exc:
        raise fail(f"no user {upn}") from exc
    click.echo(_outcome_line(outcome))
    if outcome.error:
        raise fail(f"the check failed: {outcome.error}")


@sync.command("status")
@click.argument("upn")
@click.option("--checks", default=5, show_default=True, help="How many recent checks to list.")
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object: upn, policy, sites, checks."
)
@pass_env
def sync_status(env: Env, upn: str, checks: int, as_json: bool) -> None:
    """What sites shows for UPN, what the last checks did, and when the next one would run."""
    try:
        status = env.services().sync.status(upn)
    except NoSuchUser as exc:
        raise fail(f"no user {upn}") from exc
    if as_json:
        click.echo(json.dumps(status_json(status, checks), indent=2))
        return
    for line in status_lines(status, checks):
        click.echo(line)


@click.command()
@click.argument("upn")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="One JSON object: {upn, state, explanation, fix, mailbox, sites, last_checks, "
    "next_check_at}.",
)
@click.option("--checks", default=5, show_default=True, help="How many recent checks to list.")
@click.option(
    "--m365",
    is_flag=True,
    help="Ask the Microsoft 365 tenant instead (PHOTOSYNC_M365_*): Graph's photo, the "
    "SharePoint profile, and which of them is stale.",
)
@pass_env
def doctor(env: Env, upn: str, as_json: bool, checks: int, m365: bool) -> None:
    """Why UPN's photo does or does not show in SharePoint, and the one thing that fixes it.

    The state is one of in-sync, pending, no-photo, no-mailbox, not-editable, error-backoff,
    directory-only, upload-kept (see docs/sync.md). With --m365, the same question for the
    Microsoft 365 tenant: Graph's photo and the SharePoint Online profile.
    """
    if m365:
        _doctor_m365(env, upn, as_json)
        return
    try:
        diagnosis = env.services().sync.diagnose(upn, checks=checks)
    except NoSuchUser as exc:
        raise fail(f"no user {upn}") from exc
    if as_json:
        click.echo(json.dumps(diagnosis_json(diagnosis), indent=2))
        return
    for line in doctor_lines(diagnosis):
        click.echo(line)


@sync.command("picture-editable")
@click.argument("value", required=False, type=click.Choice(["on", "off"]))
@click.option("--json", "as_json", is_flag=True, help='One JSON object {"picture_editable": bool}.')
@pass_env
def picture_editable(env: Env, value: str | None, as_json: bool) -> None:
    """Show or set whether users may edit the Picture property (off: no sync from the mailbox)."""
    service = env.services().sync
    if value is not None:
        service.set_picture_editable(value == "on", actor=ACTOR)
    if as_json:
        click.echo(json.dumps({"picture_editable": service.picture_editable()}))
        return
    state = "on" if service.picture_editable() else "off (sites does not sync from the mailbox)"
    click.echo(f"users may edit the Picture property: {state}")


def _doctor_m365(env: Env, upn: str, as_json: bool) -> None:
    # Imported here: msal is loaded only when the tenant is asked.
    from photosync.m365 import doctor as m365_doctor
    from photosync.m365.connect import graph_photos, sharepoint_profiles
    from photosync.sync.marks import marked_etag

    settings = env.settings
    sync = env.services().sync
    try:
        found = m365_doctor.diagnose(
            upn,
            graph_photos(settings),
            sharepoint_profiles(settings),
            lambda target: marked_etag(sync.ctx.db, target, upn),
        )
    except ConnectorError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(m365_doctor.as_json(found), indent=2))
        return
    wrap = textwrap.TextWrapper(width=96, subsequent_indent="  ")
    for line in m365_doctor.lines(found):
        click.echo("\n".join(wrap.wrap(line)))


def status_lines(status: SyncStatus, checks: int) -> list[str]:
    profile, history, nxt = status.profile, status.history, status.next_request
    shown = f"picture from {profile.picture_source}" if profile.has_picture else "placeholder"
    lines = [
        f"user: {status.user.upn} (mailbox: {'yes' if status.user.has_mailbox else 'no'})",
        f"sites shows: {shown}"
        + (f", timestamp {profile.picture_timestamp}" if profile.picture_timestamp else "")
        + (f", from mailbox version {profile.source_etag}" if profile.source_etag else ""),
        f"SPS-PictureExchangeSyncState: {profile.exchange_sync_state}"
        + ("" if profile.picture_editable else " (users may not edit the Picture property)"),
        f"policy: {status.policy}",
        "last check: "
        + (
            f"{_when(history.last_check_at)} -> {history.last_result}"
            if history.last_check_at
            else "never"
        ),
    ]
    if history.last_error:
        lines.append(f"last error: {history.last_error}")
    lines.append(
        "next own-Large request in a checked session: " + next_check_text(status.policy, nxt)
    )
    if status.recent and checks > 0:
        lines.append("recent checks:")
        lines.extend(f"  {_outcome_line(o)}" for o in status.recent[:checks])
    return lines


def status_json(status: SyncStatus, checks: int) -> dict[str, object]:
    return {
        "upn": status.user.upn,
        "policy": status.policy,
        "sites": sites_json(status.profile),
        "checks": [check_json(o) for o in status.recent[: max(checks, 0)]],
    }


def doctor_lines(d: Diagnosis) -> list[str]:
    f = d.facts
    photo = f.mailbox_photo
    if not f.has_mailbox:
        mailbox = "no mailbox"
    elif photo is None:
        mailbox = "no photo"
    else:
        mailbox = (
            f"photo version {photo.etag}, {photo.master_size} px, "
            f"set {_when(photo.created_at)} by {photo.created_by}"
        )
    sites = f.sites
    if not sites.has_picture:
        shown = "the placeholder"
    elif sites.picture_source == "mailbox":
        shown = f"mailbox version {sites.source_etag}"
    else:
        shown = f"a picture from {sites.picture_source}"
    editable = "" if sites.picture_editable else " (users may not edit the Picture property)"
    wrap = textwrap.TextWrapper(width=96, subsequent_indent="  ")
    lines = [
        f"{f.upn}: {d.state} ({d.headline})",
        *wrap.wrap(d.explanation),
        *wrap.wrap(f"fix: {d.fix}"),
        f"mailbox: {mailbox}",
        f"sites shows: {shown}{editable}",
        f"directory thumbnail: {'set' if f.directory_thumbnail else 'not set'}",
        f"policy: {f.policy}; next check: "
        + (_when(d.next_check_at) if d.next_check_at else "when an admin runs one"),
    ]
    if f.recent:
        lines.append("last checks:")
        lines.extend(f"  {_outcome_line(o)}" for o in f.recent)
    else:
        lines.append("last checks: none")
    return lines


def _outcome_line(o: CheckOutcome) -> str:
    versions = f"{o.from_etag or '-'} -> {o.to_etag or '-'}"
    error = f" error: {o.error}" if o.error else ""
    return (
        f"{_when(o.started_at)} {o.trigger}/{o.reason}: {o.result} "
        f"(mailbox version {versions}, {o.duration_ms} ms){error}"
    )


def _when(value: object) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if isinstance(value, datetime) else "-"
