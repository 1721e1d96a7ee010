"""Lambda@Edge as CloudFront runs it: the events, and what a function may answer.

Events are ``{"Records": [{"cf": {"config": ..., "request": ..., "response": ...}}]}`` with
headers as ``{"lower-case-name": [{"key": "Original-Case", "value": "..."}]}``. A request
trigger (viewer-request, origin-request) answers the request to go on with, or a response
to send instead (it has a ``status``); a response trigger answers the response.

Failures are answered as CloudFront does: a function that raised, timed out or was throttled
gives 503 (``LambdaExecutionError``, ``LambdaLimitExceeded``), one whose answer has the wrong
shape gives 502 (``LambdaValidationError``).
"""

from __future__ import annotations

import base64
import binascii
import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from http import HTTPStatus
from typing import Any, Final

from promote.sandbox.gateway.messages import HOP_BY_HOP, Response
from promote.sandbox.invocation import FunctionRef, InvocationStatus, Invoker

_log = logging.getLogger(__name__)
CfHeaders = dict[str, list[dict[str, str]]]
# Headers a function may not set on a response; CloudFront keeps its own.
_READ_ONLY: Final = HOP_BY_HOP | {"via", "x-cache", "x-amz-cf-id", "x-amz-cf-pop"}
# ...and, on a viewer response, what describes the body as sent (it may be gzipped by then).
_VIEWER_READ_ONLY: Final = _READ_ONLY | {"content-encoding", "warning"}


class EventType(StrEnum):
    VIEWER_REQUEST = "viewer-request"
    ORIGIN_REQUEST = "origin-request"
    ORIGIN_RESPONSE = "origin-response"
    VIEWER_RESPONSE = "viewer-response"


class EdgeFailure(Exception):
    """A function's invocation failed; the viewer gets ``status`` and ``X-Cache: {kind} ...``."""

    def __init__(self, status: int, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.status = status
        self.kind = kind


@dataclass(frozen=True)
class EdgeConfig:
    distribution_id: str
    distribution_domain: str

    def for_event(self, event_type: EventType) -> dict[str, str]:
        return {
            "distributionDomainName": self.distribution_domain,
            "distributionId": self.distribution_id,
            "eventType": event_type.value,
            "requestId": uuid.uuid4().hex,
        }


def cf_headers(pairs: Iterable[tuple[str, str]]) -> CfHeaders:
    headers: CfHeaders = {}
    for name, value in pairs:
        headers.setdefault(name.lower(), []).append({"key": name, "value": value})
    return headers


def http_headers(headers: Mapping[str, Any]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for name, entries in headers.items():
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and "value" in entry:
                pairs.append((str(entry.get("key") or name), str(entry["value"])))
    return pairs


def cf_response(response: Response) -> dict[str, Any]:
    """A response as a response trigger sees it: status and headers, never the body."""
    return {
        "status": str(response.status),
        "statusDescription": _reason(response.status),
        "headers": cf_headers(response.headers),
    }


def run_request_trigger(
    invoker: Invoker,
    function: FunctionRef,
    event_type: EventType,
    config: EdgeConfig,
    request: dict[str, Any],
) -> dict[str, Any] | Response:
    """The request to go on with, or the response the function generated."""
    answer = _invoke(
        invoker, function, event_type, {"config": config.for_event(event_type), "request": request}
    )
    if isinstance(answer, dict) and "status" in answer:
        return generated_response(answer)
    if isinstance(answer, dict) and isinstance(answer.get("uri"), str):
        answer.setdefault("headers", {})
        answer.setdefault("querystring", "")
        answer.setdefault("method", request["method"])
        return answer
    raise EdgeFailure(
        502, "LambdaValidationError", f"{event_type} answered neither a request nor a response"
    )


def run_response_trigger(
    invoker: Invoker,
    function: FunctionRef,
    event_type: EventType,
    config: EdgeConfig,
    request: dict[str, Any],
    response: Response,
) -> Response:
    """``response`` with the status and headers the function answered; its body is kept."""
    record = {
        "config": config.for_event(event_type),
        "request": request,
        "response": cf_response(response),
    }
    answer = _invoke(invoker, function, event_type, record)
    if not isinstance(answer, dict) or "status" not in answer:
        raise EdgeFailure(502, "LambdaValidationError", f"{event_type} answered no response")
    status = _status(answer)
    read_only = _VIEWER_READ_ONLY if event_type is EventType.VIEWER_RESPONSE else _READ_ONLY
    headers = [(k, v) for k, v in response.headers if k.lower() in read_only]
    headers += [
        (k, v) for k, v in http_headers(answer.get("headers") or {}) if k.lower() not in read_only
    ]
    return Response(status, headers, response.body)


def generated_response(answer: Mapping[str, Any]) -> Response:
    status = _status(answer)
    body = answer.get("body") or ""
    if not isinstance(body, str):
        raise EdgeFailure(502, "LambdaValidationError", "the generated body is not a string")
    if answer.get("bodyEncoding") == "base64":
        try:
            data = base64.b64decode(body, validate=True)
        except binascii.Error as error:
            raise EdgeFailure(502, "LambdaValidationError", "the body is not base64") from error
    else:
        data = body.encode()
    headers = [
        (k, v) for k, v in http_headers(answer.get("headers") or {}) if k.lower() not in HOP_BY_HOP
    ]
    return Response(status, headers, data)


def _invoke(
    invoker: Invoker, function: FunctionRef, event_type: EventType, record: dict[str, Any]
) -> Any:
    try:
        invocation = invoker.invoke(function, {"Records": [{"cf": record}]})
    except Exception as error:  # an unknown function, a broken runtime: the viewer gets 503
        _log.warning("%s %s could not run: %s", event_type, function.arn, error)
        raise EdgeFailure(503, "LambdaExecutionError", f"{function.arn}: {error}") from error
    if invocation.status is InvocationStatus.THROTTLED:
        raise EdgeFailure(503, "LambdaLimitExceeded", f"{function.arn} was throttled")
    if invocation.status.is_error:
        raise EdgeFailure(
            503, "LambdaExecutionError", f"{event_type} {function.arn}: {invocation.status}"
        )
    return invocation.payload


def _status(answer: Mapping[str, Any]) -> int:
    try:
        status = int(answer["status"])
    except (TypeError, ValueError) as error:
        raise EdgeFailure(502, "LambdaValidationError", "the status is not a number") from error
    if not 100 <= status <= 599:
        raise EdgeFailure(502, "LambdaValidationError", f"status {status} is not HTTP")
    return status


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
