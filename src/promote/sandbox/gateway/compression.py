"""CloudFront's automatic compression, gzip only (the venv has no Brotli).

A cache behaviour compresses when its ``Compress`` is true and its cache policy caches
compressed objects (CachingOptimized, a custom policy, legacy TTL settings; not
CachingDisabled or CachingOptimizedForUncompressedObjects). Then an origin's answer is
gzipped for a viewer whose ``Accept-Encoding`` names ``gzip`` (not ``;q=0``) when:

- its status is 200, 403 or 404, and it has no ``Content-Encoding`` of its own;
- its ``Content-Type`` is one CloudFront compresses (:data:`COMPRESSIBLE`);
- its body is 1,000 to 10,000,000 bytes.

A compressed answer gets ``Content-Encoding: gzip`` and ``Vary: Accept-Encoding``, and a strong
``ETag`` becomes weak (``W/"..."``), as CloudFront converts it. The cache keeps the gzip and
the identity variants apart (:class:`promote.sandbox.gateway.cache.CacheKey`'s ``encoding``).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from typing import Final

from promote.sandbox.gateway.messages import Response

GZIP: Final = "gzip"
MIN_SIZE: Final = 1_000
MAX_SIZE: Final = 10_000_000
COMPRESSED_STATUSES: Final = frozenset({200, 403, 404})
# "File types that CloudFront compresses" (CloudFront Developer Guide).
COMPRESSIBLE: Final = frozenset(
    {
        "application/dash+xml",
        "application/eot",
        "application/font",
        "application/font-sfnt",
        "application/javascript",
        "application/json",
        "application/opentype",
        "application/otf",
        "application/pdf",
        "application/pkcs7-mime",
        "application/protobuf",
        "application/rss+xml",
        "application/truetype",
        "application/ttf",
        "application/vnd.apple.mpegurl",
        "application/vnd.mapbox-vector-tile",
        "application/vnd.ms-fontobject",
        "application/wasm",
        "application/xhtml+xml",
        "application/xml",
        "application/x-font-opentype",
        "application/x-font-truetype",
        "application/x-font-ttf",
        "application/x-httpd-cgi",
        "application/x-javascript",
        "application/x-mpegurl",
        "application/x-opentype",
        "application/x-otf",
        "application/x-perl",
        "application/x-ttf",
        "font/eot",
        "font/opentype",
        "font/otf",
        "font/ttf",
        "image/svg+xml",
        "text/css",
        "text/csv",
        "text/html",
        "text/javascript",
        "text/js",
        "text/plain",
        "text/richtext",
        "text/tab-separated-values",
        "text/xml",
        "text/x-component",
        "text/x-java-source",
        "text/x-script",
        "vnd.apple.mpegurl",
    }
)


def viewer_encoding(accept_encoding: Iterable[str]) -> str:
    """``gzip`` when the viewer's ``Accept-Encoding`` values accept it, else "" (identity):
    CloudFront's normalisation of the header for the cache key and the origin."""
    for value in accept_encoding:
        for item in value.split(","):
            coding, _, params = item.strip().partition(";")
            if coding.strip().lower() != GZIP:
                continue
            return "" if _quality(params) == 0 else GZIP
    return ""


def compressible(response: Response) -> bool:
    if response.status not in COMPRESSED_STATUSES or response.header("Content-Encoding"):
        return False
    media_type = (response.header("Content-Type") or "").split(";", 1)[0].strip().lower()
    return media_type in COMPRESSIBLE and MIN_SIZE <= len(response.body) <= MAX_SIZE


def compress(response: Response, encoding: str) -> Response:
    """``response`` gzipped for a viewer that accepts ``encoding``, when CloudFront would;
    else ``response`` itself."""
    if encoding != GZIP or not compressible(response):
        return response
    compressed = Response(
        response.status, list(response.headers), gzip.compress(response.body, mtime=0)
    )
    compressed.set_header("Content-Encoding", GZIP)
    vary = [v.strip() for v in (response.header("Vary") or "").split(",") if v.strip()]
    if "accept-encoding" not in {v.lower() for v in vary}:
        compressed.set_header("Vary", ", ".join([*vary, "Accept-Encoding"]))
    etag = response.header("ETag")
    if etag and not etag.startswith("W/"):
        compressed.set_header("ETag", f"W/{etag}")
    return compressed


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 1.0
    return 1.0
