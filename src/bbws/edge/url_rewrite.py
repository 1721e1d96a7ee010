"""Origin-request: send SPA routes to ``/index.html`` so deep links load the app (Tests 10, 16).

A path is an asset, and left alone, when it is under ``/assets/`` or its last segment has a
file extension (``/favicon.ico``, ``/robots.txt``). Everything else (``/``, ``/products``,
``/campaigns/123``, ``/orders/``) is a client-side route. A route whose last segment contains
a dot (``/docs/v1.2``) is taken for a file: name routes without dots.

Running on origin-request means the rewrite happens only on a cache miss, and CloudFront
caches the result under the viewer's URI.
"""

from __future__ import annotations

from typing import Final

from ._cloudfront import CfRequest, CloudFrontEvent, request_of

SPA_ENTRY: Final = "/index.html"
ASSET_PREFIXES: Final = ("/assets/",)


def spa_uri(uri: str) -> str:
    """The URI the origin should serve for ``uri``."""
    if uri.startswith(ASSET_PREFIXES):
        return uri
    last_segment = uri.rsplit("/", 1)[-1]
    return uri if "." in last_segment else SPA_ENTRY


def rewrite(request: CfRequest) -> CfRequest:
    request["uri"] = spa_uri(request["uri"])
    return request


def handler(event: CloudFrontEvent, context: object) -> CfRequest:
    return rewrite(request_of(event))
