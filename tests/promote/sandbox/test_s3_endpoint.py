"""S3's virtual-hosted endpoints on the gateway, for anonymous requests: buckets made through
boto3 in the estate's accounts, requests over HTTPS verified with the sandbox's CA."""

from __future__ import annotations

import json
import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from promote.cli import check_estate
from promote.connect_to import PinnedConnection
from promote.sandbox import Sandbox
from promote.sandbox.gateway import AccessRecord, Gateway, routes_for
from promote.sandbox.gateway.s3_endpoint import parse_endpoint, public_access
from promote.sandbox.invocation import account_session

from .conftest import BBWS
from .gateway_support import FakeInvoker, call

DEV = "536580886816"
SIT = "815856636111"
PROD = "093646564004"
BLOCKED = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
OPEN = dict.fromkeys(BLOCKED, False)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


@dataclass(frozen=True)
class Buckets:
    gateway: Gateway
    records: list[AccessRecord]
    names: dict[str, str]  # role -> bucket name

    def request(
        self, host: str, path: str, method: str = "GET", headers: dict[str, str] | None = None
    ) -> Answer:
        """A request over TLS to the gateway naming ``host`` (Host, SNI, certificate)."""
        assert self.gateway.https_port is not None
        context = ssl.create_default_context(cafile=str(self.gateway.ca_file))
        address = ("127.0.0.1", self.gateway.https_port)
        connection = PinnedConnection(host, 443, address, 10, context)
        try:
            connection.request(method, path, headers=headers or {})
            response = connection.getresponse()
            return Answer(response.status, dict(response.getheaders()), response.read())
        finally:
            connection.close()

    def host(self, role: str, region: str | None = None) -> str:
        infix = f".s3.{region}" if region else ".s3"
        return f"{self.names[role]}{infix}.amazonaws.com"


def _policy(bucket: str, *statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _public_read(bucket: str, principal: Any = "*") -> dict[str, Any]:
    return {
        "Sid": "PublicRead",
        "Effect": "Allow",
        "Principal": principal,
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
    }


def _make(
    endpoint: str,
    account: str,
    region: str,
    bucket: str,
    block: dict[str, bool] | None,
    statements: list[dict[str, Any]],
) -> None:
    s3: Any = account_session(endpoint, account, region).client("s3", endpoint_url=endpoint)
    extra = {} if region == "us-east-1" else {"LocationConstraint": region}
    s3.create_bucket(Bucket=bucket, **({"CreateBucketConfiguration": extra} if extra else {}))
    s3.put_object(
        Bucket=bucket, Key="index.html", Body=b"<html>hello</html>", ContentType="text/html"
    )
    s3.put_object(Bucket=bucket, Key="dir/a b.txt", Body=b"spaced", ContentType="text/plain")
    # The policy last: moto enforces a Deny on its own (plain http) endpoint.
    if block is not None:
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=block)
    if statements:
        s3.put_bucket_policy(Bucket=bucket, Policy=_policy(bucket, *statements))


@pytest.fixture(scope="module")
def buckets(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Buckets]:
    estate, _, _ = check_estate(BBWS)
    assert estate is not None
    suffix = uuid.uuid4().hex[:8]
    names = {
        role: f"s3-endpoint-{role}-{suffix}"
        for role in ("frontend", "public", "listable", "aws", "restricted", "prod")
    }
    oai = {
        "Sid": "CloudFrontRead",
        "Effect": "Allow",
        "Principal": {
            "AWS": "arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity E2SANDBOX"
        },
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{names['frontend']}/*",
    }
    listing = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": ["s3:ListBucket"],
        "Resource": f"arn:aws:s3:::{names['listable']}",
    }
    endpoint = sandbox.endpoint
    # BBWS's frontend bucket, as s3_schemas makes it in dev: blocked, read through an OAI.
    _make(endpoint, DEV, "eu-west-1", names["frontend"], BLOCKED, [oai])
    _make(endpoint, SIT, "eu-west-1", names["public"], OPEN, [_public_read(names["public"])])
    _make(
        endpoint,
        SIT,
        "eu-west-1",
        names["listable"],
        None,
        [_public_read(names["listable"]), listing],
    )
    aws_principal = _public_read(names["aws"], {"AWS": ["*"]})
    _make(endpoint, SIT, "eu-west-1", names["aws"], OPEN, [aws_principal])
    restricted = {**OPEN, "RestrictPublicBuckets": True}
    _make(
        endpoint,
        SIT,
        "eu-west-1",
        names["restricted"],
        restricted,
        [_public_read(names["restricted"])],
    )
    _make(endpoint, PROD, "af-south-1", names["prod"], OPEN, [_public_read(names["prod"])])
    records: list[AccessRecord] = []
    state = tmp_path_factory.mktemp("s3-endpoint")
    with Gateway(
        FakeInvoker(), routes_for(estate), endpoint, state, 0, 0, listeners=[records.append]
    ) as gateway:
        yield Buckets(gateway, records, names)


def _is_error(answer: Answer, status: int, code: str) -> None:
    assert answer.status == status, answer.body
    assert answer.header("Content-Type") == "application/xml"
    assert f"<Code>{code}</Code>".encode() in answer.body
    assert answer.header("x-amz-request-id")


def test_the_runbooks_direct_access_to_the_frontend_bucket_is_403(buckets: Buckets) -> None:
    # "Test 13 direct S3 access blocked": HEAD https://${bucket}.s3.amazonaws.com/index.html
    host = buckets.host("frontend")
    head = buckets.request(host, "/index.html", "HEAD")
    assert (head.status, head.body) == (403, b"")
    _is_error(buckets.request(host, "/index.html"), 403, "AccessDenied")
    _is_error(
        buckets.request(buckets.host("frontend", "eu-west-1"), "/index.html"), 403, "AccessDenied"
    )
    _is_error(buckets.request(host, "/missing.html"), 403, "AccessDenied")
    _is_error(buckets.request(host, "/"), 403, "AccessDenied")  # listing
    _is_error(buckets.request(host, "/index.html", "PUT"), 403, "AccessDenied")
    assert buckets.records[-1].front == "s3"
    plain = call(buckets.gateway.http_port, "HEAD", host, "/index.html")  # over plain http too
    assert (plain.status, plain.body) == (403, b"")


def test_a_public_bucket_serves_its_objects(buckets: Buckets) -> None:
    for host in (buckets.host("public"), buckets.host("public", "eu-west-1")):
        got = buckets.request(host, "/index.html")
        assert (got.status, got.body) == (200, b"<html>hello</html>")
        assert got.header("Content-Type") == "text/html"
        assert got.header("ETag") and got.header("Server") == "AmazonS3"
        head = buckets.request(host, "/index.html", "HEAD")
        assert (head.status, head.body, head.header("Content-Length")) == (200, b"", "18")
    spaced = buckets.request(buckets.host("public"), "/dir/a%20b.txt")
    assert (spaced.status, spaced.body) == (200, b"spaced")
    # Without s3:ListBucket a missing key is refused, not reported missing.
    _is_error(buckets.request(buckets.host("public"), "/missing.html"), 403, "AccessDenied")
    _is_error(buckets.request(buckets.host("public"), "/"), 403, "AccessDenied")


def test_principal_aws_star_and_a_bucket_in_another_account(buckets: Buckets) -> None:
    assert buckets.request(buckets.host("aws"), "/index.html").status == 200
    prod = buckets.request(buckets.host("prod", "af-south-1"), "/index.html")
    assert (prod.status, prod.body) == (200, b"<html>hello</html>")


def test_list_bucket_makes_a_missing_key_404(buckets: Buckets) -> None:
    host = buckets.host("listable")
    assert buckets.request(host, "/index.html").status == 200  # no public access block at all
    _is_error(buckets.request(host, "/missing.html"), 404, "NoSuchKey")
    head = buckets.request(host, "/", "HEAD")
    assert (head.status, head.header("x-amz-bucket-region")) == (200, "eu-west-1")
    _is_error(buckets.request(host, "/"), 501, "NotImplemented")


def test_restrict_public_buckets_overrides_a_public_policy(buckets: Buckets) -> None:
    _is_error(buckets.request(buckets.host("restricted"), "/index.html"), 403, "AccessDenied")


def test_a_missing_bucket_is_404(buckets: Buckets) -> None:
    host = f"s3-endpoint-none-{uuid.uuid4().hex[:8]}.s3.amazonaws.com"
    answer = buckets.request(host, "/index.html")
    _is_error(answer, 404, "NoSuchBucket")
    assert f"<BucketName>{host.split('.')[0]}</BucketName>".encode() in answer.body
    assert buckets.request(host, "/index.html", "HEAD").status == 404


def test_the_wrong_region_redirects(buckets: Buckets) -> None:
    answer = buckets.request(buckets.host("public", "us-east-1"), "/index.html")
    _is_error(answer, 301, "PermanentRedirect")
    assert answer.header("x-amz-bucket-region") == "eu-west-1"
    assert f"{buckets.names['public']}.s3.eu-west-1.amazonaws.com".encode() in answer.body


def test_signed_requests_are_not_served(buckets: Buckets) -> None:
    signed = {
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIA/20260101/eu-west-1/s3/aws4_request"
    }
    answer = buckets.request(buckets.host("public"), "/index.html", headers=signed)
    _is_error(answer, 501, "NotImplemented")
    presigned = buckets.request(buckets.host("public"), "/index.html?X-Amz-Signature=abc")
    _is_error(presigned, 501, "NotImplemented")


def test_the_certificate_covers_the_estates_s3_endpoints(buckets: Buckets) -> None:
    for region in (None, "us-east-1", "eu-west-1", "af-south-1"):
        answer = buckets.request(buckets.host("frontend", region), "/index.html")
        assert answer.status == (403 if region in (None, "eu-west-1") else 301)
    # Not a region of the estate: the certificate does not name it.
    with pytest.raises(ssl.SSLCertVerificationError):
        buckets.request(buckets.host("frontend", "ap-southeast-2"), "/index.html")


def test_endpoint_names() -> None:
    assert parse_endpoint("bbws-frontend-dev.s3.amazonaws.com") == ("bbws-frontend-dev", None)
    assert parse_endpoint("b.1.s3.eu-west-1.amazonaws.com") == ("b.1", "eu-west-1")
    for host in (
        "s3.amazonaws.com",
        "bucket.s3-website-eu-west-1.amazonaws.com",
        "bucket.s3.amazonaws.com.example.test",
        "dev.kimmyai.io",
    ):
        assert parse_endpoint(host) is None, host


def test_policy_evaluation() -> None:
    arn = "arn:aws:s3:::b/k"
    allow = _public_read("b")
    assert public_access(_policy("b", allow), False).allows("s3:GetObject", arn, secure=True)
    assert not public_access(_policy("b", allow), True).allows("s3:GetObject", arn, secure=True)
    assert not public_access(None, False).allows("s3:GetObject", arn, secure=True)
    assert not public_access("not json", False).allows("s3:GetObject", arn, secure=True)
    wildcard = {**allow, "Action": ["s3:Get*"], "Resource": "arn:aws:s3:::b/*"}
    assert public_access(_policy("b", wildcard), False).allows("s3:GetObject", arn, secure=True)
    other = {**allow, "Resource": "arn:aws:s3:::other/*"}
    assert not public_access(_policy("b", other), False).allows("s3:GetObject", arn, secure=True)
    deny = {**allow, "Effect": "Deny", "Resource": "arn:aws:s3:::b/k"}
    assert not public_access(_policy("b", allow, deny), False).allows(
        "s3:GetObject", arn, secure=True
    )
    # aws:SecureTransport is evaluated. (Not through the gateway: moto ignores conditions and
    # would deny the gateway's own GetObject, over plain http, too.)
    insecure = {
        **deny,
        "Action": "s3:*",
        "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    tls_only = public_access(_policy("b", allow, insecure), False)
    assert tls_only.allows("s3:GetObject", arn, secure=True)
    assert not tls_only.allows("s3:GetObject", arn, secure=False)
    # Conditions the sandbox cannot evaluate: an Allow grants nothing, a Deny applies.
    referer = {"StringLike": {"aws:Referer": "https://kimmyai.io/*"}}
    conditional = {**allow, "Condition": referer}
    assert not public_access(_policy("b", conditional), False).allows(
        "s3:GetObject", arn, secure=True
    )
    unknown_deny = {**deny, "Condition": referer}
    assert not public_access(_policy("b", allow, unknown_deny), False).allows(
        "s3:GetObject", arn, secure=True
    )
    not_principal = {**allow, "NotPrincipal": {"AWS": "arn:aws:iam::1:root"}}
    del not_principal["Principal"]
    assert not public_access(_policy("b", not_principal), False).allows(
        "s3:GetObject", arn, secure=True
    )
