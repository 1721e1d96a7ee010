"""CloudFront's automatic compression in the CDN front: a distribution and a bucket made
through boto3 in the SIT account, requests over HTTPS verified with the sandbox's CA."""

from __future__ import annotations

import gzip
import ssl
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from promote.cli import check_estate
from promote.connect_to import PinnedConnection
from promote.sandbox import Sandbox
from promote.sandbox.gateway import Gateway, routes_for
from promote.sandbox.invocation import account_session

from .conftest import BBWS
from .gateway_support import FakeInvoker

SIT = "815856636111"
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
UNCOMPRESSED_OBJECTS = "b2884449-e4de-46a7-ac36-70bc7f1ddd6d"
# 4,000-odd bytes of HTML, as the portal's index.html is over 1,000.
PAGE = ("<!doctype html><html><body>" + "<p>kimmyai portal</p>\n" * 180 + "</body></html>").encode()
STRIP_HEADERS = "arn:aws:lambda:us-east-1:815856636111:function:strip-headers:1"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


@dataclass(frozen=True)
class Site:
    gateway: Gateway
    alias: str
    distribution_id: str

    def get(self, path: str, encoding: str | None = "gzip", method: str = "GET") -> Answer:
        """A request over TLS to the gateway, naming the alias (Host, SNI, certificate)."""
        assert self.gateway.https_port is not None
        context = ssl.create_default_context(cafile=str(self.gateway.ca_file))
        address = ("127.0.0.1", self.gateway.https_port)
        connection = PinnedConnection(self.alias, 443, address, 10, context)
        headers = {"Accept-Encoding": encoding} if encoding is not None else {}
        try:
            connection.request(method, path, headers=headers)
            response = connection.getresponse()
            return Answer(response.status, dict(response.getheaders()), response.read())
        finally:
            connection.close()


def _strip_headers(event: dict[str, Any]) -> Any:
    """A viewer-response function that answers no header at all."""
    response = event["Records"][0]["cf"]["response"]
    response["headers"] = {}
    return response


def _behaviour(pattern: str | None, **settings: Any) -> dict[str, Any]:
    behaviour = {
        "TargetOriginId": "site",
        "ViewerProtocolPolicy": "redirect-to-https",
        "CachePolicyId": CACHING_OPTIMIZED,
        "Compress": True,
        **settings,
    }
    return behaviour if pattern is None else {"PathPattern": pattern, **behaviour}


def _create_site(endpoint: str, alias: str, bucket: str) -> str:
    s3: Any = account_session(endpoint, SIT, "eu-west-1").client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    objects: dict[str, tuple[bytes, str, dict[str, str]]] = {
        "index.html": (PAGE, "text/html", {"CacheControl": "no-cache, no-store, must-revalidate"}),
        "page.html": (PAGE, "text/html; charset=utf-8", {}),
        "small.html": (PAGE[:999], "text/html", {}),
        "edge.html": (PAGE[:1000], "text/html", {}),
        "photo.jpg": (PAGE, "image/jpeg", {}),
        "app.js": (PAGE, "application/javascript", {"CacheControl": "max-age=31536000"}),
        "cached.js": (PAGE, "application/javascript", {"CacheControl": "max-age=31536000"}),
        "logo.svg": (PAGE, "image/svg+xml", {}),
        "data.json": (PAGE, "application/json", {}),
        "pre.js": (gzip.compress(PAGE), "application/javascript", {"ContentEncoding": "gzip"}),
        "plain/page.html": (PAGE, "text/html", {}),
        "nocache/page.html": (PAGE, "text/html", {}),
        "raw/page.html": (PAGE, "text/html", {}),
        "edge/page.html": (PAGE, "text/html", {}),
    }
    for key, (body, kind, extra) in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=kind, **extra)
    cloudfront: Any = account_session(endpoint, SIT, "us-east-1").client(
        "cloudfront", endpoint_url=endpoint
    )
    edge = {
        "LambdaFunctionAssociations": {
            "Quantity": 1,
            "Items": [{"LambdaFunctionARN": STRIP_HEADERS, "EventType": "viewer-response"}],
        }
    }
    behaviours = [
        _behaviour("/plain/*", Compress=False),
        _behaviour("/nocache/*", CachePolicyId=CACHING_DISABLED),
        _behaviour("/raw/*", CachePolicyId=UNCOMPRESSED_OBJECTS),
        _behaviour("/edge/*", **edge),
    ]
    created = cloudfront.create_distribution(
        DistributionConfig={
            "CallerReference": alias,
            "Comment": "compression test",
            "Enabled": True,
            "Aliases": {"Quantity": 1, "Items": [alias]},
            "DefaultRootObject": "index.html",
            "Origins": {
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "site",
                        "DomainName": f"{bucket}.s3.eu-west-1.amazonaws.com",
                        "S3OriginConfig": {"OriginAccessIdentity": ""},
                    }
                ],
            },
            "DefaultCacheBehavior": _behaviour(None),
            "CacheBehaviors": {"Quantity": len(behaviours), "Items": behaviours},
        }
    )
    distribution_id: str = created["Distribution"]["Id"]
    return distribution_id


@pytest.fixture(scope="module")
def site(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    estate, _, _ = check_estate(BBWS)
    assert estate is not None
    suffix = uuid.uuid4().hex[:8]
    alias = f"gz-{suffix}.sit.kimmyai.io"
    invoker = FakeInvoker(handlers={"strip-headers": _strip_headers})
    state = tmp_path_factory.mktemp("compression")
    with Gateway(invoker, routes_for(estate), sandbox.endpoint, state, 0, 0) as gateway:
        distribution_id = _create_site(sandbox.endpoint, alias, f"gz-origin-{suffix}")
        yield Site(gateway, alias, distribution_id)


def _assert_gzipped(answer: Answer, original: bytes = PAGE) -> None:
    assert answer.status == 200
    assert answer.header("Content-Encoding") == "gzip"
    assert answer.header("Vary") == "Accept-Encoding"
    assert gzip.decompress(answer.body) == original
    assert answer.header("Content-Length") == str(len(answer.body))


def _assert_as_is(answer: Answer, original: bytes = PAGE) -> None:
    assert answer.status == 200
    assert answer.header("Content-Encoding") is None
    assert answer.header("Vary") is None
    assert answer.body == original


def test_the_runbooks_head_of_index_html_answers_gzip(site: Site) -> None:
    # "Test 19 compression": HEAD https://${domain}/index.html with Accept-Encoding: gzip.
    head = site.get("/index.html", method="HEAD")
    assert (head.status, head.body) == (200, b"")
    assert head.header("Content-Encoding") == "gzip"
    assert head.header("Vary") == "Accept-Encoding"
    assert head.header("Cache-Control") == "no-cache, no-store, must-revalidate"
    # HEAD answers what GET would: the compressed length.
    got = site.get("/index.html")
    _assert_gzipped(got)
    assert head.header("Content-Length") == got.header("Content-Length")
    assert int(got.header("Content-Length") or 0) < len(PAGE)
    # The default root object too.
    _assert_gzipped(site.get("/"))


def test_compressible_types_compress_and_others_do_not(site: Site) -> None:
    for path in ("/page.html", "/app.js", "/logo.svg", "/data.json"):
        _assert_gzipped(site.get(path))
    _assert_as_is(site.get("/photo.jpg"))


def test_the_size_bounds(site: Site) -> None:
    _assert_as_is(site.get("/small.html"), PAGE[:999])
    _assert_gzipped(site.get("/edge.html"), PAGE[:1000])


def test_the_viewer_must_accept_gzip(site: Site) -> None:
    _assert_as_is(site.get("/page.html", encoding=None))
    _assert_as_is(site.get("/page.html", encoding="identity"))
    _assert_as_is(site.get("/page.html", encoding="gzip;q=0, deflate"))
    _assert_as_is(site.get("/page.html", encoding="br"))  # the sandbox has no Brotli
    _assert_gzipped(site.get("/page.html", encoding="deflate, gzip;q=0.8, br"))


def test_the_behaviour_and_its_cache_policy_decide(site: Site) -> None:
    _assert_as_is(site.get("/plain/page.html"))  # Compress: false
    _assert_as_is(site.get("/nocache/page.html"))  # CachingDisabled caches no compressed copy
    _assert_as_is(site.get("/raw/page.html"))  # CachingOptimizedForUncompressedObjects


def test_an_object_already_encoded_is_not_compressed_again(site: Site) -> None:
    answer = site.get("/pre.js")
    assert (answer.status, answer.header("Content-Encoding")) == (200, "gzip")
    assert gzip.decompress(answer.body) == PAGE


def test_a_strong_etag_becomes_weak(site: Site) -> None:
    plain, compressed = site.get("/data.json", encoding=None), site.get("/data.json")
    etag = plain.header("ETag")
    assert etag and etag.startswith('"')
    assert compressed.header("ETag") == f"W/{etag}"


def test_the_cache_keeps_the_variants_apart(site: Site) -> None:
    answers = [site.get("/cached.js", encoding=e) for e in ("gzip", None, "gzip, deflate", None)]
    assert [a.header("X-Cache") for a in answers] == [
        "Miss from cloudfront",
        "Miss from cloudfront",
        "Hit from cloudfront",
        "Hit from cloudfront",
    ]
    _assert_gzipped(answers[0])
    _assert_gzipped(answers[2])
    _assert_as_is(answers[1])
    _assert_as_is(answers[3])
    head = site.get("/cached.js", method="HEAD")  # HEAD shares GET's entry
    assert (head.header("X-Cache"), head.header("Content-Encoding")) == (
        "Hit from cloudfront",
        "gzip",
    )


def test_an_invalidation_purges_both_variants(site: Site, sandbox: Sandbox) -> None:
    for encoding in ("gzip", None):
        site.get("/logo.svg", encoding=encoding)
        assert site.get("/logo.svg", encoding=encoding).header("X-Cache") == "Hit from cloudfront"
    cloudfront = account_session(sandbox.endpoint, SIT, "us-east-1").client(
        "cloudfront", endpoint_url=sandbox.endpoint
    )
    cloudfront.create_invalidation(
        DistributionId=site.distribution_id,
        InvalidationBatch={
            "Paths": {"Quantity": 1, "Items": ["/logo.svg"]},
            "CallerReference": "1",
        },
    )
    time.sleep(0.6)  # the front looks for new invalidations at most every half second
    for encoding in ("gzip", None):
        assert site.get("/logo.svg", encoding=encoding).header("X-Cache") == "Miss from cloudfront"


def test_a_viewer_response_function_cannot_drop_content_encoding(site: Site) -> None:
    answer = site.get("/edge/page.html")
    assert answer.header("Content-Encoding") == "gzip"  # read-only on viewer responses
    assert gzip.decompress(answer.body) == PAGE
