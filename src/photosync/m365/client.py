"""A Microsoft 365 tenant over HTTP: msal's tokens, one httpx client, Microsoft's throttling rules.

msal (ConfidentialClientApplication) gets and caches app-only tokens per resource: a certificate
credential (a client assertion signed with the app's key, which SharePoint Online requires) or a
client secret (enough for Graph). Every request carries ``User-Agent: NONISV|photosync|…`` as
Microsoft asks of tools, at most ``concurrency`` are in flight at once (Graph allows 4 photo
requests per app), and a 429 or 503 is retried after its ``Retry-After`` (or an exponential
back-off), a bounded number of times. Retries are counted per thread, so that the check that
needed them can say so in the run's report.
"""

from __future__ import annotations

import functools
import re
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from photosync import __version__
from photosync.settings import Settings
from photosync.sync.interfaces import ConnectorError

USER_AGENT = f"NONISV|photosync|photosync/{__version__}"
RETRY_STATUSES = frozenset({429, 503})
# Microsoft's login hosts, which msal knows; any other authority (a stand-in such as photosync
# itself, or a national cloud's proxy) skips msal's instance discovery at Microsoft.
MICROSOFT_LOGIN_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoftonline.us",
        "login.partner.microsoftonline.cn",
        "login.windows.net",
        "login.microsoft.com",
    }
)
_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)
# A Retry-After longer than this fails the request instead of holding a check for minutes.
MAX_WAIT_SECONDS = 120.0


class M365Error(ConnectorError):
    """The tenant refused or could not be reached: one sentence for the run's report."""


@dataclass(frozen=True)
class TenantConfig:
    """Where the tenant is and how photosync signs in to it (PHOTOSYNC_M365_* settings)."""

    tenant_id: str
    client_id: str
    client_secret: str
    certificate: Path | None
    authority: str
    graph_url: str
    mysite_url: str
    admin_url: str
    ca_bundle: Path | None
    concurrency: int
    max_retries: int

    @classmethod
    def from_settings(cls, settings: Settings) -> TenantConfig:
        missing = [
            f"PHOTOSYNC_M365_{name.upper()}"
            for name in ("tenant_id", "client_id")
            if not getattr(settings, f"m365_{name}")
        ]
        if not settings.m365_client_secret and settings.m365_certificate is None:
            missing.append("PHOTOSYNC_M365_CERTIFICATE (or _CLIENT_SECRET)")
        if missing:
            raise M365Error(f"the Microsoft 365 connector needs {', '.join(missing)}")
        return cls(
            tenant_id=settings.m365_tenant_id,
            client_id=settings.m365_client_id,
            client_secret=settings.m365_client_secret,
            certificate=settings.m365_certificate,
            authority=settings.m365_authority.rstrip("/"),
            graph_url=settings.m365_graph_url.rstrip("/"),
            mysite_url=settings.m365_mysite_url.rstrip("/"),
            admin_url=settings.m365_admin_url.rstrip("/"),
            ca_bundle=settings.m365_ca_bundle,
            concurrency=settings.m365_concurrency,
            max_retries=settings.m365_max_retries,
        )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _credential(config: TenantConfig) -> str | dict[str, str]:
    if config.certificate is None:
        return config.client_secret
    try:
        pem = config.certificate.read_text()
    except OSError as exc:
        raise M365Error(f"cannot read {config.certificate}: {exc.strerror}") from exc
    certificates = _CERTIFICATE.findall(pem)
    if not certificates or "PRIVATE KEY-----" not in pem:
        raise M365Error(f"{config.certificate} must hold the certificate and its private key (PEM)")
    # msal takes the key and the public certificate apart; with the certificate it signs with
    # the SHA-256 thumbprint (x5t#S256) and PS256, as Entra ID prefers.
    key = _CERTIFICATE.sub("", pem).strip()
    certificate = certificates[0]
    return {"private_key": key, "public_certificate": certificate}


class M365Client:
    def __init__(
        self,
        config: TenantConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        # Imported here: only a route that names Microsoft 365 pays for importing msal.
        import msal

        self.config = config
        self.sleep = sleep
        verify: str | bool = str(config.ca_bundle) if config.ca_bundle else True
        host = urlsplit(config.authority).hostname or ""
        try:
            self._msal = msal.ConfidentialClientApplication(
                config.client_id,
                authority=f"{config.authority}/{config.tenant_id}",
                client_credential=_credential(config),
                instance_discovery=host in MICROSOFT_LOGIN_HOSTS,
                http_client=_requests_session(verify),
                app_name="photosync",
                app_version=__version__,
            )
        except (ValueError, OSError) as exc:  # discovery failed, host out of reach
            raise M365Error(f"cannot sign in at {config.authority}: {exc}") from exc
        self._token_lock = threading.Lock()
        self.http = httpx.Client(
            verify=ssl.create_default_context(cafile=verify) if isinstance(verify, str) else True,
            timeout=httpx.Timeout(60.0, connect=10.0),
            headers={"User-Agent": USER_AGENT},
            limits=httpx.Limits(max_connections=config.concurrency * 2),
        )
        self._slots = threading.BoundedSemaphore(config.concurrency)
        self._local = threading.local()

    def close(self) -> None:
        self.http.close()

    # --- tokens ------------------------------------------------------------------------------

    def token(self, resource: str) -> str:
        """An app-only token for ``resource`` (its origin), from msal's cache or the tenant."""
        scope = f"{_origin(resource)}/.default"
        with self._token_lock:
            try:
                result: dict[str, Any] = self._msal.acquire_token_for_client(scopes=[scope])
            except (ValueError, OSError) as exc:  # discovery failed, host out of reach
                raise M365Error(f"cannot sign in to {self.config.authority}: {exc}") from exc
        if "access_token" not in result:
            reason = result.get("error_description") or result.get("error") or "no token"
            raise M365Error(f"the tenant refused a token for {scope}: {reason.splitlines()[0]}")
        return str(result["access_token"])

    # --- requests ----------------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        json: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One call, retried after 429/503 (Retry-After, else back-off) and transport errors,
        at most ``max_retries`` times; the last answer otherwise, whatever its status."""
        attempt = 0
        while True:
            sent = {"Authorization": f"Bearer {self.token(url)}", **(headers or {})}
            try:
                with self._slots:
                    response = self.http.request(
                        method, url, content=content, json=json, headers=sent
                    )
            except httpx.TransportError as exc:
                if attempt >= self.config.max_retries:
                    raise M365Error(f"cannot reach {_origin(url)}: {exc}") from exc
                wait = self._backoff(attempt)
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                if attempt >= self.config.max_retries:
                    raise M365Error(
                        f"{_origin(url)} still answered {response.status_code} after "
                        f"{attempt} retries"
                    )
                wait = _retry_after(response) or self._backoff(attempt)
                if wait > MAX_WAIT_SECONDS:
                    raise M365Error(
                        f"{_origin(url)} asks to wait {wait:.0f} s (Retry-After); try later"
                    )
            attempt += 1
            self._count_retry()
            self.sleep(wait)

    def _backoff(self, attempt: int) -> float:
        return float(min(2**attempt, 32))

    def _count_retry(self) -> None:
        self._local.retries = getattr(self._local, "retries", 0) + 1

    def take_retries(self) -> int:
        """Retries this thread needed since it last asked (one check's, for its note)."""
        count: int = getattr(self._local, "retries", 0)
        self._local.retries = 0
        return count


def _requests_session(verify: str | bool) -> Any:
    """msal's HTTP client (requests), verifying with ``verify`` on every request: requests lets
    REQUESTS_CA_BUNDLE in the environment override a session's own ``verify``."""
    import requests

    session = requests.Session()
    session.request = functools.partial(session.request, verify=verify, timeout=60)  # type: ignore[method-assign]
    return session


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:  # an HTTP date: rare from Microsoft; fall back to the back-off
        return None


def graph_error(response: httpx.Response) -> str:
    """The code and message of a Graph or SharePoint error body, for a one-sentence error."""
    try:
        error = response.json().get("error", {})
    except ValueError:
        return f"HTTP {response.status_code}"
    if not isinstance(error, dict):
        return f"HTTP {response.status_code}: {error}"
    message = error.get("message", "")
    if isinstance(message, dict):  # SharePoint: {"lang": …, "value": …}
        message = message.get("value", "")
    return f"HTTP {response.status_code} {error.get('code', '')}: {message}".strip()
