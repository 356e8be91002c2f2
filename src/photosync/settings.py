"""One Settings object, read from PHOTOSYNC_* environment variables.

The defaults run embedded: a SQLite file and a folder of blobs under ``./photosync-data``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PHOTOSYNC_", extra="ignore")

    data_dir: Path = Field(default=Path("photosync-data"))
    # Empty means the embedded SQLite file inside data_dir.
    database_url: str = ""
    # Empty means a random key kept in data_dir/secret.key (never in the repository).
    secret_key: str = ""
    # Public base URL, used in absolute URLs such as PictureURL; empty means "from the request".
    base_url: str = ""

    token_issuer: str = "https://photosync.local/"
    token_audience: str = "api://photosync"
    token_lifetime_seconds: int = 3600
    session_lifetime_seconds: int = 8 * 3600

    max_upload_bytes: int = 4 * 1024 * 1024
    max_pixels: int = 50_000_000

    # SharePoint 2013+ makes Large 300 px; some SharePoint Online tools use 200.
    large_thumbnail_size: int = 300
    photo_expiration_hours: float = 24.0
    photo_error_expiration_hours: float = 1.0
    sync_policy: str = "on-user-action"

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'photosync.db').resolve()}"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @cached_property
    def signing_key(self) -> str:
        """The secret that signs tokens and cookies, created on first use if not configured."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret.key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".secret.{secrets.token_hex(8)}")
            tmp.write_text(secrets.token_urlsafe(48))
            tmp.chmod(0o600)
            # link() never replaces: two processes starting at once both end up with the first key.
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
            tmp.unlink()
        return path.read_text().strip()
