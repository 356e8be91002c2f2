"""Directory tables: users (with the small thumbnailPhoto), registered apps, sign-in sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, LargeBinary, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from photosync.db import Base, UTCDateTime, new_id, utcnow

THUMBNAIL_PHOTO_MAX_BYTES = 102_400


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    # The UPN as typed, and its lower-cased form, which is what uniqueness and look-ups use.
    upn: Mapped[str] = mapped_column(String(320))
    upn_key: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(256))
    mail: Mapped[str | None] = mapped_column(String(320), index=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    has_mailbox: Mapped[bool] = mapped_column(Boolean, default=True)
    # A disabled user cannot sign in, their tokens and sessions stop working, and their photo
    # is served to nobody but admins; nothing of theirs is deleted until they are removed.
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    password_hash: Mapped[str | None] = mapped_column(String(256))
    thumbnail_photo: Mapped[bytes | None] = mapped_column(LargeBinary)
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AddressDigest(Base):
    """The MD5 and SHA-256 of each e-mail address a user answers to (their UPN, mail and
    aliases), as the avatar URL names people (``/avatar/{hash}``): an indexed lookup, whatever
    the directory's size. Written in the same transaction as what it derives from
    (``directory.addresses``), so it is never out of step. Aliases live only here, as digests:
    nothing else in photosync reads them."""

    __tablename__ = "address_digests"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    # Where the address came from: "upn", "mail" or "alias" (each is replaced on its own).
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)


class App(Base):
    """A registered application (client credentials), with application roles."""

    __tablename__ = "apps"

    client_id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(256))
    secret_hash: Mapped[str] = mapped_column(String(256))
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The public certificate (PEM) whose key signs the app's client assertions, if registered.
    certificate: Mapped[str | None] = mapped_column(Text)
    # Set once by a revocation: the app gets no token and its tokens stop working. The row
    # stays, so that the audit log's ``app:<client id>`` still names something.
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SignInSession(Base):
    """One sign-in: a portal cookie or a password-grant token. Sync policy keys on its id."""

    __tablename__ = "sign_in_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # "portal" | "token"
    csrf_token: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SignInSource(Base):
    """Wrong passwords counted per source, apart from the account's own count (which only
    its familiar sources move): ``key`` is ``<user id>|<address>`` for one account from one
    unfamiliar address, or ``*|<address>`` for every account from one address. A source that
    guesses locks only itself out (``DirectoryService.authenticate``, docs/security.md)."""

    __tablename__ = "sign_in_sources"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    user_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UploadAllowance(Base):
    """A person's photo upload rate (``directory.ratelimit``): when their allowance is full
    again if they upload nothing more, and how many uploads were refused in a row since their
    last accepted one (the first refusal of a run is audited, not every one of a script)."""

    __tablename__ = "upload_allowances"

    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    full_at: Mapped[datetime] = mapped_column(UTCDateTime)
    refused_in_a_row: Mapped[int] = mapped_column(Integer, default=0)
