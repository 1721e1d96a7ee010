"""The resolver every BBWS service is built on, and its Lambda handler.

    from bbws.services.app import build_handler, current_principal, make_app

    app = make_app("products")            # settings from the environment, /products/health
    @app.get("/products/<product_id>")
    def get_product(product_id: IdPath) -> dict:
        tenant = current_principal().tenant_id
        ...
    handler = build_handler(app)

What ``make_app`` adds to Powertools' ``APIGatewayRestResolver``:

* routes are declared without the ``/v1.0`` stage prefix the events carry;
* the guard (``_guard``): bearer auth on everything but ``/health``, the admin group for
  writes, 413 / 415 body checks, the BBWS_FAULT_* faults, all before request validation;
* the error tree of ``errors`` for every exception, with no traceback in any body;
* the edge's security headers on every response, errors and 404s included;
* per invocation (``build_handler``): a structured log line with the API Gateway request
  id as correlation id, and one EMF line in namespace BBWS: Requests, Errors (5xx),
  ClientErrors (4xx) and Latency (ms, injected delay included), flushed before returning.
  They are under two dimension sets: ``{service, route}``, and ``{service, ExecutedVersion,
  operation}`` (the Lambda version that ran, and ``read`` for GET, HEAD and OPTIONS, else
  ``write``), which a canary reads to compare the versions behind a weighted alias. Requests,
  Errors and Latency are high resolution (per second), under both sets (an EMF line gives a
  metric one resolution): a canary judges seconds, not minutes.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable, MutableMapping
from typing import Any, Final, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig
from aws_lambda_powertools.event_handler.api_gateway import Route
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricResolution, MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from bbws.edge.security_headers import SECURITY_HEADERS
from bbws.services import errors
from bbws.services._guard import (
    ROUTE_LABEL,
    UNMATCHED,
    BodyRule,
    Faults,
    Guard,
    GuardedValidation,
    GuardMiddleware,
    RoutePolicy,
)
from bbws.services.auth import Principal, TokenVerifier, current_principal, set_principal
from bbws.services.config import Settings, get_settings

__all__ = [
    "API_PREFIX",
    "BodyRule",
    "Principal",
    "RoutePolicy",
    "ServiceApp",
    "build_handler",
    "current_principal",
    "make_app",
    "with_security_headers",
]

API_PREFIX: Final = "/v1.0"
NAMESPACE: Final = "BBWS"
READ_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})  # the rest are writes
_SERVICE_NAME: Final = re.compile(r"^[a-z][a-z0-9-]{0,31}$")

Event = dict[str, Any]
Handler = Callable[[Event, LambdaContext], dict[str, Any]]


class ServiceApp(APIGatewayRestResolver):
    """A REST resolver carrying its service's settings, Logger and Metrics."""

    def __init__(
        self,
        service_name: str,
        settings: Settings,
        *,
        guard: Guard,
        logger: Logger,
        metrics: Metrics,
        cors: CORSConfig | None = None,
    ) -> None:
        # debug=False: Powertools' debug mode would put tracebacks in 500 bodies.
        # response_validation_error_http_code: a response that fails its model is our bug;
        # without it Powertools raises RequestValidationError, which would read as a 400.
        super().__init__(
            cors=cors,
            debug=False,
            strip_prefixes=[API_PREFIX],
            enable_validation=True,
            response_validation_error_http_code=500,
        )
        self.service_name = service_name
        self.settings = settings
        self.logger = logger
        self.metrics = metrics
        self._route_label = UNMATCHED
        self._request_validation_middleware = GuardedValidation(guard)
        self.use([GuardMiddleware(guard)])
        errors.install(self, logger)

    def append_context(self, **additional_context: Any) -> None:
        # Powertools announces the matched route (or its 404 stand-in) here: label it for the
        # guard and the route dimension.
        route = additional_context.get("_route")
        if isinstance(route, Route):
            self._route_label = additional_context[ROUTE_LABEL] = self._label(route)
        super().append_context(**additional_context)  # type: ignore[no-untyped-call]

    def _label(self, route: Route) -> str:
        # Unknown paths reach here as a catch-all Route that Powertools builds per request;
        # only the registered ones are real routes.
        registered = route in self._static_routes or route in self._dynamic_routes
        return f"{route.method} {route.openapi_path}" if registered else UNMATCHED

    def resolve(self, event: Any, context: LambdaContext) -> dict[str, Any]:
        try:
            response = super().resolve(event, context)
        finally:
            set_principal(None)  # never let a caller outlive its request
        return with_security_headers(response)

    def handle(self, event: Event, context: LambdaContext) -> dict[str, Any]:
        """resolve, plus the log line and metrics of the request; never raises."""
        self._route_label = UNMATCHED
        started = time.perf_counter()
        try:
            response = self.resolve(event, context)
        except Exception:
            # Only reached if Powertools itself fails (e.g. an event that is not REST v1).
            self.logger.exception("request failed before routing")
            response = with_security_headers(_internal_error())
        latency_ms = (time.perf_counter() - started) * 1000
        self._record(int(response["statusCode"]), latency_ms, _operation(event), context)
        return response

    def _record(
        self, status: int, latency_ms: float, operation: str, context: LambdaContext
    ) -> None:
        high = MetricResolution.High
        self.metrics.add_dimension("route", self._route_label)
        self.metrics.add_dimensions(
            service=str(self.metrics.service or self.service_name),
            # The version that ran, as Lambda tells it: behind a weighted alias, a number.
            ExecutedVersion=context.function_version,
            operation=operation,
        )
        self.metrics.add_metric("Requests", MetricUnit.Count, 1, high)
        self.metrics.add_metric("Errors", MetricUnit.Count, int(status >= 500), high)
        self.metrics.add_metric("ClientErrors", MetricUnit.Count, int(400 <= status < 500))
        self.metrics.add_metric("Latency", MetricUnit.Milliseconds, latency_ms, high)
        self.logger.info(
            "request",
            extra={
                "route": self._route_label,
                "status": status,
                "latency_ms": round(latency_ms, 1),
            },
        )


def make_app(
    service_name: str,
    settings: Settings | None = None,
    *,
    verifier: TokenVerifier | None = None,
    policy: RoutePolicy | None = None,
    rng: Callable[[], float] = random.random,
    sleep: Callable[[float], None] = time.sleep,
    logger: Logger | None = None,
    metrics: Metrics | None = None,
    cors: CORSConfig | None = None,
    health: bool = True,
) -> ServiceApp:
    """The resolver of one service. Everything but ``service_name`` can be injected by tests;
    ``health=False`` leaves ``GET /<service>/health`` for the service to define."""
    if not _SERVICE_NAME.match(service_name):
        raise ValueError(f"service name must be lower-case letters, digits, '-': {service_name!r}")
    settings = settings or get_settings()
    logger = logger or Logger(service=service_name)
    guard = Guard(
        verifier=verifier
        or TokenVerifier(settings.jwks_url, settings.jwt_issuer, settings.jwt_audience),
        logger=logger,
        policy=policy or RoutePolicy(),
        faults=Faults(settings.fault_error_rate, settings.fault_latency_ms, rng, sleep),
        max_body_bytes=settings.max_body_bytes,
    )
    app = ServiceApp(
        service_name,
        settings,
        guard=guard,
        logger=logger,
        metrics=metrics or Metrics(namespace=NAMESPACE, service=service_name),
        cors=cors,
    )
    if health:
        _add_health(app)
    return app


def _add_health(app: ServiceApp) -> None:
    body = {"status": "ok", "service": app.service_name, "env": app.settings.env}

    @app.get(f"/{app.service_name}/health", summary="Liveness; public, never faulted")
    def health() -> dict[str, str]:
        return body


def build_handler(app: ServiceApp) -> Handler:
    """The Lambda entry point: ``handler = build_handler(app)``."""

    @app.metrics.log_metrics(capture_cold_start_metric=True)
    # log_event=False whatever POWERTOOLS_LOGGER_LOG_EVENT says: events carry bearer tokens.
    @app.logger.inject_lambda_context(
        correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False, clear_state=True
    )
    def handler(event: Event, context: LambdaContext) -> dict[str, Any]:
        return app.handle(event, context)

    return cast(Handler, handler)


def _operation(event: Any) -> str:
    method = event.get("httpMethod") if isinstance(event, dict) else None
    return "read" if str(method).upper() in READ_METHODS else "write"


def with_security_headers(response: dict[str, Any]) -> dict[str, Any]:
    """Set the edge's security headers, replacing any value a route set (any case).

    REST (v1) responses carry ``multiValueHeaders``; ``headers``, if present, is kept in step
    because API Gateway merges the two.
    """
    response["multiValueHeaders"] = response.get("multiValueHeaders") or {}
    _replace_headers(response["multiValueHeaders"], multi=True)
    if response.get("headers"):
        _replace_headers(response["headers"], multi=False)
    return response


def _replace_headers(headers: MutableMapping[str, Any], *, multi: bool) -> None:
    names = {name.lower() for name, _ in SECURITY_HEADERS}
    for existing in [h for h in headers if h.lower() in names]:
        del headers[existing]
    for name, value in SECURITY_HEADERS:
        headers[name] = [value] if multi else value


def _internal_error() -> dict[str, Any]:
    return {
        "statusCode": 500,
        "multiValueHeaders": {"Content-Type": ["application/json"]},
        "body": json.dumps(errors.InternalError().body()),
        "isBase64Encoded": False,
    }
