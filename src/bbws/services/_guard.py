"""What every request passes before its route runs: auth, body checks, injected faults.

Order, and why: OPTIONS preflights pass untouched (browsers send them without a token);
then the bearer token (401), the admin group for writes (403), the body's size (413) and
media type (415), then the configured faults, and only then Powertools' request validation
(400). So an anonymous caller learns nothing about a route's schema, and a fault test
exercises the same path as a real failure of the route.

Everything except ``/health`` routes needs a token, unknown paths included: the API answers
401 before it says whether a path exists.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, cast

from aws_lambda_powertools.event_handler.middlewares import BaseMiddlewareHandler, NextMiddleware
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
    OpenAPIRequestValidationMiddleware,
)
from aws_lambda_powertools.event_handler.types import EventHandlerInstance

from bbws.services.auth import Principal, TokenVerifier, bearer_token, set_principal
from bbws.services.errors import FaultInjected, Forbidden, PayloadTooLarge, UnsupportedMediaType

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
    from aws_lambda_powertools.event_handler.api_gateway import Route

JSON: Final = "application/json"
WRITE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_GUARDED: Final = "_bbws_guarded"  # app.context flag: the guard ran for this request
ROUTE_LABEL: Final = "_bbws_route"  # app.context: "GET /products/{product_id}" or UNMATCHED
# No route: a 404 once the caller is authenticated, and one metrics dimension value for all
# unknown paths (raw paths would let any scanner create dimensions).
UNMATCHED: Final = "unmatched"


@dataclass(frozen=True)
class BodyRule:
    """The bodies a route accepts: media types (parameters ignored) and a size limit."""

    media_types: tuple[str, ...] = (JSON,)
    max_bytes: int | None = None  # None: the settings' BBWS_MAX_BODY_BYTES


@dataclass(frozen=True)
class RoutePolicy:
    """Per-route exceptions to the defaults, keyed "METHOD /path/<param>" as the app has the
    route (after any include_router prefix).

    member_writes: writes any member of the tenant may make (default: admin group only),
    e.g. {"POST /orders"}. bodies: non-JSON or larger bodies, e.g.
    {"POST /products/<product_id>/image": BodyRule(("multipart/form-data",), 5 * 2**20)}.
    """

    member_writes: frozenset[str] = frozenset()
    bodies: Mapping[str, BodyRule] = field(default_factory=dict)


@dataclass(frozen=True)
class Faults:
    """BBWS_FAULT_*: chaos for resilience tests; randomness and sleep are injectable."""

    error_rate: float = 0.0
    latency_ms: int = 0
    rng: Callable[[], float] = random.random
    sleep: Callable[[float], None] = time.sleep

    def apply(self) -> None:
        if self.latency_ms:
            self.sleep(self.latency_ms / 1000)
        # rng() is in [0, 1): a rate of 0 never fires and a rate of 1 always does.
        if self.error_rate and self.rng() < self.error_rate:
            raise FaultInjected()


def route_key(route: Route) -> str:
    return f"{route.method} {route.path}"


def is_public_path(path: str) -> bool:
    return path.rstrip("/").endswith("/health")


def is_public(route: Route) -> bool:
    return is_public_path(route.path)


@dataclass(frozen=True)
class Guard:
    verifier: TokenVerifier
    logger: Logger
    policy: RoutePolicy
    faults: Faults
    max_body_bytes: int

    def check(self, app: APIGatewayRestResolver) -> None:
        """Run the checks once per request; raises an ApiError to refuse it."""
        if app.context.get(_GUARDED):
            return
        app.context[_GUARDED] = True
        route: Route | None = app.context.get("_route")
        if route is None:  # Powertools always sets it; if that changes, fail closed
            raise RuntimeError("no matched route in the resolver context")
        if route.method == "OPTIONS" or is_public(route):
            return
        principal = self._authenticate(app)
        if app.context.get(ROUTE_LABEL) != UNMATCHED:
            self._authorize(principal, route)
            self._check_body(app, route)
        self.faults.apply()

    def _authenticate(self, app: APIGatewayRestResolver) -> Principal:
        token = bearer_token(app.current_event.headers.get("Authorization"))
        principal = self.verifier.verify(token)
        set_principal(principal)
        self.logger.append_keys(tenant_id=principal.tenant_id)
        return principal

    def _authorize(self, principal: Principal, route: Route) -> None:
        is_member_write = route_key(route) in self.policy.member_writes
        if route.method in WRITE_METHODS and not (principal.is_admin or is_member_write):
            raise Forbidden("this operation needs the admin group")

    def _check_body(self, app: APIGatewayRestResolver, route: Route) -> None:
        event = app.current_event
        if not event.body:
            return
        rule = self.policy.bodies.get(route_key(route), BodyRule())
        if _body_size(event.body, bool(event.is_base64_encoded)) > (
            rule.max_bytes or self.max_body_bytes
        ):
            raise PayloadTooLarge()
        media_type = event.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if media_type not in rule.media_types:
            accepted = ", ".join(rule.media_types)
            raise UnsupportedMediaType(f"send the body as {accepted}", headers={"Accept": accepted})


def _body_size(body: str, is_base64: bool) -> int:
    if is_base64:
        # Decoded size without decoding: 3 bytes per 4 characters, less the padding.
        return len(body) * 3 // 4 - body.count("=", -2)
    return len(body.encode())


class GuardMiddleware(BaseMiddlewareHandler["APIGatewayRestResolver"]):
    """The guard as a global middleware: covers routes that skip Powertools validation."""

    def __init__(self, guard: Guard) -> None:
        super().__init__()
        self.guard = guard

    def handler(
        self, app: APIGatewayRestResolver, next_middleware: NextMiddleware
    ) -> Response[Any]:
        self.guard.check(app)
        return next_middleware(app)


class GuardedValidation(OpenAPIRequestValidationMiddleware):
    """Powertools' request validation, with the guard first.

    Powertools always runs its request validation before any user middleware; without this
    the anonymous caller of a write would get 400s naming the fields of the route's schema.
    """

    def __init__(self, guard: Guard) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Powertools leaves it unannotated
        self.guard = guard

    def handler(self, app: EventHandlerInstance, next_middleware: NextMiddleware) -> Response[Any]:
        self.guard.check(cast("APIGatewayRestResolver", app))
        return super().handler(app, next_middleware)
