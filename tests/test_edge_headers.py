"""The security headers the edge gives every answer: pages and images alike, an answer's own
header kept (never doubled), the page policy for HTML and a run-nothing policy for the rest."""

from __future__ import annotations

from photosync.edge import NOTHING_POLICY, PAGE_POLICY, security_headers


def _named(headers: list[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    return dict(headers)


def test_an_image_gets_every_header_and_a_policy_that_runs_nothing() -> None:
    added = _named(security_headers([(b"content-type", b"image/jpeg")]))
    assert added == {
        b"x-content-type-options": b"nosniff",
        b"x-frame-options": b"DENY",
        b"referrer-policy": b"same-origin",
        b"content-security-policy": NOTHING_POLICY,
    }


def test_a_page_gets_the_page_policy_without_inline_script() -> None:
    added = _named(security_headers([(b"content-type", b"text/html; charset=utf-8")]))
    policy = added[b"content-security-policy"]
    assert policy == PAGE_POLICY
    assert b"unsafe-inline" not in policy and b"frame-ancestors 'none'" in policy


def test_an_answer_keeps_its_own_headers() -> None:
    own = [
        (b"Content-Security-Policy", b"default-src 'none'"),
        (b"x-content-type-options", b"nosniff"),
    ]
    added = _named(security_headers([(b"content-type", b"text/html"), *own]))
    assert b"content-security-policy" not in added
    assert b"x-content-type-options" not in added
    assert added[b"x-frame-options"] == b"DENY"
