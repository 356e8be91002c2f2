"""Signed JWT access tokens with Graph-style claims (``scp`` for delegated, ``roles`` for apps)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import jwt

from photosync.ttlcache import TTLCache

ALGORITHM = "HS256"

# What a user signed in with a password gets: their own photo, and other people's basic profile.
DELEGATED_SCOPES = ("User.Read", "User.ReadWrite", "User.ReadBasic.All")
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


@dataclass(frozen=True)
class TokenIssuer:
    key: str
    issuer: str
    audience: str
    lifetime: timedelta
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

    def issue_app_token(self, client_id: str, roles: list[str], now: datetime) -> str:
        return self._sign(
            {"sub": client_id, "appid": client_id, "idtyp": "app", "roles": list(roles)}, now
        )

    def _sign(self, claims: dict[str, Any], now: datetime) -> str:
        payload = {
            **claims,
            "iss": self.issuer,
            "aud": self.audience,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()) - 5,
            "exp": int((now + self.lifetime).timestamp()),
        }
        return jwt.encode(payload, self.key, algorithm=ALGORITHM)

    def verify(self, token: str, now: datetime) -> TokenClaims:
        """Check signature, issuer, audience and expiry against ``now`` (the injectable clock)."""
        claims = self._verified.get(token)
        if claims is None:
            claims = self._verify_signed(token, now)
            self._verified.put(token, claims)
        if claims.expires_at <= now:
            raise InvalidToken("the access token has expired")
        return claims

    def _verify_signed(self, token: str, now: datetime) -> TokenClaims:
        try:
            payload = jwt.decode(
                token,
                self.key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "aud", "iss"], "verify_exp": False},
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
        )
