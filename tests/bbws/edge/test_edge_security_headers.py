"""security_headers on a recorded viewer-response event (runbook Test 4)."""

from __future__ import annotations

import copy

from bbws.edge import security_headers

EXPECTED = {
    "x-content-type-options": ("X-Content-Type-Options", "nosniff"),
    "x-frame-options": ("X-Frame-Options", "DENY"),
    "x-xss-protection": ("X-XSS-Protection", "1; mode=block"),
    "strict-transport-security": (
        "Strict-Transport-Security",
        "max-age=31536000; includeSubDomains",
    ),
    "content-security-policy": ("Content-Security-Policy", "default-src 'self'"),
    "referrer-policy": ("Referrer-Policy", "strict-origin-when-cross-origin"),
}


def test_adds_exactly_the_runbook_headers_and_changes_nothing_else(event):
    recorded = event("viewer-response-index.json")
    original = copy.deepcopy(recorded["Records"][0]["cf"]["response"])

    response = security_headers.handler(recorded, None)

    added = {name: response["headers"][name] for name in EXPECTED}
    assert added == {n: [{"key": k, "value": v}] for n, (k, v) in EXPECTED.items()}
    untouched = {n: v for n, v in response["headers"].items() if n not in EXPECTED}
    assert untouched == {n: v for n, v in original["headers"].items() if n not in EXPECTED}
    assert set(response["headers"]) == set(original["headers"]) | set(EXPECTED)
    assert (response["status"], response["statusDescription"]) == ("200", "OK")


def test_replaces_a_weaker_value_sent_by_the_origin(event):
    recorded = event("viewer-response-index.json")
    assert recorded["Records"][0]["cf"]["response"]["headers"]["x-frame-options"]

    response = security_headers.handler(recorded, None)

    assert response["headers"]["x-frame-options"] == [{"key": "X-Frame-Options", "value": "DENY"}]
