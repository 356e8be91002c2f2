"""pyLibravatar, the Libravatar project's own client, against a real `photosync serve`.

The client builds avatar URLs from an e-mail address: its hash, its query string, and the host
its federation look-up found (the ``_avatars._tcp`` SRV record a domain publishes, here handed
to its own record parsing, since the tests have no DNS). The path and query it builds must
resolve against our server, for MD5 (what it sends for an e-mail) and SHA-256.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import libravatar
import pytest
from PIL import Image

from photosync.imaging.testimages import photo_jpeg
from tests.conftest import PASSWORD, LiveServer, password_token, start_server, stop_server

pytestmark = pytest.mark.slow

EMAIL = "Grace.Hopper@Example.org"
NOBODY = "nobody@example.org"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A public avatar server with one person who has a photo."""
    data = tmp_path_factory.mktemp("libravatar") / "data"
    data.mkdir()
    live = start_server(data, env_extra={"PHOTOSYNC_AVATAR_ACCESS": "public"})
    photo = data.parent / "grace.jpg"
    photo.write_bytes(photo_jpeg(400, 400, seed=3))
    for args in (
        ("users", "add", EMAIL, "--name", "Grace Hopper", "--password-stdin"),
        ("photo", "set", EMAIL, str(photo)),
    ):
        done = live.cli(*args, input=PASSWORD + "\n")
        assert done.returncode == 0, done.stderr
    yield live
    stop_server(live)


def client_url(server: LiveServer, avatar_hash: str, **options: object) -> str:
    """The URL pyLibravatar builds when the address's domain delegates to ``server``."""
    port = int(urlsplit(server.url).port or 80)
    record = {"priority": 0, "weight": 0, "port": port, "target": "127.0.0.1."}
    delegated = libravatar.normalized_target([record], False)
    query = libravatar.parse_options(options.get("default"), options.get("size"))  # type: ignore[arg-type]
    return libravatar.compose_avatar_url(delegated, avatar_hash, query, False)


def md5_of(email: str) -> str:
    digest, domain = libravatar.parse_user_identity(email, None)
    assert digest is not None and domain == "example.org"
    return digest


def sha256_of(email: str) -> str:
    # pyLibravatar hashes e-mail with MD5 only; SHA-256 of the same normalised address is what
    # Libravatar's API also takes.
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


@pytest.mark.parametrize("hashed", [md5_of, sha256_of], ids=["md5", "sha256"])
def test_the_urls_the_client_builds_resolve_to_the_photo(
    server: LiveServer, hashed: object
) -> None:
    assert callable(hashed)
    url = client_url(server, hashed(EMAIL), size=120)
    assert url.startswith(server.url + "/avatar/")
    r = httpx.get(url)
    assert r.status_code == 200
    assert r.headers["x-avatar-source"] == "photo"
    assert r.headers["x-content-type-options"] == "nosniff"
    with Image.open(io.BytesIO(r.content)) as img:
        assert (img.format, img.size) == ("JPEG", (120, 120))


def test_the_client_clamps_sizes_and_passes_defaults(server: LiveServer) -> None:
    url = client_url(server, md5_of(EMAIL), size=4000)  # the client sends s=512
    assert "s=512" in url
    with Image.open(io.BytesIO(httpx.get(url).content)) as img:
        assert img.size == (360, 360)  # the master of a 400 px upload: never upscaled
    nobody = client_url(server, md5_of(NOBODY), default=404)
    assert httpx.get(nobody).status_code == 404
    identicon = httpx.get(client_url(server, md5_of(NOBODY), default="identicon", size=64))
    assert identicon.headers["x-avatar-source"] == "default"
    with Image.open(io.BytesIO(identicon.content)) as img:
        assert (img.format, img.size) == ("PNG", (64, 64))


def test_a_new_photo_shows_at_once_and_a_304_needs_no_body(server: LiveServer) -> None:
    url = client_url(server, md5_of(EMAIL), size=80)
    first = httpx.get(url)
    again = httpx.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    photo = Path(server.data_dir).parent / "grace-2.jpg"
    photo.write_bytes(photo_jpeg(400, 400, seed=9))
    done = server.cli("photo", "set", EMAIL, str(photo))
    assert done.returncode == 0, done.stderr
    # Another process changed it: seen within the caches' freshness (a couple of seconds).
    from tests.conftest import eventually

    assert eventually(
        lambda: httpx.get(url, headers={"If-None-Match": first.headers["etag"]}).status_code == 200
    )


def test_signed_in_mode_over_http(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    live = start_server(data)  # the default: signed-in
    try:
        done = live.cli(
            "users",
            "add",
            EMAIL,
            "--name",
            "Grace Hopper",
            "--password-stdin",
            input=PASSWORD + "\n",
        )
        assert done.returncode == 0, done.stderr
        url = client_url(live, md5_of(EMAIL), default="initials")
        assert httpx.get(url).status_code == 401
        with httpx.Client(base_url=live.url) as http:
            token = password_token(http, EMAIL)
        r = httpx.get(url, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.headers["x-avatar-source"] == "default"
        assert r.headers["cache-control"] == "private, max-age=300"
    finally:
        stop_server(live)
