"""Signed JWT access tokens with Graph-style claims (``scp`` for delegated, ``roles`` for apps)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import jwt

from photosync.ttlcache import TTLCache

ALGORITHM = "HS256"

# What a user signed in with a password gets: their own photo, and other people's basic profile.
DELEGATED_SCOPES = ("User.Read", "User.ReadWrite", "User.ReadBasic.All")
# Microsoft Graph's resource, by URL and by application id: what ``scope=…/.default`` names.
GRAPH_RESOURCES = ("https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000")
# Entra ID's ``appidacr``: how an app authenticated (1 a secret, 2 a certificate).
BY_SECRET, BY_CERTIFICATE = "1", "2"
# Application roles an admin may grant a registered app.
APP_ROLES = (
    "User.Read.All",
    "User.ReadWrite.All",
    "ProfilePhoto.Read.All",
    "ProfilePhoto.ReadWrite.All",
    "Sites.Read.All",
    "Sites.FullControl.All",
)


class InvalidToken(Exception):
    pass


@dataclass(frozen=True)
class TokenClaims:
    kind: Literal["user", "app"]
    subject: str  # user id or app client id
    scopes: frozenset[str]
    roles: frozenset[str]
    session_id: str | None
    expires_at: datetime
    audience: str = ""


@dataclass(frozen=True)
class TokenIssuer:
    key: str
    issuer: str
    audience: str
    lifetime: timedelta
    # Other audiences tokens may be issued for and are accepted with: the resources this
    # server plays (Graph, the SharePoint host), each asked for as ``scope=<resource>/.default``.
    resources: frozenset[str] = frozenset()
    # Verifying an HS256 JWT costs more than serving a small cached photo. The claims of a token
    # depend only on its exact bytes and our key, so a token seen before is looked up instead of
    # re-parsed; its expiry is still checked against the clock on every request.
    _verified: TTLCache[str, TokenClaims] = field(
        default_factory=lambda: TTLCache(ttl=3600.0, max_items=20_000), repr=False, compare=False
    )

    def issue_user_token(
        self, user_id: str, upn: str, session_id: str, scopes: tuple[str, ...], now: datetime
    ) -> str:
        return self._sign(
            {
                "sub": user_id,
                "oid": user_id,
                "upn": upn,
                "idtyp": "user",
                "scp": " ".join(scopes),
                "sid": session_id,
            },
            now,
        )

    def issue_app_token(
        self,
        client_id: str,
        roles: list[str],
        now: datetime,
        *,
        audience: str | None = None,
        credential: str = BY_SECRET,
    ) -> str:
        return self._sign(
            {
                "sub": client_id,
                "appid": client_id,
                "appidacr": credential,
                "idtyp": "app",
                "roles": list(roles),
            },
            now,
            audience,
        )

    def accepts(self, audience: str) -> bool:
        """Whether tokens for ``audience`` (a resource, without ``/.default``) are ours."""
        return audience.rstrip("/") == self.audience or audience.rstrip("/") in self.resources

    def _sign(self, claims: dict[str, Any], now: datetime, audience: str | None = None) -> str:
        payload = {
            **claims,
            "iss": self.issuer,
            "aud": (audience or self.audience).rstrip("/"),
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()) - 5,
            "exp": int((now + self.lifetime).timestamp()),
        }
        return jwt.encode(payload, self.key, algorithm=ALGORITHM)

    def verify(
        self, token: str, now: datetime, origin: Callable[[], str] | None = None
    ) -> TokenClaims:
        """Check signature, issuer, audience and expiry against ``now`` (the injectable clock).

        ``origin``: the URL this request came to (``https://host:port``), also an audience
        tokens may name: the SharePoint host a client asked a token for is this server."""
        claims = self._verified.get(token)
        if claims is None:
            claims = self._verify_signed(token, now)
            self._verified.put(token, claims)
        if claims.expires_at <= now:
            raise InvalidToken("the access token has expired")
        if not self.accepts(claims.audience) and (origin is None or claims.audience != origin()):
            raise InvalidToken(f"the audience {claims.audience!r} is not this server")
        return claims

    def _verify_signed(self, token: str, now: datetime) -> TokenClaims:
        try:
            payload = jwt.decode(
                token,
                self.key,
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                # The audience is one of several (``accepts``), checked on every use.
                options={
                    "require": ["exp", "iat", "sub", "aud", "iss"],
                    "verify_exp": False,
                    "verify_aud": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        expires_at = datetime.fromtimestamp(int(payload["exp"]), tz=now.tzinfo)
        kind = payload.get("idtyp")
        if kind not in ("user", "app"):
            raise InvalidToken("unknown token type")
        return TokenClaims(
            kind=kind,
            subject=str(payload["sub"]),
            scopes=frozenset(str(payload.get("scp", "")).split()),
            roles=frozenset(payload.get("roles", []) if kind == "app" else []),
            session_id=payload.get("sid"),
            expires_at=expires_at,
            audience=str(payload["aud"]),
        )
