"""Reading an avatar URL (pure): the allow-list of default URLs, sizes, kinds and flags."""

from __future__ import annotations

import pytest

from photosync.avatar.params import DEFAULT_SIZE, AvatarRequest, allowed_url, parse

ALLOWED = ("https://intranet.example.org/avatars/", "https://cdn.example.net")
DIGEST = "0" * 32


@pytest.mark.parametrize(
    "url",
    [
        "https://intranet.example.org/avatars/a.png",
        "https://INTRANET.example.org/avatars/sub/a.png?x=1",
        "https://cdn.example.net/anything.png",
    ],
)
def test_urls_under_an_allowed_prefix_are_allowed(url: str) -> None:
    assert allowed_url(url, ALLOWED) == url


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/a.png",
        "https://intranet.example.org.evil.com/avatars/a.png",
        "https://intranet.example.org@evil.com/avatars/a.png",
        "https://user@intranet.example.org/avatars/a.png",
        "https://user:pw@cdn.example.net/a.png",
        "http://intranet.example.org/avatars/a.png",  # another scheme
        "https://intranet.example.org/other/a.png",  # outside the prefix
        "https://intranet.example.org:8443/avatars/a.png",  # another port
        "https://cdn.example.net:99999/a.png",  # not a port at all
        "//evil.example.com/a.png",
        "/avatars/a.png",
        "javascript:alert(1)",
        "https://intranet.example.org\\@evil.com/avatars/",
        "https://intranet.example.org/avatars/\r\nSet-Cookie: x=1",
        "https://[::1/avatars/a.png",
    ],
)
def test_anything_else_is_not(url: str) -> None:
    assert allowed_url(url, ALLOWED) is None


def test_without_an_allow_list_nothing_is_allowed() -> None:
    assert allowed_url("https://intranet.example.org/avatars/a.png", ()) is None


@pytest.mark.parametrize(
    ("query", "size"),
    [
        ({}, DEFAULT_SIZE),
        ({"s": "1"}, 1),
        ({"s": "512"}, 512),
        ({"size": "64"}, 64),
        ({"s": "0"}, DEFAULT_SIZE),
        ({"s": "513"}, DEFAULT_SIZE),
        ({"s": "abc"}, DEFAULT_SIZE),
        ({"s": "٣"}, DEFAULT_SIZE),  # a digit, but not an ASCII one
        ({"s": " 96 "}, 96),
    ],
)
def test_sizes(query: dict[str, str], size: int) -> None:
    wanted = parse(DIGEST, query, ())
    assert wanted is not None and wanted.size == size


def test_kinds_flags_and_formats() -> None:
    def read(name: str = DIGEST, **query: str) -> AvatarRequest:
        wanted = parse(name, query, ALLOWED)
        assert wanted is not None
        return wanted

    assert read(d="MM").default == "mp"
    assert read(default="retro").default == "retro"
    assert read(d="monsterid").default == "mp"
    assert read(d="https://evil.example.com/").redirect is None
    url = "https://cdn.example.net/x.png"
    assert read(d=url).redirect == url
    assert read(forcedefault="y").force is True
    assert read(f="n").force is False
    assert read(DIGEST.upper() + ".PNG").fmt == "png"
    assert read(DIGEST + ".jpeg").fmt == "jpeg"
    assert parse(DIGEST + ".gif", {}, ()) is None
    assert parse("z" * 32, {}, ()) is None
    assert parse("0" * 40, {}, ()) is None  # SHA-1 is not a Libravatar hash
