"""Every role's service object, built once per process from one Context."""

from __future__ import annotations

from dataclasses import dataclass

from photosync.avatar.service import AvatarService
from photosync.context import Context
from photosync.directory.services import DirectoryService
from photosync.mailbox.services import MailboxService
from photosync.sites.services import SitesService
from photosync.sync.service import SyncService
from photosync.sync.tasks import AUTOMATIC_POLICY, SyncTasks


@dataclass
class Services:
    ctx: Context
    directory: DirectoryService
    mailbox: MailboxService
    sites: SitesService
    sync: SyncService
    # Sync's background checks: this process's thread pool, or Celery workers (a broker).
    tasks: SyncTasks
    # /avatar/{hash}: reads the directory and the mailbox, owns no tables.
    avatar: AvatarService


def build_services(ctx: Context) -> Services:
    directory = DirectoryService(ctx)
    mailbox = MailboxService(ctx, directory)
    sites = SitesService(ctx, directory)
    sync = SyncService(ctx, directory=directory, mailbox=mailbox, sites=sites)
    # A task runs on whichever sync service is in charge when it runs (tests may swap it).
    tasks = SyncTasks(ctx.settings, lambda: services.sync, mailbox.collect_garbage)
    avatar = AvatarService(ctx.settings, directory, mailbox)
    services = Services(ctx, directory, mailbox, sites, sync, tasks, avatar)
    if ctx.settings.sync_policy == AUTOMATIC_POLICY:
        # After the commit, with ids: the mailbox never learns that sync exists.
        ctx.events.subscribe("photo.changed", tasks.on_photo_changed)
    if ctx.settings.ldap_export == "automatic":
        # The same path: a task per change, the directory written within seconds.
        ctx.events.subscribe("photo.changed", tasks.on_photo_changed_export)
    return services
