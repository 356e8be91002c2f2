"""The app as sub-applications: every route in one API description, each API its own errors."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Route

from photosync.app import app_for
from photosync.context import Context
from photosync.health import readiness
from photosync.services import build_services
from photosync.web import Root
from tests.conftest import free_port, make_settings


def _routes(app: Root) -> set[tuple[str, str]]:
    """(path, method) of every API route of every sub-application but the portal's pages."""
    found = set()
    for sub in app.apps:
        if sub is app.fallback:
            continue
        for route in sub.router.routes:
            if isinstance(route, APIRoute) and not route.include_in_schema:
                continue
            if isinstance(route, Route) and route.path not in ("/openapi.json", "/_docs"):
                for method in route.methods or ():
                    if method != "HEAD" or not isinstance(route, APIRoute):
                        found.add((route.path, method.lower()))
    return found


def test_the_api_description_lists_every_route(app: Root, client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    described = {(path, method) for path, ops in schema["paths"].items() for method in ops}
    missing = {
        (path, method)
        for path, method in _routes(app)
        if (path, method) not in described and path != "/docs/oauth2-redirect"
    }
    assert not missing
    # The hot image routes are plain Starlette routes, described by hand.
    assert "get" in schema["paths"]["/v1.0/users/{user}/photos/{size}/$value"]
    assert "get" in schema["paths"]["/_layouts/15/userphoto.aspx"]
    assert "put" in schema["paths"]["/v1.0/me/photo/$value"]
    assert "post" in schema["paths"]["/oauth2/v2.0/token"]
    assert "get" in schema["paths"]["/avatar/{name}"]
    assert client.get("/_docs").status_code == 200


def test_each_api_answers_unknown_paths_in_its_own_shape(client: TestClient) -> None:
    graph = client.get("/v1.0/no/such/thing")
    assert graph.status_code == 404 and "innerError" in graph.json()["error"]
    sharepoint = client.get("/_api/no/such/thing")
    assert sharepoint.status_code == 404
    assert sharepoint.json()["error"]["message"]["lang"] == "en-US"
    oauth = client.get("/oauth2/v2.0/token")
    assert oauth.status_code == 405 and set(oauth.json()) == {"error", "error_description"}
    avatar = client.get("/avatar/no/such/thing")
    assert avatar.status_code == 404 and set(avatar.json()["error"]) == {"code", "message"}
    page = client.get("/no/such/page")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")


def test_the_api_docs_load_nothing_from_another_host(client: TestClient) -> None:
    page = client.get("/_docs").text
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page)
    assert {"/_docs/assets/swagger-ui-bundle.js", "/_docs/assets/swagger-ui.css"} <= set(assets)
    assert "<script>" not in page  # started from a file: pages carry no inline script
    assert 'url: "/openapi.json"' in client.get(next(a for a in assets if "api-docs" in a)).text
    for asset in assets:
        assert asset.startswith("/"), f"/_docs loads {asset} from another host"
        answer = client.get(asset)
        assert answer.status_code == 200 and answer.content, asset


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "status": "ready",
        "checks": {
            "database": "ok",
            "blob_store": "ok",
            "broker": "not used (tasks run in this process)",
        },
    }
    paths = client.get("/openapi.json").json()["paths"]
    assert "get" in paths["/healthz"] and "503" in paths["/readyz"]["get"]["responses"]


def test_not_ready_names_what_does_not_answer(tmp_path: Path, sqlite_url: str) -> None:
    """A broker at a closed port: 503, naming the broker and why, within the probes' time."""
    settings = make_settings(
        tmp_path / "data", sqlite_url, broker_url=f"redis://127.0.0.1:{free_port()}/0"
    )
    ctx = Context.from_settings(settings)
    try:
        with TestClient(app_for(build_services(ctx))) as client:
            r = client.get("/readyz")
    finally:
        ctx.db.dispose()
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "not ready" and body["failing"] == ["broker"]
    assert "refused" in body["checks"]["broker"].lower()
    assert body["checks"]["database"] == body["checks"]["blob_store"] == "ok"


def test_a_probe_that_never_answers_fails_on_time() -> None:
    import threading

    never = threading.Event()
    state = readiness({"slow": never.wait, "fine": lambda: None}, timeout=0.2)
    never.set()
    assert state.failing == ["slow"] and state.checks == {
        "slow": "no answer within 0.2 s",
        "fine": "ok",
    }
