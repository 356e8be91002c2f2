"""What an avatar URL asks for, read the way Libravatar and Gravatar read it (pure, no web).

``/avatar/HASH[.jpg|.png]?s=80&d=identicon&f=y``: HASH is the MD5 or SHA-256 of the trimmed,
lower-cased e-mail address. Parameters a client gets wrong are ignored, as Libravatar's API
says ("invalid input such as non-integer or out-of-range values will be ignored"): a size
outside 1..512 is the default size, an unknown default kind or a URL off the allow-list is the
fallback image. Nothing here redirects to a URL the operator did not allow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from photosync.directory.addresses import is_digest
from photosync.imaging.avatars import AvatarFormat, DefaultKind

__all__ = [
    "DEFAULT_SIZE",
    "FALLBACK",
    "MAX_SIZE",
    "AvatarRequest",
    "allowed_url",
    "parse",
]

DEFAULT_SIZE = 80
MAX_SIZE = 512
# What a default nobody can serve becomes: an unknown kind (monsterid, wavatar, robohash and
# pagan are not drawn here), a URL off the allow-list, or no ``d`` at all.
FALLBACK: DefaultKind = "mp"
_KINDS: dict[str, DefaultKind | Literal["404"]] = {
    "404": "404",
    "mp": "mp",
    "mm": "mp",
    "identicon": "identicon",
    "retro": "retro",
    "initials": "initials",
    "blank": "blank",
}
_EXTENSIONS: dict[str, AvatarFormat] = {"jpg": "jpeg", "jpeg": "jpeg", "png": "png"}
_YES = frozenset({"y", "yes", "true", "1"})


@dataclass(frozen=True)
class AvatarRequest:
    digest: str  # lower-case hex, 32 or 64 digits
    size: int  # 1..MAX_SIZE
    default: DefaultKind | Literal["404"]  # what to show without a photo
    redirect: str | None  # an allowed ``d=URL``: redirect there instead of a default
    force: bool  # ``f=y``: the default even if there is a photo
    fmt: AvatarFormat | None  # from the extension; None: a photo as JPEG, a default as PNG
    name: str  # ``name=``/``initials=``: the initials' words when the caller may not see names
    version: str | None  # ``v=``: the photo version the URL names (immutable if current)


def parse(name: str, query: Mapping[str, str], allowed_urls: Sequence[str]) -> AvatarRequest | None:
    """The request for the path segment ``name`` (``HASH`` or ``HASH.ext``), or None when it is
    not an avatar hash with a known extension."""
    digest, dot, extension = name.partition(".")
    digest = digest.lower()
    fmt = _EXTENSIONS.get(extension.lower()) if dot else None
    if not is_digest(digest) or (dot and fmt is None):
        return None
    wanted = _first(query, "d", "default")
    kind = _KINDS.get(wanted.lower()) if wanted else FALLBACK
    redirect = allowed_url(wanted, allowed_urls) if wanted and kind is None else None
    return AvatarRequest(
        digest=digest,
        size=_size(_first(query, "s", "size")),
        default=kind or FALLBACK,
        redirect=redirect,
        force=(_first(query, "f", "forcedefault") or "").lower() in _YES,
        fmt=fmt,
        name=(_first(query, "name", "initials") or "")[:128],
        version=query.get("v") or None,
    )


def allowed_url(url: str, prefixes: Sequence[str]) -> str | None:
    """``url`` if it is a plain http(s) URL under one of ``prefixes`` (same scheme and host,
    path beneath the prefix's), else None: never an open redirect."""
    if any(ord(c) <= 32 or c == "\\" for c in url):
        return None
    try:
        parts = urlsplit(url)
        for prefix in prefixes:
            allowed = urlsplit(prefix)
            same_origin = (
                parts.scheme.lower() == allowed.scheme.lower()
                and parts.scheme.lower() in ("http", "https")
                and parts.username is None
                and parts.password is None
                and (parts.hostname or "") == (allowed.hostname or "").lower()
                and parts.port == allowed.port
            )
            if same_origin and parts.path.startswith(allowed.path):
                return url
    except ValueError:  # a port that is not a number, brackets that do not close
        return None
    return None


def _first(query: Mapping[str, str], *keys: str) -> str | None:
    for key in keys:
        value = query.get(key)
        if value is not None:
            return value
    return None


def _size(text: str | None) -> int:
    text = (text or "").strip()
    if text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_SIZE:
        return int(text)
    return DEFAULT_SIZE
