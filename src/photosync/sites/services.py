"""Sites services: who may see and change which profile, pictures, properties, tenant settings.

Routes parse and answer; everything here validates, authorises and writes. The sync role
reaches sites through ``sync.targets.SitesProfileTarget``, which calls the ``*_picture`` methods
below, and learns about own-Large requests through ``set_own_large_hook``. Everything sites keeps
in the database is read and written through ``sites.store``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from urllib.parse import unquote, urlsplit

from sqlalchemy import ColumnElement, Connection, ScalarSelect

from photosync import audit, imaging
from photosync.blobs import sha256_hex
from photosync.context import Context
from photosync.directory.access import (
    Principal,
    may_change_profile,
    may_see_photo_of,
    may_see_profiles,
    may_write_library,
)
from photosync.directory.interfaces import UserInfo
from photosync.directory.services import DirectoryService
from photosync.sites import store
from photosync.sites.errors import (
    BadRequest,
    Forbidden,
    PictureRejected,
    UnknownFile,
    UnknownUser,
)
from photosync.sites.interfaces import (
    LIBRARY_FOLDER,
    MEDIUM_SIZE,
    SIZE_CODES,
    SMALL_SIZE,
    THUMB_FILE,
    InTransaction,
    LibraryEntry,
    OwnLargeHook,
    ProfileStatus,
    SizeCode,
    Uploaded,
    size_code,
    thumbnail_path,
    upn_from_account_name,
)
from photosync.sites.library import Library, Picture, Staged, placeholder
from photosync.sites.models import PICTURE_SHOWN, PLACEHOLDER_SHOWN
from photosync.sites.people import (
    COMPUTED,
    MAX_PROPERTY_VALUE,
    PICTURE_PROPERTIES,
    PersonView,
    exchange_sync_state,
    next_timestamp,
    person_view,
)
from photosync.ttlcache import NotInMemory

log = logging.getLogger(__name__)

# Sent after the commit of a new picture or a return to the placeholder, with the user's id.
PICTURE_CHANGED = "picture.changed"


# SetMyProfilePicture: "Pictures in bmp, jpg and png formats and up to 5,000,000 bytes".
UPLOAD_MAX_BYTES = 5_000_000
UPLOAD_FORMATS = frozenset({"jpeg", "png", "bmp"})
PROPERTY_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,127}$")


class SitesService:
    def __init__(self, ctx: Context, directory: DirectoryService) -> None:
        self.ctx = ctx
        self.directory = directory
        self.library = Library(self.thumbnail_sizes())
        self._own_large_hook: OwnLargeHook | None = None
        ctx.events.subscribe(PICTURE_CHANGED, self._forget_picture)

    def _forget_picture(self, *, user_id: str, **_: object) -> None:
        """A picture change committed here: the next request reads the new picture."""
        self.library.forget(user_id)

    def thumbnail_sizes(self) -> dict[SizeCode, int]:
        return {"S": SMALL_SIZE, "M": MEDIUM_SIZE, "L": self.ctx.settings.large_thumbnail_size}

    # --- who may do what -------------------------------------------------------------------

    def resolve(self, account_name: str, *, memory_only: bool = False) -> UserInfo:
        """The user named by a UPN, a claims name (``i:0#.f|membership|…``) or a user id."""
        name = upn_from_account_name(account_name)
        user = self.directory.get_user(name, memory_only=memory_only) if name else None
        if user is None:
            raise UnknownUser(f"The user '{account_name}' does not exist.")
        return user

    def check_read(
        self, principal: Principal, account_name: str | None, *, memory_only: bool = False
    ) -> UserInfo:
        """The profile ``principal`` asks for (None = their own), if they may see it."""
        self.check_may_read(principal)
        return self._target(principal, account_name, memory_only)

    def check_may_read(self, principal: Principal) -> None:
        """Whether ``principal`` may see profiles and pictures at all."""
        if not may_see_profiles(principal):
            raise Forbidden("The application needs Sites.Read.All or User.Read.All.")

    def check_write(self, principal: Principal, account_name: str | None) -> UserInfo:
        """The profile ``principal`` wants to change (None = their own), if they may."""
        user = self._target(principal, account_name, False)
        if may_change_profile(principal, user.id):
            return user
        if principal.is_self(user.id):
            raise Forbidden("The access token does not allow changing your profile.")
        raise Forbidden(f"Only an administrator may change the profile of {user.upn}.")

    def _target(
        self, principal: Principal, account_name: str | None, memory_only: bool
    ) -> UserInfo:
        own = principal.user
        if account_name is None or not account_name.strip():
            if own is None:
                raise BadRequest("An application has no profile of its own; name the user.")
            return own
        if principal.names_self(upn_from_account_name(account_name)):
            assert own is not None
            return own
        return self.resolve(account_name, memory_only=memory_only)

    # --- pictures --------------------------------------------------------------------------

    def set_own_large_hook(self, hook: OwnLargeHook | None) -> None:
        """Who to tell about own-Large requests (the sync service; one at a time)."""
        self._own_large_hook = hook

    def own_large_requested(self, principal: Principal) -> None:
        """A signed-in user asks for their own Large picture: the moment sync may check.

        Runs before the picture is read, so the answer carries a picture the check just took.
        A failing hook must not turn a picture request into an error: the old picture is served.
        """
        user, hook = principal.user, self._own_large_hook
        if user is None or principal.kind != "user" or hook is None:
            return
        try:
            hook(user, principal.session_id, principal.actor)
        except Exception:
            log.exception("own-Large hook failed for %s", user.upn)

    def picture(
        self,
        user_id: str,
        code: SizeCode,
        *,
        timestamp: str | None = None,
        memory_only: bool = False,
    ) -> Picture:
        """The user's thumbnail at ``code`` (or the placeholder): remembered, else read.

        ``timestamp``: the ``?t=`` of a versioned URL. One other than the picture remembered
        came from fresher data (another process synced), so the database is asked.
        """
        picture = self.library.cached(user_id, code)
        if picture is not None and timestamp in (None, picture.timestamp):
            return picture
        if memory_only:
            raise NotInMemory(user_id)
        # A bare connection, not an ORM session: this is the hottest read of the role.
        with self.ctx.db.engine.connect() as conn:
            return self.library.read(conn, user_id, code)

    def picture_for(
        self,
        principal: Principal,
        user: UserInfo,
        code: SizeCode,
        *,
        timestamp: str | None = None,
        memory_only: bool = False,
    ) -> Picture:
        """``picture`` as ``principal`` is shown it: a disabled user's is the placeholder to
        all but admins (their picture is kept, and shows again once they are enabled)."""
        if not may_see_photo_of(principal, user):
            return placeholder(self.thumbnail_sizes()[code])
        return self.picture(user.id, code, timestamp=timestamp, memory_only=memory_only)

    def library_file(self, principal: Principal, path: str) -> tuple[str, Picture] | None:
        """The library file at ``path`` if ``principal`` is shown it (see ``picture_for``)."""
        with self.ctx.db.engine.connect() as conn:
            found = self.library.read_path(conn, path)
        if found is None:
            return None
        user = self.directory.get_user(found[0])
        if user is None or not may_see_photo_of(principal, user):
            return None
        return found

    def set_my_picture(self, principal: Principal, data: bytes) -> str:
        """SetMyProfilePicture: the caller's own picture, straight into sites (no mailbox).

        A later mailbox sync replaces it: the mailbox stays the source of truth for users who
        have one. Returns the new SPS-PictureTimestamp.
        """
        if principal.user is None:
            raise Forbidden("SetMyProfilePicture sets the caller's own picture; apps have none.")
        user = self.check_upload(principal, None)
        return self.upload_picture(user, data, actor=principal.actor).timestamp

    def check_upload(self, principal: Principal, account_name: str | None) -> UserInfo:
        """Whose picture ``principal`` may upload straight into sites (None = their own): their
        own while the tenant lets people edit their picture, anyone's for an admin."""
        user = self.check_write(principal, account_name)
        if not principal.is_admin and not self.picture_editable():
            raise Forbidden("Your organisation does not allow users to change their picture.")
        return user

    def upload_picture(self, user: UserInfo, data: bytes, *, actor: str) -> Uploaded:
        """A picture uploaded straight into sites, as SharePoint keeps one for a user without a
        mailbox (``user`` resolved and authorised by the caller: ``check_upload``, or the CLI)."""
        if len(data) > UPLOAD_MAX_BYTES:
            raise PictureRejected(
                f"The picture is {len(data):,} bytes; at most {UPLOAD_MAX_BYTES:,} are allowed.",
                413,
            )
        files, side = self.render_upload(data)
        staged = self.stage_picture(files)
        timestamp = self.show_picture(user, staged, source="upload", source_etag=None, actor=actor)
        # SharePoint shows the Large size whatever was uploaded: say so when it is enlarged.
        return Uploaded(timestamp, imaging.small_photo_warning(side, self.thumbnail_sizes()["L"]))

    def remove_upload(self, user: UserInfo, *, actor: str) -> bool:
        """Back to the placeholder if sites shows an uploaded picture; False if it did not (a
        picture copied from a mailbox goes with the mailbox photo, not here)."""
        source, _, _ = self.picture_state(user.id)
        if source != "upload":
            return False
        self.clear_picture(user.id, actor=actor, reason="upload removed")
        return True

    def render_upload(self, data: bytes) -> tuple[dict[SizeCode, bytes], int]:
        """S/M/L thumbnails of an uploaded BMP, JPEG or PNG (centre square), and the side of
        that square in the upload's pixels."""
        sizes = self.thumbnail_sizes()
        limits = imaging.Limits(
            max_bytes=UPLOAD_MAX_BYTES,
            max_pixels=self.ctx.settings.max_pixels,
            max_frames=1,
            allowed=UPLOAD_FORMATS,
        )
        try:
            photo = imaging.process_upload(data, limits=limits, sizes=tuple(sizes.values()))
            rendered = dict(photo.renditions)
            missing = [size for size in sizes.values() if size not in rendered]
            if missing:
                # A picture smaller than Large: SharePoint still shows an L one, so upscale it
                # from the whole square (not from the largest size that fitted); the caller
                # warns (``upload_picture``).
                whole = imaging.process_upload(data, limits=limits, sizes=(photo.side,))
                rendered.update(imaging.render_square_sizes(whole.renditions[photo.side], missing))
        except imaging.ImageRejected as exc:
            raise PictureRejected(exc.message, exc.status) from exc
        return {code: rendered[sizes[code]] for code in SIZE_CODES}, photo.side

    def stage_picture(self, files: Mapping[SizeCode, bytes]) -> Staged:
        return self.library.stage(files)

    @contextmanager
    def _changing_pictures(self, user_ids: Iterable[str]) -> Iterator[Connection]:
        """The write transaction of a change of these users' pictures; ``PICTURE_CHANGED`` for
        each once it has committed (a rollback changed nothing, so it tells no one)."""
        with self.ctx.db.write_connection() as conn:
            yield conn
        for user_id in user_ids:
            self.ctx.events.publish(PICTURE_CHANGED, user_id=user_id)

    def show_picture(
        self,
        user: UserInfo,
        staged: Staged,
        *,
        source: str,
        source_etag: str | None,
        actor: str,
        reason: str = "",
    ) -> str:
        """Show staged thumbnails as the user's picture, in one transaction with its audit row:
        the new picture timestamp."""
        return self.show_pictures(
            [(user, staged, source_etag)], source=source, actor=actor, reason=reason
        )[user.id]

    def show_pictures(
        self,
        pictures: Sequence[tuple[UserInfo, Staged, str | None]],
        *,
        source: str,
        actor: str,
        reason: str = "",
        editable: bool | None = None,
        also: InTransaction | None = None,
    ) -> dict[str, str]:
        """Show each (user, staged thumbnails, source etag) as the user's picture, all in one
        transaction with their audit rows and one statement per table for all of them (a bulk
        sync's batch; an upload is a batch of one). The new picture timestamps, by user id.

        ``editable``: the tenant setting if the caller just read it (saves a query).
        ``also``: more work to commit in the same transaction (sync's record of the checks).
        """
        now = self.ctx.clock()
        etags = {user.id: source_etag for user, _, source_etag in pictures}
        users = {user.id: user for user, _, _ in pictures}
        with self._changing_pictures(users) as conn:
            if editable is None:
                editable = store.picture_editable(conn)

            def picture_values(user_id: str, previous: str | None) -> dict[str, object]:
                return {
                    "picture_timestamp": next_timestamp(previous, now),
                    "placeholder_state": PICTURE_SHOWN,
                    "picture_source": source,
                    "source_etag": etags[user_id],
                    "updated_at": now,
                    "exchange_sync_state": exchange_sync_state(users[user_id], editable),
                }

            written = store.save_profiles(conn, list(users), picture_values)
            timestamps = {
                user_id: str(values["picture_timestamp"]) for user_id, values in written.items()
            }
            self.library.show(conn, [(user, staged) for user, staged, _ in pictures], now=now)
            audit.record_many(
                conn,
                actor=actor,
                action=f"sites.picture.{'synced' if source == 'mailbox' else 'uploaded'}",
                subjects=[
                    (
                        user_id,
                        {
                            "source": source,
                            "source_etag": etags[user_id],
                            "timestamp": timestamps[user_id],
                            "reason": reason,
                        },
                    )
                    for user_id in users
                ],
            )
            if also is not None:
                also(conn)
        return timestamps

    def clear_picture(
        self,
        user_id: str,
        *,
        actor: str,
        reason: str = "",
        also: InTransaction | None = None,
    ) -> None:
        """Back to the placeholder (the mailbox photo the picture came from was deleted)."""
        now = self.ctx.clock()
        with self._changing_pictures([user_id]) as conn:

            def placeholder_values(previous: str | None) -> dict[str, object]:
                # The timestamp moves on: versioned URLs of the old picture must not stay valid.
                return {
                    "picture_timestamp": next_timestamp(previous, now),
                    "placeholder_state": PLACEHOLDER_SHOWN,
                    "picture_source": None,
                    "source_etag": None,
                    "updated_at": now,
                }

            store.save_profile(conn, user_id, placeholder_values)
            self.library.hide(conn, user_id)
            audit.record(
                conn,
                actor=actor,
                action="sites.picture.cleared",
                subject_user_id=user_id,
                reason=reason,
            )
            if also is not None:
                also(conn)

    def picture_state(self, user_id: str) -> tuple[str | None, str | None, bool]:
        """(picture_source, source_etag) of the user's picture, and the Picture setting."""
        return self.picture_states([user_id])[user_id]

    def picture_states(
        self, user_ids: Sequence[str]
    ) -> dict[str, tuple[str | None, str | None, bool]]:
        """``picture_state`` of many users, by user id, in one read transaction (the sync asks
        this before every check, a bulk run for a batch of users at once)."""
        with self.ctx.db.engine.connect() as conn:
            profiles = store.profiles(conn, user_ids)
            editable = store.picture_editable(conn)
        states: dict[str, tuple[str | None, str | None, bool]] = {}
        for user_id in user_ids:
            profile = profiles.get(user_id)
            if profile is None:
                states[user_id] = (None, None, editable)
            else:
                states[user_id] = (profile.picture_source, profile.source_etag, editable)
        return states

    # --- properties ------------------------------------------------------------------------

    def person(self, principal: Principal, account_name: str | None, base_url: str) -> PersonView:
        """GetMyProperties (``account_name`` None) / GetPropertiesFor."""
        user = self.check_read(principal, account_name)
        base = self.ctx.settings.base_url or base_url
        with self.ctx.db.engine.connect() as conn:
            profile = store.profile(conn, user.id)
            custom = store.custom_properties(conn, user.id)
            editable = store.picture_editable(conn)
        if profile is None:
            with self.ctx.db.write_connection() as conn:
                store.ensure_profile(conn, user.id)
                profile = store.profile(conn, user.id)
        return person_view(user, profile, custom, base_url=base, editable=editable)

    def set_property(self, principal: Principal, account_name: str, name: str, value: str) -> None:
        """SetSingleValueProfileProperty: own profile, or any profile for admins and apps."""
        user = self.check_write(principal, account_name)
        name = name.strip()
        if not PROPERTY_NAME.match(name):
            raise BadRequest(f"'{name}' is not a valid profile property name.")
        if name in PICTURE_PROPERTIES:
            self._set_picture_property(principal, user, name, value)
            return
        if name in COMPUTED:
            raise BadRequest(
                f"The property '{name}' is kept by photosync and cannot be set; "
                "change the picture with SetMyProfilePicture or in the mailbox."
            )
        if len(value) > MAX_PROPERTY_VALUE:
            raise BadRequest(f"A property value may have at most {MAX_PROPERTY_VALUE} characters.")
        with self.ctx.db.write_connection() as conn:
            store.ensure_profile(conn, user.id)
            store.set_property(conn, user.id, name, value)
            audit.record(
                conn,
                actor=principal.actor,
                action="sites.property.set",
                subject_user_id=user.id,
                property=name,
                length=len(value),
            )

    # --- the User Photos library, written file by file (PnP's uploader, our m365 connector) --

    def add_library_file(
        self, principal: Principal, folder: str, filename: str, data: bytes
    ) -> LibraryEntry:
        """``Files/add(url=…, overwrite=true)`` into ``…/User Photos/Profile Pictures``.

        The file is kept as sent (a JPEG of at most 5,000,000 bytes) and shown once the profile
        says so (``PictureURL`` / ``SPS-PicturePlaceholderState`` 0), as SharePoint does.
        """
        if not may_write_library(principal):
            raise Forbidden("Writing to User Photos needs Sites.FullControl.All or an admin.")
        if not folder.rstrip("/").lower().endswith(LIBRARY_FOLDER.lower()):
            raise UnknownFile(f"The folder '{folder}' does not exist.")
        match = THUMB_FILE.match(filename)
        if match is None:
            raise BadRequest(
                "Profile Pictures keeps {account}_SThumb.jpg, _MThumb.jpg and _LThumb.jpg files."
            )
        user = self.directory.get_user_by_account_slug(match.group("acct"))
        if user is None:
            raise UnknownUser(f"No user's files are named '{match.group('acct')}'.")
        code = size_code(match.group("size"))
        assert code is not None
        if len(data) > UPLOAD_MAX_BYTES:
            raise PictureRejected(f"A picture may have at most {UPLOAD_MAX_BYTES:,} bytes.", 413)
        if imaging.sniff(data) != "jpeg":
            raise PictureRejected("Profile Pictures keeps JPEG files only.", 415)
        path = thumbnail_path(user.upn, code)
        digest = sha256_hex(data)
        now = self.ctx.clock()
        with self._changing_pictures([user.id]) as conn:
            store.ensure_profile(conn, user.id)
            store.put_library_file(
                conn,
                {
                    "path": path,
                    "user_id": user.id,
                    "size_code": code,
                    "sha256": digest,
                    "length": len(data),
                    "data": data,
                    "modified_at": now,
                },
            )
            audit.record(
                conn,
                actor=principal.actor,
                action="sites.library.file.added",
                subject_user_id=user.id,
                path=path,
                length=len(data),
            )
        return LibraryEntry(path, len(data), digest, now)

    def _set_picture_property(
        self, principal: Principal, user: UserInfo, name: str, value: str
    ) -> None:
        """PictureURL and the SPS-Picture* properties, written as PnP's uploader writes them
        after its Files/add calls, and applied as SharePoint applies them."""
        if not may_write_library(principal):
            raise Forbidden(
                f"The property '{name}' is kept by photosync; only an admin or an app with "
                "Sites.FullControl.All may set it."
            )
        value = value.strip()
        now = self.ctx.clock()
        with self._changing_pictures([user.id]) as conn:
            store.ensure_profile(conn, user.id)
            files = store.library_sizes(conn, user.id)
            values = _picture_property_values(user, name, value, files)

            def apply(previous: str | None) -> dict[str, object]:
                if values.get("placeholder_state") == PICTURE_SHOWN and name == "PictureURL":
                    # A new PictureURL is a new picture: versioned URLs of the old one must go.
                    return {**values, "picture_timestamp": next_timestamp(previous, now)}
                return values

            store.save_profile(
                conn, user.id, lambda previous: {**apply(previous), "updated_at": now}
            )
            audit.record(
                conn,
                actor=principal.actor,
                action="sites.property.set",
                subject_user_id=user.id,
                property=name,
                length=len(value),
            )

    def profile_status(self, user_id: str) -> ProfileStatus:
        """What sites shows for a user (portal, diagnostic; the last check is sync's).

        A read: a user whose profile was never touched gets a fresh profile's status.
        """
        user = self._user(user_id)
        return self.profile_statuses([user])[user.id]

    def profile_statuses(self, users: Sequence[UserInfo]) -> dict[str, ProfileStatus]:
        """``profile_status`` of many users (the admin page's), in a fixed number of queries."""
        with self.ctx.db.engine.connect() as conn:
            found = store.profiles(conn, [user.id for user in users])
            editable = store.picture_editable(conn)
        return {user.id: _status(user, found.get(user.id), editable) for user in users}

    def shown_sql(
        self, user_id: ColumnElement[str]
    ) -> tuple[ColumnElement[bool], ScalarSelect[str | None]]:
        """(shows the placeholder, the mailbox etag shown) as SQL on a listing's user id column."""
        return store.shown_sql(user_id)

    # --- tenant settings -------------------------------------------------------------------

    def picture_editable(self) -> bool:
        """Whether users may edit the Picture property; off means no sync from the mailbox."""
        with self.ctx.db.engine.connect() as conn:
            return store.picture_editable(conn)

    def set_picture_editable(self, enabled: bool, *, actor: str) -> None:
        """Change the tenant setting (callers have checked that ``actor`` is an admin)."""
        with self.ctx.db.write_connection() as conn:
            value = store.set_picture_editable(conn, enabled)
            audit.record(
                conn,
                actor=actor,
                action="sites.setting.changed",
                key=store.PICTURE_EDITABLE_KEY,
                value=value,
            )

    def _user(self, user_id: str) -> UserInfo:
        user = self.directory.get_user(user_id)
        if user is None:
            raise UnknownUser(f"The user '{user_id}' does not exist.")
        return user


def _picture_property_values(
    user: UserInfo, name: str, value: str, files: set[str]
) -> dict[str, object]:
    """The profile columns a picture property's value sets (BadRequest if it cannot)."""
    if name == "PictureURL":
        if not value:
            return {"placeholder_state": PLACEHOLDER_SHOWN}
        path = unquote(urlsplit(value).path)
        if not path.lower().endswith(thumbnail_path(user.upn, "M").lower()):
            raise BadRequest(f"PictureURL must be the URL of {thumbnail_path(user.upn, 'M')}.")
        return _shown(user, files)
    if name == "SPS-PicturePlaceholderState":
        if value not in ("0", "1"):
            raise BadRequest("SPS-PicturePlaceholderState is 0 (a picture) or 1 (placeholder).")
        return _shown(user, files) if value == "0" else {"placeholder_state": PLACEHOLDER_SHOWN}
    if name == "SPS-PictureExchangeSyncState":
        if value not in ("0", "1"):
            raise BadRequest("SPS-PictureExchangeSyncState is 0 or 1.")
        return {"exchange_sync_state": int(value)}
    if name == "SPS-PictureTimestamp":
        if not value.isdigit() or len(value) > 30:
            raise BadRequest("SPS-PictureTimestamp is a number.")
        return {"picture_timestamp": value}
    raise AssertionError(name)


def _shown(user: UserInfo, files: set[str]) -> dict[str, object]:
    missing = [code for code in SIZE_CODES if code not in files]
    if missing:
        raise BadRequest(
            f"User Photos has no {', '.join(missing)} picture of {user.upn}; add the files first."
        )
    return {"placeholder_state": PICTURE_SHOWN, "picture_source": "library", "source_etag": None}


def _status(user: UserInfo, profile: store.StoredProfile | None, editable: bool) -> ProfileStatus:
    return ProfileStatus(
        user_id=user.id,
        has_picture=profile is not None and profile.has_picture,
        picture_source=profile.picture_source if profile else None,
        picture_timestamp=profile.picture_timestamp if profile else None,
        source_etag=profile.source_etag if profile else None,
        exchange_sync_state=exchange_sync_state(user, editable),
        picture_editable=editable,
    )
