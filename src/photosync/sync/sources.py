"""Our own mailbox as the engine's PhotoSource (a Microsoft Graph source would sit beside it).

It uses the mailbox service's stored-version read (one query: the current version with its blob
keys) for ``current`` and again for ``fetch``, then reads the master by key; a version that moved
in between is fetched as the newer one, under its own etag.
"""

from __future__ import annotations

from photosync.directory.interfaces import UserInfo
from photosync.mailbox.services import MailboxService
from photosync.sync.interfaces import NoMailbox, SourcePhoto, SourceVersion


class MailboxPhotoSource:
    def __init__(self, mailbox: MailboxService) -> None:
        self.mailbox = mailbox

    def current(self, user: UserInfo) -> SourceVersion | None:
        if not user.has_mailbox:
            raise NoMailbox(user.upn)
        stored = self.mailbox.stored_photo(user.id)
        if stored is None:
            return None
        return SourceVersion(stored.info.etag, stored.info.master_size)

    def fetch(self, user: UserInfo, version: SourceVersion) -> SourcePhoto | None:
        stored = self.mailbox.stored_photo(user.id)
        if stored is None:
            return None
        return SourcePhoto(stored.info.etag, self.mailbox.rendition(stored))  # the master
