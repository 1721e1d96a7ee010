"""url_rewrite on recorded origin-request events (runbook Tests 10, 15, 16)."""

from __future__ import annotations

import pytest

from bbws.edge import url_rewrite


def test_spa_route_goes_to_index_html(event):
    request = url_rewrite.handler(event("origin-request-products.json"), None)

    assert request["uri"] == "/index.html"
    assert request["origin"]["s3"]["domainName"] == "bbws-frontend-sit.s3.eu-west-1.amazonaws.com"


def test_protected_route_goes_to_index_html(event):
    # The protected behaviours' origin-request function too: the token was checked at
    # viewer-request, so only the SPA rewrite is left to do here.
    recorded = event("origin-request-protected-page.json")

    request = url_rewrite.handler(recorded, None)

    assert request["uri"] == "/index.html"
    assert request["headers"]["cookie"] == [{"key": "Cookie", "value": "theme=dark; lang=en"}]


def test_asset_is_left_alone(event):
    recorded = event("origin-request-asset.json")
    before = recorded["Records"][0]["cf"]["request"].copy()

    assert url_rewrite.handler(recorded, None) == before


@pytest.mark.parametrize(
    "uri", ["/", "/products", "/orders", "/orders/", "/campaigns/123", "/non-existent-page"]
)
def test_routes(uri):
    assert url_rewrite.spa_uri(uri) == "/index.html"


@pytest.mark.parametrize(
    "uri",
    [
        "/assets/main.js",
        "/assets/main.css",
        "/assets/logo.png",
        "/assets/app.1a2b3c4d.js",
        "/assets/fonts/inter",
        "/favicon.ico",
        "/robots.txt",
        "/index.html",
    ],
)
def test_files(uri):
    assert url_rewrite.spa_uri(uri) == uri
