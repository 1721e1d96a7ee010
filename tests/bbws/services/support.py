"""Test doubles for the BBWS services; ``conftest.py`` turns them into fixtures.

Kept in a plain module so a conftest elsewhere can reuse them with
``from tests.bbws.services.support import ...``.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import io
import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import boto3
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from moto import mock_aws

from bbws.schemas import dynamodb as dynamodb_stack
from bbws.schemas import s3 as s3_stack
from bbws.schemas.common import Target
from tests.bbws.aws_doubles import CloudFrontOaiDouble

EVENTS = Path(__file__).parents[1] / "events" / "apigateway"
RECORDED_EVENT = "rest-v1-products-health.json"
ENV = "dev"  # the DynamoDB definition only knows dev, sit and prod: "test" is refused
REGION = "eu-west-1"
ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_BbwsTest1"
CLIENT_ID = "bbws-portal-test-client"
KID = "bbws-test-key-1"
CURSOR_KEY = "test-cursor-key-0123456789abcdef-0123456789abcdef"
TENANT = "tenant-a"
OTHER_TENANT = "tenant-b"
SUBJECT = "7f1c2d3e-aaaa-bbbb-cccc-0123456789ab"


def service_environ(jwks_url: str) -> dict[str, str]:
    """The environment variables a BBWS function gets, for env dev."""
    return {
        "BBWS_ENV": ENV,
        "BBWS_DOMAIN": "dev.kimmyai.io",
        "JWKS_URL": jwks_url,
        "JWT_ISSUER": ISSUER,
        "JWT_AUDIENCE": CLIENT_ID,
        "BBWS_CURSOR_KEY": CURSOR_KEY,
        "POWERTOOLS_SERVICE_NAME": "bbws-test",
    }


def write_jwks(key: rsa.RSAPrivateKey, path: Path, kid: str = KID) -> Path:
    public = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    path.write_text(json.dumps({"keys": [{**public, "kid": kid, "alg": "RS256", "use": "sig"}]}))
    return path


def sign_token(
    key: rsa.RSAPrivateKey,
    tenant: str | None = TENANT,
    groups: tuple[str, ...] | list[str] = (),
    token_use: str = "id",
    expired: bool = False,
    *,
    kid: str = KID,
    **claims: Any,
) -> str:
    """A Cognito-shaped token; keyword arguments override claims, None drops one."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "sub": SUBJECT,
        "iss": ISSUER,
        "token_use": token_use,
        "auth_time": now - 5,
        "iat": now - 5,
        "exp": now - 60 if expired else now + 3600,
        "custom:tenant_id": tenant,
        # Cognito leaves the claim out for a user in no group.
        "cognito:groups": list(groups) or None,
    }
    if token_use == "id":
        payload |= {"aud": CLIENT_ID, "email": "user@example.com"}
    else:
        payload |= {"client_id": CLIENT_ID, "scope": "openid email"}
    payload |= claims
    payload = {name: value for name, value in payload.items() if value is not None}
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@cache
def _recorded(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return data


def rest_event(
    method: str,
    path: str,
    *,
    body: Mapping[str, Any] | list[Any] | str | bytes | None = None,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str | list[str]] | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """An API Gateway REST (v1 payload) event, built from the recorded one.

    ``path`` may omit the ``/v1.0`` stage prefix; a dict or list body is sent as JSON with
    ``Content-Type: application/json`` unless ``headers`` names another; bytes go base64.
    """
    event = copy.deepcopy(_recorded(RECORDED_EVENT))
    full = path if path.startswith("/v1.0/") else "/v1.0" + path
    service, _, proxy = full.removeprefix("/v1.0/").partition("/")
    resource = f"/v1.0/{service}/{{proxy+}}" if proxy else f"/v1.0/{service}"
    all_headers = {**event["headers"], **_body_headers(body), **(headers or {})}
    event.update(
        httpMethod=method.upper(),
        path=full,
        resource=resource,
        pathParameters={"proxy": proxy} if proxy else None,
        headers=all_headers,
        multiValueHeaders={k: [v] for k, v in all_headers.items()},
        **_query(query),
        **_body(body),
    )
    context = event["requestContext"]
    context.update(
        httpMethod=method.upper(),
        path=full,
        resourcePath=resource,
        requestId=request_id or str(uuid.uuid4()),
        requestTimeEpoch=int(time.time() * 1000),
    )
    return event


def _body_headers(body: object) -> dict[str, str]:
    return {"Content-Type": "application/json"} if isinstance(body, (dict, list)) else {}


def _body(body: object) -> dict[str, Any]:
    if body is None:
        return {"body": None, "isBase64Encoded": False}
    if isinstance(body, bytes):
        return {"body": base64.b64encode(body).decode(), "isBase64Encoded": True}
    text = body if isinstance(body, str) else json.dumps(body)
    return {"body": text, "isBase64Encoded": False}


def _query(query: Mapping[str, str | list[str]] | None) -> dict[str, Any]:
    if not query:
        return {"queryStringParameters": None, "multiValueQueryStringParameters": None}
    multi = {k: v if isinstance(v, list) else [v] for k, v in query.items()}
    return {
        "queryStringParameters": {k: v[-1] for k, v in multi.items()},
        "multiValueQueryStringParameters": multi,
    }


@dataclass
class FakeLambdaContext:
    """What Powertools reads from the Lambda context (Logger, Metrics, idempotency)."""

    function_name: str = "bbws-test-handler-dev"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/bbws-test-handler-dev"
    log_stream_name: str = "2026/01/10/[$LATEST]0123456789abcdef"
    remaining_ms: int = 30_000

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


class Invocation(NamedTuple):
    status: int
    headers: dict[str, str]
    body: Any  # the decoded JSON, or the raw text when the body is not JSON


def invoke(
    handler: Callable[[dict[str, Any], Any], dict[str, Any]],
    event: dict[str, Any],
    context: Any = None,
) -> Invocation:
    """Call a Lambda handler; ``status, headers, body = invoke(handler, event)``."""
    response = handler(event, context or FakeLambdaContext())
    headers = {k: v[-1] for k, v in (response.get("multiValueHeaders") or {}).items()}
    headers.update(response.get("headers") or {})
    raw = response.get("body") or ""
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = raw
    return Invocation(int(response["statusCode"]), headers, body)


def log_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]


@contextlib.contextmanager
def moto_account(*, buckets: bool = False) -> Iterator[boto3.session.Session]:
    """moto with the dev tables (and, with ``buckets``, the six buckets and templates) made
    by the real stacks. Every boto3 client created inside talks to it (eu-west-1)."""
    with pytest.MonkeyPatch.context() as env:
        for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
            env.delenv(key, raising=False)
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            env.setenv(key, "testing")
        env.setenv("AWS_DEFAULT_REGION", REGION)
        with mock_aws():
            session = boto3.session.Session(region_name=REGION)
            dynamodb_stack.apply_all(Target(ENV, REGION), session=session)
            if buckets:
                add_buckets(session)
            yield session


def add_buckets(session: boto3.session.Session) -> None:
    """The six buckets and published templates of the s3 stack, in ``session``'s moto."""
    # moto has no CloudFront origin access identities: the double answers.
    CloudFrontOaiDouble().install(session)
    s3_stack.apply_all(Target(ENV, REGION), session=session)
