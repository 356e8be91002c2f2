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
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_http
from _util import print_table, verdict

TARGET = 0.5
UPN = "avatar.user@example.org"
PASSWORD = "bench-password-1"
ROUNDS = 2


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
    with tempfile.TemporaryDirectory(prefix="photosync-bench-avatar-") as tmp:
        data_dir = Path(tmp) / "data"
        token, answers = prepare(data_dir)
        files = {}
        for n, (path, (body, etag)) in enumerate(answers.items()):
            (Path(tmp) / f"{n}.img").write_bytes(body)
            files[path] = (str(Path(tmp) / f"{n}.img"), etag)
        answers_file = Path(tmp) / "answers.json"
        answers_file.write_text(json.dumps(files))
        env = {
            **os.environ,
            "PHOTOSYNC_DATA_DIR": str(data_dir),
            "PHOTOSYNC_SECRET_KEY": bench_http.KEY,
            "PHOTOSYNC_LOG_LEVEL": "warning",
        }
        ports = {"bare": bench_http.free_port(), "photosync": bench_http.free_port()}
        bare = [sys.executable, bench_http.__file__, "--serve-bare", str(ports["bare"])]
        servers = {
            "bare": subprocess.Popen([*bare, str(answers_file)], env=env),
            "photosync": subprocess.Popen(
                [sys.executable, "-m", "photosync", "serve", "--port", str(ports["photosync"])],
                env=env,
                stdout=subprocess.DEVNULL,
            ),
        }
        try:
            for name, process in servers.items():
                bench_http.wait_until_up(f"http://127.0.0.1:{ports[name]}/healthz", process)
            return run_load(ports, token, answers)
        finally:
            for process in servers.values():
                process.terminate()
                process.wait(timeout=10)


def run_load(ports: dict[str, int], token: str, answers: dict[str, tuple[bytes, str]]) -> int:
    body, etag = answers[PHOTO_PATH]
    _, nobody_etag = answers[NOBODY_PATH]
    cases = [
        ("photo s=80: 200", f"{PHOTO_PATH}?s=80", None, 200),
        ("photo s=80: 304", f"{PHOTO_PATH}?s=80", etag, 304),
        ("identicon (nobody): 200", f"{NOBODY_PATH}?d=identicon", None, 200),
        ("identicon (nobody): 304", f"{NOBODY_PATH}?d=identicon", nobody_etag, 304),
    ]
    best: dict[tuple[str, str], float] = {}
    with multiprocessing.get_context("fork").Pool(bench_http.CONNECTIONS) as pool:
        for label, url, tag, expected in cases:
            for port in ports.values():  # warm-up: the first request fills the caches
                request = bench_http.request_bytes(port, url, token, tag)
                bench_http.measure(pool, port, request, seconds=0.5)
            for _ in range(ROUNDS):
                for name, port in ports.items():
                    request = bench_http.request_bytes(port, url, token, tag)
                    rate, statuses = bench_http.measure(pool, port, request)
                    if name == "photosync" and set(statuses) != {expected}:
                        print(f"{name}: unexpected statuses {statuses}", file=sys.stderr)
                        return 1
                    best[(label, name)] = max(best.get((label, name), 0.0), rate)
    rows = []
    for label, _, _, _ in cases:
        bare, ours = best[(label, "bare")], best[(label, "photosync")]
        ratio = ours / bare
        rows.append([label, f"{bare:,.0f}/s", f"{ours:,.0f}/s", ratio, verdict(ratio >= TARGET)])
    print_table(
        ["request", "bare ASGI", "photosync", "ratio", f"target >= {TARGET}"],
        rows,
        title=(
            f"GET {PHOTO_PATH}?s=80 ({len(body):,}-byte JPEG), bearer token; uvicorn, 1 worker "
            f"each, loopback; {bench_http.CONNECTIONS} keep-alive connections; best of {ROUNDS} "
            f"rounds of <= {bench_http.SECONDS:g} s"
        ),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
