"""Bulk sync: ``photosync sync now --all`` over 1,000 and 10,000 users with 648 px photos.

The limit is what the machine's CPUs can do at best: the bare S/M/L rendition of one user's
648 master (``render_square_sizes``, measured here, in this run, in CPU time of all its
threads; the cheaper of its threaded and single-threaded forms) × users ÷ cores. A bulk run
also looks up versions, reads the master, commits the thumbnails, the profile and the check's
record, and starts a process; the ratio says how close to the limit all of that comes.
Target: >= 0.8 of the limit. PnP's uploader, for comparison, does 2 users/s by design.
Peak memory of the whole command at 1,000 and at 10,000 users: should be flat.
On a shared machine the users/s of a run depend on what else runs; the embedded rows also give
its CPU time (of all its processes) per user, and "ratio (CPU)": the rendition's CPU time over
that, i.e. the ratio the run would reach with every core to itself and kept busy.
Scale-out: 1,000 users through one and then two `photosync worker` processes on PostgreSQL,
Redis and S3 (a moto server), and the two-worker rate as a ratio of the one-worker rate.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "src"), str(HERE.parent / "tools")]

from _util import interleaved_ms, print_table, verdict  # noqa: E402

TARGET = 0.8
# PHOTOSYNC_BENCH_BULK_USERS=1000 measures fewer sizes, PHOTOSYNC_BENCH_BULK_EMBEDDED_ONLY=1
# skips the worker rows (a quick look while changing the bulk run).
SIZES = tuple(int(n) for n in os.environ.get("PHOTOSYNC_BENCH_BULK_USERS", "1000,10000").split(","))
EMBEDDED_ONLY = os.environ.get("PHOTOSYNC_BENCH_BULK_EMBEDDED_ONLY") == "1"
KEY = "bench-signing-key-not-a-secret-0123456789abcdef"

# Runs a command and prints its peak RSS (kB) and wall time: a small launcher in between gives
# the measured process a fresh high-water mark (see _util.peak_rss_mb).
LAUNCHER = (
    "import resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "elapsed = time.perf_counter() - t\n"
    "sys.stderr.write(r.stdout[-2000:] + r.stderr[-2000:])\n"
    "used = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(used.ru_utime + used.ru_stime, used.ru_maxrss, elapsed)\n"
    "sys.exit(r.returncode)"
)


def rendition_ms(master: bytes) -> float:
    """CPU ms of the bare S/M/L rendition of ``master`` (the population's own): the cheaper of
    the threaded form (an upload's) and the single-threaded one (a bulk run's renderers)."""
    from photosync import imaging

    sizes = (48, 72, 300)
    timings = interleaved_ms(
        {
            "threads": lambda: imaging.render_square_sizes(master, sizes),
            "single": lambda: imaging.render_square_sizes(master, sizes, threads=False),
        },
        repeat=41,
        clock=time.process_time,
    )
    return min(timings.values())


def bulk_run(
    data_dir: Path, concurrency: int, env: dict[str, str] | None = None
) -> tuple[float, float, float]:
    """(seconds, peak MB, CPU seconds of it and its processes) of one `photosync sync now
    --all` in its own process."""
    env = env or {**os.environ, "PHOTOSYNC_DATA_DIR": str(data_dir), "PHOTOSYNC_SECRET_KEY": KEY}
    command = [
        sys.executable,
        "-m",
        "photosync",
        "sync",
        "now",
        "--all",
        "--concurrency",
        str(concurrency),
    ]
    result = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"bulk run failed: {result.stderr[-2000:]}")
    cpu, peak_kb, seconds = result.stdout.split()[-3:]
    return float(seconds), int(peak_kb) / 1024, float(cpu)


PG_ADMIN = os.environ.get(
    "PHOTOSYNC_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS = "redis://127.0.0.1:6379/0"


@contextmanager
def s3_bucket() -> Iterator[dict[str, str]]:
    """A moto S3 server on a free loopback port with a bucket: the PHOTOSYNC_*/AWS_* settings."""
    import socket

    import boto3
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PHOTOSYNC_BLOB_STORE": "s3",
        "PHOTOSYNC_S3_BUCKET": "photosync-bench",
        "PHOTOSYNC_S3_ENDPOINT_URL": endpoint,
    }
    saved = {k: os.environ.get(k) for k in env}
    try:
        for _ in range(300):
            try:
                httpx.get(endpoint, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        os.environ.update(env)  # population.py builds its blob store from the environment
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="photosync-bench")
        yield env
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server.terminate()
        server.wait(timeout=10)


@contextmanager
def two_workers(data_dir: Path, users: int, count: int = 2) -> Iterator[dict[str, str]]:
    """A fresh PostgreSQL database with ``users`` people, and ``count`` `photosync worker`
    processes (one process each) on a queue of their own on the machine's Redis: the environment
    of a `photosync sync now --all` that sends its checks to them."""
    import psycopg
    import redis
    from population import people_with_one_photo

    from photosync.settings import Settings

    name = f"photosync_bench_{uuid.uuid4().hex[:8]}"
    queue = f"photosync-bench-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/" + name
    env = {
        **os.environ,
        "PHOTOSYNC_DATA_DIR": str(data_dir),
        "PHOTOSYNC_DATABASE_URL": url,
        "PHOTOSYNC_SECRET_KEY": KEY,
        "PHOTOSYNC_BROKER_URL": REDIS,
        "PHOTOSYNC_TASK_QUEUE": queue,
        "PHOTOSYNC_GC_SCHEDULE": "",
    }
    people_with_one_photo(Settings(data_dir=data_dir, database_url=url, secret_key=KEY), users)
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "photosync", "worker", "--concurrency", "1", "--no-beat"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]
    try:
        yield env
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)
        client = redis.Redis.from_url(REDIS)
        client.delete(queue, f"_kombu.binding.{queue}")
        client.close()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> int:
    from population import people_with_one_photo

    from photosync.settings import Settings

    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="photosync-bulk-") as tmp:
        master = people_with_one_photo(Settings(data_dir=Path(tmp) / "data", secret_key=KEY), 1)
    render = rendition_ms(master)
    limit = cores * 1000 / render
    rows = []
    for users in SIZES:
        with tempfile.TemporaryDirectory(prefix="photosync-bulk-") as tmp:
            data = Path(tmp) / "data"
            started = time.perf_counter()
            people_with_one_photo(Settings(data_dir=data, secret_key=KEY), users)
            setup = time.perf_counter() - started
            seconds, peak, cpu = bulk_run(data, concurrency=cores)
            rate = users / seconds
            cpu_ms = cpu * 1000 / users
            rows.append(
                [
                    f"embedded, {users:,} users",
                    f"{rate:,.0f}/s",
                    f"{limit:,.0f}/s",
                    rate / limit,
                    f"{cpu_ms:.2f} ms",
                    render / cpu_ms,
                    f"{peak:,.0f} MB",
                    verdict(rate / limit >= TARGET),
                ]
            )
            print(
                f"  ({users:,} users set up in {setup:.1f} s; run took {seconds:.1f} s, "
                f"{cpu:.1f} s of CPU; load average {os.getloadavg()[0]:.1f})"
            )
    for users in () if EMBEDDED_ONLY else SIZES:
        with tempfile.TemporaryDirectory(prefix="photosync-bulk-") as tmp:
            data = Path(tmp) / "data"
            with two_workers(data, users) as env:
                seconds, peak, _ = bulk_run(data, concurrency=cores, env=env)
            rate = users / seconds
            rows.append(
                [
                    f"2 workers + PostgreSQL, {users:,}",
                    f"{rate:,.0f}/s",
                    f"{limit:,.0f}/s",
                    rate / limit,
                    "",
                    "",
                    f"{peak:,.0f} MB (sender)",
                    verdict(rate / limit >= TARGET),
                ]
            )
            print(f"  ({users:,} users through two workers: {seconds:.1f} s)")
    # Scale-out: photo bytes in S3 (a moto server here), one worker and then two, 1,000 users.
    users = SIZES[0]
    with nullcontext() if EMBEDDED_ONLY else s3_bucket():
        one = 0.0
        for count in () if EMBEDDED_ONLY else (1, 2):
            with tempfile.TemporaryDirectory(prefix="photosync-bulk-") as tmp:
                data = Path(tmp) / "data"
                with two_workers(data, users, count) as env:
                    seconds, peak, _ = bulk_run(data, concurrency=cores, env=env)
            rate = users / seconds
            one = one or rate
            rows.append(
                [
                    f"{count} worker(s) + PostgreSQL + S3, {users:,}",
                    f"{rate:,.0f}/s ({rate / one:.2f}x one)",
                    f"{limit:,.0f}/s",
                    rate / limit,
                    "",
                    "",
                    f"{peak:,.0f} MB (sender)",
                    verdict(rate / limit >= TARGET),
                ]
            )
            print(f"  ({users:,} users through {count} worker(s) on S3: {seconds:.1f} s)")
    print_table(
        [
            "run",
            "users/s",
            "CPU limit",
            "ratio",
            "CPU/user",
            "ratio (CPU)",
            "peak RSS",
            f"target >= {TARGET}",
        ],
        rows,
        title=(
            f"photosync sync now --all --concurrency {cores}: limit = {cores} cores x 1 / "
            f"{render:.2f} ms of CPU (the bare S/M/L rendition of one 648 master); PnP's "
            "uploader: 2/s"
        ),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
