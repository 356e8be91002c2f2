"""Mailbox tables: immutable photo versions and, per user, which version is current.

A version is written whole (its renditions' blobs first, then the rows) and never changed; the
``mailbox_photos`` row is the only thing that moves, so a reader sees one version or another,
never a mix.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from photosync.db import Base, UTCDateTime, new_id, utcnow


class PhotoVersion(Base):
    __tablename__ = "photo_versions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # Graph's @odata.mediaEtag: 8 upper-case hex digits, new for every version.
    etag: Mapped[str] = mapped_column(String(16))
    source_sha256: Mapped[str] = mapped_column(String(64))
    source_format: Mapped[str] = mapped_column(String(16))
    source_width: Mapped[int] = mapped_column(Integer)
    source_height: Mapped[int] = mapped_column(Integer)
    master_size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(320))

    renditions: Mapped[list[PhotoRendition]] = relationship(
        back_populates="version", lazy="selectin", order_by="PhotoRendition.size"
    )


class PhotoRendition(Base):
    __tablename__ = "photo_renditions"

    version_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("photo_versions.id", ondelete="CASCADE"), primary_key=True
    )
    size: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    length: Mapped[int] = mapped_column(Integer)

    version: Mapped[PhotoVersion] = relationship(back_populates="renditions")


class MailboxPhoto(Base):
    """Per user: the saved photo (None after a delete) and a pending preview, if any."""

    __tablename__ = "mailbox_photos"

    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    current_version_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("photo_versions.id")
    )
    preview_version_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("photo_versions.id")
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
