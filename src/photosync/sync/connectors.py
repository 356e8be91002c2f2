"""Which sources and targets ``--from``/``--to`` name, and how each is built.

One registry: a name maps to a factory taking the connector environment (settings and our
roles' services) and the text after ``NAME:`` (``folder:PATH``'s path; empty for the others).
A target is either ours with records of its own (``sites``), or a ``PictureStore`` that sync
wraps with its marks (``sync.marks``). Connectors with a library of their own (ldap3, msal)
are imported only when a route names them.

To add a connector: a module beside ``sync/folder.py`` implementing ``PhotoSource`` (and
``PeopleSource`` when it knows its people) or ``PictureStore``, and one line in ``SOURCES``
or ``TARGETS`` below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from photosync.context import Context
from photosync.directory.services import DirectoryService
from photosync.mailbox.services import MailboxService
from photosync.sites.services import SitesService
from photosync.sync.interfaces import DEFAULT_ROUTE, PhotoSource, PictureStore, Route


class UnknownConnector(ValueError):
    """A ``--from``/``--to`` value no connector answers to (a usage error, exit status 2)."""


@dataclass(frozen=True)
class ConnectorEnv:
    """What a connector may use: the context (settings, database, clock) and our services."""

    ctx: Context
    directory: DirectoryService
    mailbox: MailboxService
    sites: SitesService


SourceFactory = Callable[[ConnectorEnv, str], PhotoSource]
StoreFactory = Callable[[ConnectorEnv, str], PictureStore]


@dataclass(frozen=True)
class SourceKind:
    build: SourceFactory
    argument: str | None = None  # the name of NAME:ARGUMENT's argument; None: takes none
    # The argument as the run records it (a folder's absolute path: the same run resumed
    # from another working directory is still the same run).
    normalise: Callable[[str], str] = str


@dataclass(frozen=True)
class TargetKind:
    # None: a target of ours that keeps its own records (sites, built by SyncService).
    build: StoreFactory | None
    # True: only people who are users of our directory ("no such user" for the others).
    our_users_only: bool = False
    argument: str | None = None


def _mailbox_source(env: ConnectorEnv, _: str) -> PhotoSource:
    from photosync.sync.sources import MailboxPhotoSource

    return MailboxPhotoSource(env.mailbox)


def _folder_source(env: ConnectorEnv, path: str) -> PhotoSource:
    from photosync.sync.folder import FolderSource

    return FolderSource(path, env.mailbox.limits)


def _ldap_source(env: ConnectorEnv, _: str) -> PhotoSource:
    from photosync.sync.ldap import LdapDirectory

    return LdapDirectory.from_settings(env.ctx.settings).source()


def _mailbox_store(env: ConnectorEnv, _: str) -> PictureStore:
    from photosync.sync.targets import MailboxPictureStore

    return MailboxPictureStore(env.mailbox)


def _ldap_store(env: ConnectorEnv, _: str) -> PictureStore:
    from photosync.sync.ldap import LdapDirectory

    return LdapDirectory.from_settings(env.ctx.settings).store()


def _m365_source(env: ConnectorEnv, _: str) -> PhotoSource:
    from photosync.m365.connect import graph_photos

    return graph_photos(env.ctx.settings)


def _m365_photo_store(env: ConnectorEnv, _: str) -> PictureStore:
    from photosync.m365.connect import graph_photos

    return graph_photos(env.ctx.settings)


def _m365_sharepoint_store(env: ConnectorEnv, _: str) -> PictureStore:
    from photosync.m365.connect import sharepoint_profiles

    return sharepoint_profiles(env.ctx.settings)


SOURCES: dict[str, SourceKind] = {
    "mailbox": SourceKind(_mailbox_source),
    "folder": SourceKind(_folder_source, "PATH", lambda path: str(Path(path).resolve())),
    "ldap": SourceKind(_ldap_source),
    "m365": SourceKind(_m365_source),
}

TARGETS: dict[str, TargetKind] = {
    "sites": TargetKind(None, our_users_only=True),
    "mailbox": TargetKind(_mailbox_store, our_users_only=True),
    "ldap": TargetKind(_ldap_store),
    "m365-photo": TargetKind(_m365_photo_store),
    "m365-sharepoint": TargetKind(_m365_sharepoint_store),
}


def _split(value: str) -> tuple[str, str]:
    name, _, argument = value.strip().partition(":")
    return name.strip().lower(), argument.strip()


def _names(kinds: dict[str, SourceKind] | dict[str, TargetKind]) -> str:
    return ", ".join(
        f"{name}:{kind.argument}" if kind.argument else name for name, kind in kinds.items()
    )


def source_names() -> str:
    return _names(SOURCES)


def target_names() -> str:
    return _names(TARGETS)


def parse_route(source: str, target: str) -> Route:
    """The route ``--from SOURCE --to TARGET`` names, or UnknownConnector saying what is valid."""
    source_name, source_arg = _split(source)
    target_name, target_arg = _split(target)
    for what, name, argument, kinds in (
        ("source", source_name, source_arg, SOURCES),
        ("target", target_name, target_arg, TARGETS),
    ):
        kind = kinds.get(name)
        if kind is None:
            raise UnknownConnector(f"no {what} {name!r}; the {what}s are {_names(kinds)}")
        if kind.argument and not argument:
            raise UnknownConnector(f"the {what} {name} needs {name}:{kind.argument}")
        if not kind.argument and argument:
            raise UnknownConnector(f"the {what} {name} takes no ':{argument}'")
    if target_name == "sites" and source_name != "mailbox":
        # Sites shows the mailbox's photo, as SharePoint shows Exchange's: fill the mailbox
        # first (--to mailbox), and sites follows it.
        raise UnknownConnector(
            "the sites target takes its photos from the mailbox only: "
            f"run --from {source} --to mailbox, then --from mailbox --to sites"
        )
    if source_arg:
        source_arg = SOURCES[source_name].normalise(source_arg)
    route = Route(
        f"{source_name}:{source_arg}" if source_arg else source_name,
        f"{target_name}:{target_arg}" if target_arg else target_name,
    )
    return DEFAULT_ROUTE if route == DEFAULT_ROUTE else route


def target_kind(route: Route) -> TargetKind:
    return TARGETS[_split(route.target)[0]]


def build_source(env: ConnectorEnv, route: Route) -> PhotoSource:
    name, argument = _split(route.source)
    return SOURCES[name].build(env, argument)


def build_store(env: ConnectorEnv, route: Route) -> PictureStore | None:
    """The route's target as a PictureStore, or None for a target of ours (sites)."""
    kind = target_kind(route)
    return None if kind.build is None else kind.build(env, _split(route.target)[1])
