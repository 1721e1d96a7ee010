"""redirects on recorded viewer-request events (runbook Phase 2 week 3: www and http)."""

from __future__ import annotations

from bbws.edge import redirects


def _location(response):
    return response["headers"]["location"][0]["value"]


def test_www_goes_to_the_apex_keeping_path_and_query(event):
    response = redirects.handler(event("viewer-request-www.json"), None)

    assert response["status"] == "301"
    assert response["statusDescription"] == "Moved Permanently"
    assert _location(response) == "https://kimmyai.io/x?y=1"
    assert response["headers"]["location"][0]["key"] == "Location"


def test_http_goes_to_https(event):
    # CloudFront adds CloudFront-Forwarded-Proto only after viewer-request (the distribution's
    # redirect-to-https policy does this job in production); this event carries it to pin the
    # function's own rule.
    response = redirects.handler(event("viewer-request-http.json"), None)

    assert response["status"] == "301"
    assert _location(response) == "https://sit.kimmyai.io/orders?page=2"


def test_http_and_www_make_one_hop(event):
    recorded = event("viewer-request-www.json")
    headers = recorded["Records"][0]["cf"]["request"]["headers"]
    headers["cloudfront-forwarded-proto"] = [{"key": "CloudFront-Forwarded-Proto", "value": "http"}]

    assert _location(redirects.handler(recorded, None)) == "https://kimmyai.io/x?y=1"


def test_canonical_request_passes_through_untouched(event):
    recorded = event("viewer-request-apex.json")
    before = recorded["Records"][0]["cf"]["request"].copy()

    assert redirects.handler(recorded, None) == before


def test_redirect_carries_hsts_because_viewer_response_does_not_run_for_it(event):
    response = redirects.handler(event("viewer-request-www.json"), None)

    assert "strict-transport-security" in response["headers"]


def test_missing_proto_header_is_https():
    assert redirects.redirect_location("sit.kimmyai.io", "/", "", None) is None
    assert redirects.redirect_location("WWW.KimmyAI.io", "/", "", "https") == "https://kimmyai.io/"
