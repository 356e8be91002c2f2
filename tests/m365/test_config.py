"""The connector's settings: a route naming Microsoft 365 without them stops with one sentence
naming what is missing, before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from photosync.cli import main
from photosync.m365.client import M365Error, TenantConfig
from photosync.settings import Settings
from tests.conftest import TEST_KEY


def test_missing_settings_are_named() -> None:
    with pytest.raises(M365Error) as refused:
        TenantConfig.from_settings(Settings(m365_client_id="abc"))
    message = str(refused.value)
    assert "PHOTOSYNC_M365_TENANT_ID" in message
    assert "PHOTOSYNC_M365_CERTIFICATE (or _CLIENT_SECRET)" in message
    assert "CLIENT_ID" not in message.replace("M365_CLIENT_SECRET", "")


@pytest.mark.parametrize(
    ("route", "says"),
    [
        (("--from", "m365", "--to", "m365-sharepoint"), "PHOTOSYNC_M365_TENANT_ID"),
        (("--from", "mailbox", "--to", "m365-photo"), "PHOTOSYNC_M365_CLIENT_ID"),
        (("--from", "m365", "--to", "nowhere"), "m365-photo, m365-sharepoint"),
    ],
)
def test_a_route_without_its_settings_stops_with_one_sentence(
    tmp_path: Path, route: tuple[str, ...], says: str
) -> None:
    result = CliRunner().invoke(
        main,
        ["sync", "now", "--all", *route],
        env={"PHOTOSYNC_DATA_DIR": str(tmp_path), "PHOTOSYNC_SECRET_KEY": TEST_KEY},
    )
    assert result.exit_code in (1, 2), result.output
    assert says in result.output
    assert "Traceback" not in result.output


def test_empty_values_mean_unset() -> None:
    settings = Settings(
        api_rate_limit="", api_max_concurrent="", m365_certificate="", m365_ca_bundle=""
    )
    assert settings.api_rate_limit is None and settings.api_max_concurrent is None
    assert settings.m365_certificate is None and settings.m365_ca_bundle is None
