"""The mailbox as other roles see it (sync reads through this; portal writes through it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from photosync.imaging import CropBox, small_photo_warning


class PhotoNotFound(LookupError):
    """The user has no photo (or no such size / no preview)."""


@dataclass(frozen=True)
class PhotoInfo:
    user_id: str
    version_id: str
    etag: str  # 8 upper-case hex digits, Graph's @odata.mediaEtag without quotes
    sizes: tuple[int, ...]  # offered sizes, ascending; the last is the master
    created_at: datetime
    created_by: str

    @property
    def master_size(self) -> int:
        return self.sizes[-1]

    @property
    def size_warning(self) -> str | None:
        """Why this photo will look blurred (smaller than 96 px), or None."""
        return small_photo_warning(self.master_size)


@dataclass(frozen=True)
class PastVersion:
    """One version in a user's photo history (``photosync photo history``)."""

    info: PhotoInfo
    sha256: str  # of the master rendition
    current: bool
    preview: bool

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.info.version_id,
            "at": self.info.created_at.isoformat(),
            "by": self.info.created_by,
            "sha256": self.sha256,
            "sizes": list(self.info.sizes),
            "current": self.current,
            "preview": self.preview,
        }


class MailboxReader(Protocol):
    def current_photo(self, user_id: str) -> PhotoInfo | None: ...

    def photo_bytes(self, user_id: str, size: int | None = None) -> tuple[PhotoInfo, bytes]:
        """The current photo at ``size`` (None = master); PhotoNotFound if none or not offered."""


class MailboxWriter(Protocol):
    def set_photo(
        self,
        user_id: str,
        data: bytes,
        *,
        actor: str,
        preview: bool = False,
        crop: CropBox | None = None,
    ) -> PhotoInfo:
        """Validate and store a new version (ImageRejected on bad input, nothing stored)."""

    def save_preview(self, user_id: str, *, actor: str) -> PhotoInfo: ...

    def cancel_preview(self, user_id: str, *, actor: str) -> None: ...

    def delete_photo(self, user_id: str, *, actor: str) -> None: ...

    def preview_photo(self, user_id: str) -> PhotoInfo | None: ...

    def preview_bytes(self, user_id: str, size: int | None = None) -> tuple[PhotoInfo, bytes]: ...
