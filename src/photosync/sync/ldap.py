"""LDAP and Active Directory as a source (``--from ldap``) and a target (``--to ldap``), with ldap3.

Reading: each person's ``jpegPhoto`` or ``thumbnailPhoto`` (``PHOTOSYNC_LDAP_READ_ATTRIBUTES``,
first found wins); its version is the sha256 of the attribute's bytes. Writing:
``thumbnailPhoto`` at ``PHOTOSYNC_LDAP_THUMBNAIL_SIZE`` (96 px, as Active Directory recommends; at
most 100 KB, the attribute's limit) and optionally ``jpegPhoto`` at 648 px. People are found by
``PHOTOSYNC_LDAP_MATCH_ATTRIBUTE`` (``userPrincipalName``, or ``mail`` for OpenLDAP's
inetOrgPerson) under the base DN, within the filter.

Each thread keeps one bound connection (a bulk run's checks run in a few threads; an ldap3
connection is not to be shared between them). Every failure, a bind the directory refuses, a
server out of reach, a write refused for lack of rights, becomes a ``ConnectorError`` with one
sentence saying which: the engine records it as that person's error, and nothing of
photosync's changes.
"""

from __future__ import annotations

import contextlib
import hashlib
import ssl
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ldap3 import (
    AUTO_BIND_NO_TLS,
    AUTO_BIND_TLS_BEFORE_BIND,
    MODIFY_REPLACE,
    SUBTREE,
    Connection,
    Server,
    Tls,
)
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from photosync import imaging
from photosync.directory.interfaces import UserInfo
from photosync.settings import Settings
from photosync.sync.interfaces import (
    Change,
    ConnectorError,
    Found,
    Person,
    SourcePhoto,
    SourceVersion,
    one_by_one,
)

# jpegPhoto is written at the mailbox's master size; thumbnailPhoto at the setting's.
JPEG_PHOTO_SIZE = max(imaging.GRAPH_SIZES)
THUMBNAIL_MAX_BYTES = 102_400  # Active Directory's limit of thumbnailPhoto
_SHRINK_STEPS = 4
TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class LdapConfig:
    url: str
    starttls: bool
    bind_dn: str
    password: str
    base_dn: str
    filter: str
    match_attribute: str
    read_attributes: tuple[str, ...]
    write_attributes: tuple[str, ...]
    thumbnail_size: int
    ca_bundle: Path | None

    @classmethod
    def from_settings(cls, settings: Settings) -> LdapConfig:
        if not settings.ldap_url or not settings.ldap_base_dn:
            raise ConnectorError("set PHOTOSYNC_LDAP_URL and PHOTOSYNC_LDAP_BASE_DN to use LDAP")
        password = settings.ldap_password
        if settings.ldap_password_file is not None:
            try:
                password = settings.ldap_password_file.read_text().strip()
            except OSError as exc:
                raise ConnectorError(
                    f"cannot read PHOTOSYNC_LDAP_PASSWORD_FILE: {exc.strerror or exc}"
                ) from exc
        return cls(
            url=settings.ldap_url,
            starttls=settings.ldap_starttls,
            bind_dn=settings.ldap_bind_dn,
            password=password,
            base_dn=settings.ldap_base_dn,
            filter=settings.ldap_filter.strip() or "(objectClass=person)",
            match_attribute=settings.ldap_match_attribute.strip(),
            read_attributes=_names(settings.ldap_read_attributes),
            write_attributes=_names(settings.ldap_write_attributes),
            thumbnail_size=settings.ldap_thumbnail_size,
            ca_bundle=settings.ldap_ca_bundle,
        )


def _names(value: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in value.split(",") if name.strip())


class LdapDirectory:
    """One directory: its connections (one per thread) and its people's entries."""

    def __init__(self, config: LdapConfig) -> None:
        self.config = config
        self._local = threading.local()
        tls = Tls(
            validate=ssl.CERT_REQUIRED,
            ca_certs_file=str(config.ca_bundle) if config.ca_bundle else None,
        )
        try:
            self.server = Server(config.url, tls=tls, connect_timeout=TIMEOUT_SECONDS)
        except LDAPException as exc:
            raise ConnectorError(f"PHOTOSYNC_LDAP_URL {config.url} is not usable: {exc}") from exc

    @classmethod
    def from_settings(cls, settings: Settings) -> LdapDirectory:
        return cls(LdapConfig.from_settings(settings))

    def source(self) -> LdapPhotoSource:
        return LdapPhotoSource(self)

    def store(self) -> LdapPictureStore:
        return LdapPictureStore(self)

    # --- the connection ------------------------------------------------------------------

    def connection(self) -> Connection:
        """This thread's bound connection (bound now if it has none)."""
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is not None and conn.bound:
            return conn
        config = self.config
        try:
            conn = Connection(
                self.server,
                user=config.bind_dn or None,
                password=config.password or None,
                auto_bind=AUTO_BIND_TLS_BEFORE_BIND if config.starttls else AUTO_BIND_NO_TLS,
                receive_timeout=TIMEOUT_SECONDS,
                raise_exceptions=False,
                read_only=False,
            )
        except LDAPException as exc:
            raise ConnectorError(self._describe_connect_failure(exc)) from exc
        self._local.conn = conn
        return conn

    def _describe_connect_failure(self, exc: LDAPException) -> str:
        name = type(exc).__name__
        text = str(exc) or name
        who = self.config.bind_dn or "anonymous"
        if "Bind" in name:
            return f"{self.config.url} refused the bind as {who}: {text}"
        if "StartTLS" in name or "certificate" in text.lower() or "SSL" in text:
            return f"no TLS connection to {self.config.url}: {text}"
        return f"cannot reach {self.config.url}: {text}"

    def forget_connection(self) -> None:
        conn: Connection | None = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with contextlib.suppress(LDAPException):  # it is being dropped anyway
                conn.unbind()

    # --- entries -------------------------------------------------------------------------

    def match_value(self, user: UserInfo) -> str:
        """The value of the match attribute that names ``user``."""
        if self.config.match_attribute.lower() == "mail":
            return user.mail or user.upn
        return user.upn

    def find(self, user: UserInfo, attributes: list[str]) -> tuple[str, dict[str, object]] | None:
        """The user's entry (DN and ``attributes``), or None if the directory has none."""
        config = self.config
        wanted = f"({config.match_attribute}={escape_filter_chars(self.match_value(user))})"
        found = self._search(f"(&{config.filter}{wanted})", attributes or ["1.1"], size_limit=2)
        if not found:
            return None
        if len(found) > 1:
            raise ConnectorError(
                f"more than one entry has {config.match_attribute}={self.match_value(user)}"
            )
        return found[0]

    def entries(self, attributes: list[str]) -> Iterator[tuple[str, dict[str, object]]]:
        """Every entry under the base DN within the filter, read a page at a time."""
        conn = self.connection()
        try:
            pages = conn.extend.standard.paged_search(
                self.config.base_dn,
                self.config.filter,
                search_scope=SUBTREE,
                attributes=attributes,
                paged_size=500,
                generator=True,
            )
            for entry in pages:
                if entry.get("type") == "searchResEntry":
                    yield entry["dn"], dict(entry.get("raw_attributes", {}))
        except LDAPException as exc:
            self.forget_connection()
            raise ConnectorError(f"searching {self.config.url} failed: {exc}") from exc
        if conn.result and conn.result.get("result", 0) not in (0,):
            raise ConnectorError(f"searching {self.config.url} failed: {_result_text(conn)}")

    def _search(
        self, search_filter: str, attributes: list[str], *, size_limit: int
    ) -> list[tuple[str, dict[str, object]]]:
        conn = self.connection()
        try:
            ok = conn.search(
                self.config.base_dn,
                search_filter,
                search_scope=SUBTREE,
                attributes=attributes,
                size_limit=size_limit,
            )
        except LDAPException as exc:
            self.forget_connection()
            raise ConnectorError(f"searching {self.config.url} failed: {exc}") from exc
        code = conn.result.get("result", 0) if conn.result else 0
        if not ok and code not in (0, 4, 32):  # success, sizeLimitExceeded, noSuchObject
            raise ConnectorError(f"searching {self.config.url} failed: {_result_text(conn)}")
        return [
            (entry["dn"], dict(entry.get("raw_attributes", {})))
            for entry in conn.response or []
            if entry.get("type") == "searchResEntry"
        ]

    def replace(self, dn: str, changes: Mapping[str, list[bytes]]) -> None:
        """Replace these attributes of ``dn`` (an empty list removes one), all or nothing (one
        modify operation); ConnectorError when the directory refuses."""
        conn = self.connection()
        try:
            modification = {name: [(MODIFY_REPLACE, values)] for name, values in changes.items()}
            ok = conn.modify(dn, modification)  # type: ignore[no-untyped-call]  # ldap3's stubs
        except LDAPException as exc:
            self.forget_connection()
            raise ConnectorError(f"writing {dn} failed: {exc}") from exc
        if not ok:
            raise ConnectorError(f"the directory refused to write {dn}: {_result_text(conn)}")


def _result_text(conn: Connection) -> str:
    result = conn.result or {}
    description = result.get("description") or "error"
    message = str(result.get("message") or "").strip()
    return f"{description}" + (f" ({message})" if message else "")


def _first_value(attributes: Mapping[str, object], name: str) -> bytes | None:
    for key, values in attributes.items():
        if key.lower() == name.lower() and isinstance(values, list) and values:
            value = values[0]
            return value if isinstance(value, bytes) else None
    return None


class LdapPhotoSource:
    """``--from ldap``: implements ``PhotoSource`` and ``PeopleSource``."""

    def __init__(self, directory: LdapDirectory) -> None:
        self.directory = directory
        self._found = threading.local()  # the photo ``current`` read, for ``fetch``

    def people(self) -> Iterator[Person]:
        config = self.directory.config
        names = [config.match_attribute, "mail"]
        for _dn, attributes in self.directory.entries(names):
            key = _first_value(attributes, config.match_attribute)
            mail = _first_value(attributes, "mail")
            if key:
                yield Person(key.decode(), mail.decode() if mail else None)

    def versions(self, users: Sequence[UserInfo]) -> dict[str, Found]:
        return one_by_one(users, self.current)

    def current(self, user: UserInfo) -> SourceVersion | None:
        data = self._photo(user)
        self._found.photo = (user.id, data)
        if data is None:
            return None
        return SourceVersion(hashlib.sha256(data).hexdigest(), 0)

    def fetch(self, user: UserInfo, version: SourceVersion) -> SourcePhoto | None:
        found: tuple[str, bytes | None] | None = getattr(self._found, "photo", None)
        self._found.photo = None
        data = found[1] if found is not None and found[0] == user.id else self._photo(user)
        if data is None:
            return None
        master = imaging.square_master(data, largest=JPEG_PHOTO_SIZE)
        return SourcePhoto(hashlib.sha256(data).hexdigest(), master.renditions[master.master_size])

    def _photo(self, user: UserInfo) -> bytes | None:
        attributes = list(self.directory.config.read_attributes)
        entry = self.directory.find(user, attributes)
        if entry is None:
            return None
        for name in attributes:
            value = _first_value(entry[1], name)
            if value:
                return value
        return None


class LdapPictureStore:
    """``--to ldap``: implements ``PictureStore``."""

    def __init__(self, directory: LdapDirectory) -> None:
        self.directory = directory

    def sizes(self) -> Mapping[str, int]:
        config = self.directory.config
        sizes = {}
        for name in config.write_attributes:
            if name.lower() == "thumbnailphoto":
                sizes[name] = config.thumbnail_size
            else:
                sizes[name] = JPEG_PHOTO_SIZE
        return sizes

    def put(self, user: UserInfo, files: Mapping[str, bytes], *, change: Change) -> None:
        changes = {name: [_fitting(name, data)] for name, data in files.items()}
        self.directory.replace(self._dn(user), changes)

    def remove(self, user: UserInfo, *, change: Change) -> None:
        self.directory.replace(
            self._dn(user), {name: [] for name in self.directory.config.write_attributes}
        )

    def _dn(self, user: UserInfo) -> str:
        entry = self.directory.find(user, [])
        if entry is None:
            config = self.directory.config
            raise ConnectorError(
                f"no entry with {config.match_attribute}={self.directory.match_value(user)} "
                f"under {config.base_dn}"
            )
        return entry[0]


def _fitting(name: str, jpeg: bytes) -> bytes:
    """thumbnailPhoto within Active Directory's 100 KB (re-encoded smaller if it is not)."""
    if name.lower() != "thumbnailphoto" or len(jpeg) <= THUMBNAIL_MAX_BYTES:
        return jpeg
    side = min(imaging.jpeg_size(jpeg))
    for _ in range(_SHRINK_STEPS):
        side = max(side * 3 // 4, 16)
        jpeg = imaging.render_square_sizes(jpeg, [side])[side]
        if len(jpeg) <= THUMBNAIL_MAX_BYTES:
            return jpeg
    raise ConnectorError("the thumbnail does not fit in thumbnailPhoto's 100 KB")
