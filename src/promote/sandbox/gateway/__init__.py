"""The sandbox's gateway: API Gateway and CloudFront in front of the emulated accounts.

Wiring, in the sandbox::

    routes = routes_for(estate)
    with Gateway(invoker, routes, sandbox.endpoint, sandbox.state_dir,
                 http_port=8080, https_port=8443, oidc=jwks_by_env) as gateway:
        ...  # https://api.sit.kimmyai.io/v1.0/products/health via --connect-to ::127.0.0.1:8443

Modules: ``routes`` (pure: estate -> route table), ``api`` (REST proxy events and answers),
``cdn`` with ``distributions``, ``edge``, ``cache``, ``compression`` and ``origin`` (CloudFront
and Lambda@Edge over S3), ``s3_endpoint`` (anonymous requests to S3's bucket endpoints),
``oidc``, ``tls`` (the CA and certificate), ``server`` (the sockets).
"""

from __future__ import annotations

from promote.sandbox.gateway.api import VERSION_HEADER, ApiFront, proxy_event, proxy_response
from promote.sandbox.gateway.cache import ResponseCache, TtlPolicy, ttl_for
from promote.sandbox.gateway.cdn import CdnFront
from promote.sandbox.gateway.messages import Request, Response
from promote.sandbox.gateway.moto_gaps import keep_edge_config
from promote.sandbox.gateway.oidc import issuer
from promote.sandbox.gateway.routes import ApiMatch, Route, RouteTable, SiteBucket, routes_for
from promote.sandbox.gateway.s3_endpoint import S3Front
from promote.sandbox.gateway.server import AccessListener, AccessRecord, Gateway
from promote.sandbox.gateway.tls import Certificates, issue_certificates

__all__ = [
    "VERSION_HEADER",
    "AccessListener",
    "AccessRecord",
    "ApiFront",
    "ApiMatch",
    "CdnFront",
    "Certificates",
    "Gateway",
    "Request",
    "Response",
    "ResponseCache",
    "Route",
    "RouteTable",
    "S3Front",
    "SiteBucket",
    "TtlPolicy",
    "issue_certificates",
    "issuer",
    "keep_edge_config",
    "proxy_event",
    "proxy_response",
    "routes_for",
    "ttl_for",
]
