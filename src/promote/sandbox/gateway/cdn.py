"""The site front: the estate's CloudFront distributions, and its static site hosts.

For a host that is an alias of a distribution in one of the estate's accounts, a request goes
through what CloudFront does:

1. the cache behaviour whose ``PathPattern`` matches (in order; else the default one), and its
   viewer protocol policy (``redirect-to-https``: plain http gets a 301) and allowed methods;
2. the viewer-request function, on every request; it may answer instead of the origin, and
   then nothing else runs (``X-Cache: LambdaGeneratedResponse from cloudfront``);
3. the cache, keyed by (host, path, query) after viewer-request, and by the viewer's
   ``Accept-Encoding`` (gzip or not) when the behaviour compresses: ``Hit from cloudfront``;
4. on a miss: the default root object for ``/``, the origin-request function (which may also
   answer: not cached), GetObject from the S3 origin in the distribution's account, the
   origin-response function, gzip when the behaviour compresses and the viewer and object
   qualify (:mod:`promote.sandbox.gateway.compression`), then the cache keeps the answer as
   its ``Cache-Control`` says (:mod:`promote.sandbox.gateway.cache`): ``Miss from cloudfront``;
5. the viewer-response function, on every response but viewer-request's own.

An environment's ``static_sites`` host serves its bucket through the same cache, without
functions, and answers 404 for a missing key. A ``create_invalidation`` made against the
emulator purges the cache within half a second of the next request for that distribution.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, Final

from promote.sandbox.gateway.cache import CacheKey, ResponseCache, ttl_for
from promote.sandbox.gateway.clients import Clients
from promote.sandbox.gateway.compression import compress, viewer_encoding
from promote.sandbox.gateway.distributions import (
    Behaviour,
    Directory,
    Distribution,
    Origin,
    parse_s3_domain,
    static_site,
)
from promote.sandbox.gateway.edge import (
    EdgeConfig,
    EdgeFailure,
    EventType,
    cf_headers,
    run_request_trigger,
    run_response_trigger,
)
from promote.sandbox.gateway.messages import HOP_BY_HOP, Request, Response
from promote.sandbox.gateway.origin import fetch
from promote.sandbox.gateway.routes import RouteTable
from promote.sandbox.invocation import Invoker

_log = logging.getLogger(__name__)
CACHED_METHODS: Final = frozenset({"GET", "HEAD"})
# Statuses kept in the cache; errors are never kept, so a fixed object shows at once.
CACHED_STATUSES: Final = frozenset({200, 203, 204, 300, 301, 410})
GENERATED: Final = "LambdaGeneratedResponse from cloudfront"
POP: Final = "SANDBOX-P1"


class CdnFront:
    def __init__(
        self,
        invoker: Invoker,
        routes: RouteTable,
        clients: Clients,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._invoker = invoker
        self._clients = clients
        self.cache = ResponseCache(clock)
        self._directory = Directory(clients, routes.accounts, self._invalidated, clock)
        self._sites = {host: static_site(site) for host, site in routes.sites.items()}

    def handle(self, request: Request) -> Response | None:
        """The answer for a site host; None when no distribution or site has the host."""
        distribution = self._directory.find(request.host) or self._sites.get(request.host)
        if distribution is None:
            return None
        try:
            response = self._serve(distribution, request)
        except EdgeFailure as failure:
            _log.warning("%s %s%s: %s", request.method, request.host, request.path, failure)
            response = cloudfront_error(failure.status, str(failure))
            response.set_header("X-Cache", f"{failure.kind} from cloudfront")
        return _stamp(response)

    def _invalidated(self, distribution: Distribution, paths: list[str]) -> None:
        purged = self.cache.purge(distribution.aliases, paths)
        _log.info("invalidation of %s %s purged %d entries", distribution.id, paths, purged)

    def _serve(self, distribution: Distribution, request: Request) -> Response:
        behaviour = distribution.behaviour_for(request.path or "/")
        refusal = _refusal(request, behaviour)
        if refusal is not None:
            return refusal
        config = EdgeConfig(distribution.id, distribution.domain_name)
        viewer = _viewer_request(request)
        function = behaviour.functions.get(EventType.VIEWER_REQUEST)
        if function is not None:
            result = run_request_trigger(
                self._invoker, function, EventType.VIEWER_REQUEST, config, viewer
            )
            if isinstance(result, Response):
                result.set_header("X-Cache", GENERATED)
                return result
            viewer = result
        response = self._cached_or_fetched(distribution, behaviour, config, request, viewer)
        function = behaviour.functions.get(EventType.VIEWER_RESPONSE)
        if function is not None:
            response = run_response_trigger(
                self._invoker, function, EventType.VIEWER_RESPONSE, config, viewer, response
            )
        return response

    def _cached_or_fetched(
        self,
        distribution: Distribution,
        behaviour: Behaviour,
        config: EdgeConfig,
        request: Request,
        viewer: dict[str, Any],
    ) -> Response:
        encoding = _encoding(behaviour, viewer)
        key = CacheKey(request.host, viewer["uri"], viewer.get("querystring", ""), encoding)
        cacheable = request.method in CACHED_METHODS
        hit = self.cache.get(key) if cacheable else None
        if hit is not None:
            hit.set_header("X-Cache", "Hit from cloudfront")
            return hit
        response, generated = self._from_origin(distribution, behaviour, config, viewer, encoding)
        if not generated:
            response = compress(response, encoding)
        if cacheable and not generated and response.status in CACHED_STATUSES:
            self.cache.put(key, response, ttl_for(response.header("Cache-Control"), behaviour.ttl))
        response.set_header("X-Cache", GENERATED if generated else "Miss from cloudfront")
        return response

    def _from_origin(
        self,
        distribution: Distribution,
        behaviour: Behaviour,
        config: EdgeConfig,
        viewer: dict[str, Any],
        encoding: str,
    ) -> tuple[Response, bool]:
        """The origin's answer after the origin functions, and whether a function made it."""
        origin = distribution.origins.get(behaviour.origin_id)
        if origin is None:
            detail = f"the behaviour's origin {behaviour.origin_id} does not exist"
            return cloudfront_error(502, detail), False
        request = _origin_request(viewer, origin, distribution.default_root_object, encoding)
        function = behaviour.functions.get(EventType.ORIGIN_REQUEST)
        if function is not None:
            result = run_request_trigger(
                self._invoker, function, EventType.ORIGIN_REQUEST, config, request
            )
            if isinstance(result, Response):
                return result, True
            request = result
        response = fetch(
            self._clients, distribution.account_id, _origin_of(request, origin), request["uri"]
        )
        function = behaviour.functions.get(EventType.ORIGIN_RESPONSE)
        if function is not None:
            response = run_response_trigger(
                self._invoker, function, EventType.ORIGIN_RESPONSE, config, request, response
            )
        return response, False


def _refusal(request: Request, behaviour: Behaviour) -> Response | None:
    """What CloudFront answers before any function runs, if anything."""
    if request.scheme == "http" and behaviour.viewer_protocol_policy == "redirect-to-https":
        query = f"?{request.query}" if request.query else ""
        location = f"https://{request.host}{request.path}{query}"
        moved = cloudfront_error(301, f"Moved to {location}")
        moved.set_header("Location", location)
        moved.set_header("X-Cache", "Redirect from cloudfront")
        return moved
    if request.scheme == "http" and behaviour.viewer_protocol_policy == "https-only":
        return cloudfront_error(403, "This distribution is HTTPS only.")
    if request.method not in behaviour.allowed_methods:
        return cloudfront_error(
            403, f"This distribution is not configured to allow {request.method} here."
        )
    return None


def _viewer_request(request: Request) -> dict[str, Any]:
    headers = [(k, v) for k, v in request.headers if k.lower() not in HOP_BY_HOP]
    return {
        "clientIp": request.client_ip,
        "headers": cf_headers(headers),
        "method": request.method,
        "querystring": request.query,
        "uri": request.path or "/",
    }


def _encoding(behaviour: Behaviour, viewer: dict[str, Any]) -> str:
    """The viewer's Accept-Encoding (after viewer-request) as CloudFront normalises it for a
    compressing behaviour: "gzip" or ""."""
    if not behaviour.compress:
        return ""
    entries = (viewer.get("headers") or {}).get("accept-encoding") or []
    return viewer_encoding(str(e.get("value", "")) for e in entries if isinstance(e, dict))


def _origin_request(
    viewer: dict[str, Any], origin: Origin, default_root_object: str, encoding: str = ""
) -> dict[str, Any]:
    """The request as the origin-request function sees it. The cache policy forwards no
    viewer header (CachingOptimized), so only CloudFront's own reach the origin, and the
    normalised Accept-Encoding when the behaviour compresses."""
    uri = viewer["uri"]
    if uri == "/" and default_root_object:
        uri = "/" + default_root_object.lstrip("/")
    headers = [
        ("Host", origin.domain_name),
        ("User-Agent", "Amazon CloudFront"),
        ("Via", "2.0 sandbox.cloudfront.net (CloudFront)"),
        ("X-Forwarded-For", viewer["clientIp"]),
    ]
    if encoding:
        headers.append(("Accept-Encoding", encoding))
    return {
        "clientIp": viewer["clientIp"],
        "headers": cf_headers(headers),
        "method": viewer["method"],
        "querystring": viewer.get("querystring", ""),
        "uri": uri,
        "origin": {
            "s3": {
                "authMethod": "origin-access-identity",
                "customHeaders": {},
                "domainName": origin.domain_name,
                "path": f"/{origin.path}" if origin.path else "",
                "region": origin.region,
            }
        },
    }


def _origin_of(request: dict[str, Any], origin: Origin) -> Origin:
    """The origin the request names: an origin-request function may point it elsewhere."""
    s3 = (request.get("origin") or {}).get("s3") or {}
    domain = s3.get("domainName")
    if not domain or domain == origin.domain_name:
        return origin
    parsed = parse_s3_domain(domain)
    if parsed is None:
        return Origin(origin.id, domain, None, origin.region)
    bucket, region = parsed
    path = str(s3.get("path") or "").strip("/")
    return Origin(origin.id, domain, bucket, s3.get("region") or region, path)


def cloudfront_error(status: int, detail: str) -> Response:
    """An error page in CloudFront's words."""
    body = (
        '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN" '
        '"http://www.w3.org/TR/html4/loose.dtd">\n<HTML><HEAD><META HTTP-EQUIV="Content-Type" '
        'CONTENT="text/html; charset=iso-8859-1">\n<TITLE>ERROR: The request could not be '
        f"satisfied</TITLE>\n</HEAD><BODY>\n<H1>{status} ERROR</H1>\n<H2>The request could not "
        f'be satisfied.</H2>\n<HR noshade size="1px">\n{_html(detail)}\n<BR clear="all">\n'
        '<HR noshade size="1px">\n<PRE>\nGenerated by cloudfront (CloudFront)\n</PRE>\n'
        "</BODY></HTML>"
    )
    return Response(status, [("Content-Type", "text/html")], body.encode())


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _stamp(response: Response) -> Response:
    """CloudFront's own headers on every answer."""
    if response.header("X-Cache") is None:
        response.set_header("X-Cache", "Error from cloudfront")
    response.set_header("Via", "1.1 sandbox.cloudfront.net (CloudFront)")
    response.set_header("X-Amz-Cf-Pop", POP)
    response.set_header("X-Amz-Cf-Id", uuid.uuid4().hex)
    return response
