"""The gateway's CDN front: a distribution and a bucket made through boto3 in the SIT account,
edge functions played by a fake of the Invoker port, requests over real sockets."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from promote.cli import check_estate
from promote.sandbox import Sandbox
from promote.sandbox.gateway import Gateway, routes_for
from promote.sandbox.invocation import FunctionRef, InvocationStatus, account_session
from promote.sandbox.runtime import LambdaRuntime

from .conftest import BBWS
from .functions import deploy
from .gateway_support import FakeInvoker, Reply, call, ended, https_get

SIT = "815856636111"
BUCKET = "gateway-cdn-origin"
IMAGES_BUCKET = "bbws-product-images-sit"  # images.sit.kimmyai.io, the estate's static site
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
EVENTS = ("viewer-request", "origin-request", "origin-response", "viewer-response")


def _cf(event: dict[str, Any]) -> dict[str, Any]:
    cf: dict[str, Any] = event["Records"][0]["cf"]
    return cf


def _viewer_request(event: dict[str, Any]) -> Any:
    request = _cf(event)["request"]
    if request["uri"].startswith("/blocked"):
        return {
            "status": "403",
            "statusDescription": "Forbidden",
            "headers": {"content-type": [{"key": "Content-Type", "value": "text/plain"}]},
            "body": "blocked at the edge",
        }
    if request["uri"] == "/boom":
        return ended(FunctionRef(SIT, "us-east-1", "edge"), InvocationStatus.FUNCTION_ERROR, {})
    return request


def _origin_request(event: dict[str, Any]) -> Any:
    request = _cf(event)["request"]
    if request["uri"].startswith("/app/"):  # an SPA route, as bbws.edge.url_rewrite does
        request["uri"] = "/index.html"
    return request


def _origin_response(event: dict[str, Any]) -> Any:
    response = _cf(event)["response"]
    response["headers"]["x-origin-response"] = [{"key": "X-Origin-Response", "value": "yes"}]
    return response


def _viewer_response(event: dict[str, Any]) -> Any:
    response = _cf(event)["response"]
    response["headers"]["strict-transport-security"] = [
        {"key": "Strict-Transport-Security", "value": "max-age=63072000"}
    ]
    return response


def _fake_functions() -> dict[str, str]:
    """Every trigger, each to a function the fake invoker plays."""
    return {kind: f"arn:aws:lambda:us-east-1:{SIT}:function:edge-{kind}:3" for kind in EVENTS}


def _behaviour(functions: dict[str, str], **settings: Any) -> dict[str, Any]:
    items = [
        {"LambdaFunctionARN": arn, "EventType": kind, "IncludeBody": False}
        for kind, arn in functions.items()
    ]
    return {
        "TargetOriginId": "site",
        "ViewerProtocolPolicy": "allow-all",
        "CachePolicyId": CACHING_OPTIMIZED,
        "LambdaFunctionAssociations": {"Quantity": len(items), "Items": items},
        **settings,
    }


def _create_site(endpoint: str, alias: str, functions: dict[str, str]) -> str:
    # Any: the configurations below are plain dicts, wider than the stubs' TypedDicts.
    s3: Any = account_session(endpoint, SIT, "eu-west-1").client("s3", endpoint_url=endpoint)
    for bucket in (BUCKET, IMAGES_BUCKET):
        # A second site in the same account shares the buckets.
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
            )
    objects = {
        "index.html": ("<h1>home</h1>", "text/html", None),
        "hello.txt": ("hello", "text/plain", None),
        "nostore.txt": ("fresh", "text/plain", "no-store"),
        "short.txt": ("brief", "text/plain", "max-age=1"),
        "inv/a.txt": ("first", "text/plain", None),
        "secure/page.txt": ("secret", "text/plain", None),
        "fresh/x.txt": ("x", "text/plain", None),
    }
    for key, (body, kind, cache) in objects.items():
        extra = {"CacheControl": cache} if cache else {}
        s3.put_object(Bucket=BUCKET, Key=key, Body=body.encode(), ContentType=kind, **extra)
    s3.put_object(
        Bucket=IMAGES_BUCKET,
        Key="products/test-image.jpg",
        Body=b"\xff\xd8jpeg",
        ContentType="image/jpeg",
    )
    cloudfront: Any = account_session(endpoint, SIT, "us-east-1").client(
        "cloudfront", endpoint_url=endpoint
    )
    behaviours = [
        {"PathPattern": "/secure/*", **_behaviour({}, ViewerProtocolPolicy="redirect-to-https")},
        {"PathPattern": "fresh/*", **_behaviour({}, CachePolicyId=CACHING_DISABLED)},
    ]
    created = cloudfront.create_distribution(
        DistributionConfig={
            "CallerReference": alias,
            "Comment": "gateway test",
            "Enabled": True,
            "Aliases": {"Quantity": 1, "Items": [alias]},
            "DefaultRootObject": "index.html",
            "Origins": {
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "site",
                        "DomainName": f"{BUCKET}.s3.eu-west-1.amazonaws.com",
                        "S3OriginConfig": {"OriginAccessIdentity": ""},
                    }
                ],
            },
            "DefaultCacheBehavior": _behaviour(functions),
            "CacheBehaviors": {"Quantity": len(behaviours), "Items": behaviours},
        }
    )
    distribution_id: str = created["Distribution"]["Id"]
    return distribution_id


@pytest.fixture(scope="module")
def edge() -> FakeInvoker:
    return FakeInvoker(
        handlers={
            "edge-viewer-request": _viewer_request,
            "edge-origin-request": _origin_request,
            "edge-origin-response": _origin_response,
            "edge-viewer-response": _viewer_response,
        }
    )


@pytest.fixture(scope="module")
def site(
    sandbox: Sandbox, edge: FakeInvoker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Gateway, str, str]]:
    """(gateway, the distribution's alias, its id)."""
    estate, _, _ = check_estate(BBWS)
    assert estate is not None
    # Unique per module: moto's state outlives one sandbox within the test process.
    alias = f"cdn-{uuid.uuid4().hex[:8]}.sit.kimmyai.io"
    state = tmp_path_factory.mktemp("cdn")
    with Gateway(edge, routes_for(estate), sandbox.endpoint, state, 0, 0) as gateway:
        distribution_id = _create_site(sandbox.endpoint, alias, _fake_functions())
        yield gateway, alias, distribution_id


def _get(site: tuple[Gateway, str, str], path: str, method: str = "GET") -> Reply:
    gateway, alias, _ = site
    return call(gateway.http_port, method, alias, path)


def _calls(edge: FakeInvoker, kind: str, uri: str) -> list[dict[str, Any]]:
    return [
        _cf(event)
        for function, event in edge.calls
        if function.name == f"edge-{kind}" and _cf(event)["request"]["uri"] == uri
    ]


def test_a_miss_then_a_hit_with_the_edge_functions_around_them(
    site: tuple[Gateway, str, str], edge: FakeInvoker
) -> None:
    first, second = _get(site, "/hello.txt"), _get(site, "/hello.txt")
    assert (first.status, first.body, first.headers["X-Cache"]) == (
        200,
        b"hello",
        "Miss from cloudfront",
    )
    assert (second.status, second.body, second.headers["X-Cache"]) == (
        200,
        b"hello",
        "Hit from cloudfront",
    )
    assert second.headers["Age"] == "0"
    for reply in (first, second):
        assert reply.headers["Content-Type"] == "text/plain"
        assert reply.headers["X-Origin-Response"] == "yes"  # cached with the object
        assert reply.headers["Strict-Transport-Security"] == "max-age=63072000"
        assert reply.headers["ETag"]
    # Viewer triggers on every request; origin triggers on the miss only.
    assert len(_calls(edge, "viewer-request", "/hello.txt")) == 2
    assert len(_calls(edge, "viewer-response", "/hello.txt")) == 2
    assert len(_calls(edge, "origin-request", "/hello.txt")) == 1
    assert len(_calls(edge, "origin-response", "/hello.txt")) == 1
    # The query string is part of the key.
    assert _get(site, "/hello.txt?v=2").headers["X-Cache"] == "Miss from cloudfront"


def test_events_have_cloudfronts_shape(site: tuple[Gateway, str, str], edge: FakeInvoker) -> None:
    _, alias, distribution_id = site
    _get(site, "/inv/a.txt?x=1")
    viewer = _calls(edge, "viewer-request", "/inv/a.txt")[-1]
    assert viewer["config"]["eventType"] == "viewer-request"
    assert viewer["config"]["distributionId"] == distribution_id
    assert viewer["request"]["headers"]["host"] == [{"key": "Host", "value": alias}]
    assert (viewer["request"]["method"], viewer["request"]["querystring"]) == ("GET", "x=1")
    assert viewer["request"]["clientIp"] == "127.0.0.1"
    origin = _calls(edge, "origin-request", "/inv/a.txt")[-1]
    assert origin["request"]["origin"]["s3"]["domainName"] == f"{BUCKET}.s3.eu-west-1.amazonaws.com"
    assert (
        origin["request"]["headers"]["host"][0]["value"] == f"{BUCKET}.s3.eu-west-1.amazonaws.com"
    )
    response = _calls(edge, "origin-response", "/inv/a.txt")[-1]["response"]
    assert response["status"] == "200" and "body" not in response


def test_root_object_and_origin_request_rewrite(site: tuple[Gateway, str, str]) -> None:
    assert _get(site, "/").body == b"<h1>home</h1>"
    spa = _get(site, "/app/orders/42")
    assert (spa.status, spa.body, spa.headers["Content-Type"]) == (
        200,
        b"<h1>home</h1>",
        "text/html",
    )


def test_no_store_and_caching_disabled_are_never_cached(site: tuple[Gateway, str, str]) -> None:
    for path in ("/nostore.txt", "/fresh/x.txt"):
        assert [_get(site, path).headers["X-Cache"] for _ in range(2)] == [
            "Miss from cloudfront"
        ] * 2, path


def test_max_age_expires(site: tuple[Gateway, str, str]) -> None:
    assert _get(site, "/short.txt").headers["X-Cache"] == "Miss from cloudfront"
    assert _get(site, "/short.txt").headers["X-Cache"] == "Hit from cloudfront"
    time.sleep(1.05)
    assert _get(site, "/short.txt").headers["X-Cache"] == "Miss from cloudfront"


def test_an_invalidation_made_through_boto3_purges(
    site: tuple[Gateway, str, str], sandbox: Sandbox
) -> None:
    _, _, distribution_id = site
    _get(site, "/inv/a.txt")
    assert _get(site, "/inv/a.txt").headers["X-Cache"] == "Hit from cloudfront"
    s3 = account_session(sandbox.endpoint, SIT, "eu-west-1").client(
        "s3", endpoint_url=sandbox.endpoint
    )
    s3.put_object(Bucket=BUCKET, Key="inv/a.txt", Body=b"second", ContentType="text/plain")
    assert _get(site, "/inv/a.txt").body == b"first"  # still the cached copy
    cloudfront = account_session(sandbox.endpoint, SIT, "us-east-1").client(
        "cloudfront", endpoint_url=sandbox.endpoint
    )
    cloudfront.create_invalidation(
        DistributionId=distribution_id,
        InvalidationBatch={"Paths": {"Quantity": 1, "Items": ["/inv/*"]}, "CallerReference": "t1"},
    )
    time.sleep(0.6)  # the front looks for new invalidations at most every half second
    fresh = _get(site, "/inv/a.txt")
    assert (fresh.body, fresh.headers["X-Cache"]) == (b"second", "Miss from cloudfront")
    assert _get(site, "/hello.txt").headers["X-Cache"] == "Hit from cloudfront"  # untouched


def test_a_viewer_request_answer_skips_cache_origin_and_viewer_response(
    site: tuple[Gateway, str, str], edge: FakeInvoker
) -> None:
    reply = _get(site, "/blocked/page")
    assert (reply.status, reply.body) == (403, b"blocked at the edge")
    assert reply.headers["X-Cache"] == "LambdaGeneratedResponse from cloudfront"
    assert "Strict-Transport-Security" not in reply.headers
    assert _calls(edge, "viewer-response", "/blocked/page") == []
    assert _calls(edge, "origin-request", "/blocked/page") == []


def test_a_failing_edge_function_is_a_503(site: tuple[Gateway, str, str]) -> None:
    reply = _get(site, "/boom")
    assert reply.status == 503
    assert reply.headers["X-Cache"] == "LambdaExecutionError from cloudfront"


def test_a_missing_object_is_access_denied(site: tuple[Gateway, str, str]) -> None:
    for _ in range(2):
        reply = _get(site, "/nope.txt")
        assert reply.status == 403 and b"<Code>AccessDenied</Code>" in reply.body
        assert reply.headers["X-Cache"] == "Miss from cloudfront"  # errors are not kept


def test_redirect_to_https_and_https_itself(site: tuple[Gateway, str, str]) -> None:
    gateway, alias, _ = site
    moved = _get(site, "/secure/page.txt")
    assert (moved.status, moved.headers["Location"]) == (301, f"https://{alias}/secure/page.txt")
    assert gateway.https_port is not None
    raw = https_get(gateway.https_port, gateway.ca_file, alias, "/secure/page.txt")
    assert raw.startswith(b"HTTP/1.1 200 ") and raw.endswith(b"secret")


def test_a_static_site_host_serves_its_bucket(site: tuple[Gateway, str, str]) -> None:
    gateway, _, _ = site
    port, host = gateway.http_port, "images.sit.kimmyai.io"
    head = call(port, "HEAD", host, "/products/test-image.jpg")
    assert (head.status, head.headers["Content-Type"], head.body) == (200, "image/jpeg", b"")
    got = call(port, "GET", host, "/products/test-image.jpg")
    assert (got.body, got.headers["X-Cache"]) == (b"\xff\xd8jpeg", "Hit from cloudfront")
    missing = call(port, "GET", host, "/products/none.jpg")
    assert missing.status == 404 and b"NoSuchKey" in missing.body


# Through the real Lambda runtime ---------------------------------------------------------------

SECURITY_HEADERS = """
def handler(event, context):
    cf = event["Records"][0]["cf"]
    response = cf["response"]
    response["headers"]["x-frame-options"] = [{"key": "X-Frame-Options", "value": "DENY"}]
    response["headers"]["x-edge-saw"] = [{"key": "X-Edge-Saw", "value": cf["config"]["eventType"]}]
    return response
"""


def test_a_deployed_edge_function_runs_in_the_runtime(aws_env: Sandbox, tmp_path: Path) -> None:
    session = boto3.Session(profile_name="Tebogo-sit", region_name="us-east-1")
    version = deploy(session, "gateway-security-headers", SECURITY_HEADERS)
    arn = f"arn:aws:lambda:us-east-1:{SIT}:function:gateway-security-headers:{version}"
    alias = f"edge-{uuid.uuid4().hex[:8]}.sit.kimmyai.io"
    estate, _, _ = check_estate(BBWS)
    assert estate is not None
    with (
        LambdaRuntime(aws_env.endpoint, tmp_path / "runtime") as runtime,
        Gateway(runtime, routes_for(estate), aws_env.endpoint, tmp_path / "state", 0, 0) as gw,
    ):
        _create_site(aws_env.endpoint, alias, {"viewer-response": arn})
        reply = call(gw.http_port, "GET", alias, "/hello.txt")
    assert (reply.status, reply.body) == (200, b"hello")
    assert reply.headers["X-Frame-Options"] == "DENY"
    assert reply.headers["X-Edge-Saw"] == "viewer-response"


def test_a_distribution_created_a_moment_ago_is_served_at_once(
    site: tuple[Gateway, str, str], sandbox: Sandbox
) -> None:
    gateway = site[0]
    late = f"late-{uuid.uuid4().hex[:8]}.sit.kimmyai.io"
    assert call(gateway.http_port, "GET", site[1], "/hello.txt").status == 200  # a fresh read
    assert call(gateway.http_port, "GET", late, "/hello.txt").status == 404  # not there yet
    _create_site(sandbox.endpoint, late, {})
    time.sleep(0.15)  # well under the 1 s between full re-reads
    served = call(gateway.http_port, "GET", late, "/hello.txt")
    assert (served.status, served.body) == (200, b"hello")
