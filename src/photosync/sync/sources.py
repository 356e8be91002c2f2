"""Our own mailbox as the engine's PhotoSource (a Microsoft Graph source would sit beside it).

It uses the mailbox service's stored-version reads rather than only ``MailboxReader``: one query
finds the current version with its blob keys, and the master is then read by key, so a check
does not look the user up three times, and the bytes fetched are those of the version compared.
"""

from __future__ import annotations

from photosync.directory.interfaces import UserInfo
from photosync.mailbox.services import MailboxService, StoredPhoto
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
        return SourceVersion(stored.info.etag, stored.info.master_size, stored)

    def fetch_master(self, user: UserInfo, version: SourceVersion) -> SourcePhoto | None:
        stored = version.handle
        if not isinstance(stored, StoredPhoto):
            stored = self.mailbox.stored_photo(user.id)
            if stored is None:
                return None
        return SourcePhoto(stored.info.etag, self.mailbox.rendition(stored))  # None = master
