"""The mailbox's image GETs (…/photo/$value, …/photos/{size}/$value) answered from memory.

Most image requests name a photo seen in the last moment: the caller's token was verified and
their user looked up a moment ago, the user in the URL was resolved a moment ago, the current
version was read a moment ago and its bytes are in the BlobLRU. Then the answer needs no
database, no disk and no thread: it is built here, on the event loop, in microseconds.

What "a moment" means (the semantics, also in docs/api.md): a photo set, saved or deleted
through this process is served at once (every mailbox write drops the user's cached version,
see ``MailboxService._transaction``); one changed by another process, such as the CLI or a
second server on the same data, is served within ``CURRENT_TTL_SECONDS`` (1.5 s).

The token's signature and expiry are checked on every request, and ``may_read_photo_of`` here
as on the thread-pool path. Anything this module cannot answer from memory, and every error
(unknown user, no mailbox, no photo, no right, a size not offered), returns None: the caller
takes the thread-pool path, which reads the database and answers as Graph does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Request
from fastapi.responses import Response

from photosync.directory.auth import Principal
from photosync.directory.interfaces import UserInfo
from photosync.imaging import GRAPH_SIZES
from photosync.mailbox.http import image_headers, image_response

if TYPE_CHECKING:
    from photosync.mailbox.services import MailboxService


def parse_size(text: str) -> int | None:
    """'240x240' (Graph's ids; 'X' also seen) → 240; None for a size nobody offers."""
    width, sep, height = text.lower().partition("x")
    if not sep or width != height or not width.isdigit() or int(width) not in GRAPH_SIZES:
        return None
    return int(width)


def cached_image(request: Request, principal: Principal, size_text: str | None) -> Response | None:
    """The image answer (200, HEAD or 304) from memory alone, or None: use the thread pool."""
    mailbox: MailboxService = request.app.state.mailbox
    user = _cached_target(mailbox, request, principal)
    # The same checks, in the same order, as MailboxService._check; a refusal is answered by
    # the thread-pool path, so its error is exactly the one Graph gives.
    if user is None or not principal.may_read_photo_of(user.id) or not user.has_mailbox:
        return None
    stored = mailbox.current.get(user.id)
    if stored is None:
        return None
    # A versioned URL naming another version than the one remembered was built from newer data
    # (another process changed the photo): read the database rather than serve the old bytes.
    wanted = request.query_params.get("v")
    if wanted is not None and wanted != stored.info.etag:
        return None
    size = stored.info.master_size if size_text is None else parse_size(size_text)
    key = stored.blob_keys.get(size) if size is not None else None
    if size is None or key is None:
        return None
    headers, not_modified = image_headers(request, stored.info, size)
    if not_modified:
        return image_response(request, headers, None)
    data = mailbox.cache.peek(key)
    return None if data is None else image_response(request, headers, data)


def _cached_target(
    mailbox: MailboxService, request: Request, principal: Principal
) -> UserInfo | None:
    """/me → the caller's user; /users/{id-or-upn} → the user resolved a moment ago, or None."""
    name: str | None = request.path_params.get("user")
    own = principal.user
    if name is None:
        return own
    if own is not None and name.strip().lower() in (own.id, own.upn.lower()):
        return own
    return mailbox.targets.get(name)
