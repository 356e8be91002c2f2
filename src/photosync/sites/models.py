"""Sites tables: user profiles, their extra properties, the User Photos library, tenant settings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from photosync.db import Base, UTCDateTime, utcnow

# The values of SPS-PicturePlaceholderState (not to be confused with sync's "placeholder" result).
PLACEHOLDER_SHOWN = 1
PICTURE_SHOWN = 0


class Profile(Base):
    __tablename__ = "profiles"

    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    # SPS-PictureTimestamp: new on every new picture; the ?t= cache-buster of PictureURL.
    picture_timestamp: Mapped[str | None] = mapped_column(String(32))
    placeholder_state: Mapped[int] = mapped_column(Integer, default=PLACEHOLDER_SHOWN)
    # SPS-PictureExchangeSyncState: 1 while the picture is kept in sync from the mailbox.
    exchange_sync_state: Mapped[int] = mapped_column(Integer, default=0)
    # Where the current picture came from: "mailbox", "upload" or None (placeholder).
    picture_source: Mapped[str | None] = mapped_column(String(16))
    # The mailbox version etag the picture was taken from (None if never synced / upload).
    source_etag: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProfileProperty(Base):
    """Other single-value properties set through SetSingleValueProfileProperty."""

    __tablename__ = "profile_properties"

    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")


class LibraryFile(Base):
    """A file in the "User Photos" library: ``/User Photos/Profile Pictures/a_b_com_LThumb.jpg``.

    The bytes live in the row, as SharePoint keeps library files in its content database: the
    thumbnails are small (about 1-25 KB), and bytes and pointer then commit in one transaction,
    all-or-nothing by construction, with no blob file to fsync first and none left orphaned.
    """

    __tablename__ = "library_files"

    path: Mapped[str] = mapped_column(String(512), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    size_code: Mapped[str] = mapped_column(String(1))  # "S" | "M" | "L"
    # sha256 of ``data``: the ETag and the key of the in-memory byte cache.
    sha256: Mapped[str] = mapped_column(String(64))
    length: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TenantSetting(Base):
    """Admin settings changed at run time, e.g. whether users may edit the Picture property."""

    __tablename__ = "tenant_settings"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
