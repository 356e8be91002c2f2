"""Certificate credentials of registered apps: the client assertion of Entra ID's token endpoint.

An app registered with a certificate proves who it is with a JWT it signs with the certificate's
private key (RFC 7523, ``client_assertion_type=…jwt-bearer``): ``iss`` and ``sub`` are its client
id, ``aud`` is the token endpoint's URL, ``exp`` and ``jti`` are required, and the header names
the certificate by thumbprint (``x5t``: SHA-1, ``x5t#S256``: SHA-256, base64url), as msal sends
it. PyJWT checks the signature and the claims; this module only finds the key and says why an
assertion is refused. No web import: the token endpoint (``directory.routes``) calls it.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from photosync.ttlcache import TTLCache

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Asymmetric algorithms only: an HS256 assertion would be signed with a shared secret.
ALGORITHMS = ["RS256", "PS256", "ES256"]
# Entra ID accepts assertions valid for at most 10 minutes past their use... and ten minutes of
# clock skew; a replayed ``jti`` within that time is refused.
REPLAY_WINDOW_SECONDS = 20 * 60.0


class BadAssertion(Exception):
    """Why a client assertion is refused, in one sentence for the OAuth2 error body."""


class BadCertificate(ValueError):
    """A certificate file that cannot be registered."""


@dataclass(frozen=True)
class Certificate:
    pem: str  # the public certificate, as registered
    sha1: str  # base64url thumbprints, as JWT headers carry them
    sha256: str


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def load_certificate(pem: bytes) -> Certificate:
    """The public certificate of a PEM file (a private key in the same file is ignored)."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise BadCertificate("the file holds no PEM certificate") from exc
    der = cert.public_bytes(Encoding.DER)
    return Certificate(
        pem=cert.public_bytes(Encoding.PEM).decode("ascii"),
        sha1=_b64url(hashlib.sha1(der).digest()),  # x5t is SHA-1 by definition (RFC 7515)
        sha256=_b64url(hashlib.sha256(der).digest()),
    )


def assertion_client_id(assertion: str) -> str:
    """The client id an assertion claims to come from (its ``iss``), unverified: which
    app's certificate to verify it with."""
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise BadAssertion(f"The client assertion is not a JWT ({exc}).") from exc
    return str(claims.get("iss") or claims.get("sub") or "")


class AssertionVerifier:
    def __init__(self) -> None:
        self._seen: TTLCache[str, bool] = TTLCache(REPLAY_WINDOW_SECONDS, max_items=100_000)

    def verify(
        self, assertion: str, *, client_id: str, certificate: Certificate, endpoint: str
    ) -> None:
        """Raise BadAssertion unless ``assertion`` was signed with ``certificate``'s key by
        ``client_id`` for ``endpoint`` (the token endpoint's URL), and was not used before."""
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError as exc:
            raise BadAssertion(f"The client assertion is not a JWT ({exc}).") from exc
        # base64url, with or without padding (msal pads).
        named = tuple(
            str(value).rstrip("=") if value is not None else None
            for value in (header.get("x5t#S256"), header.get("x5t"))
        )
        if named == (None, None):
            raise BadAssertion("The client assertion's header names no certificate (x5t).")
        if named[0] not in (None, certificate.sha256) or named[1] not in (None, certificate.sha1):
            raise BadAssertion(
                f"The certificate of the client assertion is not registered for app {client_id}."
            )
        key = x509.load_pem_x509_certificate(certificate.pem.encode()).public_key()
        try:
            claims = jwt.decode(
                assertion,
                key,  # type: ignore[arg-type]
                algorithms=ALGORITHMS,
                audience=endpoint,
                issuer=client_id,
                leeway=300,
                options={"require": ["exp", "iss", "sub", "aud", "jti"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise BadAssertion("The client assertion has expired.") from exc
        except jwt.InvalidAudienceError as exc:
            raise BadAssertion(f"The client assertion's audience must be {endpoint}.") from exc
        except jwt.PyJWTError as exc:
            raise BadAssertion(f"The client assertion is not valid ({exc}).") from exc
        if claims.get("sub") != client_id:
            raise BadAssertion("The client assertion's sub must be the client id.")
        jti = f"{client_id}:{claims['jti']}"
        if self._seen.get(jti):
            raise BadAssertion("The client assertion was used before (jti).")
        self._seen.put(jti, True)
