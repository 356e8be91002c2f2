"""/metrics in the app itself: who may scrape, and requests counted by route template."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from photosync.directory.interfaces import UserInfo
from photosync.metrics import may_scrape, parse_networks
from photosync.services import Services
from photosync.settings import Settings, SettingsError, load_settings
from tests.conftest import bearer, make_settings

LOOPBACK = parse_networks("127.0.0.0/8,::1")
TOKEN = "metrics-test-token"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path / "data", database_url, metrics_token=TOKEN)


@pytest.mark.parametrize(
    ("token", "authorization", "address", "allowed"),
    [
        ("", None, "127.0.0.1", True),
        ("", None, "::1", True),
        ("", None, "10.1.2.3", False),
        ("", "Bearer ", "10.1.2.3", False),  # no token configured: none is right
        ("s3cret", "Bearer s3cret", "10.1.2.3", True),
        ("s3cret", "bearer s3cret", "10.1.2.3", True),
        ("s3cret", "Bearer s3cre", "10.1.2.3", False),
        ("s3cret", "Basic s3cret", "10.1.2.3", False),
        ("s3cret", None, None, False),
        ("s3cret", None, "testclient", False),  # not an address
    ],
)
def test_who_may_scrape(
    token: str, authorization: str | None, address: str | None, allowed: bool
) -> None:
    assert (
        may_scrape(token=token, allowed=LOOPBACK, authorization=authorization, address=address)
        is allowed
    )


def test_allowed_networks_are_addresses_or_cidrs() -> None:
    assert parse_networks(" 10.0.0.0/8, 192.0.2.7 ,") == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("192.0.2.7/32"),
    )
    assert parse_networks("") == ()
    with pytest.raises(SettingsError) as caught:
        load_settings(metrics_allow="10.0.0.0/8,intranet")
    assert str(caught.value) == (
        "PHOTOSYNC_METRICS_ALLOW='10.0.0.0/8,intranet' is not valid: "
        "'intranet' is not an address or CIDR (e.g. 10.0.0.0/8)"
    )


def test_requests_are_counted_by_route_template(
    client: TestClient, make_user: Callable[..., UserInfo], user_token: Callable[[str], str]
) -> None:
    make_user("zoe@example.org")
    token = bearer(user_token("zoe@example.org"))

    def counted(route: str) -> float:
        # The test client's address is not an IP address: only the token opens /metrics.
        assert client.get("/metrics").status_code == 403
        r = client.get("/metrics", headers=bearer(TOKEN))
        assert r.status_code == 200, r.text
        return sum(
            sample.value
            for family in text_string_to_metric_families(r.text)
            for sample in family.samples
            if sample.name == "photosync_http_requests_total"
            and sample.labels["route"] == route
            and sample.labels["method"] == "GET"
        )

    route = "/v1.0/users/{user}/photos/{size}/$value"
    before = counted(route)
    for size in ("48x48", "96x96", "120x120"):
        client.get(f"/v1.0/users/zoe@example.org/photos/{size}/$value", headers=token)
    assert counted(route) - before == 3


def test_the_scrape_reads_sync_results_and_unfinished_bulk_runs(
    client: TestClient, services: Services, make_user: Callable[..., UserInfo]
) -> None:
    people = [make_user(f"p{n}@example.org") for n in range(3)]
    outcome = services.sync.check_now(people[0].id, actor="admin@example.org")
    run_id, _ = services.sync.open_bulk(None, actor="admin@example.org")
    r = client.get("/metrics", headers=bearer(TOKEN))
    assert r.status_code == 200
    families = {family.name: family for family in text_string_to_metric_families(r.text)}
    checks = {
        s.labels["result"]: s.value for s in families["photosync_sync_checks_last_hour"].samples
    }
    assert checks == {outcome.result: 1}
    bulk = {
        (s.labels["run"], s.labels["state"]): s.value
        for s in families["photosync_bulk_run_users"].samples
    }
    assert bulk == {(run_id, "total"): 3, (run_id, "done"): 0, (run_id, "failed"): 0}
