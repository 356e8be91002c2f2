"""A real OpenLDAP ``slapd`` for the LDAP connector's tests and benchmark: a throw-away mdb
database and schema in a temporary folder, on a free loopback port, run as the current user.

Debian's ``slapd`` package provides the binary and the core/cosine/inetorgperson schemas
(``tools/ensure-services.sh`` installs it). OpenLDAP's schemas have no ``thumbnailPhoto`` (an
Active Directory attribute) nor ``userPrincipalName``, so a small test schema adds both, with
Active Directory's OID for ``thumbnailPhoto``, on an auxiliary class. A StartTLS certificate
comes from a test CA (``trustme``). Writers: the root DN; ``cn=reader`` may only read.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import trustme
from ldap3 import ALL_ATTRIBUTES, AUTO_BIND_NO_TLS, BASE, MODIFY_REPLACE, Connection, Server
from ldap3.core.exceptions import LDAPException

SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
SCHEMA_DIR = Path("/etc/ldap/schema")
SUFFIX = "dc=example,dc=org"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "admin-secret"
READER_DN = f"cn=reader,{SUFFIX}"
READER_PASSWORD = "reader-secret"

TEST_SCHEMA = """
attributetype ( 2.16.840.1.113730.3.1.35 NAME 'thumbnailPhoto'
    DESC 'Active Directory: a small JPEG of the person'
    SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.99999.1.1 NAME 'userPrincipalName'
    DESC 'Active Directory: user@domain'
    EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
    SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.99999.2.1 NAME 'photosyncTestPerson' SUP top AUXILIARY
    MAY ( thumbnailPhoto $ userPrincipalName ) )
"""

CONFIG = """
include {schema}/core.schema
include {schema}/cosine.schema
include {schema}/inetorgperson.schema
include {folder}/photosync-test.schema
pidfile {folder}/slapd.pid
argsfile {folder}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCACertificateFile {folder}/ca.pem
TLSCertificateFile {folder}/server.pem
TLSCertificateKeyFile {folder}/server.key
sizelimit unlimited
database mdb
maxsize 268435456
suffix "{suffix}"
rootdn "{root_dn}"
rootpw {root_password}
directory {folder}/db
# A throw-away database: no fsync per write (the tests and the benchmark measure photosync).
dbnosync
# As a real directory does: a person is looked up by mail or UPN without a scan of everyone.
index objectClass,mail,userPrincipalName eq
access to attrs=userPassword by anonymous auth by * none
access to * by * read
"""


@dataclass
class Slapd:
    url: str  # ldap://127.0.0.1:PORT
    host_url: str  # ldap://localhost:PORT (the name on the TLS certificate)
    ldaps_url: str  # ldaps://localhost:PORT2 (TLS from the first byte)
    ca_pem: Path
    process: subprocess.Popen[bytes]

    def admin(self) -> Connection:
        return Connection(Server(self.url), ROOT_DN, ROOT_PASSWORD, auto_bind=AUTO_BIND_NO_TLS)

    def add_unit(self, name: str) -> str:
        """A fresh organisational unit (one per test, so tests share one server)."""
        dn = f"ou={name},{SUFFIX}"
        with self.admin() as conn:
            conn.add(dn, ["organizationalUnit"], {"ou": name})
            assert conn.result["result"] in (0, 68), conn.result  # 68: exists already
        return dn

    def add_person(
        self, unit: str, mail: str, *, jpeg_photo: bytes | None = None, upn: str | None = None
    ) -> str:
        uid = mail.split("@")[0]
        dn = f"uid={uid},{unit}"
        attributes: dict[str, object] = {"cn": uid, "sn": uid, "mail": mail}
        if jpeg_photo is not None:
            attributes["jpegPhoto"] = jpeg_photo
        if upn is not None:
            attributes["userPrincipalName"] = upn
        with self.admin() as conn:
            ok = conn.add(dn, ["inetOrgPerson", "photosyncTestPerson"], attributes)
            assert ok, conn.result
        return dn

    def attribute(self, dn: str, name: str) -> bytes | None:
        with self.admin() as conn:
            conn.search(dn, "(objectClass=*)", BASE, attributes=ALL_ATTRIBUTES)
            values = conn.response[0]["raw_attributes"].get(name) or []
            return values[0] if values else None

    def replace(self, dn: str, name: str, value: bytes) -> None:
        with self.admin() as conn:
            assert conn.modify(dn, {name: [(MODIFY_REPLACE, [value])]}), conn.result  # type: ignore[no-untyped-call]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_slapd(folder: Path) -> Slapd:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "db").mkdir()
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    cert = ca.issue_cert("localhost", "127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(folder / "server.pem"))
    cert.private_key_pem.write_to_path(str(folder / "server.key"))
    (folder / "photosync-test.schema").write_text(TEST_SCHEMA)
    (folder / "slapd.conf").write_text(
        CONFIG.format(
            schema=SCHEMA_DIR,
            folder=folder,
            suffix=SUFFIX,
            root_dn=ROOT_DN,
            root_password=ROOT_PASSWORD,
        )
    )
    port, tls_port = free_port(), free_port()
    log = open(folder / "slapd.log", "wb")  # noqa: SIM115 - lives with the process
    process = subprocess.Popen(
        [
            *(SLAPD, "-d", "0", "-f", str(folder / "slapd.conf")),
            *("-h", f"ldap://127.0.0.1:{port}/ ldaps://127.0.0.1:{tls_port}/"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Slapd(
        f"ldap://127.0.0.1:{port}",
        f"ldap://localhost:{port}",
        f"ldaps://localhost:{tls_port}",
        folder / "ca.pem",
        process,
    )
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"slapd exited: {(folder / 'slapd.log').read_text()}")
        try:
            with server.admin() as conn:
                conn.add(SUFFIX, ["dcObject", "organization"], {"dc": "example", "o": "Example"})
                conn.add(
                    READER_DN,
                    ["person", "simpleSecurityObject"],
                    {"cn": "reader", "sn": "reader", "userPassword": READER_PASSWORD},
                )
            break
        except LDAPException:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.1)
    return server


def stop_slapd(server: Slapd) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()


def running_slapd(folder: Path) -> Iterator[Slapd]:
    server = start_slapd(folder)
    try:
        yield server
    finally:
        stop_slapd(server)
