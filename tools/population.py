"""PEOPLE users who each have a mailbox photo, made in about a second: for the bulk tests and
``make bench``. One real upload, then its version rows copied for everyone else (the same
renditions, an etag of their own) in one transaction, instead of thousands of uploads.

Development tooling: it writes the directory's and the mailbox's rows directly, which photosync
itself never does across roles.
"""

from __future__ import annotations

from sqlalchemy import insert, select

from photosync.context import Context
from photosync.db import new_id, utcnow
from photosync.directory.models import User
from photosync.imaging.testimages import photo_jpeg
from photosync.mailbox.models import MailboxPhoto, PhotoRendition, PhotoVersion
from photosync.services import build_services
from photosync.settings import Settings

BATCH = 5000


def people_with_one_photo(settings: Settings, people: int, seed: int = 9) -> bytes:
    """``p0000@example.org`` … with the same 800×700 photo each (a 648 px master, the largest
    size Graph keeps): that master's bytes, as the mailbox stored them."""
    ctx = Context.from_settings(settings)
    ctx.db.upgrade()
    services = build_services(ctx)
    first = services.directory.add_user("p0000@example.org", "P 0")
    info = services.mailbox.set_photo(first.id, photo_jpeg(800, 700, seed=seed), actor="test")
    assert info.master_size == 648, info.master_size
    stored = services.mailbox.stored_photo(first.id)
    assert stored is not None
    master = services.mailbox.rendition(stored)
    now = utcnow()
    with ctx.db.engine.begin() as conn:
        renditions = conn.execute(
            select(PhotoRendition).where(PhotoRendition.version_id == info.version_id)
        ).all()
        for start in range(1, people, BATCH):
            users, versions, rows, pointers = [], [], [], []
            for n in range(start, min(start + BATCH, people)):
                user_id, version_id = new_id(), new_id()
                upn = f"p{n:04d}@example.org"
                users.append(
                    {
                        "id": user_id,
                        "upn": upn,
                        "upn_key": upn,
                        "display_name": f"P {n}",
                        "mail": upn,
                    }
                )
                versions.append(
                    {
                        "id": version_id,
                        "user_id": user_id,
                        "etag": f"{n:08X}",
                        "source_sha256": "0" * 64,
                        "source_format": "jpeg",
                        "source_width": 700,
                        "source_height": 600,
                        "master_size": info.master_size,
                        "created_at": now,
                        "created_by": "test",
                    }
                )
                rows += [
                    {
                        "version_id": version_id,
                        "size": r.size,
                        "sha256": r.sha256,
                        "length": r.length,
                    }
                    for r in renditions
                ]
                pointers.append({"user_id": user_id, "current_version_id": version_id})
            conn.execute(insert(User), users)
            conn.execute(insert(PhotoVersion), versions)
            conn.execute(insert(PhotoRendition), rows)
            conn.execute(insert(MailboxPhoto), pointers)
    ctx.db.dispose()
    return master
