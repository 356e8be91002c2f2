"""GET /avatar/{hash}?s=80 served from memory, against a bare ASGI app with the same bytes.

The same harness as bench_http.py (uvicorn, one worker each, loopback, raw-socket keep-alive
clients; the bare app is bench_http's): a person with a photo, asked for at 80 px (made from
the stored 96 px rendition, so the answer is bytes photosync made and remembered), with a bearer
token under the default PHOTOSYNC_AVATAR_ACCESS=signed-in; then 304s; then an identicon for an
address nobody has.

Target: photosync >= 0.5 x the bare app's requests/s.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_http

TARGET = 0.5
UPN = "avatar.user@example.org"
PASSWORD = "bench-password-1"


def _md5(address: str) -> str:
    return hashlib.md5(address.encode(), usedforsecurity=False).hexdigest()


PHOTO_PATH = f"/avatar/{_md5(UPN)}"
NOBODY_PATH = f"/avatar/{_md5('nobody@example.org')}"


def prepare(data_dir: Path) -> tuple[str, dict[str, tuple[bytes, str]]]:
    """A person with a photo; a token; the bytes and ETag photosync answers at each path."""
    from photos import photo
    from photosync.avatar.params import parse
    from photosync.context import Context
    from photosync.directory.access import Principal
    from photosync.services import build_services
    from photosync.settings import Settings

    ctx = Context.from_settings(Settings(data_dir=data_dir, secret_key=bench_http.KEY))
    ctx.db.upgrade()
    services = build_services(ctx)
    user = services.directory.add_user(UPN, "Avatar User", password=PASSWORD)
    services.mailbox.set_photo(user.id, photo("1 MP"), actor="bench")
    caller = Principal("user", user.id, user, frozenset(), None, "bearer")
    answers = {}
    for path, query in ((PHOTO_PATH, {"s": "80"}), (NOBODY_PATH, {"d": "identicon"})):
        wanted = parse(path.rsplit("/", 1)[1], query, ())
        assert wanted is not None
        avatar = services.avatar.avatar(caller, wanted)
        assert avatar.data is not None
        answers[path] = (avatar.data, avatar.etag)
    token = services.directory.password_token(UPN, PASSWORD)
    ctx.db.dispose()
    return token, answers


def main() -> int:
    def cases(answers: bench_http.Answers) -> list[bench_http.Case]:
        _, etag = answers[PHOTO_PATH]
        _, nobody_etag = answers[NOBODY_PATH]
        return [
            bench_http.Case("photo s=80: 200", f"{PHOTO_PATH}?s=80", None, 200),
            bench_http.Case("photo s=80: 304", f"{PHOTO_PATH}?s=80", etag, 304),
            bench_http.Case("identicon (nobody): 200", f"{NOBODY_PATH}?d=identicon", None, 200),
            bench_http.Case(
                "identicon (nobody): 304", f"{NOBODY_PATH}?d=identicon", nobody_etag, 304
            ),
        ]

    def title(answers: bench_http.Answers) -> str:
        return (
            f"GET {PHOTO_PATH}?s=80 ({len(answers[PHOTO_PATH][0]):,}-byte JPEG), bearer token; "
            f"uvicorn, 1 worker each, loopback; {bench_http.CONNECTIONS} keep-alive connections; "
            f"best of {bench_http.ROUNDS} rounds of <= {bench_http.SECONDS:g} s"
        )

    return bench_http.against_bare("avatar", prepare, cases, target=TARGET, title=title)


if __name__ == "__main__":
    sys.exit(main())
