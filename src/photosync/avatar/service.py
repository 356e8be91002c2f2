"""The avatar of an e-mail digest: the person's mailbox photo at the size asked for, or a
generated default, decided in one place for every caller.

One read path (``avatar``), memory-first like the Graph photo reads: the digest's user (the
directory's cache), their current photo version (the mailbox's), and the finished bytes (an
LRU keyed by content) come from memory when they were seen a moment ago; anything else raises
NotInMemory and the HTTP edge runs the same read in a worker thread, where resizing and
drawing happen (CPU work never runs on the event loop).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from photosync.avatar.params import AvatarRequest
from photosync.blobs import BlobLRU
from photosync.directory.access import (
    Principal,
    may_fetch_avatars,
    may_see_names_in_avatars,
)
from photosync.directory.interfaces import UserInfo
from photosync.directory.services import DirectoryService
from photosync.imaging import avatars
from photosync.imaging.avatars import MEDIA_TYPES, AvatarFormat
from photosync.mailbox.services import MailboxService, StoredPhoto
from photosync.settings import Settings
from photosync.ttlcache import NotInMemory

__all__ = ["Avatar", "AvatarService", "AvatarsOff", "SignInRequired"]

Source = Literal["photo", "default"]


class AvatarsOff(Exception):
    """PHOTOSYNC_AVATAR_ACCESS=off."""


class SignInRequired(Exception):
    """PHOTOSYNC_AVATAR_ACCESS=signed-in and the caller sent no credentials."""


@dataclass(frozen=True)
class Avatar:
    """What to answer. ``data`` None: no image (``d=404``, or a redirect to ``redirect``)."""

    source: Source
    data: bytes | None
    media_type: str
    etag: str  # quoted, strong
    version: str | None  # the photo version served (``?v=`` equal to it is immutable)
    redirect: str | None = None


class AvatarService:
    def __init__(
        self, settings: Settings, directory: DirectoryService, mailbox: MailboxService
    ) -> None:
        self.settings = settings
        self.directory = directory
        self.mailbox = mailbox
        # Finished images by content: a photo's by its rendition's sha256, a default's by
        # everything it is drawn from. Neither can go stale, so nothing invalidates it.
        self.images = BlobLRU(max_total=32 * 1024 * 1024, max_item=256 * 1024)

    def check_access(self, principal: Principal | None) -> None:
        """AvatarsOff or SignInRequired unless ``principal`` may fetch avatars."""
        access = self.settings.avatar_access
        if not may_fetch_avatars(principal, access):
            raise AvatarsOff() if access == "off" else SignInRequired()

    def avatar(
        self, principal: Principal | None, request: AvatarRequest, *, memory_only: bool = False
    ) -> Avatar:
        """THE read: who the digest is, their photo if they have one and it is wanted, else
        the default. An unknown digest and a person without a photo take the same path."""
        self.check_access(principal)
        user = self.directory.user_by_address_digest(request.digest, memory_only=memory_only)
        stored = None
        if user is not None and _shows_photo(user) and not request.force:
            stored = self.mailbox.current_stored(
                user.id, etag=request.version, memory_only=memory_only
            )
        if stored is not None:
            return self._photo(stored, request, memory_only)
        if request.redirect is not None or request.default == "404":
            return Avatar("default", None, "", "", None, request.redirect)
        # Names only to callers who may see them: for anyone else the initials come from the
        # URL's own ``name=``, exactly as for an address nobody has.
        name = request.name
        if user is not None and may_see_names_in_avatars(principal):
            name = user.display_name
        return self._default(request, name, memory_only)

    def _photo(self, stored: StoredPhoto, request: AvatarRequest, memory_only: bool) -> Avatar:
        sizes = stored.info.sizes
        # The smallest stored size at or above the request, resized down; above the master,
        # the master itself (never an upscale).
        source_size = next((size for size in sizes if size >= request.size), sizes[-1])
        size = min(request.size, source_size)
        fmt: AvatarFormat = request.fmt or "jpeg"
        _, key = stored.key_for(source_size)
        if size == source_size and fmt == "jpeg":
            data = self.mailbox.rendition(stored, size, memory_only=memory_only)
        else:
            data = self._made(
                f"photo:{key}:{size}:{fmt}",
                lambda: avatars.square_at(self.mailbox.rendition(stored, source_size), size, fmt),
                memory_only,
            )
        etag = f'"{stored.info.etag}-{size}-{fmt}"'
        return Avatar("photo", data, MEDIA_TYPES[fmt], etag, stored.info.etag)

    def _default(self, request: AvatarRequest, name: str, memory_only: bool) -> Avatar:
        kind = request.default
        assert kind != "404"
        fmt: AvatarFormat = request.fmt or "png"
        # Only what the image is drawn from goes into the key (the digest only where it shows).
        drawn_from = request.digest if kind in ("identicon", "retro", "initials") else ""
        words = name if kind == "initials" else ""
        data = self._made(
            f"default:{kind}:{drawn_from}:{words}:{request.size}:{fmt}",
            lambda: avatars.generated(kind, request.digest, request.size, fmt, name=words),
            memory_only,
        )
        etag = f'"d-{hashlib.sha256(data).hexdigest()[:24]}"'
        return Avatar("default", data, MEDIA_TYPES[fmt], etag, None)

    def _made(self, key: str, make: Callable[[], bytes], memory_only: bool) -> bytes:
        data = self.images.peek(key)
        if data is not None:
            return data
        if memory_only:
            raise NotInMemory(key)
        return self.images.get(key, lambda _: make())


def _shows_photo(user: UserInfo) -> bool:
    """A person whose photo the avatar may show: one with a mailbox (the photo's home) who is
    not disabled. A disabled person's address shows the default to everyone, admins too, as
    an unknown address does: the avatar has no per-caller view of a person."""
    # getattr: ``UserInfo.disabled`` comes with disabling people (issue 13); a directory
    # without it has nobody disabled.
    return user.has_mailbox and not getattr(user, "disabled", False)
