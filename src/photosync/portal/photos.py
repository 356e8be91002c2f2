"""The mailbox and sites as the portal uses them, and the versioned URLs of a user's photo."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from photosync.mailbox.interfaces import PhotoInfo
from photosync.sites.interfaces import ProfileStatus


def best_size(info: PhotoInfo, want: int) -> int:
    """The smallest offered size that is at least ``want`` px, or the master if none is."""
    for size in info.sizes:
        if size >= want:
            return size
    return info.master_size


def graph_photo_url(info: PhotoInfo | None, want: int, owner: str = "me") -> str | None:
    """A Graph URL that changes with every new photo version, so no cache ever shows an old one.

    ``owner`` is ``me`` or ``users/{id}`` (the admin page shows other users' photos).
    """
    if info is None:
        return None
    size = best_size(info, want)
    return f"/v1.0/{owner}/photos/{size}x{size}/$value?v={info.etag}"


@dataclass(frozen=True)
class Avatar:
    """What a page needs to draw a person's mailbox photo, or their initials without one."""

    user_id: str
    name: str
    src: str | None
    src2x: str | None
    size: int

    @property
    def srcset(self) -> str:
        return f"{self.src2x} 2x" if self.src2x and self.src2x != self.src else ""


def avatar(user_id: str, name: str, info: PhotoInfo | None, size: int, owner: str) -> Avatar:
    return Avatar(
        user_id,
        name,
        graph_photo_url(info, size, owner),
        graph_photo_url(info, size * 2, owner),
        size,
    )


def sites_photo_url(upn: str, size: str) -> str:
    """``userphoto.aspx`` as SharePoint pages use it; the user's own ``L`` prompts the sync."""
    return f"/_layouts/15/userphoto.aspx?size={size}&accountname={quote(upn, safe='@')}"


def sites_avatar(user_id: str, upn: str, name: str, status: ProfileStatus, size: int) -> Avatar:
    """A person without a mailbox as SharePoint shows them: the picture uploaded to sites (the
    S, M or L file that covers ``size``, and the next for sharp screens), or their initials
    when sites shows the placeholder. ``?t=`` is the picture's timestamp: a new upload is a
    new URL, so no cache keeps the old one."""
    if not status.has_picture:
        return Avatar(user_id, name, None, None, size)

    def url(pixels: int) -> str:
        code = "S" if pixels <= 48 else "M" if pixels <= 72 else "L"
        return f"{sites_photo_url(upn, code)}&t={quote(status.picture_timestamp or '')}"

    return Avatar(user_id, name, url(size), url(size * 2), size)
