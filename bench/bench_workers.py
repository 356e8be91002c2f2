"""Photo GETs with 1, 2 and 4 `photosync serve` processes (`--workers N`) on this machine.

The same load generator as bench_http (raw keep-alive sockets, a few client processes), against
three servers on one embedded data folder, measured in turns so a noisy second hits all alike.
Reported: requests/s of each, and the ratio to the one-process figure of the same run. The
client runs on the same cores as the servers, so on a 2-core machine the ceiling is well below
2x: the figures are for sizing (docs/operations.md, "Sizing"), not a pass/fail target.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import print_table
from bench_http import (
    KEY,
    USERPHOTO,
    VALUE_PATH,
    free_port,
    measure,
    prepare,
    request_bytes,
    wait_until_up,
)

PROCESSES = (1, 2, 4)
CONNECTIONS = 8  # client processes, one keep-alive connection each: enough for 4 servers
SECONDS = 2.0
ROUNDS = 2


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="photosync-bench-workers-") as tmp:
        data_dir = Path(tmp) / "data"
        token, answers = prepare(data_dir)
        env = {
            **os.environ,
            "PHOTOSYNC_DATA_DIR": str(data_dir),
            "PHOTOSYNC_SECRET_KEY": KEY,
            "PHOTOSYNC_LOG_LEVEL": "warning",
        }
        ports = {n: free_port() for n in PROCESSES}
        servers = {
            n: subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "photosync",
                    "serve",
                    "--port",
                    str(ports[n]),
                    "--workers",
                    str(n),
                ],
                env=env,
                stdout=subprocess.DEVNULL,
            )
            for n in PROCESSES
        }
        try:
            for n, process in servers.items():
                wait_until_up(f"http://127.0.0.1:{ports[n]}/healthz", process)
            return run_load(ports, token, answers[VALUE_PATH][1])
        finally:
            for process in servers.values():
                process.terminate()
                process.wait(timeout=30)


def run_load(ports: dict[int, int], token: str, etag: str) -> int:
    cases = [
        ("$value 96: 200 (body)", VALUE_PATH, None, 200),
        ("$value 96: 304", VALUE_PATH, etag, 304),
        ("userphoto.aspx M: 200", USERPHOTO, None, 200),
    ]
    best: dict[tuple[str, int], float] = {}
    with multiprocessing.get_context("fork").Pool(CONNECTIONS) as pool:
        for label, path, tag, expected in cases:
            for n, port in ports.items():  # warm-up: every process's caches and connections
                request = request_bytes(port, path, token, tag)
                measure_with(pool, port, request, 0.5 * n, expected)
            for _ in range(ROUNDS):
                for n, port in ports.items():
                    request = request_bytes(port, path, token, tag)
                    rate = measure_with(pool, port, request, SECONDS, expected)
                    best[(label, n)] = max(best.get((label, n), 0.0), rate)
    rows = []
    for label, *_ in cases:
        one = best[(label, 1)]
        rows.append(
            [label]
            + [f"{best[(label, n)]:,.0f}/s" for n in PROCESSES]
            + [best[(label, n)] / one for n in PROCESSES[1:]]
        )
    print_table(
        ["request"]
        + [f"{n} process{'es' if n > 1 else ''}" for n in PROCESSES]
        + [f"x{n} / x1" for n in PROCESSES[1:]],
        rows,
        title=(
            f"photosync serve --workers N on {os.cpu_count()} cores, embedded SQLite; "
            f"{CONNECTIONS} keep-alive connections from client processes on the same cores; "
            f"best of {ROUNDS} rounds of <= {SECONDS:g} s"
        ),
    )
    return 0


def measure_with(pool: object, port: int, request: bytes, seconds: float, expected: int) -> float:
    rate, statuses = measure(pool, port, request, seconds=seconds, connections=CONNECTIONS)
    if set(statuses) != {expected}:
        raise RuntimeError(f"port {port}: unexpected statuses {statuses}")
    time.sleep(0.2)  # let the last connections close before the next server's turn
    return rate


if __name__ == "__main__":
    sys.exit(main())
