"""The Microsoft 365 connector end to end: one photosync over HTTPS plays the tenant (Entra ID's
token endpoint, Graph, SharePoint), a second photosync runs ``sync now --from/--to`` against it in
a subprocess with msal and a certificate, and Microsoft's own msgraph-sdk reads back what the
connector wrote."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from kiota_abstractions.authentication import BaseBearerTokenAuthenticationProvider
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.graph_request_adapter import options as GRAPH_OPTIONS
from msgraph_core import GraphClientFactory
from PIL import Image

from photosync.context import Context
from photosync.services import build_services
from photosync.settings import Settings
from photosync.sites.interfaces import account_slug
from photosync.sites.library import placeholder
from tests.conftest import TEST_KEY, LiveServer, LocalCA, run_async, start_server, stop_server
from tests.e2e.test_msgraph_sdk import PhotosyncTokens
from tests.sites.helpers import image_bytes, mean_abs_diff, open_image

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("m365")]

PEOPLE = 260
WITHOUT_PHOTO = 10  # the last ten
TENANT = "contoso"
USERPHOTO = "/_layouts/15/userphoto.aspx"
PEOPLE_MANAGER = "/_api/SP.UserProfiles.PeopleManager"


def upn(n: int) -> str:
    return f"user{n:03d}@contoso.example"


def colours(n: int, version: int = 0) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Two colours of their own for each person (and photo version): a mix-up shows."""
    a = ((n * 37 + version * 101) % 200 + 30, (n * 91) % 200 + 30, (n * 53 + 80) % 200 + 30)
    return a, (255 - a[0], a[2], a[1])


def picture(n: int, version: int = 0, side: int = 360) -> Image.Image:
    top, bottom = colours(n, version)
    image = Image.new("RGB", (side, side), top)
    image.paste(Image.new("RGB", (side, side // 2), bottom), (0, side // 2))
    return image


@dataclass
class Tenant:
    server: LiveServer
    ca: LocalCA
    client_id: str
    certificate: Path
    data: Path

    def services_do(self, fn: Any) -> Any:
        """Run ``fn(services)`` on the tenant's data (as its admin would, from another shell)."""
        ctx = Context.from_settings(Settings(data_dir=self.data, secret_key=TEST_KEY))
        try:
            return fn(build_services(ctx))
        finally:
            ctx.db.dispose()


@pytest.fixture(scope="module")
def tenant(tmp_path_factory: pytest.TempPathFactory, test_ca: LocalCA) -> Iterator[Tenant]:
    root = tmp_path_factory.mktemp("tenant")
    data = root / "data"
    data.mkdir()
    # The app's own certificate and key (RSA, as Entra ID takes), from a CA of its own.
    cert = trustme.CA(key_type=trustme.KeyType.RSA).issue_cert(
        "photosync-connector", key_type=trustme.KeyType.RSA
    )
    pem = root / "connector.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(pem))

    def seed(services: Any) -> None:
        users = [services.directory.add_user(upn(n), f"User {n}") for n in range(PEOPLE)]

        def photo(n: int) -> None:
            data = image_bytes(picture(n), "JPEG")
            services.mailbox.set_photo(users[n].id, data, actor="seed")

        # Pillow's work runs outside the GIL: the uploads' renditions on both cores.
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(photo, range(PEOPLE - WITHOUT_PHOTO)))

    ctx = Context.from_settings(Settings(data_dir=data, secret_key=TEST_KEY))
    ctx.db.upgrade()
    try:
        seed(build_services(ctx))
    finally:
        ctx.db.dispose()
    server = start_server(data, tls=test_ca)
    r = server.cli(
        "apps",
        "add",
        "photosync-connector",
        "--certificate",
        str(pem),
        "--role",
        "Sites.FullControl.All",
        "--role",
        "User.ReadWrite.All",
    )
    assert r.returncode == 0, r.stderr
    client_id = re.search(r"^client_id: (\S+)$", r.stdout, re.M)
    assert client_id
    yield Tenant(server, test_ca, client_id.group(1), pem, data)
    stop_server(server)


def connector_env(tenant: Tenant, url: str, data: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PHOTOSYNC_DATA_DIR": str(data),
        "PHOTOSYNC_M365_TENANT_ID": TENANT,
        "PHOTOSYNC_M365_CLIENT_ID": tenant.client_id,
        "PHOTOSYNC_M365_CERTIFICATE": str(tenant.certificate),
        "PHOTOSYNC_M365_AUTHORITY": url,
        "PHOTOSYNC_M365_GRAPH_URL": url,
        "PHOTOSYNC_M365_MYSITE_URL": url,
        "PHOTOSYNC_M365_ADMIN_URL": url,
        "PHOTOSYNC_M365_CA_BUNDLE": str(tenant.ca.ca_bundle),
    }


def sync_now(
    env: dict[str, str], *args: str
) -> tuple[subprocess.CompletedProcess[str], list[dict[str, str]]]:
    """``photosync sync now … --report`` in a process of its own; its result and its report."""
    report = Path(env["PHOTOSYNC_DATA_DIR"]) / "report.csv"
    done = subprocess.run(
        [sys.executable, "-m", "photosync", "sync", "now", *args, "--report", str(report)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    rows = list(csv.DictReader(io.StringIO(report.read_text()))) if report.exists() else []
    return done, rows


def doctor(env: dict[str, str], who: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "photosync", "doctor", who, "--m365", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def results(rows: list[dict[str, str]]) -> Counter[str]:
    return Counter(row["result"] for row in rows)


def app_token(
    tenant: Tenant, http: httpx.Client, roles: tuple[str, ...] = ("Sites.Read.All", "User.Read.All")
) -> str:
    """A token of an app of its own (by secret): read-only by default, for reading the tenant
    back."""
    r = tenant.server.cli(
        "apps", "add", "test-app", *(arg for role in roles for arg in ("--role", role))
    )
    client_id = re.search(r"^client_id: (\S+)$", r.stdout, re.M)
    secret = re.search(r"^client_secret: (\S+)$", r.stdout, re.M)
    assert client_id and secret
    token = http.post(
        f"/{TENANT}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id.group(1),
            "client_secret": secret.group(1),
            "scope": f"{tenant.server.url}/.default",
        },
    )
    assert token.status_code == 200, token.text
    return str(token.json()["access_token"])


def set_graph_photo(tenant: Tenant, who: str, jpeg: bytes) -> None:
    """A new Graph photo for ``who``, as the tenant's admin tools set one: through its Graph
    (the server that answers the connector changes it, so it knows at once)."""
    with tenant.server.http() as http:
        token = app_token(tenant, http, ("User.ReadWrite.All",))
        r = http.put(
            f"/v1.0/users/{who}/photo/$value",
            content=jpeg,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "image/jpeg"},
        )
    assert r.status_code == 200, r.text


def profile(http: httpx.Client, token: str, who: str) -> dict[str, str]:
    r = http.get(
        f"{PEOPLE_MANAGER}/GetPropertiesFor(accountName=@v)",
        params={"@v": f"'i:0#.f|membership|{who}'"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.text
    return {row["Key"]: row["Value"] for row in r.json()["UserProfileProperties"]}


def shown(http: httpx.Client, token: str, who: str, size: str = "M") -> bytes:
    r = http.get(
        USERPHOTO,
        params={"size": size, "accountname": who},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200
    return r.content


def test_graph_photos_into_sharepoint_then_only_what_changed(
    tenant: Tenant, tmp_path: Path
) -> None:
    env = connector_env(tenant, tenant.server.url, tmp_path / "connector")
    first, rows = sync_now(env, "--all", "--from", "m365", "--to", "m365-sharepoint")
    assert first.returncode == 0, first.stdout + first.stderr
    assert results(rows) == {"updated": PEOPLE - WITHOUT_PHOTO, "no-photo": WITHOUT_PHOTO}

    with tenant.server.http() as http:
        token = app_token(tenant, http)
        for n in range(PEOPLE - WITHOUT_PHOTO):
            got = open_image(shown(http, token, upn(n)))
            assert got.size == (72, 72)
            assert mean_abs_diff(got, picture(n).resize((72, 72), Image.Resampling.LANCZOS)) < 6, n
        large = open_image(shown(http, token, upn(0), "L"))
        assert large.size == (300, 300)
        props = profile(http, token, upn(3))
        assert props["SPS-PicturePlaceholderState"] == "0"
        assert props["SPS-PictureExchangeSyncState"] == "0"
        assert props["SPS-PictureTimestamp"].isdigit()
        assert (
            f"/User%20Photos/Profile%20Pictures/{account_slug(upn(3))}_MThumb.jpg"
            in props["PictureURL"]
        )
        for n in range(PEOPLE - WITHOUT_PHOTO, PEOPLE):  # the ten stay on the placeholder
            assert profile(http, token, upn(n))["SPS-PicturePlaceholderState"] == "1"
            assert shown(http, token, upn(n)) == placeholder(72).data
        stamp = props["SPS-PictureTimestamp"]

        second, rows = sync_now(env, "--all", "--from", "m365", "--to", "m365-sharepoint")
        assert second.returncode == 0, second.stdout + second.stderr
        assert results(rows) == {"unchanged": PEOPLE - WITHOUT_PHOTO, "no-photo": WITHOUT_PHOTO}
        assert profile(http, token, upn(3))["SPS-PictureTimestamp"] == stamp  # nothing written

        # One person's Graph photo changes: the third run writes exactly that person.
        set_graph_photo(tenant, upn(7), image_bytes(picture(7, 1), "JPEG"))
        third, rows = sync_now(env, "--all", "--from", "m365", "--to", "m365-sharepoint")
        assert third.returncode == 0, third.stdout + third.stderr
        updated = [row["upn"] for row in rows if row["result"] == "updated"]
        assert updated == [upn(7)]
        got = open_image(shown(http, token, upn(7)))
        assert mean_abs_diff(got, picture(7, 1).resize((72, 72), Image.Resampling.LANCZOS)) < 6

    # The doctor says which copy is stale, in plain words.
    set_graph_photo(tenant, upn(8), image_bytes(picture(8, 1), "JPEG"))
    verdicts = {n: doctor(env, upn(n)) for n in (7, 8, PEOPLE - 1)}
    assert verdicts[7]["stale"] is None
    assert verdicts[7]["sharepoint"]["placeholder_state"] == "0"
    assert verdicts[8]["stale"] == "sharepoint"
    assert "older version" in verdicts[8]["verdict"]
    assert verdicts[PEOPLE - 1]["stale"] == "graph"
    assert verdicts[PEOPLE - 1]["graph"]["etag"] is None
    words = subprocess.run(
        [sys.executable, "-m", "photosync", "doctor", upn(8), "--m365"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert words.returncode == 0, words.stderr
    assert "SharePoint is stale" in words.stdout


def graph_sdk(tenant: Tenant, http: httpx.AsyncClient, token: str) -> GraphServiceClient:
    """Microsoft's msgraph-sdk pointed at the tenant (as tests/e2e/test_msgraph_sdk.py does)."""

    class Given(PhotosyncTokens):
        async def get_authorization_token(self, uri: str, additional: Any = None) -> str:
            return token if self.hosts.is_url_host_valid(uri) else ""

    client = GraphClientFactory.create_with_default_middleware(client=http, options=GRAPH_OPTIONS)
    adapter = GraphRequestAdapter(
        BaseBearerTokenAuthenticationProvider(Given(tenant.server.url, {})), client=client
    )
    adapter.base_url = f"{tenant.server.url}/v1.0"
    return GraphServiceClient(request_adapter=adapter)


def test_a_folder_into_graph_photos_refuses_bad_files_and_touches_nothing_else(
    tenant: Tenant, tmp_path: Path
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    # Five of the ten without a photo get one; two bad files among them.
    good = [upn(n) for n in range(PEOPLE - WITHOUT_PHOTO, PEOPLE - WITHOUT_PHOTO + 5)]
    for i, who in enumerate(good):
        (folder / f"{who}.jpg").write_bytes(image_bytes(picture(500 + i, side=400), "JPEG"))
    bad = {
        upn(PEOPLE - 2): b"this is not a picture",
        upn(PEOPLE - 1): image_bytes(picture(1), "JPEG")[:300],
    }
    for who, data in bad.items():
        (folder / f"{who}.jpg").write_bytes(data)
    env = connector_env(tenant, tenant.server.url, tmp_path / "connector")
    done, rows = sync_now(env, "--all", "--from", f"folder:{folder}", "--to", "m365-photo")
    assert done.returncode == 1, done.stdout + done.stderr  # some users failed
    by_upn = {row["upn"]: row for row in rows}
    assert {who: by_upn[who]["result"] for who in good} == dict.fromkeys(good, "updated")
    for who in bad:
        assert by_upn[who]["result"] == "error"
        assert by_upn[who]["error"]  # the mailbox's reason, in words
    assert len(rows) == len(good) + len(bad)  # nobody else was touched

    with tenant.server.http() as reader:
        token = app_token(tenant, reader)

    async def read_back() -> None:
        async with httpx.AsyncClient(verify=tenant.ca.client_context()) as http:
            graph = graph_sdk(tenant, http, token)
            for i, who in enumerate(good):
                data = await graph.users.by_user_id(who).photo.content.get()
                assert data is not None
                got = open_image(data)
                # The tenant keeps Graph's sizes: the largest not above the upload's 400 px.
                assert got.size == (360, 360)
                expected = picture(500 + i, side=400).resize(got.size, Image.Resampling.LANCZOS)
                assert mean_abs_diff(got, expected) < 6
            for who in bad:
                with pytest.raises(ODataError) as missing:
                    await graph.users.by_user_id(who).photo.get()
                assert missing.value.response_status_code == 404

    run_async(read_back())


def test_a_throttled_tenant_slows_the_connector_down_without_failures(
    tenant: Tenant, tmp_path: Path
) -> None:
    # The same tenant, served again by a process with Microsoft-like limits per app.
    limited = start_server(
        tenant.data,
        tls=tenant.ca,
        env_extra={"PHOTOSYNC_API_RATE_LIMIT": "4", "PHOTOSYNC_API_MAX_CONCURRENT": "2"},
    )
    try:
        env = connector_env(tenant, limited.url, tmp_path / "connector")
        who = [upn(n) for n in range(20, 26)]
        done, rows = sync_now(env, *who, "--from", "m365", "--to", "m365-sharepoint")
        assert done.returncode == 0, done.stdout + done.stderr
        assert results(rows) == {"updated": len(who)}
        retried = [row["note"] for row in rows if "retr" in row["note"]]
        assert retried, rows  # the report counts the retries the limits cost
        assert all(re.search(r"\d+ retr(y|ies) after 429/503", note) for note in retried)

        folder = tmp_path / "photos"
        folder.mkdir()
        for n in range(30, 38):
            (folder / f"{upn(n)}.jpg").write_bytes(image_bytes(picture(n, 2), "JPEG"))
        done, rows = sync_now(env, "--all", "--from", f"folder:{folder}", "--to", "m365-photo")
        assert done.returncode == 0, done.stdout + done.stderr
        assert results(rows) == {"updated": 8}
        assert any("retr" in row["note"] for row in rows), rows
    finally:
        stop_server(limited)
