"""Directory services: users, apps, passwords, sign-in with lock-out, sessions, thumbnailPhoto."""

from __future__ import annotations

import io
import os
import secrets
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Literal

from PIL import Image, UnidentifiedImageError
from sqlalchemy import ColumnElement, bindparam, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from photosync import audit
from photosync.chunks import chunked
from photosync.context import Context
from photosync.directory import addresses, importing, lockout, passwords, ratelimit
from photosync.directory.access import may_sign_in
from photosync.directory.assertions import (
    AssertionVerifier,
    BadAssertion,
    BadCertificate,
    assertion_client_id,
    load_certificate,
)
from photosync.directory.generation import SharedGeneration
from photosync.directory.importing import ImportSummary, UserRow
from photosync.directory.interfaces import AppInfo, UserInfo
from photosync.directory.models import (
    THUMBNAIL_PHOTO_MAX_BYTES,
    AddressDigest,
    App,
    SignInSession,
    User,
)
from photosync.directory.passwords import hash_password, password_problem, verify_password
from photosync.directory.tokens import (
    APP_ROLES,
    BY_CERTIFICATE,
    DELEGATED_SCOPES,
    GRAPH_RESOURCES,
    TokenIssuer,
)
from photosync.ttlcache import FRESHNESS_SECONDS, NotInMemory, TTLCache

# Sent after a commit that changed what ``UserInfo`` says of a user (or added one): the one
# way the directory's cache of users, in this process, learns of a change.
USER_CHANGED = "user.changed"
# Rows of a users file written per transaction: large enough that 10,000 rows take a few
# commits, small enough that the write lock is never held for long.
IMPORT_BATCH = 1000


class _LockedOut(Enum):
    """``_Standing.hash_to_check`` for a source locked out: no password is checked."""

    SOURCE = "locked out"


@dataclass(frozen=True)
class _Standing:
    """Where a sign-in stands before its password is checked (``DirectoryService._standing``)."""

    user: User | None
    familiar: bool  # from a browser this account signed in from before
    # Why it is refused whatever the password: "address-locked", "unknown-user", "no-password",
    # "disabled" or "locked"; None: the password decides.
    refusal: str | None
    locked_until: datetime | None = None

    @property
    def hash_to_check(self) -> str | _LockedOut | None:
        """The user's hash; None for the same-cost dummy (no such user, no password, disabled);
        _LockedOut when the source is locked out (a locked source's tries cost no hash)."""
        if self.refusal in ("address-locked", "locked"):
            return _LockedOut.SOURCE
        if self.refusal is not None or self.user is None:
            return None
        return self.user.password_hash


class DirectoryError(ValueError):
    pass


class UploadsThrottled(Exception):
    """A person uploading photos faster than ``PHOTOSYNC_UPLOAD_RATE_LIMIT`` allows."""

    def __init__(self, rate: ratelimit.UploadRate, retry_after: int) -> None:
        self.retry_after = retry_after
        self.message = (
            f"Too many photo uploads in a short time: each person may upload {rate.count} "
            f"per {rate.period}. Try again in {retry_after} seconds."
        )
        super().__init__(self.message)


class SignInFailed(Exception):
    """One message for every cause, so that sign-in does not reveal which accounts exist."""

    message = "That user name and password did not match, or the account is locked for now."


def _info(user: User) -> UserInfo:
    return UserInfo(
        id=user.id,
        upn=user.upn,
        display_name=user.display_name,
        mail=user.mail,
        is_admin=user.is_admin,
        has_mailbox=user.has_mailbox,
        disabled=user.disabled,
    )


def _app_info(app: App) -> AppInfo:
    return AppInfo(
        client_id=app.client_id,
        name=app.name,
        roles=tuple(app.roles),
        created_at=app.created_at,
        revoked_at=app.revoked_at,
    )


@dataclass(frozen=True)
class UserFilter:
    """One condition on a user listing (Graph's ``$filter``): a property that equals, or
    starts with, a value; both compared without regard to case, as Graph does."""

    field: Literal["userPrincipalName", "mail"]
    op: Literal["eq", "startswith"]
    value: str

    def criterion(self) -> ColumnElement[bool]:
        column = User.upn_key if self.field == "userPrincipalName" else func.lower(User.mail)
        value = self.value.lower()
        if self.op == "eq":
            return column == value
        return column.startswith(value, autoescape=True)


# The hottest read of the role (every request's token names a user): a statement built once
# and run on a bare connection, without an ORM session, costs a fraction of a session query.
_USER_COLUMNS = select(
    User.id,
    User.upn,
    User.display_name,
    User.mail,
    User.is_admin,
    User.has_mailbox,
    User.disabled,
)
_USER_INFO = _USER_COLUMNS.where(
    or_(User.id == bindparam("b_id"), User.upn_key == bindparam("b_key"))
)
# Two users may share an address (mail is not unique): the one created first wins, so the
# answer does not change from one request to the next.
_USER_BY_DIGEST = (
    _USER_COLUMNS.join(AddressDigest, AddressDigest.user_id == User.id)
    .where(AddressDigest.digest == bindparam("b_digest"))
    .order_by(User.created_at, User.id)
    .limit(1)
)
_USERS_BY_ID = _USER_COLUMNS.where(User.id.in_(bindparam("b_user_ids", expanding=True)))
_BY_NAME = (func.lower(User.display_name), User.upn_key)
_THUMBNAIL_LENGTHS = select(User.id, func.length(User.thumbnail_photo)).where(
    User.id.in_(bindparam("b_user_ids", expanding=True)), User.thumbnail_photo.is_not(None)
)


@dataclass(frozen=True)
class ListingColumns:
    """The users' columns a listing of people (``users_listing``) is built on; other roles
    correlate their SQL with ``id``."""

    id: ColumnElement[str]
    has_mailbox: ColumnElement[bool]
    name: ColumnElement[str]  # the display name, lower-cased: how people are sorted by name
    upn: ColumnElement[str]  # the UPN, lower-cased


LISTING = ListingColumns(
    User.__table__.c.id,
    User.__table__.c.has_mailbox,
    func.lower(User.display_name),
    User.__table__.c.upn_key,
)


def _matching(search: str) -> tuple[ColumnElement[bool], ...]:
    """The WHERE criteria of users whose name or UPN contains ``search`` (any case)."""
    if not search.strip():
        return ()
    like = f"%{search.strip().lower()}%"
    return (or_(func.lower(User.display_name).like(like), User.upn_key.like(like)),)


def _find(session: Session, id_or_upn: str) -> User | None:
    key = id_or_upn.strip().lower()
    return session.scalars(
        select(User).where(or_(User.id == id_or_upn.strip(), User.upn_key == key))
    ).first()


class DirectoryService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        settings = ctx.settings
        passwords.configure(
            settings.hashing_at_once or passwords.DEFAULT_AT_ONCE, settings.hashing_niceness
        )
        self.tokens = TokenIssuer(
            key=settings.signing_key,
            issuer=settings.token_issuer,
            audience=settings.token_audience,
            lifetime=timedelta(seconds=settings.token_lifetime_seconds),
            resources=frozenset(
                {*GRAPH_RESOURCES, *([settings.base_url.rstrip("/")] if settings.base_url else [])}
            ),
        )
        self.assertions = AssertionVerifier()
        # The one cache of who exists (users by id and by lower-cased UPN, live sessions, apps
        # by client id): every request's token names one, and the lookup costs more than
        # serving a small photo. Emptied by USER_CHANGED after this process's commits, and
        # before the next lookup once another process sharing the data folder bumped the
        # shared generation (``directory.generation``); entries expire after FRESHNESS_SECONDS.
        self._known: TTLCache[str, UserInfo | bool] = TTLCache(FRESHNESS_SECONDS)
        # E-mail digest -> the user, or False for nobody (the avatar URL's lookups): apart from
        # ``_known`` so that a flood of made-up addresses cannot push the users that tokens
        # name out of it.
        self._by_digest: TTLCache[str, UserInfo | bool] = TTLCache(FRESHNESS_SECONDS)
        self._shared = SharedGeneration(ctx.settings.data_dir)
        ctx.events.subscribe(USER_CHANGED, self._forget)

    def _forget(self, **_ids: object) -> None:
        """A change this process committed: forget, then tell the other processes."""
        self._forget_here()
        self._shared.bump()

    def _forget_here(self) -> None:
        self._known.clear()
        self._by_digest.clear()

    def _fresh(self) -> None:
        """Before any lookup in the caches: empty them if another process changed who exists
        (disabled or removed a user, revoked a session or an app, changed admin rights) since
        this process last looked. About 0.1 µs when nothing changed."""
        if self._shared.changed():
            self._forget_here()

    # --- users -----------------------------------------------------------------------------

    def add_user(
        self,
        upn: str,
        display_name: str,
        *,
        password: str | None = None,
        is_admin: bool = False,
        has_mailbox: bool = True,
        mail: str | None = None,
        actor: str = "system",
    ) -> UserInfo:
        upn = upn.strip()
        problem = importing.upn_problem(upn) or (password_problem(password) if password else None)
        if problem:
            raise DirectoryError(problem)
        with self.ctx.db.write_session() as session:
            if _find(session, upn) is not None:
                raise DirectoryError(f"a user {upn} already exists")
            user = User(
                upn=upn,
                upn_key=upn.lower(),
                display_name=display_name.strip() or upn,
                mail=mail or upn,
                is_admin=is_admin,
                has_mailbox=has_mailbox,
                password_hash=hash_password(password) if password else None,
                created_at=self.ctx.clock(),
            )
            session.add(user)
            session.flush()
            addresses.write(
                session.connection(), {user.id: {"upn": [user.upn], "mail": [user.mail]}}
            )
            audit.record(
                session.connection(), actor=actor, action="user.added", subject_user_id=user.id
            )
            info = _info(user)
            self.ctx.events.publish_on_commit(session, USER_CHANGED, user_id=user.id)
        return info

    def import_users(
        self, rows: Iterable[UserRow], *, actor: str = "system", batch: int = IMPORT_BATCH
    ) -> ImportSummary:
        """Create or update many users (rows already checked, ``importing.read_users``).

        Passwords are hashed only for rows that give one, on every core, before the
        transaction that writes them: argon2 costs ~50 ms a password, and no write lock is held
        meanwhile. Each ``batch`` of rows is one transaction of a few statements; a user
        changed by another writer between its read and its write makes the batch try again.
        ``user.changed`` is sent for each user added or changed, after its batch commits.
        """
        summary = ImportSummary()
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as hashing:
            for chunk in chunked(rows, batch):
                with_password = [row for row in chunk if row.password]
                hashed = hashing.map(hash_password, [str(r.password) for r in with_password])
                hashes = {row.line: h for row, h in zip(with_password, hashed, strict=True)}
                for attempt in range(3):
                    try:
                        with self.ctx.db.write_connection() as conn:
                            created, updated, unchanged = importing.write_batch(
                                conn, chunk, hashes, now=self.ctx.clock(), actor=actor
                            )
                        break
                    except IntegrityError:
                        if attempt == 2:
                            raise
                summary.created += len(created)
                summary.updated += len(updated)
                summary.unchanged += unchanged
                for user_id in (*created, *updated):  # after the commit
                    self.ctx.events.publish(USER_CHANGED, user_id=user_id)
        return summary

    def users_after(
        self, after: str, limit: int, where: UserFilter | None = None
    ) -> list[UserInfo]:
        """Up to ``limit`` users whose lower-cased UPN sorts after ``after`` ("" = from the
        start), in that order, matching ``where``: keyset paging (Graph's ``GET /users``),
        stable while users come and go, one indexed query a page however deep."""
        criteria = [User.upn_key > after] if after else []
        if where is not None:
            criteria.append(where.criterion())
        with self.ctx.db.engine.connect() as conn:
            rows = conn.execute(_USER_COLUMNS.where(*criteria).order_by(User.upn_key).limit(limit))
            return [UserInfo(*row) for row in rows]

    def users_by_id(self, user_ids: Sequence[str]) -> dict[str, UserInfo]:
        """The users with these ids (one query); ids of no user are left out."""
        with self.ctx.db.engine.connect() as conn:
            rows = conn.execute(_USERS_BY_ID, {"b_user_ids": list(user_ids)})
            return {row.id: UserInfo(*row) for row in rows}

    def get_user(self, id_or_upn: str, *, memory_only: bool = False) -> UserInfo | None:
        """The user with this id or UPN (any case), or None, read from the database.

        ``memory_only``: from the last seconds' lookups instead (the hot image reads, through
        ``web.memory_first``); a user not among them raises NotInMemory.
        """
        name = id_or_upn.strip()
        self._fresh()
        if memory_only:
            known = self._known.get(name) or self._known.get(name.lower())
            if not isinstance(known, UserInfo):
                raise NotInMemory(name)
            return known
        generation = self._known.generation
        with self.ctx.db.engine.connect() as conn:
            row = conn.execute(_USER_INFO, {"b_id": name, "b_key": name.lower()}).first()
        if row is None:
            return None  # never remembered: a user added a moment later is found at once
        info = UserInfo(*row)
        # By id (tokens name users by id) and by lower-cased UPN (URLs and the CLI do).
        self._known.put(info.id, info, if_generation=generation)
        self._known.put(info.upn.lower(), info, if_generation=generation)
        return info

    def get_user_by_account_slug(self, slug: str) -> UserInfo | None:
        """The user whose SharePoint file name is ``slug`` (``john_contoso_com``), or None.

        SharePoint names a user's thumbnails by the UPN with ``@`` and ``.`` made ``_``, which
        cannot be undone, so the UPNs are compared in that form (a scan; used by library
        uploads only, never by reads).
        """
        slug_of_upn = func.replace(func.replace(func.lower(User.upn), "@", "_"), ".", "_")
        with self.ctx.db.engine.connect() as conn:
            found = conn.execute(select(User.id).where(slug_of_upn == slug.lower())).scalars()
            ids = list(found)
        return self.get_user(ids[0]) if len(ids) == 1 else None

    def user_by_address_digest(self, digest: str, *, memory_only: bool = False) -> UserInfo | None:
        """The user one of whose e-mail addresses has this MD5 or SHA-256 (lower-case hex), or
        None (``directory.addresses``); ``memory_only`` as for ``get_user``.

        Unlike ``get_user``, "nobody" is remembered too: avatar URLs name outside addresses
        often (a commenter in a chat or a code review), and each would otherwise cost a query.
        A user added by this process is found at once (USER_CHANGED empties the cache); one
        added by another process within FRESHNESS_SECONDS.
        """
        self._fresh()
        known = self._by_digest.get(digest)
        if isinstance(known, UserInfo):
            return known
        if known is False:
            return None
        if memory_only:
            raise NotInMemory(digest)
        generation = self._by_digest.generation
        with self.ctx.db.engine.connect() as conn:
            row = conn.execute(_USER_BY_DIGEST, {"b_digest": digest}).first()
        info = UserInfo(*row) if row is not None else None
        self._by_digest.put(digest, info or False, if_generation=generation)
        return info

    def list_users(self, search: str = "") -> list[UserInfo]:
        with self.ctx.db.session() as session:
            query = select(User).where(*_matching(search)).order_by(*_BY_NAME)
            return [_info(u) for u in session.scalars(query)]

    def users_page(
        self, search: str = "", *, offset: int = 0, limit: int = 50
    ) -> tuple[list[UserInfo], int]:
        """One page of ``list_users(search)``, and how many users match in all."""
        listed, total = self.users_listing(search, offset=offset, limit=limit)
        return [user for user, _ in listed], total

    def users_listing(
        self,
        search: str = "",
        *,
        where: Sequence[ColumnElement[bool]] = (),
        order_by: Sequence[ColumnElement[Any]] = (),
        columns: Sequence[ColumnElement[Any]] = (),
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[tuple[UserInfo, tuple[Any, ...]]], int]:
        """A slice of the users matching ``search`` and ``where``, sorted by ``order_by`` then by
        name, each with the values of ``columns``; and how many match in all. Two queries,
        however many users there are (the admin page's).

        ``where``, ``order_by`` and ``columns`` are SQL on ``LISTING``'s columns, to which other
        roles correlate what they keep of each person (``MailboxService.current_etag_sql``, …):
        a listing sorted by the last sync check still costs two queries, not one per user.
        """
        matching = (*_matching(search), *where)
        query = select(*_USER_COLUMNS.selected_columns, *columns).where(*matching)
        width = len(_USER_COLUMNS.selected_columns)
        with self.ctx.db.engine.connect() as conn:
            rows = conn.execute(query.order_by(*order_by, *_BY_NAME).offset(offset).limit(limit))
            listed = [(UserInfo(*row[:width]), tuple(row[width:])) for row in rows]
            total = conn.scalar(select(func.count()).select_from(User).where(*matching))
        return listed, int(total or 0)

    def iter_users(self, batch: int = 1000) -> Iterator[UserInfo]:
        """Every user, by id, read ``batch`` at a time (keyset paging): a bulk run over
        100,000 people holds one batch in memory, not the directory."""
        after = ""
        while True:
            with self.ctx.db.engine.connect() as conn:
                rows = conn.execute(
                    _USER_COLUMNS.where(User.id > after).order_by(User.id).limit(batch)
                ).all()
            yield from (UserInfo(*row) for row in rows)
            if len(rows) < batch:
                return
            after = rows[-1][0]

    def thumbnail_lengths(self, user_ids: Sequence[str]) -> dict[str, int]:
        """The size in bytes of each user's thumbnailPhoto, without reading the bytes (one
        query); users without one are left out."""
        with self.ctx.db.engine.connect() as conn:
            rows = conn.execute(_THUMBNAIL_LENGTHS, {"b_user_ids": list(user_ids)})
            return {user_id: int(length) for user_id, length in rows}

    def set_password(self, id_or_upn: str, password: str, *, actor: str = "system") -> None:
        problem = password_problem(password)
        if problem:
            raise DirectoryError(problem)
        with self.ctx.db.write_session() as session:
            user = self._require(session, id_or_upn)
            user.password_hash = hash_password(password)
            user.failed_sign_ins = 0
            user.locked_until = None
            audit.record(
                session.connection(),
                actor=actor,
                action="user.password_set",
                subject_user_id=user.id,
            )

    # --- photo uploads per person ------------------------------------------------------------

    def count_upload(self, user_id: str, *, actor: str) -> None:
        """THE upload rate limit: count one photo upload by the person ``user_id`` (the one
        acting: an admin changing someone else's photo is counted for themselves), or raise
        UploadsThrottled without counting it. Every way a person uploads over HTTP calls this
        (``directory.auth.count_upload``) before reading the photo; apps are not counted
        (docs/security.md). The first refusal of a run is audited as ``upload.throttled``."""
        rate = self.ctx.settings.upload_rate
        if rate is None:
            return
        for attempt in range(3):
            try:
                with self.ctx.db.write_session() as session:
                    refusal = ratelimit.take(session, user_id, self.ctx.clock(), rate)
                    if refusal is not None and refusal.first:
                        audit.record(
                            session.connection(),
                            actor=actor,
                            action="upload.throttled",
                            subject_user_id=user_id,
                            limit=str(rate),
                            retry_after=refusal.retry_after,
                        )
                break
            except IntegrityError:  # two first uploads at once both added the row
                if attempt == 2:
                    raise
        if refusal is not None:
            raise UploadsThrottled(rate, refusal.retry_after)

    # --- lifecycle: disable, enable, the admin role, remove ----------------------------------

    def set_disabled(self, id_or_upn: str, disabled: bool, *, actor: str = "system") -> UserInfo:
        """Disable (or enable again) a user. Disabling also ends their sign-in sessions, so
        enabling them again means signing in again. Nothing else of theirs changes."""
        now = self.ctx.clock()
        with self.ctx.db.write_session() as session:
            user = self._require(session, id_or_upn)
            if disabled:
                self._keep_an_admin(session, user, "disable")
            changed = user.disabled != disabled
            user.disabled = disabled
            if disabled:
                session.execute(
                    update(SignInSession)
                    .where(SignInSession.user_id == user.id, SignInSession.revoked_at.is_(None))
                    .values(revoked_at=now)
                )
            if changed:
                audit.record(
                    session.connection(),
                    actor=actor,
                    action="user.disabled" if disabled else "user.enabled",
                    subject_user_id=user.id,
                )
                self.ctx.events.publish_on_commit(session, USER_CHANGED, user_id=user.id)
            return _info(user)

    def set_admin(self, id_or_upn: str, admin: bool, *, actor: str = "system") -> UserInfo:
        """Give or take away the admin role."""
        with self.ctx.db.write_session() as session:
            user = self._require(session, id_or_upn)
            if not admin:
                self._keep_an_admin(session, user, "take the admin role from")
            if user.is_admin != admin:
                user.is_admin = admin
                audit.record(
                    session.connection(),
                    actor=actor,
                    action="user.admin_granted" if admin else "user.admin_revoked",
                    subject_user_id=user.id,
                )
                self.ctx.events.publish_on_commit(session, USER_CHANGED, user_id=user.id)
            return _info(user)

    def remove_user(self, id_or_upn: str, *, actor: str = "system") -> UserInfo:
        """Delete the user and, with them, every row that is theirs in any role (photo
        versions and renditions, profile, library files, sync state, sessions: the foreign
        keys cascade, in this one transaction). Photo files are left to ``photosync gc``,
        which deletes files no version uses; audit rows stay and keep the UPN."""
        with self.ctx.db.write_session() as session:
            user = self._require(session, id_or_upn)
            self._keep_an_admin(session, user, "remove")
            info = _info(user)
            audit.record(
                session.connection(),
                actor=actor,
                action="user.removed",
                subject_user_id=user.id,
                upn=user.upn,
            )
            session.execute(delete(User).where(User.id == user.id))
            self.ctx.events.publish_on_commit(session, USER_CHANGED, user_id=user.id)
        return info

    def _keep_an_admin(self, session: Session, user: User, doing: str) -> None:
        """Refuse a change that would leave nobody able to administer photosync in the portal
        (the CLI can always fix it, but an admin locked out of the admin page is stuck)."""
        if not user.is_admin or user.disabled:
            return
        others = session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.is_admin.is_(True), User.disabled.is_(False), User.id != user.id)
        )
        if not others:
            raise DirectoryError(f"cannot {doing} {user.upn}: they are the only enabled admin")

    # --- sign-in ---------------------------------------------------------------------------

    def authenticate(self, upn: str, password: str, *, known_device: str | None = None) -> UserInfo:
        """The user if the password is right and the source not locked out; else SignInFailed.

        ``known_device``: the user id the browser's known-device cookie names (verified by the
        caller); a sign-in to that account from it is familiar. Wrong passwords lock out only
        the source they came from (``directory.lockout``): an unfamiliar address for this
        account, an address for every account, or the account's familiar sources.

        Every refusal is audited as ``signin.failed`` (with why: ``unknown-user``,
        ``locked``, ``address-locked`` or ``wrong-password``), and the failure that locks a
        source also as ``signin.locked``. The rows commit before SignInFailed is raised: a
        refusal changes nothing else, so nothing else can roll them back. HashingBusy (too
        many checks at once) commits nothing and counts nothing.
        """
        now = self.ctx.clock()
        where = audit.origin.get()
        address = (where.address if where else None) or ""
        # The password is checked before the write transaction, never inside it: a check takes
        # ~150 ms of a core (more while it waits for a hashing slot), and on SQLite the write
        # transaction holds the database's one write lock, which every upload, sync and other
        # sign-in would wait for. The transaction then counts and audits what was found.
        with self.ctx.db.session() as session:
            checked = self._standing(session, upn, address, known_device, now).hash_to_check
        found = None if isinstance(checked, _LockedOut) else verify_password(checked, password)

        def check(stored: str | None) -> bool:
            if found is not None and stored == checked:
                return found
            return verify_password(stored, password)  # the account changed meanwhile (rare)

        ok = False
        with self.ctx.db.write_session() as session:
            conn = session.connection()
            standing = self._standing(session, upn, address, known_device, now)
            user, familiar = standing.user, standing.familiar
            actor = user.upn if user is not None else upn.strip()[:320]
            subject = user.id if user is not None else None
            if standing.refusal == "address-locked":
                assert standing.locked_until is not None
                audit.record(
                    conn,
                    actor=actor,
                    action="signin.failed",
                    subject_user_id=subject,
                    reason="address-locked",
                    locked_until=standing.locked_until.isoformat(),
                )
            elif standing.refusal == "locked":
                assert standing.locked_until is not None
                audit.record(
                    conn,
                    actor=actor,
                    action="signin.failed",
                    subject_user_id=subject,
                    reason="locked",
                    familiar=familiar,
                    locked_until=standing.locked_until.isoformat(),
                )
            elif standing.refusal is not None:  # unknown-user, no-password, disabled
                check(None)  # same cost as a real check
                audit.record(
                    conn,
                    actor=actor,
                    action="signin.failed",
                    subject_user_id=subject,
                    reason=standing.refusal,
                )
                if standing.refusal != "disabled":
                    self._count_address_failure(session, address, actor, now)
            else:
                assert user is not None
                ok = check(user.password_hash)
                if ok and familiar:
                    user.failed_sign_ins = 0
                    user.locked_until = None
                elif ok:
                    lockout.forget(session, lockout.account_key(user.id, address))
                else:
                    self._count_failure(session, user, address, familiar, now)
                    self._count_address_failure(session, address, actor, now)
            info = _info(user) if user is not None else None
        if not ok or info is None:
            raise SignInFailed
        return info

    def _standing(
        self, session: Session, upn: str, address: str, known_device: str | None, now: datetime
    ) -> _Standing:
        """THE rules of a sign-in before its password is checked, in their order. Asked twice
        by ``authenticate``: without a write lock, to know which hash to check, and again in
        its write transaction, which counts and audits by what it says then."""
        user = _find(session, upn)
        familiar = user is not None and known_device == user.id
        if not familiar:
            by_address = lockout.locked_until(session, lockout.address_key(address), now)
            if by_address is not None:
                return _Standing(user, familiar, "address-locked", by_address)
        if user is None:
            return _Standing(None, familiar, "unknown-user")
        if user.password_hash is None:
            return _Standing(user, familiar, "no-password")
        if not may_sign_in(_info(user)):
            return _Standing(user, familiar, "disabled")
        lock = self._source_lock(session, user, address, familiar, now)
        if lock is not None:
            return _Standing(user, familiar, "locked", lock)
        return _Standing(user, familiar, None)

    def _source_lock(
        self, session: Session, user: User, address: str, familiar: bool, now: datetime
    ) -> datetime | None:
        """Until when this source is locked out of ``user``'s account, if it is now."""
        if familiar:
            return user.locked_until if user.locked_until and user.locked_until > now else None
        return lockout.locked_until(session, lockout.account_key(user.id, address), now)

    def _count_failure(
        self, session: Session, user: User, address: str, familiar: bool, now: datetime
    ) -> None:
        """A wrong password for ``user``, counted against its source; it may lock the source."""
        if familiar:
            user.failed_sign_ins += 1
            failures = user.failed_sign_ins
            lock = lockout.lock_for(failures, lockout.FREE_FAILURES)
            if lock is not None:
                user.locked_until = now + lock
            until = user.locked_until if lock is not None else None
        else:
            key = lockout.account_key(user.id, address)
            failures, until = lockout.count_failure(
                session, key, user.id, now, lockout.FREE_FAILURES
            )
        conn = session.connection()
        audit.record(
            conn,
            actor=user.upn,
            action="signin.failed",
            subject_user_id=user.id,
            reason="wrong-password",
            failures=failures,
            familiar=familiar,
        )
        if until is not None:
            audit.record(
                conn,
                actor=user.upn,
                action="signin.locked",
                subject_user_id=user.id,
                failures=failures,
                familiar=familiar,
                source=address or None,
                locked_until=until.isoformat(),
            )

    def _count_address_failure(
        self, session: Session, address: str, actor: str, now: datetime
    ) -> None:
        """A wrong password or unknown account from ``address``, whichever account it named:
        enough of them lock the address out of every account (password spraying)."""
        failures, until = lockout.count_failure(
            session, lockout.address_key(address), None, now, lockout.ADDRESS_FREE_FAILURES
        )
        if until is not None:
            audit.record(
                session.connection(),
                actor=actor,
                action="signin.locked",
                subject_user_id=None,
                failures=failures,
                scope="address",
                source=address or None,
                locked_until=until.isoformat(),
            )

    def start_session(self, user_id: str, kind: str) -> SignInSession:
        """A new sign-in session; its id is what the sync policy calls "a new session"."""
        now = self.ctx.clock()
        with self.ctx.db.write_session() as session:
            row = SignInSession(
                user_id=user_id,
                kind=kind,
                csrf_token=secrets.token_urlsafe(32),
                created_at=now,
                expires_at=now + timedelta(seconds=self.ctx.settings.session_lifetime_seconds),
            )
            session.add(row)
            audit.record(
                session.connection(),
                actor=user_id,
                action=f"signin.{kind}",
                subject_user_id=user_id,
            )
            return row

    def get_session(self, session_id: str) -> SignInSession | None:
        """The session if it exists, is not revoked and has not expired."""
        now = self.ctx.clock()
        with self.ctx.db.session() as session:
            row = session.get(SignInSession, session_id)
            if row is None or row.revoked_at is not None or row.expires_at <= now:
                return None
            return row

    def signed_in(self, session_id: str) -> tuple[SignInSession, UserInfo] | None:
        """The live session and its user, if the user may still sign in: THE check of a
        session cookie, on every request (the portal's pages and the APIs)."""
        session = self.get_session(session_id)
        user = self.get_user(session.user_id) if session else None
        if session is None or user is None or not may_sign_in(user):
            return None
        return session, user

    def session_live(self, session_id: str, *, memory_only: bool = False) -> bool:
        """Whether the sign-in session a bearer token names is still live (not signed out,
        not revoked, not expired): checked on every request a user's token makes, through the
        one cache of who exists (``get_user``'s rules: a revocation committed by any process
        sharing the data folder is seen at the next request)."""
        key = f"session:{session_id}"
        self._fresh()
        if memory_only:
            if self._known.get(key) is not True:
                raise NotInMemory(key)
            return True
        generation = self._known.generation
        live = self.get_session(session_id) is not None
        if live:
            self._known.put(key, True, if_generation=generation)
        return live

    def end_session(self, session_id: str) -> None:
        with self.ctx.db.write_session() as session:
            row = session.get(SignInSession, session_id)
            if row is not None and row.revoked_at is None:
                row.revoked_at = self.ctx.clock()
                # Tokens naming this session stop at their next request, in every process.
                self.ctx.events.publish_on_commit(session, USER_CHANGED, user_id=row.user_id)

    def revoke_sessions(self, id_or_upn: str, *, actor: str = "system") -> int:
        """End every sign-in session of the user (Entra's "revoke sessions"): their portal
        cookies and the tokens those sessions issued stop at their next request, in every
        process. The user may sign in again. Returns how many sessions were live."""
        now = self.ctx.clock()
        with self.ctx.db.write_session() as session:
            user = self._require(session, id_or_upn)
            live = (SignInSession.user_id == user.id, SignInSession.revoked_at.is_(None))
            ended = session.scalar(select(func.count()).select_from(SignInSession).where(*live))
            session.execute(update(SignInSession).where(*live).values(revoked_at=now))
            audit.record(
                session.connection(),
                actor=actor,
                action="user.sessions_revoked",
                subject_user_id=user.id,
                sessions=ended,
            )
            self.ctx.events.publish_on_commit(session, USER_CHANGED, user_id=user.id)
        return int(ended or 0)

    def password_token(self, upn: str, password: str) -> str:
        """OAuth2 password grant: each sign-in is a new session id carried in the token."""
        user = self.authenticate(upn, password)
        sid = self.start_session(user.id, "token").id
        return self.tokens.issue_user_token(
            user.id, user.upn, sid, DELEGATED_SCOPES, self.ctx.clock()
        )

    # --- apps ------------------------------------------------------------------------------

    def add_app(
        self,
        name: str,
        roles: list[str],
        actor: str = "system",
        *,
        certificate: bytes | None = None,
    ) -> tuple[str, str]:
        """Register an app; returns (client id, secret). ``certificate``: a PEM file whose
        public certificate the app's client assertions are then verified with."""
        unknown = sorted(set(roles) - set(APP_ROLES))
        if unknown:
            raise DirectoryError(
                f"unknown role(s) {', '.join(unknown)}; known roles: {', '.join(APP_ROLES)}"
            )
        try:
            cert = load_certificate(certificate) if certificate is not None else None
        except BadCertificate as exc:
            raise DirectoryError(str(exc)) from exc
        secret = secrets.token_urlsafe(32)
        with self.ctx.db.write_session() as session:
            app = App(
                name=name,
                secret_hash=hash_password(secret),
                roles=sorted(set(roles)),
                certificate=cert.pem if cert else None,
            )
            session.add(app)
            session.flush()
            audit.record(
                session.connection(),
                actor=actor,
                action="app.added",
                name=name,
                roles=app.roles,
                certificate=cert.sha256 if cert else None,
            )
            return app.client_id, secret

    def app_token(
        self, client_id: str, client_secret: str, *, resource: str | None = None
    ) -> str | None:
        """A token for an app that proves itself with its secret (None: unknown or wrong)."""
        with self.ctx.db.session() as session:
            app = session.get(App, client_id.strip())
            ok = verify_password(app.secret_hash if app else None, client_secret)
            if app is None or not ok or not may_sign_in(_app_info(app)):
                return None
            return self.tokens.issue_app_token(
                app.client_id, app.roles, self.ctx.clock(), audience=resource
            )

    def app_token_by_assertion(
        self,
        assertion: str,
        *,
        endpoint: str,
        resource: str | None = None,
        client_id: str | None = None,
    ) -> str:
        """A token for an app that proves itself with a client assertion signed with its
        registered certificate's key (BadAssertion says why not). ``client_id``: the form's,
        if sent, which must be the assertion's."""
        claimed = assertion_client_id(assertion)
        if client_id is not None and client_id != claimed:
            raise BadAssertion("The client assertion was made for another client_id.")
        client_id = claimed
        with self.ctx.db.session() as session:
            app = session.get(App, client_id) if client_id else None
            if app is None:
                raise BadAssertion(f"No application with client id {client_id!r} is registered.")
            if not app.certificate:
                raise BadAssertion(f"Application {client_id} has no certificate registered.")
            if not may_sign_in(_app_info(app)):
                raise BadAssertion(f"Application {client_id} was revoked.")
            client_id, roles, pem = app.client_id, list(app.roles), app.certificate
        self.assertions.verify(
            assertion,
            client_id=client_id,
            certificate=load_certificate(pem.encode()),
            endpoint=endpoint,
        )
        return self.tokens.issue_app_token(
            client_id, roles, self.ctx.clock(), audience=resource, credential=BY_CERTIFICATE
        )

    def app_exists(self, client_id: str, *, memory_only: bool = False) -> bool:
        """Whether the registered app exists and may still sign in (not revoked): checked on
        every request an app makes (``get_user``'s cache and ``memory_only`` rule)."""
        key = f"app:{client_id}"
        self._fresh()
        if memory_only:
            if self._known.get(key) is not True:
                raise NotInMemory(key)
            return True
        generation = self._known.generation
        with self.ctx.db.session() as session:
            app = session.get(App, client_id)
            usable = app is not None and may_sign_in(_app_info(app))
        if usable:
            self._known.put(key, True, if_generation=generation)
        return usable

    def list_apps(self) -> list[AppInfo]:
        """Every registered app, revoked ones too, by name."""
        with self.ctx.db.session() as session:
            apps = session.scalars(select(App).order_by(func.lower(App.name), App.client_id))
            return [_app_info(app) for app in apps]

    def revoke_app(self, client_id: str, *, actor: str = "system") -> AppInfo:
        """The app gets no more tokens, and those it has stop working at their next request.
        For good: the row stays, so that the audit log still names it."""
        with self.ctx.db.write_session() as session:
            app = self._require_app(session, client_id)
            if app.revoked_at is None:
                app.revoked_at = self.ctx.clock()
                audit.record(
                    session.connection(),
                    actor=actor,
                    action="app.revoked",
                    client_id=app.client_id,
                    name=app.name,
                )
                self.ctx.events.publish_on_commit(session, USER_CHANGED, client_id=app.client_id)
            return _app_info(app)

    def rotate_secret(self, client_id: str, *, actor: str = "system") -> tuple[AppInfo, str]:
        """A new client secret (returned once; only its hash is kept); the old one stops
        working at once. Tokens already issued stay valid until they expire, as in Entra ID:
        revoke the app to stop those too."""
        secret = secrets.token_urlsafe(32)
        with self.ctx.db.write_session() as session:
            app = self._require_app(session, client_id)
            if app.revoked_at is not None:
                raise DirectoryError(f"app {app.client_id} is revoked; register a new one")
            app.secret_hash = hash_password(secret)
            audit.record(
                session.connection(),
                actor=actor,
                action="app.secret_rotated",
                client_id=app.client_id,
                name=app.name,
            )
            return _app_info(app), secret

    def _require_app(self, session: Session, client_id: str) -> App:
        app = session.get(App, client_id.strip())
        if app is None:
            raise DirectoryError(f"no app with client id {client_id.strip()}")
        return app

    # --- thumbnailPhoto --------------------------------------------------------------------

    def get_thumbnail(self, id_or_upn: str) -> bytes | None:
        with self.ctx.db.session() as session:
            user = self._require(session, id_or_upn)
            return user.thumbnail_photo

    def set_thumbnail(
        self, id_or_upn: str, jpeg: bytes | None, actor: str = "system", *, trusted: bool = False
    ) -> None:
        """Set or clear the directory's small photo. It is never read by sites.

        ``trusted``: the bytes are a JPEG photosync's imaging just made (the mailbox's copy),
        so they are not opened again to be checked.
        """
        if jpeg is not None and not trusted:
            _check_thumbnail(jpeg)
        with self.ctx.db.write_session() as session:
            user = self._require(session, id_or_upn)
            user.thumbnail_photo = jpeg
            audit.record(
                session.connection(),
                actor=actor,
                action="directory.thumbnail." + ("set" if jpeg else "cleared"),
                subject_user_id=user.id,
                length=len(jpeg) if jpeg else 0,
            )

    def _require(self, session: Session, id_or_upn: str) -> User:
        user = _find(session, id_or_upn)
        if user is None:
            raise DirectoryError(f"no user {id_or_upn}")
        return user


def _check_thumbnail(jpeg: bytes) -> None:
    if len(jpeg) > THUMBNAIL_PHOTO_MAX_BYTES:
        raise DirectoryError(
            f"thumbnailPhoto is {len(jpeg):,} bytes; the directory allows at most "
            f"{THUMBNAIL_PHOTO_MAX_BYTES:,}"
        )
    try:
        with Image.open(io.BytesIO(jpeg)) as img:
            if img.format != "JPEG":
                raise DirectoryError("thumbnailPhoto must be a JPEG")
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise DirectoryError("thumbnailPhoto is not a readable JPEG") from exc
