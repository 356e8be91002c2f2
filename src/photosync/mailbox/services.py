"""The mailbox photo store (Exchange Online's part): versions, previews, sizes and reads.

Every change runs in one order: validate and render the upload (pure CPU, nothing stored) →
write the renditions' blobs → one transaction that adds the version rows, moves the user's
pointer and writes the audit row → ``photo.changed`` after the commit. A crash between the
blobs and the commit leaves unreferenced blobs (collected later), never a row pointing at
nothing; readers see one whole version or another, never a mix.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import ColumnElement, ScalarSelect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from photosync import audit, imaging, metrics
from photosync.blobs import BlobLRU, BlobNotFound, sha256_hex
from photosync.context import Context
from photosync.directory.access import (
    Principal,
    may_read_photo,
    may_see_photo_of,
    may_write_photo,
)
from photosync.directory.interfaces import UserInfo
from photosync.directory.services import DirectoryService
from photosync.imaging import CropBox, Limits
from photosync.mailbox.cache import CurrentPhotos
from photosync.mailbox.errors import (
    AccessDenied,
    MailboxNotEnabled,
    PhotoNotFound,
    PreviewNotFound,
    UserNotFound,
    VersionNotFound,
)
from photosync.mailbox.garbage import BLOB_GRACE, GarbageReport, collect_blobs, collect_versions
from photosync.mailbox.interfaces import MailboxReader, MailboxWriter, PastVersion, PhotoInfo
from photosync.mailbox.models import MailboxPhoto, PhotoVersion
from photosync.mailbox.store import (
    StoredPhoto,
    add_version,
    copy_version,
    current_etag_sql,
    load_current,
    load_history,
    load_version,
    load_version_by_id,
    lock_pointer,
    new_etag,
    version_info,
)
from photosync.ttlcache import NotInMemory

log = logging.getLogger(__name__)

__all__ = ["PHOTO_CHANGED", "GarbageReport", "MailboxService", "StoredPhoto"]

# Sent after the commit of a saved, restored or deleted photo (not of a preview), with the
# user's id and the new current version's id (None after a delete).
PHOTO_CHANGED = "photo.changed"
# The directory's thumbnailPhoto aims at this size, as Exchange's copies do (the attribute
# allows 100 KB); a 64 px rendition above it is re-encoded at a lower quality.
THUMBNAIL_TARGET_BYTES = 10 * 1024
T = TypeVar("T")
Rule = Callable[[Principal, str], bool]


class MailboxService:
    """Implements ``MailboxReader`` and ``MailboxWriter`` (see ``mailbox.interfaces``)."""

    def __init__(self, ctx: Context, directory: DirectoryService) -> None:
        self.ctx = ctx
        self.directory = directory
        self.cache = BlobLRU()
        # Filled by the Graph reads (``current_stored``); sync and the CLI read the database.
        self.current = CurrentPhotos()
        # After the commit: first forget the version this process remembered, then make the
        # directory's copy follow (Exchange writes thumbnailPhoto from the saved photo).
        ctx.events.subscribe(PHOTO_CHANGED, self._forget_current)
        ctx.events.subscribe(PHOTO_CHANGED, self._follow_in_directory)

    @property
    def limits(self) -> Limits:
        settings = self.ctx.settings
        return Limits(max_bytes=settings.max_upload_bytes, max_pixels=settings.max_pixels)

    # --- who ------------------------------------------------------------------------------

    def mailbox_user(self, id_or_upn: str) -> UserInfo:
        """The user with a mailbox; UserNotFound or MailboxNotEnabled otherwise."""
        user = self.directory.get_user(id_or_upn)
        if user is None:
            raise UserNotFound(id_or_upn)
        if not user.has_mailbox:
            raise MailboxNotEnabled(user.upn)
        return user

    def check_read(
        self, principal: Principal, id_or_upn: str | None, *, memory_only: bool = False
    ) -> UserInfo:
        """The user whose photo ``principal`` wants to read (None = their own), if allowed.

        A disabled user's photo is "no photo" to all but admins (PhotoNotFound)."""
        user = self._check(principal, id_or_upn, may_read_photo, memory_only)
        if not may_see_photo_of(principal, user):
            raise PhotoNotFound(user.upn)
        return user

    def check_write(
        self, principal: Principal, id_or_upn: str | None, *, memory_only: bool = False
    ) -> UserInfo:
        """The user whose photo ``principal`` wants to change (None = their own), if allowed."""
        return self._check(principal, id_or_upn, may_write_photo, memory_only)

    def _check(
        self, principal: Principal, id_or_upn: str | None, rule: Rule, memory_only: bool
    ) -> UserInfo:
        if id_or_upn is None or principal.names_self(id_or_upn):
            if principal.user is None:
                raise AccessDenied("an application has no 'me'; name the user")
            # The caller's own record was read moments ago to verify the token: reuse it.
            user = principal.user
        else:
            found = self.directory.get_user(id_or_upn, memory_only=memory_only)
            if found is None:
                raise UserNotFound(id_or_upn)
            user = found
        # Authorise before saying anything about the mailbox.
        if not rule(principal, user.id):
            raise AccessDenied(f"{principal.actor} may not use the photo of {user.upn}")
        if not user.has_mailbox:
            raise MailboxNotEnabled(user.upn)
        return user

    # --- reading (MailboxReader) ----------------------------------------------------------

    def current_photo(self, user_id: str) -> PhotoInfo | None:
        stored = self._stored_or_none(user_id, preview=False)
        return stored.info if stored else None

    def current_photos(self, user_ids: Sequence[str]) -> dict[str, PhotoInfo]:
        """The current photo of many users already resolved, in one query (pages that list
        people); users without one are left out."""
        return {user_id: stored.info for user_id, stored in self.stored_photos(user_ids).items()}

    def stored_photos(self, user_ids: Sequence[str]) -> dict[str, StoredPhoto]:
        """``stored_photo`` of many users in one query (a bulk sync's batch); users without a
        photo are left out."""
        with self.ctx.db.engine.connect() as conn:
            return load_current(conn, user_ids)

    def current_etag_sql(self, user_id: ColumnElement[str]) -> ScalarSelect[str]:
        """The current photo's etag as a SQL expression on a listing's user id column."""
        return current_etag_sql(user_id)

    def photo_bytes(self, user_id: str, size: int | None = None) -> tuple[PhotoInfo, bytes]:
        return self._bytes(self.mailbox_user(user_id).id, size, preview=False)

    def preview_photo(self, user_id: str) -> PhotoInfo | None:
        stored = self._stored_or_none(user_id, preview=True)
        return stored.info if stored else None

    def preview_bytes(self, user_id: str, size: int | None = None) -> tuple[PhotoInfo, bytes]:
        return self._bytes(self.mailbox_user(user_id).id, size, preview=True)

    def stored_photo(self, user_id: str, *, preview: bool = False) -> StoredPhoto | None:
        """The current (or preview) version of a user already resolved; one query, no lookup."""
        # A Core connection, not an ORM session: this read needs no identity map or unit of
        # work, and skipping them cut its cost to about a third (bench/bench_http.py).
        with self.ctx.db.engine.connect() as conn:
            return load_version(conn, user_id, preview=preview)

    def current_stored(
        self, user_id: str, *, etag: str | None = None, memory_only: bool = False
    ) -> StoredPhoto | None:
        """``stored_photo``, remembered so the next request needs no database.

        ``etag``: the version a URL names (``?v=``). One other than the version remembered was
        built from newer data (another process changed the photo), so the database is asked.
        """
        stored = self.current.get(user_id)
        if stored is not None and etag in (None, stored.info.etag):
            return stored
        if memory_only:
            raise NotInMemory(user_id)
        return self.current.load(user_id, self.stored_photo)

    def rendition(
        self, stored: StoredPhoto, size: int | None = None, *, memory_only: bool = False
    ) -> bytes:
        """The JPEG of ``stored`` at ``size`` (None = master); PhotoNotFound if not offered."""
        _, key = stored.key_for(size)
        if memory_only:
            data = self.cache.peek(key)
            if data is None:
                raise NotInMemory(key)
            return data
        return self.cache.get(key, self.ctx.blobs.get)

    def _stored_or_none(self, id_or_upn: str, *, preview: bool) -> StoredPhoto | None:
        try:
            user = self.mailbox_user(id_or_upn)
        except PhotoNotFound:
            return None
        return self.stored_photo(user.id, preview=preview)

    def _bytes(self, user_id: str, size: int | None, *, preview: bool) -> tuple[PhotoInfo, bytes]:
        stored = self.stored_photo(user_id, preview=preview)
        if stored is None:
            raise PreviewNotFound(user_id) if preview else PhotoNotFound(user_id)
        return stored.info, self.rendition(stored, size)

    # --- writing (MailboxWriter) ----------------------------------------------------------

    def set_photo(
        self,
        user_id: str,
        data: bytes,
        *,
        actor: str,
        preview: bool = False,
        crop: CropBox | None = None,
    ) -> PhotoInfo:
        """Validate and store a new version (ImageRejected on bad input, nothing stored).

        Only the re-encoded renditions are stored, never the upload itself: that is what makes
        a JPEG+ZIP polyglot (or any trailing payload) harmless. ``source_sha256`` only records
        which upload a version came from.
        """
        return self.store_photo(
            self.mailbox_user(user_id), data, actor=actor, preview=preview, crop=crop
        )

    def store_photo(
        self,
        user: UserInfo,
        data: bytes,
        *,
        actor: str,
        preview: bool = False,
        crop: CropBox | None = None,
    ) -> PhotoInfo:
        """``set_photo`` for a user already resolved and authorised (``check_write``)."""
        photo = imaging.process_upload(
            data, limits=self.limits, crop=crop, sizes=imaging.GRAPH_SIZES
        )
        # Blobs first: a row must never point at a blob that is not there yet.
        keys = {size: self.ctx.blobs.put(jpeg) for size, jpeg in photo.renditions.items()}

        def write(session: Session) -> PhotoInfo:
            now = self.ctx.clock()
            version = add_version(
                session,
                PhotoVersion(
                    user_id=user.id,
                    etag=new_etag(session, user.id),
                    source_sha256=sha256_hex(data),
                    source_format=photo.source_format,
                    source_width=photo.source_width,
                    source_height=photo.source_height,
                    master_size=photo.master_size,
                    created_at=now,
                    created_by=actor,
                ),
                {size: (key, len(photo.renditions[size])) for size, key in keys.items()},
            )
            pointer = lock_pointer(session, user.id)
            if preview:
                pointer.preview_version_id = version.id
            else:
                pointer.current_version_id = version.id
            pointer.updated_at = now
            info = version_info(version, tuple(sorted(keys)))
            audit.record(
                session.connection(),
                actor=actor,
                action="mailbox.photo.preview" if preview else "mailbox.photo.set",
                subject_user_id=user.id,
                version_id=version.id,
                etag=version.etag,
                sizes=list(info.sizes),
                source=f"{photo.source_format} {photo.source_width}x{photo.source_height}",
            )
            if not preview:
                self.ctx.events.publish_on_commit(
                    session, PHOTO_CHANGED, user_id=user.id, version_id=version.id
                )
            return info

        stored = self._transaction(write)
        metrics.photo_uploaded()
        return stored

    def save_preview(self, user_id: str, *, actor: str) -> PhotoInfo:
        """Set-UserPhoto -Save: the pending preview becomes the user's photo."""
        user = self.mailbox_user(user_id)

        def write(session: Session) -> StoredPhoto:
            pointer = session.get(MailboxPhoto, user.id, with_for_update=True)
            if pointer is None or pointer.preview_version_id is None:
                raise PreviewNotFound(f"{user.upn} has no photo preview to save")
            # The preview is already a whole, never-served version: saving moves the pointer
            # to it rather than copying it, so its etag is new to every reader.
            pointer.current_version_id = pointer.preview_version_id
            pointer.preview_version_id = None
            pointer.updated_at = self.ctx.clock()
            stored = load_version(session, user.id, preview=False)
            assert stored is not None
            audit.record(
                session.connection(),
                actor=actor,
                action="mailbox.photo.saved",
                subject_user_id=user.id,
                version_id=stored.info.version_id,
                etag=stored.info.etag,
            )
            self.ctx.events.publish_on_commit(
                session, PHOTO_CHANGED, user_id=user.id, version_id=stored.info.version_id
            )
            return stored

        return self._transaction(write).info

    def cancel_preview(self, user_id: str, *, actor: str) -> None:
        """Set-UserPhoto -Cancel: drop the pending preview (nothing to do if there is none)."""
        user = self.mailbox_user(user_id)

        def write(session: Session) -> None:
            pointer = session.get(MailboxPhoto, user.id, with_for_update=True)
            if pointer is None or pointer.preview_version_id is None:
                return
            dropped = pointer.preview_version_id
            pointer.preview_version_id = None
            pointer.updated_at = self.ctx.clock()
            audit.record(
                session.connection(),
                actor=actor,
                action="mailbox.photo.preview_cancelled",
                subject_user_id=user.id,
                version_id=dropped,
            )

        self._transaction(write)

    def delete_photo(self, user_id: str, *, actor: str) -> None:
        """Remove-UserPhoto: afterwards the user has no photo (404s, not a fall-back)."""
        user = self.mailbox_user(user_id)

        def write(session: Session) -> None:
            pointer = session.get(MailboxPhoto, user.id, with_for_update=True)
            if pointer is None or pointer.current_version_id is None:
                raise PhotoNotFound(f"{user.upn} has no photo")
            removed = pointer.current_version_id
            pointer.current_version_id = None
            pointer.updated_at = self.ctx.clock()
            audit.record(
                session.connection(),
                actor=actor,
                action="mailbox.photo.deleted",
                subject_user_id=user.id,
                version_id=removed,
            )
            self.ctx.events.publish_on_commit(
                session, PHOTO_CHANGED, user_id=user.id, version_id=None
            )

        self._transaction(write)

    # --- history ------------------------------------------------------------------------

    def history(self, user_id: str) -> list[PastVersion]:
        """Every kept version of the user's photo, newest first, marking current and preview."""
        user = self.mailbox_user(user_id)
        with self.ctx.db.engine.connect() as conn:
            return load_history(conn, user.id)

    def version_bytes(self, user_id: str, version_id: str, size: int | None = None) -> bytes:
        """One rendition of any kept version (a resolved user's); VersionNotFound if none."""
        with self.ctx.db.engine.connect() as conn:
            stored = load_version_by_id(conn, user_id, version_id)
        if stored is None:
            raise VersionNotFound(version_id)
        return self.rendition(stored, size)

    def restore_version(self, user_id: str, version_id: str, *, actor: str) -> PhotoInfo:
        """An earlier version becomes the photo again, as a NEW version: the same renditions
        (the same blobs, not copied) under a new etag, so every reader and the sync see a
        change, and the history keeps the order in which photos were really used."""
        user = self.mailbox_user(user_id)

        def write(session: Session) -> PhotoInfo:
            pointer = lock_pointer(session, user.id)
            old = session.get(PhotoVersion, version_id)
            if old is None or old.user_id != user.id:
                raise VersionNotFound(f"{user.upn} has no photo version {version_id}")
            try:
                # Restart each blob's clock before a row points to it again, so that the garbage
                # collector, which may have found it unreferenced a moment ago, leaves it.
                for rendition in old.renditions:
                    self.ctx.blobs.keep(rendition.sha256)
            except BlobNotFound:
                raise VersionNotFound(f"the files of version {version_id} are gone") from None
            now = self.ctx.clock()
            version = copy_version(session, old, etag=new_etag(session, user.id), now=now, by=actor)
            pointer.current_version_id = version.id
            pointer.updated_at = now
            info = version_info(version, tuple(r.size for r in old.renditions))
            audit.record(
                session.connection(),
                actor=actor,
                action="mailbox.photo.restored",
                subject_user_id=user.id,
                version_id=version.id,
                etag=version.etag,
                restored_from=old.id,
            )
            self.ctx.events.publish_on_commit(
                session, PHOTO_CHANGED, user_id=user.id, version_id=version.id
            )
            return info

        return self._transaction(write)

    def collect_garbage(self, *, grace: timedelta = BLOB_GRACE) -> GarbageReport:
        """``photosync gc`` and the periodic task: versions beyond PHOTOSYNC_PHOTO_HISTORY_KEEP
        per user, then blobs no version uses that nobody wrote or kept within ``grace``."""
        versions, renditions = collect_versions(self.ctx.db, self.ctx.settings.photo_history_keep)
        blobs, young, leftovers = collect_blobs(self.ctx.db, self.ctx.blobs, grace)
        report = GarbageReport(versions, renditions, blobs, young, leftovers)
        log.info("garbage collected: %s", report)
        return report

    # --- helpers --------------------------------------------------------------------------

    def _transaction(self, work: Callable[[Session], T]) -> T:
        # Two first-ever writes for one user can race to insert its mailbox_photos row on
        # PostgreSQL (SQLite's write_session serialises writers); the loser simply retries.
        for attempt in range(3):
            try:
                with self.ctx.db.write_session() as session:
                    return work(session)
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _forget_current(self, *, user_id: str, **_: object) -> None:
        """A photo change committed here: the next image request reads the new version."""
        self.current.forget(user_id)

    def _follow_in_directory(self, *, user_id: str, version_id: str | None) -> None:
        """Exchange writes a 64x64 copy of a saved photo into the directory's thumbnailPhoto.

        Runs on ``photo.changed``, after the mailbox commit, in the directory's own
        transaction. That order is the safe one because the mailbox is the source of truth: if
        this step fails or the process dies here, the mailbox holds the right photo and the
        thumbnail is merely stale (a derived copy that sites never reads; the next save
        rewrites it). The copy is the 64 px rendition already stored, not a new decode.
        """
        try:
            stored = self.stored_photo(user_id)
            # Two saves racing: only the event of the version still current writes, so the
            # thumbnail does not end on the older of the two.
            if (stored.info.version_id if stored else None) != version_id:
                return
            thumbnail = self._thumbnail(stored) if stored is not None else None
            actor = stored.info.created_by if stored is not None else "mailbox"
            self.directory.set_thumbnail(user_id, thumbnail, actor=actor, trusted=True)
        except Exception:
            log.exception("could not update the directory thumbnail of %s", user_id)

    def _thumbnail(self, stored: StoredPhoto) -> bytes:
        size = imaging.THUMBNAIL_SIZE
        if size in stored.info.sizes:
            rendition = self.rendition(stored, size)
            if len(rendition) <= THUMBNAIL_TARGET_BYTES:
                return rendition
            return imaging.directory_thumbnail(rendition)  # a 64 px decode: quality lowered
        # A photo smaller than 64 px (rare): made from its master, as before.
        return imaging.directory_thumbnail(self.rendition(stored))


if TYPE_CHECKING:
    # mypy proves here that the service still implements both interfaces other roles code to.
    def _implements(service: MailboxService) -> tuple[MailboxReader, MailboxWriter]:
        return service, service
