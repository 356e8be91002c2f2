"""Every role's service object, built once per process from one Context."""

from __future__ import annotations

from dataclasses import dataclass

from photosync.context import Context
from photosync.directory.services import DirectoryService
from photosync.mailbox.services import MailboxService
from photosync.sites.services import SitesService
from photosync.sync.service import SyncService


@dataclass
class Services:
    ctx: Context
    directory: DirectoryService
    mailbox: MailboxService
    sites: SitesService
    sync: SyncService


def build_services(ctx: Context) -> Services:
    directory = DirectoryService(ctx)
    mailbox = MailboxService(ctx, directory)
    sites = SitesService(ctx, directory)
    sync = SyncService(ctx, directory=directory, mailbox=mailbox, sites=sites)
    return Services(ctx, directory, mailbox, sites, sync)
