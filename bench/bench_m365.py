"""The Microsoft 365 connector: ``sync now --all --from m365 --to m365-sharepoint``, users/s.

photosync plays the tenant over HTTPS (a throw-away CA, an app with a certificate, msal), as in
tests/m365. Two runs, each into a fresh connector data folder so that every user is written:
- without a rate limit: the connector's own cost (and the stand-in's), users/s;
- with Microsoft's limits emulated on the stand-in (PHOTOSYNC_API_RATE_LIMIT=20 requests/s per
  app, SharePoint's 1,200 a minute; PHOTOSYNC_API_MAX_CONCURRENT=4, Graph's photo limit): how
  close to the allowed rate the run comes. A user costs 9 requests (Graph: photo metadata and
  bytes; SharePoint: 3 Files/add, 4 properties), so the allowed rate is 20 / 9 users/s.
  Target: >= 0.7 of it, with no failure. PnP's uploader: about 2 users/s by design.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "src"), str(HERE.parent / "tools"), str(HERE.parent)]

from _util import print_table, verdict  # noqa: E402

USERS = 120
RATE = 20.0
CONCURRENT = 4
REQUESTS_PER_USER = 9
TARGET = 0.7
KEY = "bench-signing-key-not-a-secret-0123456789abcdef"


def main() -> int:
    import trustme
    from population import people_with_one_photo
    from tests.conftest import LocalCA, start_server, stop_server

    from photosync.settings import Settings

    with tempfile.TemporaryDirectory(prefix="bench-m365-") as tmp:
        root = Path(tmp)
        data = root / "tenant"
        data.mkdir()
        people_with_one_photo(Settings(data_dir=data, secret_key=KEY), USERS)
        ca = trustme.CA()
        leaf = ca.issue_cert("127.0.0.1", "localhost")
        tls = LocalCA(root / "ca.pem", root / "server.pem", root / "server.key")
        ca.cert_pem.write_to_path(str(tls.ca_bundle))
        leaf.private_key_pem.write_to_path(str(tls.keyfile))
        tls.certfile.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        app_cert = trustme.CA(key_type=trustme.KeyType.RSA).issue_cert(
            "connector", key_type=trustme.KeyType.RSA
        )
        pem = root / "connector.pem"
        app_cert.private_key_and_cert_chain_pem.write_to_path(str(pem))

        rows = []
        results: dict[str, float] = {}
        for label, limits in (
            ("no limit", {}),
            (
                f"{RATE:.0f}/s, {CONCURRENT} in flight",
                {
                    "PHOTOSYNC_API_RATE_LIMIT": str(RATE),
                    "PHOTOSYNC_API_MAX_CONCURRENT": str(CONCURRENT),
                },
            ),
        ):
            os.environ["PHOTOSYNC_SECRET_KEY"] = KEY
            server = start_server(data, tls=tls, env_extra=limits)
            try:
                if not results:
                    added = server.cli(
                        "apps", "add", "connector", "--certificate", str(pem),
                        "--role", "Sites.FullControl.All", "--role", "User.ReadWrite.All",
                    )  # fmt: skip
                    found = re.search(r"^client_id: (\S+)$", added.stdout, re.M)
                    assert found, added.stderr
                    client_id = found.group(1)
                connector = root / f"connector-{len(results)}"
                env = {
                    **os.environ,
                    "PHOTOSYNC_DATA_DIR": str(connector),
                    "PHOTOSYNC_M365_TENANT_ID": "contoso",
                    "PHOTOSYNC_M365_CLIENT_ID": client_id,
                    "PHOTOSYNC_M365_CERTIFICATE": str(pem),
                    "PHOTOSYNC_M365_AUTHORITY": server.url,
                    "PHOTOSYNC_M365_GRAPH_URL": server.url,
                    "PHOTOSYNC_M365_MYSITE_URL": server.url,
                    "PHOTOSYNC_M365_ADMIN_URL": server.url,
                    "PHOTOSYNC_M365_CA_BUNDLE": str(tls.ca_bundle),
                }
                report = connector / "report.csv"
                started = time.perf_counter()
                done = subprocess.run(
                    [sys.executable, "-m", "photosync", "sync", "now", "--all",
                     "--from", "m365", "--to", "m365-sharepoint", "--report", str(report)],
                    env=env, capture_output=True, text=True,
                )  # fmt: skip
                elapsed = time.perf_counter() - started
            finally:
                stop_server(server)
            lines = report.read_text().splitlines()[1:] if report.exists() else []
            failed = sum(",error," in line for line in lines)
            retried = sum("retr" in line for line in lines)
            speed = USERS / elapsed
            results[label] = speed
            rows.append((label, USERS, f"{elapsed:.1f} s", speed, failed, retried, done.returncode))
        print_table(
            ("tenant", "users", "time", "users/s", "failed", "throttled users", "exit"), rows
        )
        allowed = RATE / REQUESTS_PER_USER
        unlimited, limited = results.values()
        ratio = limited / allowed
        print(
            f"with the limit: {limited:.2f} users/s of {allowed:.2f} allowed = {ratio:.2f} "
            f"(target >= {TARGET}) {verdict(ratio >= TARGET)}; without: "
            f"{unlimited:.2f} users/s; PnP's uploader: about 2 users/s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
