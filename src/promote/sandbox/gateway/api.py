"""The API front: API Gateway's REST proxy integration (payload format 1.0) over the routes.

A request for ``https://{api_domain}{base_path}/{proxy}`` becomes the event API Gateway sends
(resource ``{base_path}/{proxy+}``, stage = the environment's name), invokes the route's
alias, and the function's proxy response becomes the HTTP answer. How failures are answered:

==================================  =====  ======================================
no route for the path               403    ``Missing Authentication Token``
handler returned a malformed reply  502    ``Internal server error``
handler raised / runtime failed     502    ``Internal server error``
function or alias unknown           502    ``Internal server error`` (+ ``detail``)
throttled                           429    ``Too Many Requests``
timed out                           504    ``Endpoint request timed out``
==================================  =====  ======================================

Every answer carries ``x-amzn-RequestId``. Answers from a handler also carry
``X-Amz-Executed-Version``, the version that ran (a sandbox extra, so that load tests can
tell a canary's versions apart; Lambda reports it, API Gateway does not pass it on).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import parse_qsl, unquote

from promote.sandbox.gateway.messages import HOP_BY_HOP, Request, Response, json_response
from promote.sandbox.gateway.routes import ApiMatch, RouteTable
from promote.sandbox.invocation import Invocation, InvocationStatus, Invoker

_log = logging.getLogger(__name__)
VERSION_HEADER: Final = "X-Amz-Executed-Version"
REQUEST_ID_HEADER: Final = "x-amzn-RequestId"
_FAILURES: Final = {
    InvocationStatus.FUNCTION_ERROR: (502, "Internal server error"),
    InvocationStatus.RUNTIME_ERROR: (502, "Internal server error"),
    InvocationStatus.THROTTLED: (429, "Too Many Requests"),
    InvocationStatus.TIMED_OUT: (504, "Endpoint request timed out"),
}
_PROXY_KEYS: Final = frozenset(
    {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}
)


class MalformedResponse(ValueError):
    """The handler's answer is not a Lambda proxy response."""


class ApiFront:
    def __init__(
        self, invoker: Invoker, routes: RouteTable, clock: Callable[[], float] = time.time
    ) -> None:
        self._invoker = invoker
        self._routes = routes
        self._clock = clock

    def handle(self, request: Request) -> Response | None:
        """The answer for an API host; None when the host serves no API."""
        if not self._routes.is_api_host(request.host):
            return None
        request_id = str(uuid.uuid4())
        match = self._routes.match(request.host, unquote(request.path))
        if match is None:
            return _failure(403, "Missing Authentication Token", request_id)
        event = proxy_event(request, match, request_id, self._clock())
        try:
            invocation = self._invoker.invoke(match.route.function, event)
        except Exception as error:  # unknown function or alias, a broken runtime
            _log.warning("%s could not be invoked: %s", match.route.function.arn, error)
            return _failure(502, "Internal server error", request_id, f"{error}")
        return answer(invocation, request_id)


def proxy_event(request: Request, match: ApiMatch, request_id: str, now: float) -> dict[str, Any]:
    """API Gateway's REST proxy event (payload format 1.0) for ``request``."""
    route = match.route
    path = unquote(request.path)
    resource = f"{route.base_path}/{{proxy+}}" if match.proxy else route.base_path
    headers = _forwarded(request)
    single, multi = _header_maps(headers)
    queries, multi_queries = _query_maps(request.query)
    return {
        "resource": resource,
        "path": path,
        "httpMethod": request.method,
        "headers": single or None,
        "multiValueHeaders": multi or None,
        "queryStringParameters": queries,
        "multiValueQueryStringParameters": multi_queries,
        "pathParameters": {"proxy": match.proxy} if match.proxy else None,
        "stageVariables": None,
        "requestContext": _context(request, match, request_id, now, resource, path),
        **_body(request.body),
    }


def answer(invocation: Invocation, request_id: str) -> Response:
    """The HTTP answer for a finished invocation."""
    version = invocation.executed_version
    if invocation.status in _FAILURES:
        status, message = _FAILURES[invocation.status]
        return _failure(status, message, request_id, version=version)
    try:
        response = proxy_response(invocation.payload)
    except MalformedResponse as error:
        _log.warning("%s: malformed proxy response: %s", invocation.function.arn, error)
        return _failure(502, "Internal server error", request_id, version=version)
    response.headers += [(REQUEST_ID_HEADER, request_id), (VERSION_HEADER, version)]
    return response


def proxy_response(payload: Any) -> Response:
    """A Lambda proxy response as HTTP; :class:`MalformedResponse` when it is not one."""
    if not isinstance(payload, Mapping):
        raise MalformedResponse("the answer is not an object")
    if unknown := set(payload) - _PROXY_KEYS:
        raise MalformedResponse(f"unexpected fields {sorted(unknown)}")
    status = payload.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise MalformedResponse(f"statusCode {status!r} is not an HTTP status")
    headers = _response_headers(payload.get("headers"), payload.get("multiValueHeaders"))
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return Response(status, headers, _response_body(payload))


def _failure(
    status: int,
    message: str,
    request_id: str,
    detail: str | None = None,
    version: str | None = None,
) -> Response:
    data: dict[str, str] = {"message": message}
    if detail:
        data["detail"] = detail  # a sandbox extra: API Gateway says no more than `message`
    headers = [(REQUEST_ID_HEADER, request_id), ("x-amzn-ErrorType", _error_type(status))]
    if version:
        headers.append((VERSION_HEADER, version))
    return json_response(status, data, headers)


def _error_type(status: int) -> str:
    return {
        403: "MissingAuthenticationTokenException",
        429: "TooManyRequestsException",
        504: "IntegrationTimeoutException",
    }.get(status, "InternalServerErrorException")


def _forwarded(request: Request) -> list[tuple[str, str]]:
    """The request's headers plus those API Gateway adds."""
    headers = [(k, v) for k, v in request.headers if k.lower() not in HOP_BY_HOP]
    present = {k.lower() for k, _ in headers}
    added = {
        "X-Forwarded-For": request.client_ip,
        "X-Forwarded-Port": "443" if request.scheme == "https" else "80",
        "X-Forwarded-Proto": request.scheme,
        "X-Amzn-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}",
    }
    return headers + [(k, v) for k, v in added.items() if k.lower() not in present]


def _header_maps(
    headers: list[tuple[str, str]],
) -> tuple[dict[str, str], dict[str, list[str]]]:
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in headers:
        single[name] = value  # the last value wins, as in API Gateway
        multi.setdefault(name, []).append(value)
    return single, multi


def _query_maps(query: str) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    if not query:
        return None, None
    multi: dict[str, list[str]] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        multi.setdefault(name, []).append(value)
    if not multi:
        return None, None
    return {k: v[-1] for k, v in multi.items()}, multi


def _body(body: bytes) -> dict[str, Any]:
    if not body:
        return {"body": None, "isBase64Encoded": False}
    try:
        return {"body": body.decode("utf-8"), "isBase64Encoded": False}
    except UnicodeDecodeError:
        return {"body": base64.b64encode(body).decode(), "isBase64Encoded": True}


def _context(
    request: Request, match: ApiMatch, request_id: str, now: float, resource: str, path: str
) -> dict[str, Any]:
    route = match.route
    identity = dict.fromkeys(
        (
            "cognitoIdentityPoolId",
            "accountId",
            "cognitoIdentityId",
            "caller",
            "principalOrgId",
            "accessKey",
            "cognitoAuthenticationType",
            "cognitoAuthenticationProvider",
            "userArn",
            "user",
        ),
    )
    identity |= {"sourceIp": request.client_ip, "userAgent": request.header("User-Agent")}
    api_id = hashlib.sha256(f"{route.environment}/{route.project}".encode()).hexdigest()[:10]
    return {
        "resourceId": api_id[:6],
        "resourcePath": resource,
        "httpMethod": request.method,
        "extendedRequestId": base64.b64encode(uuid.uuid4().bytes[:10]).decode(),
        "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
        "path": path,
        "accountId": route.function.account_id,
        "protocol": "HTTP/1.1",
        "stage": route.environment,
        "domainPrefix": request.host.split(".", 1)[0],
        "requestTimeEpoch": int(now * 1000),
        "requestId": request_id,
        "identity": identity,
        "domainName": request.host,
        "deploymentId": api_id[4:],
        "apiId": api_id,
    }


def _response_headers(single: Any, multi: Any) -> list[tuple[str, str]]:
    if single is not None and not isinstance(single, Mapping):
        raise MalformedResponse("headers is not an object")
    if multi is not None and not isinstance(multi, Mapping):
        raise MalformedResponse("multiValueHeaders is not an object")
    headers: list[tuple[str, str]] = []
    for name, values in (multi or {}).items():
        if not isinstance(values, list):
            raise MalformedResponse(f"multiValueHeaders[{name!r}] is not a list")
        headers += [(str(name), _text(v)) for v in values]
    given = {name.lower() for name, _ in headers}
    headers += [(str(k), _text(v)) for k, v in (single or {}).items() if k.lower() not in given]
    return [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _response_body(payload: Mapping[str, Any]) -> bytes:
    body = payload.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise MalformedResponse("body is not a string")
    if payload.get("isBase64Encoded") is True:
        try:
            return base64.b64decode(body, validate=True)
        except binascii.Error as error:
            raise MalformedResponse("body is not base64") from error
    return body.encode()
