"""Our own mailbox as the engine's PhotoSource (a Microsoft Graph source would sit beside it).

It uses the mailbox service's stored-version read (one query for a whole batch: the current
versions with their blob keys). ``fetch`` reads the master of the version ``versions`` just
found in this thread (the blob keys are remembered for that batch, not across batches); a
version that moved in between is read again and fetched as the newer one, under its own etag.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from photosync.directory.interfaces import UserInfo
from photosync.mailbox.services import MailboxService, StoredPhoto
from photosync.sync.interfaces import Found, NoMailbox, SourcePhoto, SourceVersion


class MailboxPhotoSource:
    def __init__(self, mailbox: MailboxService) -> None:
        self.mailbox = mailbox
        self._found = threading.local()  # the versions ``versions`` found, for ``fetch``

    def versions(self, users: Sequence[UserInfo]) -> dict[str, Found]:
        with_mailbox = [user.id for user in users if user.has_mailbox]
        stored = self.mailbox.stored_photos(with_mailbox) if with_mailbox else {}
        self._found.stored = stored
        found: dict[str, Found] = {}
        for user in users:
            if not user.has_mailbox:
                found[user.id] = NoMailbox(user.upn)
            elif user.id in stored:
                info = stored[user.id].info
                found[user.id] = SourceVersion(info.etag, info.master_size)
            else:
                found[user.id] = None
        return found

    def fetch(self, user: UserInfo, version: SourceVersion) -> SourcePhoto | None:
        remembered: dict[str, StoredPhoto] = getattr(self._found, "stored", {})
        stored = remembered.pop(user.id, None)
        if stored is None or stored.info.etag != version.etag:
            stored = self.mailbox.stored_photo(user.id)
        if stored is None:
            return None
        return SourcePhoto(stored.info.etag, self.mailbox.rendition(stored))  # the master
