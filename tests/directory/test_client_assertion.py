"""Certificate credentials at the token endpoint: client assertions as msal signs them (RFC 7523),
tokens for a resource's ``.default`` scope, and the OpenID discovery msal reads first."""

from __future__ import annotations

import base64
import time
import uuid
from pathlib import Path

import jwt
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from fastapi.testclient import TestClient

from photosync.directory.assertions import JWT_BEARER
from photosync.services import Services
from tests.conftest import bearer

TENANT = "contoso-tenant"
ENDPOINT = f"http://testserver/{TENANT}/oauth2/v2.0/token"
AT_TEST_CLOCK = {"verify_exp": False, "verify_iat": False, "verify_nbf": False}


def certificate() -> trustme.LeafCert:
    ca = trustme.CA(key_type=trustme.KeyType.RSA)
    return ca.issue_cert("photosync-connector", key_type=trustme.KeyType.RSA)


def assertion(
    cert: trustme.LeafCert, client_id: str, *, aud: str = ENDPOINT, **extra: object
) -> str:
    """What msal's ConfidentialClientApplication sends for a certificate credential."""
    pem = cert.cert_chain_pems[0].bytes()
    digest = x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA256())
    now = int(time.time())
    claims = {
        "aud": aud,
        "iss": client_id,
        "sub": client_id,
        "jti": str(uuid.uuid4()),
        "nbf": now,
        "exp": now + 600,
        **extra,
    }
    headers = {"x5t#S256": base64.urlsafe_b64encode(digest).rstrip(b"=").decode()}
    return jwt.encode(claims, cert.private_key_pem.bytes(), algorithm="PS256", headers=headers)


def ask(client: TestClient, signed: str, scope: str = "https://graph.microsoft.com/.default"):  # type: ignore[no-untyped-def]
    return client.post(
        f"/{TENANT}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": JWT_BEARER,
            "client_assertion": signed,
            "scope": scope,
        },
    )


@pytest.fixture
def registered(services: Services, tmp_path: Path) -> tuple[str, trustme.LeafCert]:
    cert = certificate()
    path = tmp_path / "app.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(path))
    client_id, _ = services.directory.add_app(
        "connector", ["Sites.FullControl.All", "User.ReadWrite.All"], certificate=path.read_bytes()
    )
    return client_id, cert


def test_a_signed_assertion_gets_a_token_for_the_resource_asked_for(
    client: TestClient, registered: tuple[str, trustme.LeafCert]
) -> None:
    client_id, cert = registered
    r = ask(client, assertion(cert, client_id))
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False, **AT_TEST_CLOCK})
    assert claims["aud"] == "https://graph.microsoft.com"
    assert claims["appid"] == client_id
    assert claims["appidacr"] == "2"  # a certificate, as Entra ID says
    assert set(claims["roles"]) == {"Sites.FullControl.All", "User.ReadWrite.All"}
    # And the APIs take it.
    users = client.get("/_api/SP.UserProfiles.PeopleManager/GetMyProperties", headers=bearer(token))
    assert users.status_code == 400  # authenticated; an app has no profile of its own


@pytest.mark.parametrize(
    ("tamper", "says"),
    [
        ("other-key", "not registered"),
        ("audience", "audience must be"),
        ("expired", "expired"),
        ("not-a-jwt", "not a JWT"),
    ],
)
def test_a_bad_assertion_is_refused_with_the_reason(
    client: TestClient, registered: tuple[str, trustme.LeafCert], tamper: str, says: str
) -> None:
    client_id, cert = registered
    if tamper == "other-key":
        signed = assertion(certificate(), client_id)
    elif tamper == "audience":
        signed = assertion(cert, client_id, aud="https://login.example/other/oauth2/v2.0/token")
    elif tamper == "expired":
        signed = assertion(cert, client_id, exp=int(time.time()) - 3600)
    else:
        signed = "not.a.jwt"
    r = ask(client, signed)
    assert r.status_code in (400, 401)
    assert r.json()["error"] == "invalid_client"
    assert says in r.json()["error_description"]


def test_an_assertion_is_used_once(
    client: TestClient, registered: tuple[str, trustme.LeafCert]
) -> None:
    client_id, cert = registered
    signed = assertion(cert, client_id)
    assert ask(client, signed).status_code == 200
    again = ask(client, signed)
    assert again.status_code == 401
    assert "used before" in again.json()["error_description"]


def test_an_app_without_a_certificate_cannot_use_assertions(
    client: TestClient, services: Services
) -> None:
    client_id, _ = services.directory.add_app("secret only", ["User.Read.All"])
    r = ask(client, assertion(certificate(), client_id))
    assert r.status_code == 401
    assert "no certificate" in r.json()["error_description"]


def test_a_resource_this_server_does_not_play_is_refused(
    client: TestClient, registered: tuple[str, trustme.LeafCert]
) -> None:
    client_id, cert = registered
    r = ask(client, assertion(cert, client_id), scope="https://vault.example/.default")
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_resource"


def test_openid_discovery_names_the_tenant_token_endpoint(client: TestClient) -> None:
    r = client.get(f"/{TENANT}/v2.0/.well-known/openid-configuration")
    assert r.status_code == 200
    assert r.json()["token_endpoint"] == ENDPOINT
    assert r.json()["authorization_endpoint"].startswith(f"http://testserver/{TENANT}/")


def test_a_file_without_a_certificate_is_refused_by_apps_add(
    services: Services, tmp_path: Path
) -> None:
    from photosync.directory.services import DirectoryError

    with pytest.raises(DirectoryError, match="no PEM certificate"):
        services.directory.add_app("bad", ["User.Read.All"], certificate=b"not a certificate")
