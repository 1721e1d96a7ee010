"""Typed access to Lambda@Edge events: the shapes CloudFront sends and accepts.

Headers are a map keyed by the lower-case name, each value a list of
``{"key": "Original-Case", "value": "..."}`` entries (CloudFront allows repeats).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NotRequired, TypedDict


class HeaderEntry(TypedDict):
    key: NotRequired[str]
    value: str


Headers = dict[str, list[HeaderEntry]]


class CfRequest(TypedDict):
    clientIp: str
    headers: Headers
    method: str
    querystring: str
    uri: str
    origin: NotRequired[dict[str, Any]]
    body: NotRequired[dict[str, Any]]


class CfResponse(TypedDict):
    status: str
    statusDescription: NotRequired[str]
    headers: Headers
    body: NotRequired[str]
    bodyEncoding: NotRequired[str]


class CfConfig(TypedDict):
    distributionDomainName: str
    distributionId: str
    eventType: str
    requestId: str


class CfPayload(TypedDict):
    config: CfConfig
    request: CfRequest
    response: NotRequired[CfResponse]


class CfRecord(TypedDict):
    cf: CfPayload


class CloudFrontEvent(TypedDict):
    Records: list[CfRecord]


def request_of(event: CloudFrontEvent) -> CfRequest:
    return event["Records"][0]["cf"]["request"]


def response_of(event: CloudFrontEvent) -> CfResponse:
    payload = event["Records"][0]["cf"]
    if "response" not in payload:
        raise ValueError(f"{payload['config']['eventType']} event carries no response")
    return payload["response"]


def header_value(headers: Headers, name: str) -> str | None:
    """The first value of a header, or None; ``name`` in any case."""
    entries = headers.get(name.lower())
    return entries[0]["value"] if entries else None


def set_header(headers: Headers, name: str, value: str) -> None:
    """Replace every value of a header; ``name`` is sent in the case given."""
    headers[name.lower()] = [{"key": name, "value": value}]


def cookies(headers: Headers) -> dict[str, str]:
    """Cookies from every ``Cookie`` header entry (CloudFront may split them); first wins."""
    jar: dict[str, str] = {}
    for entry in headers.get("cookie", []):
        for pair in entry["value"].split(";"):
            name, sep, value = pair.strip().partition("=")
            if sep and name and name not in jar:
                jar[name] = value
    return jar


def generated_response(
    status: int, description: str, headers: Iterable[tuple[str, str]], body: str = ""
) -> CfResponse:
    """A response generated at the edge, in the shape CloudFront accepts from a function."""
    response: CfResponse = {"status": str(status), "statusDescription": description, "headers": {}}
    for name, value in headers:
        set_header(response["headers"], name, value)
    if body:
        response["body"] = body
    return response
