"""The admin starts a bulk run from the admin page, watches it, and takes its report."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from photosync.directory.interfaces import UserInfo
from photosync.services import Services
from tests.conftest import eventually
from tests.portal.conftest import RED, bands, page_token, sign_in


def test_check_everyone_from_the_admin_page(
    client: TestClient, make_user: Callable[..., UserInfo], services: Services
) -> None:
    admin = make_user("ada@example.org", "Ada Admin", admin=True)
    bob = make_user("bob@example.org", "Bob Jones")
    make_user("lee@example.org", "Lee Gu", mailbox=False)
    services.mailbox.set_photo(bob.id, bands(700, 700, [RED]), actor="test")
    sign_in(client, admin.upn)
    assert "Check everyone" in client.get("/admin").text

    # Without the form's token nothing starts.
    refused = client.post("/admin/runs", data={}, follow_redirects=False)
    assert refused.status_code == 403 and not services.sync.runs.recent()

    started = client.post(
        "/admin/runs", data={"csrf_token": page_token(client, "/admin")}, follow_redirects=False
    )
    assert started.status_code == 303
    run_url = started.headers["location"]
    run_id = run_url.rsplit("/", 1)[-1]
    assert eventually(
        lambda: (progress := services.sync.runs.progress(run_id)) is not None and progress.finished,
        seconds=30,
    ), "the run did not finish"

    page = client.get(run_url)
    assert page.status_code == 200
    assert re.search(r"3 of 3 people checked \(100%\), <strong>0</strong> failed", page.text)
    assert 'http-equiv="refresh"' not in page.text  # a finished run stops reloading
    report = client.get(f"{run_url}/report.csv")
    assert report.headers["content-type"].startswith("text/csv")
    rows = {r["upn"]: r["result"] for r in csv.DictReader(io.StringIO(report.text))}
    assert rows == {
        "ada@example.org": "no-photo",
        "bob@example.org": "updated",
        "lee@example.org": "no-mailbox",
    }
    assert services.sites.profile_status(bob.id).has_picture
    assert "Last run:" in client.get("/admin").text


def test_run_pages_are_for_admins_only(
    client: TestClient, make_user: Callable[..., UserInfo], services: Services
) -> None:
    make_user("ada@example.org", "Ada Admin", admin=True)
    bob = make_user("bob@example.org", "Bob Jones")
    run_id, _ = services.sync.open_bulk(None, actor="ada@example.org")
    sign_in(client, bob.upn)
    assert client.get(f"/admin/runs/{run_id}").status_code == 403
    assert client.get(f"/admin/runs/{run_id}/report.csv").status_code == 403
    running = services.sync.runs.progress(run_id)
    assert running is not None and not running.finished


def test_a_run_every_user_finished_but_not_marked_finished_shows(
    client: TestClient, make_user: Callable[..., UserInfo], services: Services
) -> None:
    """A process killed after the last user's check and before it marked the run finished
    leaves a run done but without an end time: its page says it finished (it used to fail)."""
    admin = make_user("ada@example.org", "Ada Admin", admin=True)
    run_id, _ = services.sync.open_bulk(None, actor=admin.upn)
    for item in services.sync.runs.items(run_id):
        services.sync.runs.mark(run_id, item.position, result="no-photo", error=None)
    progress = services.sync.runs.progress(run_id)
    assert progress is not None and progress.finished and progress.finished_at is None
    sign_in(client, admin.upn)
    page = client.get(f"/admin/runs/{run_id}")
    assert page.status_code == 200
    assert "Finished." in page.text and 'http-equiv="refresh"' not in page.text
