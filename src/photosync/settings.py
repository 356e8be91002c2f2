"""One Settings object, read from PHOTOSYNC_* environment variables.

The defaults run embedded: a SQLite file and a folder of blobs under ``./photosync-data``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from photosync.directory.ratelimit import UploadRate

ENV_PREFIX = "PHOTOSYNC_"
# When sites checks the mailbox for a new photo (photosync.sync.policy and sync.tasks):
# "automatic" also checks on every photo.changed event.
SyncPolicy = Literal["on-user-action", "manual", "automatic"]
SYNC_POLICIES: tuple[str, ...] = get_args(SyncPolicy)
# Who may fetch /avatar/{hash} (photosync.avatar): anyone, signed-in callers, or nobody.
AvatarAccess = Literal["public", "signed-in", "off"]
# The Celery brokers photosync is tested with (Redis, RabbitMQ).
BROKER_SCHEMES = ("redis", "rediss", "amqp", "amqps", "pyamqp")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

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
    # Password and secret hashes (argon2id, 64 MiB each) run at once (empty: one per two
    # cores), and the CPU niceness of the threads that run them (photosync.directory.passwords).
    hashing_at_once: int | None = Field(default=None, ge=1, le=64)
    hashing_niceness: int = Field(default=0, ge=0, le=19)

    max_upload_bytes: int = 4 * 1024 * 1024
    max_pixels: int = 50_000_000

    # SharePoint 2013+ makes Large 300 px; some SharePoint Online tools use 200.
    large_thumbnail_size: int = 300
    photo_expiration_hours: float = 24.0
    photo_error_expiration_hours: float = 1.0
    sync_policy: SyncPolicy = "on-user-action"
    # A cron expression (five fields, UTC): a check of every user, whatever the policy.
    sync_schedule: str = ""
    # When old photo versions and unused blobs are collected (cron, UTC; empty: only by hand).
    gc_schedule: str = "17 3 * * *"
    # Empty: sync's tasks run in this process's thread pool. Set (redis://…, amqp://…): they
    # go to Celery through this broker, and `photosync worker` processes run them.
    broker_url: str = ""
    # The broker queue of this deployment's tasks (several deployments can share a broker).
    task_queue: str = "photosync"
    # Checks that run at once in the embedded thread pool.
    task_threads: int = Field(default=4, ge=1, le=64)

    @field_validator("sync_schedule", "gc_schedule")
    @classmethod
    def _valid_schedule(cls, value: str) -> str:
        if value.strip():
            # Imported here: only a deployment with a schedule pays for importing Celery.
            from photosync.sync.scheduler import parse_schedule

            parse_schedule(value)
        return value.strip()

    @field_validator("broker_url")
    @classmethod
    def _valid_broker(cls, value: str) -> str:
        scheme = value.partition("://")[0].lower()
        if value and ("://" not in value or scheme not in BROKER_SCHEMES):
            raise ValueError(f"expected a URL starting with {'://, '.join(BROKER_SCHEMES)}://")
        return value

    # --- serving in production (HTTPS, metrics, logs) -------------------------------------
    # Strict-Transport-Security max-age (seconds) on answers given over HTTPS (0: no header).
    hsts_max_age: int = Field(default=31_536_000, ge=0)
    # Seconds an idle keep-alive connection stays open. Longer than any client's or proxy's
    # own idle expiry (httpx 5 s, AWS ALB 60 s), else the server may close a connection just
    # as the client sends on it, which the client sees as an error (uvicorn's default: 5 s).
    keep_alive_seconds: int = Field(default=75, ge=1, le=3600)
    # "json": one JSON object per log line (with the request id); "text": for a terminal.
    log_format: Literal["text", "json"] = "text"
    # GET /metrics answers a request carrying this bearer token (empty: none does) ...
    metrics_token: str = ""
    # ... or coming from these addresses or CIDRs, comma-separated (empty: none).
    metrics_allow: str = "127.0.0.0/8,::1"

    @field_validator("metrics_allow")
    @classmethod
    def _valid_networks(cls, value: str) -> str:
        from photosync.metrics import parse_networks

        parse_networks(value)
        return value

    # --- Storage for more than one machine (blobs/s3.py; docs/operations.md) ---
    # Where photo bytes live: a folder under data_dir, or an S3-compatible bucket. Credentials
    # for S3 come the standard AWS way (AWS_ACCESS_KEY_ID…, AWS_PROFILE, an instance role).
    blob_store: Literal["filesystem", "s3"] = "filesystem"
    s3_bucket: str = ""
    # Empty: AWS itself; set for another S3-compatible service (MinIO, Ceph, R2, …).
    s3_endpoint_url: str = ""
    # Keys are PREFIX + sha256, so several deployments can share one bucket.
    s3_prefix: str = ""

    @model_validator(mode="after")
    def _shared_deployment(self) -> Settings:
        if self.blob_store == "s3" and not self.s3_bucket:
            raise ValueError("PHOTOSYNC_BLOB_STORE=s3 needs PHOTOSYNC_S3_BUCKET")
        # A key made on first use lives in one machine's data_dir; servers sharing a database
        # or a bucket would each make their own and reject each other's tokens and cookies.
        if self.shared and not self.secret_key:
            raise ValueError(
                "PHOTOSYNC_SECRET_KEY must be set when the database is not the embedded SQLite "
                "or photos are in S3: every server of the deployment signs with that one key"
            )
        return self

    @property
    def shared(self) -> bool:
        """Whether this deployment's state is meant for several processes or machines."""
        return self.blob_store == "s3" or not self.sqlalchemy_url.startswith("sqlite")

    # Photo versions kept per user (the current photo and a pending preview among them, always);
    # ``photosync gc`` deletes older ones, and the blobs no version uses any more.
    photo_history_keep: int = Field(default=10, ge=0)

    # --- LDAP and Active Directory (sync/ldap.py: --from ldap, --to ldap) -----------------------
    # ldap://host[:port] or ldaps://host[:port]; empty: no directory configured.
    ldap_url: str = ""
    # Upgrade an ldap:// connection with StartTLS before binding.
    ldap_starttls: bool = False
    # Empty: an anonymous bind (read-only directories).
    ldap_bind_dn: str = ""
    ldap_password: str = ""
    # A file holding the password (a mounted secret); wins over ldap_password.
    ldap_password_file: Path | None = None
    ldap_base_dn: str = ""
    ldap_filter: str = "(objectClass=person)"
    # Which attribute names a person: userPrincipalName (Active Directory) or mail (OpenLDAP's
    # inetOrgPerson).
    ldap_match_attribute: str = "userPrincipalName"
    # Photo attributes read, first found wins; and written.
    ldap_read_attributes: str = "jpegPhoto,thumbnailPhoto"
    ldap_write_attributes: str = "thumbnailPhoto"
    # thumbnailPhoto's pixel size (Active Directory recommends 96); jpegPhoto is written at 648.
    ldap_thumbnail_size: int = Field(default=96, ge=16, le=648)
    # CA certificates (PEM) that verify ldaps:// and StartTLS; empty: the system's.
    ldap_ca_bundle: Path | None = None
    # "automatic": a saved or deleted mailbox photo is written to the directory within
    # seconds (a --from mailbox --to ldap check of that user); "off": only by `sync now`.
    ldap_export: Literal["off", "automatic"] = "off"

    @field_validator("ldap_url")
    @classmethod
    def _valid_ldap_url(cls, value: str) -> str:
        value = value.strip()
        if value and not value.lower().startswith(("ldap://", "ldaps://")):
            raise ValueError("expected a URL starting with ldap:// or ldaps://")
        return value

    @field_validator("ldap_write_attributes", "ldap_read_attributes")
    @classmethod
    def _valid_photo_attributes(cls, value: str) -> str:
        names = [name.strip() for name in value.split(",") if name.strip()]
        unknown = [n for n in names if n.lower() not in ("thumbnailphoto", "jpegphoto")]
        if not names or unknown:
            raise ValueError("expected thumbnailPhoto and/or jpegPhoto, separated by commas")
        return ",".join(names)

    # --- Microsoft 365: the API rate limits photosync answers with, and the connector --------
    # Per app or user, on Graph (/v1.0) and SharePoint (/_api, /_layouts, /User Photos) each:
    # requests per second and requests in flight; over either, 429 with Retry-After, as
    # Microsoft answers. Empty (the default): no limit, at no cost.
    api_rate_limit: float | None = Field(default=None, gt=0)
    api_max_concurrent: int | None = Field(default=None, ge=1)
    # Photo uploads per person over HTTP (Graph PUT/PATCH, SetMyProfilePicture, Files/add, the
    # portal's form), counted in the database across processes: "10/minute", "30/hour",
    # "5/10second", or "off". Over it: 429 with Retry-After (photosync.directory.ratelimit).
    upload_rate_limit: str = "10/minute"

    @field_validator("upload_rate_limit")
    @classmethod
    def _valid_upload_rate(cls, value: str) -> str:
        from photosync.directory.ratelimit import parse_rate

        parse_rate(value)
        return value.strip()

    @cached_property
    def upload_rate(self) -> UploadRate | None:
        """``upload_rate_limit`` parsed (None: no limit)."""
        from photosync.directory.ratelimit import parse_rate

        return parse_rate(self.upload_rate_limit)

    # The tenant the m365 source and targets talk to (photosync.m365). Authority: the login
    # host, Graph: the Graph host, MySite: the My Site host (https://contoso-my.sharepoint.com),
    # Admin: the SharePoint admin site (https://contoso-admin.sharepoint.com).
    m365_tenant_id: str = ""
    m365_client_id: str = ""
    m365_client_secret: str = ""
    # A PEM file with the app's certificate and its private key (SharePoint needs it).
    m365_certificate: Path | None = None
    m365_authority: str = "https://login.microsoftonline.com"
    m365_graph_url: str = "https://graph.microsoft.com"
    m365_mysite_url: str = ""
    m365_admin_url: str = ""
    # A CA bundle to verify the tenant's hosts with (private CAs, tests); empty: the system's.
    m365_ca_bundle: Path | None = None
    # Photo requests in flight at once (Graph allows 4 per app) and retries of a throttled one.
    m365_concurrency: int = Field(default=4, ge=1, le=64)
    m365_max_retries: int = Field(default=6, ge=0, le=20)

    @field_validator(
        "api_rate_limit",
        "api_max_concurrent",
        "hashing_at_once",
        "m365_certificate",
        "m365_ca_bundle",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    # --- avatar URL (/avatar/{hash}, the Libravatar/Gravatar protocol; photosync.avatar) ---
    # "signed-in": a portal cookie or a bearer token; "public": anyone; "off": 404 for all.
    avatar_access: AvatarAccess = "signed-in"
    # URL prefixes a ``d=URL`` default may redirect to, separated by commas or spaces (e.g.
    # "https://intranet.example.org/avatars/"); any other URL gets the fallback image instead.
    avatar_default_urls: str = ""
    # Seconds a client may reuse an avatar without asking (the photo can change); a URL with
    # ``?v=`` naming the photo's current version is immutable instead.
    avatar_max_age: int = Field(default=300, ge=0)

    @field_validator("avatar_default_urls")
    @classmethod
    def _valid_default_urls(cls, value: str) -> str:
        for prefix in value.replace(",", " ").split():
            scheme, _, rest = prefix.partition("://")
            if scheme.lower() not in ("http", "https") or not rest.split("/", 1)[0]:
                raise ValueError(f"expected URL prefixes such as https://host/path/, not {prefix}")
        return value

    @property
    def avatar_default_url_prefixes(self) -> tuple[str, ...]:
        return tuple(self.avatar_default_urls.replace(",", " ").split())

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


class SettingsError(ValueError):
    """A PHOTOSYNC_* value that cannot be used, in one line naming it and what it expects."""


# What a field expects, by pydantic's error type (the field's own values for a Literal).
_EXPECTS = {
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_parsing": "a number",
    "bool_parsing": "true or false",
    "path_type": "a path",
}


def load_settings(**overrides: Any) -> Settings:
    """The settings from the environment (and ``overrides``), or SettingsError."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError("; ".join(_describe(error) for error in exc.errors())) from None


def _describe(error: ErrorDetails) -> str:
    if not error["loc"]:  # a rule across settings: its own words name them
        return str(error["msg"]).removeprefix("Value error, ")
    name = str(error["loc"][0]) if error["loc"] else "?"
    got = str(error.get("input", ""))
    got = got if len(got) <= 40 else f"{got[:40]}…"
    field = Settings.model_fields.get(name)
    choices = get_args(field.annotation) if field is not None else ()
    if error["type"] == "literal_error" and choices:
        reason = f"expected one of {', '.join(str(c) for c in choices)}"
    elif error["type"] in _EXPECTS:
        reason = f"expected {_EXPECTS[error['type']]}"
    elif error["type"] == "value_error":  # our validators' own words
        reason = str(error["msg"]).removeprefix("Value error, ")
    else:
        reason = str(error["msg"]).replace("Input should be", "expected")
    return f"{ENV_PREFIX}{name.upper()}={got!r} is not valid: {reason}"
