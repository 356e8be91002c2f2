"""``photosync backup DIR`` and ``photosync restore DIR``: a portable, consistent copy.

A backup is a folder:

- ``tables/<table>.jsonl``: every row of every table, one JSON object a line, all read inside ONE
  snapshot transaction (PostgreSQL: REPEATABLE READ READ ONLY; SQLite: one read transaction,
  which in WAL mode sees the database as of its first read while writers carry on);
- ``blobs/ab/cd/<sha256>``: the photo files those rows name, copied after the snapshot (a blob is
  written before the row that points to it, so every one the snapshot names exists);
- ``manifest.json``, written last (a folder without it is an unfinished backup): the Alembic
  revision, the kind of each column that JSON cannot carry as is, each table's row count and
  its file's sha256, and the blobs' count and bytes (a blob's name is its sha256).

A logical copy rather than ``pg_dump`` or SQLite's backup file, because a restore must cross
database kinds (SQLite + folder → PostgreSQL + S3 is how a deployment scales out). A restore goes
into an EMPTY deployment only (its blob store may hold files of this same backup, left by a
restore that stopped before its rows, so that it can be run again): it migrates the database
to the backup's revision, checks every file against the manifest, copies the blobs (checking
each one's sha256), inserts the rows in dependency order in one transaction, and then migrates
to the newest schema.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import JSON, DateTime, Integer, LargeBinary, MetaData, Table, func, select, text
from sqlalchemy.engine import Connection

from photosync.blobs import FilesystemBlobStore, sha256_hex
from photosync.context import Context
from photosync.db import Database
from photosync.mailbox.models import PhotoRendition
from photosync.migrations import alembic_config, upgrade
from photosync.models import metadata

FORMAT = "photosync-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
# The columns that name a blob of the blob store (the rest of the bytes live in the database).
BLOB_REFERENCES = {PhotoRendition.__tablename__: "sha256"}
_BATCH = 1000
COPY_THREADS = 8

Say = Callable[[str], None]


class BackupError(Exception):
    """Why a backup or a restore cannot be done, in one sentence; nothing was changed."""


@dataclass(frozen=True)
class Summary:
    tables: int
    rows: int
    blobs: int
    blob_bytes: int
    revision: str


# --- backup ------------------------------------------------------------------------------------


def backup(ctx: Context, folder: Path, say: Say = lambda _: None) -> Summary:
    if folder.exists() and any(folder.iterdir()):
        raise BackupError(f"{folder} is not empty: back up into a new or empty folder")
    (folder / "tables").mkdir(parents=True, exist_ok=True)
    tables: dict[str, dict[str, object]] = {}
    kinds: dict[str, dict[str, str]] = {}
    wanted: set[str] = set()
    with _snapshot(ctx.db) as conn:
        revision = MigrationContext.configure(conn).get_current_revision()
        if revision is None:
            raise BackupError("the database has no photosync schema: nothing to back up")
        for table in metadata.sorted_tables:
            kinds[table.name] = {c.name: _kind(c.type) for c in table.columns}
            kinds[table.name] = {name: k for name, k in kinds[table.name].items() if k}
            blob_column = BLOB_REFERENCES.get(table.name)
            path = folder / "tables" / f"{table.name}.jsonl"
            digest = hashlib.sha256()
            rows = 0
            with path.open("wb") as out:
                result = conn.execution_options(yield_per=_BATCH).execute(select(table))
                for row in result.mappings():
                    line = json.dumps(_encode(row), ensure_ascii=False).encode() + b"\n"
                    out.write(line)
                    digest.update(line)
                    rows += 1
                    if blob_column is not None:
                        wanted.add(row[blob_column])
            tables[table.name] = {"rows": rows, "sha256": digest.hexdigest()}
            say(f"{table.name}: {rows} rows")
    copy = FilesystemBlobStore(folder / "blobs")

    def copy_one(key: str) -> int:
        try:
            data = ctx.blobs.get(key)
        except KeyError:
            raise BackupError(
                f"photo file {key} named by the database is missing from the blob store "
                "(was photosync gc running?); run the backup again"
            ) from None
        copy.put(data)
        return len(data)

    size = _each(copy_one, sorted(wanted))
    say(f"{len(wanted)} photo files ({size} bytes)")
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_at": datetime.now(UTC).isoformat(),
        "alembic_revision": revision,
        "source": {"database": ctx.db.engine.dialect.name, "blob_store": type(ctx.blobs).__name__},
        "tables": tables,
        "columns": kinds,
        "blobs": {"count": len(wanted), "bytes": size},
    }
    tmp = folder / f".{MANIFEST}"
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    tmp.rename(folder / MANIFEST)
    return Summary(
        len(tables), sum(int(str(t["rows"])) for t in tables.values()), len(wanted), size, revision
    )


class _snapshot:
    """A connection whose every read sees the database at one moment, changing nothing."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def __enter__(self) -> Connection:
        conn = self.db.engine.connect()
        if not self.db.is_sqlite:
            conn = conn.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        self.conn = conn
        self.tx = conn.begin()  # SQLite: BEGIN DEFERRED; the first read fixes the snapshot
        return conn

    def __exit__(self, *exc: object) -> None:
        self.tx.rollback()  # read only: nothing to commit
        self.conn.close()


def _kind(column_type: Any) -> str:
    if isinstance(column_type, DateTime) or isinstance(
        getattr(column_type, "impl", None), DateTime
    ):
        return "datetime"
    if isinstance(column_type, LargeBinary):
        return "bytes"
    if isinstance(column_type, JSON):
        return "json"
    return ""


def _encode(row: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in row.items():
        if isinstance(value, datetime):
            value = value.astimezone(UTC).isoformat()
        elif isinstance(value, bytes | memoryview):
            value = base64.b64encode(bytes(value)).decode()
        out[name] = value
    return out


# --- restore -----------------------------------------------------------------------------------


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.is_file():
        raise BackupError(
            f"{folder} has no {MANIFEST}: not a photosync backup, or an unfinished one"
        )
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
    except ValueError:
        raise BackupError(f"{path} is not valid JSON") from None
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(f"{path} is not a photosync backup of format {FORMAT_VERSION}")
    return manifest


def restore(ctx: Context, folder: Path, say: Say = lambda _: None) -> Summary:
    manifest = read_manifest(folder)
    revision = str(manifest["alembic_revision"])
    script = ScriptDirectory.from_config(alembic_config(ctx.db.engine))
    if script.get_revision(revision) is None:
        raise BackupError(f"the backup's schema {revision} is unknown to this photosync version")
    _check_files(folder, manifest)
    source = FilesystemBlobStore(folder / "blobs")
    keys = list(source.keys())
    if len(keys) != (expected := manifest["blobs"]["count"]):
        raise BackupError(f"the backup has {len(keys)} photo files, its manifest says {expected}")
    _check_empty(ctx, set(keys))
    _migrate_to(ctx.db, script, revision)

    def copy_one(key: str) -> int:
        data = source.get(key)
        if sha256_hex(data) != key:
            raise BackupError(f"photo file {key} in the backup is damaged (its sha256 differs)")
        ctx.blobs.put(data)
        return len(data)

    size = _each(copy_one, keys)  # blobs before the rows that point to them
    count = len(keys)
    say(f"{count} photo files ({size} bytes)")

    rows = 0
    live = MetaData()
    with ctx.db.write_connection() as conn:
        live.reflect(conn)
        for table in metadata.sorted_tables:  # parents before children
            if table.name not in manifest["tables"]:
                continue
            target = live.tables[table.name]
            n = _insert(conn, target, folder, manifest["columns"].get(table.name, {}))
            rows += n
            say(f"{table.name}: {n} rows")
        if not ctx.db.is_sqlite:
            _fix_sequences(conn, live)
    upgrade(ctx.db.engine)  # an older backup comes up to the newest schema
    return Summary(len(manifest["tables"]), rows, count, size, revision)


def _each(copy_one: Callable[[str], int], keys: list[str]) -> int:
    """``copy_one`` of every key, several at once (an object store's latency, not its bandwidth,
    is what a copy of many small files waits on); the bytes copied."""
    with ThreadPoolExecutor(COPY_THREADS) as pool:
        return sum(pool.map(copy_one, keys))


def _check_files(folder: Path, manifest: dict[str, Any]) -> None:
    known = {table.name for table in metadata.sorted_tables}
    for name, expected in manifest["tables"].items():
        if name not in known:
            raise BackupError(f"the backup has a table {name} this photosync version does not know")
        path = folder / "tables" / f"{name}.jsonl"
        if not path.is_file():
            raise BackupError(f"{path} is missing from the backup")
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        if digest.hexdigest() != expected["sha256"]:
            raise BackupError(f"{path} is damaged (its sha256 differs from the manifest's)")


def _check_empty(ctx: Context, backed_up: set[str]) -> None:
    """No row in the database; in the blob store, nothing but photo files of this backup (left
    by an earlier attempt that stopped before its rows: the restore can be run again)."""
    live = MetaData()
    with ctx.db.engine.connect() as conn:
        live.reflect(conn)
        for table in live.sorted_tables:
            if table.name == "alembic_version":
                continue
            if conn.scalar(select(func.count()).select_from(table)):
                raise BackupError(
                    f"the target database is not empty (table {table.name} has rows): "
                    "restore into a new deployment"
                )
    if not set(ctx.blobs.keys()) <= backed_up:
        raise BackupError(
            "the target blob store has photo files that are not in this backup: "
            "restore into a new deployment"
        )


def _migrate_to(db: Database, script: ScriptDirectory, revision: str) -> None:
    """The empty target's schema at exactly the backup's revision, up or down."""
    with db.engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current == revision:
        return
    if current is not None and revision in {
        r.revision for r in script.iterate_revisions(current, "base")
    }:
        from alembic import command

        command.downgrade(alembic_config(db.engine), revision)
    else:
        upgrade(db.engine, revision)


def _insert(conn: Connection, table: Table, folder: Path, kinds: dict[str, str]) -> int:
    count = 0
    batch: list[dict[str, Any]] = []
    for row in _rows(folder / "tables" / f"{table.name}.jsonl"):
        batch.append(_decode(row, kinds))
        if len(batch) >= _BATCH:
            conn.execute(table.insert(), batch)
            count += len(batch)
            batch = []
    if batch:
        conn.execute(table.insert(), batch)
        count += len(batch)
    return count


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def _decode(row: dict[str, Any], kinds: dict[str, str]) -> dict[str, Any]:
    for name, kind in kinds.items():
        value = row.get(name)
        if value is None:
            continue
        if kind == "datetime":
            row[name] = datetime.fromisoformat(value).astimezone(UTC)
        elif kind == "bytes":
            row[name] = base64.b64decode(value)
    return row


def _fix_sequences(conn: Connection, live: MetaData) -> None:
    """PostgreSQL sequences behind integer keys continue after the restored rows."""
    for table in live.sorted_tables:
        for column in table.primary_key.columns:
            if not isinstance(column.type, Integer):
                continue
            sequence = conn.scalar(
                text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": column.name}
            )
            if sequence:
                highest = f'SELECT max("{column.name}") FROM "{table.name}"'
                conn.execute(
                    text(f"SELECT setval(:s, COALESCE(({highest}), 0) + 1, false)"),
                    {"s": sequence},
                )
