"""Viewer-request: 301 ``www.`` hosts to the apex and plain HTTP to HTTPS, keeping path and query.

``https://www.kimmyai.io/x?y=1`` -> ``301 Location: https://kimmyai.io/x?y=1``; both rules
combine into one redirect, so a viewer never takes two hops.

Which header tells us the viewer's protocol: ``CloudFront-Forwarded-Proto`` (``http`` or
``https``), read from the request headers as ``cloudfront-forwarded-proto``. CloudFront adds
that header only *after* the viewer-request event, and only when a cache or origin-request
policy includes it, so on the viewer-request trigger this function is deployed on it is
normally absent. That is safe because the distribution's ``ViewerProtocolPolicy`` is
``redirect-to-https``: CloudFront itself answers plain-HTTP requests with a 301 before any
function runs. The check here is defence in depth (and what the runbook's http -> https test
exercises); a missing header is taken as HTTPS, so this function can never cause a loop.
The ``Host`` header at viewer-request is the name the viewer asked for (an alias).
"""

from __future__ import annotations

from typing import Final

from ._cloudfront import (
    CfRequest,
    CfResponse,
    CloudFrontEvent,
    generated_response,
    header_value,
    request_of,
)
from .security_headers import SECURITY_HEADERS

PROTO_HEADER: Final = "cloudfront-forwarded-proto"
WWW_PREFIX: Final = "www."


def redirect_location(host: str, uri: str, querystring: str, proto: str | None) -> str | None:
    """Where to send the viewer, or None when the request is already canonical."""
    host = host.lower()
    apex = host.removeprefix(WWW_PREFIX)
    if apex == host and proto != "http":
        return None
    query = f"?{querystring}" if querystring else ""
    return f"https://{apex}{uri}{query}"


def _moved(location: str) -> CfResponse:
    headers = (("Location", location), ("Cache-Control", "max-age=3600"), *SECURITY_HEADERS)
    return generated_response(301, "Moved Permanently", headers)


def redirect(request: CfRequest) -> CfResponse | None:
    host = header_value(request["headers"], "host")
    if not host:
        return None
    proto = header_value(request["headers"], PROTO_HEADER)
    location = redirect_location(host, request["uri"], request["querystring"], proto)
    return _moved(location) if location else None


def handler(event: CloudFrontEvent, context: object) -> CfRequest | CfResponse:
    request = request_of(event)
    return redirect(request) or request
