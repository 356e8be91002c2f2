"""Our own mailbox as the engine's PhotoSource (a Microsoft Graph source would sit beside it).

It uses the mailbox service's stored-version read (one query: the current version with its blob
keys). ``fetch`` reads the master of the version ``current`` just found in this thread (its blob
keys are remembered for that one call, not across checks); a version that moved in between is
read again and fetched as the newer one, under its own etag.
"""

from __future__ import annotations

import threading

from photosync.directory.interfaces import UserInfo
from photosync.mailbox.services import MailboxService, StoredPhoto
from photosync.sync.interfaces import NoMailbox, SourcePhoto, SourceVersion


class MailboxPhotoSource:
    def __init__(self, mailbox: MailboxService) -> None:
        self.mailbox = mailbox
        self._found = threading.local()  # the version ``current`` found, for ``fetch``

    def current(self, user: UserInfo) -> SourceVersion | None:
        if not user.has_mailbox:
            raise NoMailbox(user.upn)
        stored = self.mailbox.stored_photo(user.id)
        self._found.stored = stored
        if stored is None:
            return None
        return SourceVersion(stored.info.etag, stored.info.master_size)

    def fetch(self, user: UserInfo, version: SourceVersion) -> SourcePhoto | None:
        stored: StoredPhoto | None = getattr(self._found, "stored", None)
        self._found.stored = None
        if stored is None or stored.info.user_id != user.id or stored.info.etag != version.etag:
            stored = self.mailbox.stored_photo(user.id)
        if stored is None:
            return None
        return SourcePhoto(stored.info.etag, self.mailbox.rendition(stored))  # the master
