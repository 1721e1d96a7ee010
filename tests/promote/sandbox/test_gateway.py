"""The gateway's API front and its servers, over real sockets, with a fake of the Invoker port
(the Lambda runtime has its own tests; the last ones here run through it)."""

from __future__ import annotations

import base64
import http.client
import json
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from promote.cli import check_estate
from promote.model import Estate, EstateSpec, Project
from promote.sandbox import Sandbox, SandboxError
from promote.sandbox.gateway import AccessRecord, Gateway, RouteTable, routes_for
from promote.sandbox.invocation import FunctionRef, InvocationStatus
from promote.sandbox.runtime import LambdaRuntime

from .conftest import BBWS
from .functions import deploy, point_alias, session_for
from .gateway_support import FakeInvoker, call, failing, https_get

SIT = "815856636111"
API = "api.sit.kimmyai.io"
HANDLER = "product-handler-sit"


def _bbws_routes() -> RouteTable:
    estate, _, _ = check_estate(BBWS)
    assert estate is not None
    return routes_for(estate)


@pytest.fixture(scope="module")
def invoker() -> FakeInvoker:
    return FakeInvoker()


@pytest.fixture(scope="module")
def records() -> list[AccessRecord]:
    return []


@pytest.fixture(scope="module")
def gateway(
    sandbox: Sandbox,
    invoker: FakeInvoker,
    records: list[AccessRecord],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Gateway]:
    state = tmp_path_factory.mktemp("gateway")
    jwks = {"sit": {"keys": [{"kty": "RSA", "kid": "sit-1", "n": "AQAB", "e": "AQAB"}]}}
    with Gateway(
        invoker,
        _bbws_routes(),
        sandbox.endpoint,
        state,
        http_port=0,
        https_port=0,
        oidc=jwks,
        listeners=[records.append],
    ) as running:
        yield running


@pytest.fixture
def fake(invoker: FakeInvoker) -> Iterator[FakeInvoker]:
    invoker.handlers.clear()
    invoker.calls.clear()
    yield invoker
    invoker.handlers.clear()


def _ok(body: Any, status: int = 200, **extra: Any) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
        **extra,
    }


# Routes --------------------------------------------------------------------------------------


def test_bbws_routes_name_each_environments_function_alias() -> None:
    table = _bbws_routes()
    match = table.match(API, "/v1.0/products/health")
    assert match is not None
    assert match.route.function == FunctionRef(SIT, "eu-west-1", HANDLER, "live")
    assert (match.route.environment, match.proxy) == ("sit", "health")
    prod = table.match("api.kimmyai.io", "/v1.0/products")
    assert prod is not None
    assert prod.route.function.arn.endswith("093646564004:function:product-handler-prod:live")
    assert prod.route.function.region == "af-south-1"
    assert table.match(API, "/v1.0/productsx") is None  # a segment boundary, not a prefix
    assert table.match(API, "/v1.0") is None
    site = table.site("images.sit.kimmyai.io")
    assert site is not None
    assert (site.bucket, site.account_id) == ("bbws-product-images-sit", SIT)
    assert {"*.sit.kimmyai.io", "www.kimmyai.io", API, "localhost"} <= set(table.hosts())
    assert table.problems == ()


def test_the_longest_base_path_wins_and_templates_use_project_vars() -> None:
    spec = EstateSpec.model_validate(
        {
            "name": "tiny",
            "promotion_path": ["dev"],
            "environments": {
                "dev": {
                    "account_id": "111111111111",
                    "region": "eu-west-1",
                    "domain": "d.test",
                    "api_domain": "API.d.test",
                    "credentials": {"profile": "p"},
                }
            },
        }
    )
    projects = [
        Project.model_validate(
            {
                "name": "outer",
                "kind": "lambda-api",
                "wave": "w",
                "vars": {"fn": "outer-${env}"},
                "api": {"base_path": "/v1", "function": "${fn}"},
            }
        ),
        Project.model_validate(
            {
                "name": "inner",
                "kind": "lambda-api",
                "wave": "w",
                "api": {"base_path": "/v1/items", "function": "items", "alias": "canary"},
            }
        ),
        Project.model_validate(
            {
                "name": "later",
                "kind": "lambda-api",
                "wave": "w",
                "api": {"base_path": "/v1/x", "function": "${version}"},
            }
        ),
    ]
    table = routes_for(Estate(spec=spec, projects=projects))
    deep = table.match("api.d.test", "/v1/items/42")
    shallow = table.match("api.d.test", "/v1/itemsx")
    assert deep is not None and shallow is not None
    assert (deep.route.function.name, deep.route.function.qualifier, deep.proxy) == (
        "items",
        "canary",
        "42",
    )
    assert (shallow.route.function.name, shallow.proxy) == ("outer-dev", "itemsx")
    assert len(table.problems) == 1 and "${version}" in table.problems[0]


# The API front --------------------------------------------------------------------------------


def test_a_request_becomes_a_rest_proxy_event(gateway: Gateway, fake: FakeInvoker) -> None:
    fake.handlers[HANDLER] = lambda event: _ok({"ok": True})
    reply = call(
        gateway.http_port,
        "GET",
        f"{API}:8080",
        "/v1.0/products/a%20b/c?x=1&x=2&y=",
        headers={"X-Custom": "one", "User-Agent": "pytest"},
    )
    assert reply.status == 200 and reply.json() == {"ok": True}
    function, event = fake.calls[-1]
    assert function == FunctionRef(SIT, "eu-west-1", HANDLER, "live")
    assert event["httpMethod"] == "GET"
    assert event["path"] == "/v1.0/products/a b/c"
    assert event["resource"] == "/v1.0/products/{proxy+}"
    assert event["pathParameters"] == {"proxy": "a b/c"}
    assert event["queryStringParameters"] == {"x": "2", "y": ""}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": [""]}
    assert event["headers"]["X-Custom"] == "one"
    assert event["multiValueHeaders"]["Host"] == [f"{API}:8080"]
    assert event["headers"]["X-Forwarded-Proto"] == "http"
    assert (event["body"], event["isBase64Encoded"]) == (None, False)
    context = event["requestContext"]
    assert context["stage"] == "sit" and context["domainName"] == API
    assert context["accountId"] == SIT
    assert context["resourcePath"] == "/v1.0/products/{proxy+}"
    assert context["path"] == "/v1.0/products/a b/c"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["identity"]["userAgent"] == "pytest"
    assert isinstance(context["requestTimeEpoch"], int)
    assert reply.headers["x-amzn-RequestId"] == context["requestId"]
    assert reply.headers["X-Amz-Executed-Version"] == "7"


def test_the_base_path_itself_has_no_proxy_parameter(gateway: Gateway, fake: FakeInvoker) -> None:
    fake.handlers[HANDLER] = lambda event: _ok([])
    assert call(gateway.http_port, "GET", API, "/v1.0/products").status == 200
    event = fake.calls[-1][1]
    assert (event["resource"], event["pathParameters"]) == ("/v1.0/products", None)
    assert event["queryStringParameters"] is None


def test_bodies_text_and_binary_both_ways(gateway: Gateway, fake: FakeInvoker) -> None:
    png = bytes([0x89, 0x50, 0x4E, 0x47, 0xFF, 0x00, 0xFE])
    fake.handlers[HANDLER] = lambda event: {
        "statusCode": 201,
        "headers": {"Content-Type": "image/png"},
        "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
        "body": base64.b64encode(png).decode(),
        "isBase64Encoded": True,
    }
    reply = call(gateway.http_port, "POST", API, "/v1.0/products/1/image", body=png)
    assert reply.status == 201 and reply.body == png
    assert reply.headers.get_all("Set-Cookie") == ["a=1", "b=2"]
    assert reply.headers["Content-Type"] == "image/png"
    event = fake.calls[-1][1]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == png
    call(gateway.http_port, "PUT", API, "/v1.0/products/1", body=b'{"price": 1}')
    event = fake.calls[-1][1]
    assert (event["body"], event["isBase64Encoded"]) == ('{"price": 1}', False)


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (InvocationStatus.THROTTLED, 429, "Too Many Requests"),
        (InvocationStatus.TIMED_OUT, 504, "Endpoint request timed out"),
        (InvocationStatus.FUNCTION_ERROR, 502, "Internal server error"),
        (InvocationStatus.RUNTIME_ERROR, 502, "Internal server error"),
    ],
)
def test_failed_invocations_answer_as_api_gateway(
    gateway: Gateway, fake: FakeInvoker, status: InvocationStatus, code: int, message: str
) -> None:
    fake.handlers[HANDLER] = failing(status)
    reply = call(gateway.http_port, "GET", API, "/v1.0/products/health")
    assert (reply.status, reply.json()) == (code, {"message": message})
    assert reply.headers["x-amzn-RequestId"]


@pytest.mark.parametrize(
    "payload",
    [
        "just a string",
        {"statusCode": "abc"},
        {"body": "no status"},
        {"statusCode": 200, "body": {"not": "a string"}},
        {"statusCode": 200, "cookies": ["http api v2 only"]},
        {"statusCode": 200, "body": "%%%", "isBase64Encoded": True},
    ],
)
def test_a_malformed_proxy_response_is_a_502(
    gateway: Gateway, fake: FakeInvoker, payload: Any
) -> None:
    fake.handlers[HANDLER] = lambda event: payload
    reply = call(gateway.http_port, "GET", API, "/v1.0/products/health")
    assert (reply.status, reply.json()) == (502, {"message": "Internal server error"})


def test_unknown_function_unrouted_path_and_unknown_host(
    gateway: Gateway, fake: FakeInvoker
) -> None:
    unknown = call(gateway.http_port, "GET", API, "/v1.0/products/health")  # no handler
    assert unknown.status == 502
    assert unknown.json()["message"] == "Internal server error"
    assert HANDLER in unknown.json()["detail"]
    unrouted = call(gateway.http_port, "GET", API, "/v2/nothing")
    assert (unrouted.status, unrouted.json()) == (403, {"message": "Missing Authentication Token"})
    nobody = call(gateway.http_port, "GET", "nobody.example.test", "/")
    assert nobody.status == 404 and "nobody.example.test" in nobody.json()["message"]
    assert fake.calls == [(FunctionRef(SIT, "eu-west-1", HANDLER, "live"), fake.calls[0][1])]


def test_oidc_documents_on_the_loopback_host(gateway: Gateway) -> None:
    port = gateway.http_port
    jwks = call(port, "GET", f"127.0.0.1:{port}", "/oidc/sit/.well-known/jwks.json")
    assert jwks.status == 200 and jwks.json()["keys"][0]["kid"] == "sit-1"
    found = call(port, "GET", "localhost", "/oidc/sit/.well-known/openid-configuration").json()
    # The issuer is the TLS origin whichever port asks: tokens name it, and services may
    # insist on an https JWKS.
    base = f"https://127.0.0.1:{gateway.https_port}/oidc/sit"
    assert gateway.issuer_base == f"https://127.0.0.1:{gateway.https_port}"
    assert (found["issuer"], found["jwks_uri"]) == (base, f"{base}/.well-known/jwks.json")
    assert call(port, "GET", "localhost", "/oidc/qa/.well-known/jwks.json").status == 404


def test_keep_alive_serves_many_requests_on_one_connection(
    gateway: Gateway, fake: FakeInvoker
) -> None:
    fake.handlers[HANDLER] = lambda event: _ok({"n": event["queryStringParameters"]["n"]})
    connection = http.client.HTTPConnection("127.0.0.1", gateway.http_port, timeout=10)
    for n in range(20):
        connection.request("GET", f"/v1.0/products?n={n}", headers={"Host": API})
        response = connection.getresponse()
        assert json.loads(response.read()) == {"n": str(n)}
    connection.request("HEAD", "/v1.0/products?n=x", headers={"Host": API})
    response = connection.getresponse()
    assert response.status == 200 and response.read() == b""
    assert int(response.headers["Content-Length"]) == len(b'{"n": "x"}')
    connection.close()


def test_listeners_hear_every_request(
    gateway: Gateway, fake: FakeInvoker, records: list[AccessRecord]
) -> None:
    fake.handlers[HANDLER] = lambda event: _ok({})
    call(gateway.http_port, "DELETE", API, "/v1.0/products/9")
    record = records[-1]
    assert (record.front, record.method, record.host, record.path) == (
        "api",
        "DELETE",
        API,
        "/v1.0/products/9",
    )
    assert (record.status, record.version, record.cache) == (200, "7", None)


# TLS -----------------------------------------------------------------------------------------


def test_https_verifies_with_the_sandbox_ca(gateway: Gateway, fake: FakeInvoker) -> None:
    fake.handlers[HANDLER] = lambda event: _ok({"proto": event["headers"]["X-Forwarded-Proto"]})
    assert gateway.https_port is not None
    raw = https_get(gateway.https_port, gateway.ca_file, API, "/v1.0/products/health")
    assert raw.startswith(b"HTTP/1.1 200 ")
    assert raw.endswith(b'{"proto": "https"}')
    # The wildcard covers the environment's other hosts; the IP is in the certificate too.
    assert https_get(gateway.https_port, gateway.ca_file, "www.sit.kimmyai.io", "/")
    assert https_get(gateway.https_port, gateway.ca_file, "127.0.0.1", "/oidc/sit/x")
    with pytest.raises(ssl.SSLCertVerificationError):
        https_get(gateway.https_port, gateway.ca_file, "elsewhere.example.test", "/")


def test_private_keys_are_not_world_readable(gateway: Gateway) -> None:
    assert gateway.certificates is not None
    modes = {p.name: p.stat().st_mode & 0o777 for p in gateway.state_dir.glob("*.pem")}
    assert modes == {
        "ca.pem": 0o644,
        "ca-key.pem": 0o600,
        "gateway.pem": 0o644,
        "gateway-key.pem": 0o600,
    }


@pytest.mark.skipif(shutil.which("curl") is None, reason="no curl on this machine")
def test_the_runbook_curl_command_verifies(gateway: Gateway, fake: FakeInvoker) -> None:
    fake.handlers[HANDLER] = lambda event: _ok({"status": "healthy"})
    command = [
        "curl",
        "--silent",
        "--show-error",
        "--max-time",
        "10",
        "--connect-to",
        f"::127.0.0.1:{gateway.https_port}",
        "--cacert",
        str(gateway.ca_file),
        f"https://{API}/v1.0/products/health",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=20, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"status": "healthy"}


# Through the real Lambda runtime ---------------------------------------------------------------

ECHO = """
import json

def handler(event, context):
    if event["pathParameters"] and event["pathParameters"]["proxy"] == "fail":
        raise RuntimeError("failed on purpose")
    body = {"path": event["path"], "stage": event["requestContext"]["stage"]}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps(body)}
"""


@pytest.fixture
def runtime_gateway(aws_env: Sandbox, tmp_path: Path) -> Iterator[Gateway]:
    with (
        LambdaRuntime(aws_env.endpoint, tmp_path / "runtime") as runtime,
        Gateway(runtime, _bbws_routes(), aws_env.endpoint, tmp_path / "state", 0, 0) as running,
    ):
        yield running


def test_the_runtime_serves_the_alias_through_the_gateway(
    aws_env: Sandbox, runtime_gateway: Gateway
) -> None:
    session = session_for(aws_env)
    version = deploy(session, HANDLER, ECHO)
    point_alias(session, HANDLER, version)
    port = runtime_gateway.http_port

    ok = call(port, "GET", API, "/v1.0/products/health")
    failed = call(port, "GET", API, "/v1.0/products/fail")
    missing = call(port, "GET", "api.dev.kimmyai.io", "/v1.0/products/health")

    assert (ok.status, ok.json()) == (200, {"path": "/v1.0/products/health", "stage": "sit"})
    assert ok.headers["X-Amz-Executed-Version"] == version
    assert (failed.status, failed.json()) == (502, {"message": "Internal server error"})
    assert failed.headers["X-Amz-Executed-Version"] == version
    # product-handler-dev was never deployed: the runtime's FunctionNotFound.
    assert missing.status == 502 and "product-handler-dev" in missing.json()["detail"]


def test_chunked_and_expect_continue_bodies_arrive(gateway: Gateway, fake: FakeInvoker) -> None:
    fake.handlers[HANDLER] = lambda event: _ok({"got": event["body"]})
    connection = http.client.HTTPConnection("127.0.0.1", gateway.http_port, timeout=10)
    connection.request(
        "POST",
        "/v1.0/products",
        body=iter([b"ab", b"cd"]),
        headers={"Host": API},
        encode_chunked=True,
    )
    assert json.loads(connection.getresponse().read()) == {"got": "abcd"}
    connection.close()
    with socket.create_connection(("127.0.0.1", gateway.http_port), timeout=2) as raw:
        raw.sendall(
            f"POST /v1.0/products HTTP/1.1\r\nHost: {API}\r\nContent-Length: 2\r\n"
            "Expect: 100-continue\r\n\r\n".encode()
        )
        assert raw.recv(100).startswith(b"HTTP/1.1 100 Continue")  # at once, not after 1 s
        raw.sendall(b"hi")
        assert raw.recv(4096).endswith(b'{"got": "hi"}')


def test_a_port_in_use_is_a_sandbox_error(gateway: Gateway, tmp_path: Path) -> None:
    taken = Gateway(
        FakeInvoker(), RouteTable(), "http://127.0.0.1:9", tmp_path, 0, gateway.https_port
    )
    with pytest.raises(SandboxError, match=f"cannot listen on 127.0.0.1:{gateway.https_port}"):
        taken.start()
