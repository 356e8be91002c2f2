"""Templates, static-file URLs and the headers every portal page carries."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from photosync.portal.viewer import CSRF_FIELD, Viewer

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
STATIC_PREFIX = "/portal-static"

# The security headers (CSP, nosniff, framing, referrer) are the edge's, on every answer
# (photosync.edge); what is particular to pages:
PAGE_HEADERS = {
    # Pages hold personal data and CSRF tokens, and must show a new photo at once.
    "Cache-Control": "no-store",
}


@cache
def static_url(name: str) -> str:
    """A URL that changes when the file does, so browsers never run a stale script or style."""
    digest = hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:10]
    return f"{STATIC_PREFIX}/{name}?v={digest}"


def initials(name: str) -> str:
    words = [w for w in name.replace("@", " ").replace(".", " ").split() if w[:1].isalnum()]
    if not words:
        return "?"
    if len(words) == 1:
        return words[0][:1].upper()
    return (words[0][:1] + words[-1][:1]).upper()


def avatar_colour(user_id: str) -> int:
    """One of eight background classes, stable per user (inline styles are blocked by CSP)."""
    return hashlib.sha256(user_id.encode()).digest()[0] % 8


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        static=static_url, initials=initials, avatar_colour=avatar_colour, csrf_field=CSRF_FIELD
    )
    return env


ENV = _environment()


def render(
    request: Request,
    template: str,
    *,
    viewer: Viewer | None,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    context.setdefault("title", "")
    context.setdefault("active", "")
    context.setdefault("header_photo", None)
    html = ENV.get_template(template).render(request=request, viewer=viewer, **context)
    return HTMLResponse(html, status_code=status, headers={**PAGE_HEADERS, **(headers or {})})
