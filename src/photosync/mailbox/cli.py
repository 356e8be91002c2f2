"""``photosync photo …``: Set-UserPhoto (-Preview, -Save, -Cancel), Get- and Remove-UserPhoto."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, TypeAlias

import click

from photosync.cli_support import CommandEnv, columns, fail, pass_env
from photosync.imaging import GRAPH_SIZES, CropBox, ImageRejected
from photosync.mailbox.errors import (
    MailboxNotEnabled,
    PhotoNotFound,
    PreviewNotFound,
    SizeNotOffered,
    UserNotFound,
    VersionNotFound,
)
from photosync.mailbox.interfaces import PhotoInfo
from photosync.mailbox.services import MailboxService

ACTOR = "cli"


class Needs(Protocol):
    """What ``photosync photo`` uses of the services the CLI built."""

    @property
    def mailbox(self) -> MailboxService: ...


Env: TypeAlias = CommandEnv[Needs]


@contextmanager
def _explained(upn: str) -> Iterator[None]:
    """One line a person understands for each way a photo command can fail."""
    try:
        yield
    except UserNotFound as exc:
        raise fail(f"no user {upn}") from exc
    except MailboxNotEnabled as exc:
        raise fail(f"{upn} has no mailbox, so no mailbox photo") from exc
    except PreviewNotFound as exc:
        raise fail(f"{upn} has no photo preview") from exc
    except VersionNotFound as exc:
        raise fail(str(exc)) from exc
    except SizeNotOffered as exc:
        raise fail(exc.sentence()) from exc
    except PhotoNotFound as exc:
        raise fail(f"{upn} has no photo") from exc
    except ImageRejected as exc:
        raise fail(exc.message) from exc


def _crop(_ctx: click.Context, _param: click.Parameter, value: str | None) -> CropBox | None:
    if value is None:
        return None
    try:
        left, top, side = (int(part) for part in value.split(","))
    except ValueError:
        raise click.BadParameter("expected LEFT,TOP,SIDE in pixels, e.g. 120,40,600") from None
    if left < 0 or top < 0 or side <= 0:
        raise click.BadParameter("LEFT and TOP must be >= 0 and SIDE > 0")
    return CropBox(left, top, side)


def _describe(info: PhotoInfo) -> str:
    return (
        f"version {info.version_id}  etag {info.etag}  master {info.master_size}x"
        f"{info.master_size}  sizes {', '.join(str(s) for s in info.sizes)}"
    )


@click.group()
def photo() -> None:
    """Mailbox photos: the source of truth for everyone's profile picture."""


@photo.command("set")
@click.argument("upn")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--preview", is_flag=True, help="Store as a preview; `photo save` makes it current.")
@click.option(
    "--crop",
    metavar="LEFT,TOP,SIDE",
    callback=_crop,
    help="Square to keep, in pixels of the upright picture (default: the centre square).",
)
@pass_env
def photo_set(env: Env, upn: str, file: Path, preview: bool, crop: CropBox | None) -> None:
    """Set UPN's photo from FILE (JPEG, PNG, GIF, BMP or WebP, at most 4 MB)."""
    limit = env.settings.max_upload_bytes
    if file.stat().st_size > limit:
        raise fail(
            f"{file} is {file.stat().st_size:,} bytes; photos may be at most "
            f"{limit / (1024 * 1024):g} MB ({limit:,} bytes)"
        )
    with _explained(upn):
        info = env.services().mailbox.set_photo(
            upn, file.read_bytes(), actor=ACTOR, preview=preview, crop=crop
        )
    what = "preview stored (run `photo save` to use it)" if preview else "photo set"
    click.echo(f"{what} for {upn}: {_describe(info)}")


@photo.command("save")
@click.argument("upn")
@pass_env
def photo_save(env: Env, upn: str) -> None:
    """Make UPN's preview their photo."""
    with _explained(upn):
        info = env.services().mailbox.save_preview(upn, actor=ACTOR)
    click.echo(f"preview saved as the photo of {upn}: {_describe(info)}")


@photo.command("cancel")
@click.argument("upn")
@pass_env
def photo_cancel(env: Env, upn: str) -> None:
    """Drop UPN's preview; their photo stays as it is."""
    mailbox = env.services().mailbox
    with _explained(upn):
        if mailbox.preview_photo(upn) is None:
            mailbox.mailbox_user(upn)  # "no user x" / "no mailbox" before "no preview"
            raise PreviewNotFound(upn)
        mailbox.cancel_preview(upn, actor=ACTOR)
    click.echo(f"preview cancelled for {upn}")


@photo.command("get")
@click.argument("upn")
@click.option(
    "--size",
    type=click.Choice([str(s) for s in GRAPH_SIZES]),
    help="Square size in pixels (default: the largest offered).",
)
@click.option("--preview", is_flag=True, help="The pending preview instead of the photo.")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True),
    help="File to write the JPEG to ('-' for standard output).",
)
@pass_env
def photo_get(env: Env, upn: str, size: str | None, preview: bool, output: str) -> None:
    """Write UPN's photo as a JPEG."""
    mailbox = env.services().mailbox
    side = int(size) if size else None
    with _explained(upn):
        if preview:
            info, data = mailbox.preview_bytes(upn, side)
        else:
            info, data = mailbox.photo_bytes(upn, side)
    if output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    Path(output).write_bytes(data)
    got = side or info.master_size
    click.echo(f"wrote {output} ({got}x{got}, {len(data):,} bytes, etag {info.etag})")


@photo.command("rm")
@click.argument("upn")
@pass_env
def photo_rm(env: Env, upn: str) -> None:
    """Remove UPN's photo (and the directory thumbnail that follows it)."""
    with _explained(upn):
        env.services().mailbox.delete_photo(upn, actor=ACTOR)
    click.echo(f"photo removed for {upn}")


def _info_json(info: PhotoInfo | None) -> dict[str, object] | None:
    if info is None:
        return None
    return {
        "version": info.version_id,
        "etag": info.etag,
        "sizes": list(info.sizes),
        "set_at": info.created_at.isoformat(),
        "set_by": info.created_by,
    }


@photo.command("info")
@click.argument("upn")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="One JSON object {upn, photo, preview}; each {version, etag, sizes, set_at, set_by} "
    "or null.",
)
@pass_env
def photo_info(env: Env, upn: str, as_json: bool) -> None:
    """Show UPN's photo version, sizes and etag (and any pending preview)."""
    mailbox = env.services().mailbox
    with _explained(upn):
        mailbox.mailbox_user(upn)
        current, pending = mailbox.current_photo(upn), mailbox.preview_photo(upn)
    if as_json:
        body = {"upn": upn, "photo": _info_json(current), "preview": _info_json(pending)}
        click.echo(json.dumps(body, indent=2))
        return
    if current is None and pending is None:
        raise fail(f"{upn} has no photo")
    for label, info in (("photo", current), ("preview", pending)):
        if info is None:
            click.echo(f"{label}: none")
            continue
        click.echo(f"{label}: version {info.version_id}")
        click.echo(f"  etag: {info.etag}")
        click.echo(f"  sizes: {', '.join(f'{s}x{s}' for s in info.sizes)}")
        click.echo(f"  set: {info.created_at:%Y-%m-%d %H:%M:%S} UTC by {info.created_by}")


@photo.command("history")
@click.argument("upn")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="A JSON array of {id, at, by, sha256, sizes, current, preview}, newest first.",
)
@pass_env
def photo_history(env: Env, upn: str, as_json: bool) -> None:
    """List the kept versions of UPN's photo, newest first."""
    with _explained(upn):
        history = env.services().mailbox.history(upn)
    if as_json:
        click.echo(json.dumps([version.as_json() for version in history], indent=2))
        return
    if not history:
        click.echo(f"{upn} has no photo versions")
        return
    rows = [
        (
            version.info.version_id,
            f"{version.info.created_at:%Y-%m-%d %H:%M:%S}",
            version.info.created_by,
            ",".join(str(size) for size in version.info.sizes),
            "current" if version.current else "preview" if version.preview else "-",
        )
        for version in history
    ]
    click.echo(columns(("version", "set (UTC)", "by", "sizes", "state"), rows))


@photo.command("restore")
@click.argument("upn")
@click.argument("version_id")
@pass_env
def photo_restore(env: Env, upn: str, version_id: str) -> None:
    """Make an earlier version (see `photo history`) UPN's photo again, as a new version."""
    with _explained(upn):
        info = env.services().mailbox.restore_version(upn, version_id, actor=ACTOR)
    click.echo(f"restored {version_id} as the photo of {upn}: {_describe(info)}")
