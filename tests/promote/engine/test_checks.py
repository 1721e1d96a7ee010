"""Every AWS check kind against the sandbox's SIT account: it passes when the resource is as
required, and fails, naming the reason, when it is not."""

from __future__ import annotations

import datetime
import json
import threading
from collections.abc import Iterator
from dataclasses import asdict, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from promote.cli import check_estate
from promote.engine.steps import Target, UnsupportedKind, run_check
from promote.sandbox import Sandbox, accounts_for
from tests.promote.sandbox.conftest import BBWS, free_port
from tests.promote.sandbox.functions import deploy, point_alias

from .steps_support import PROFILE, REGION, check, point_at, sit_target

ECHO = "def handler(event, context):\n    return {'statusCode': 200, 'body': 'ok'}\n"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    estate, _, _ = check_estate(BBWS)
    assert estate is not None
    state_dir = tmp_path_factory.mktemp("checks") / "state"
    with Sandbox(accounts=accounts_for(estate), port=free_port(), state_dir=state_dir) as running:
        yield running


@pytest.fixture(scope="module")
def target(sandbox: Sandbox) -> Iterator[Target]:
    """SIT with its resources made as a pipeline would: some right, some deliberately not."""
    with pytest.MonkeyPatch.context() as patch:
        point_at(sandbox, patch)
        session = boto3.Session(profile_name=PROFILE)
        _tables(session)
        _buckets(session)
        _functions_and_alarms(session)
        _certificates(session)
        session.client("logs").create_log_group(logGroupName="/aws/lambda/orders-sit")
        session.client("route53").create_hosted_zone(Name="sit.kimmyai.io", CallerReference="z")
        vpc = session.client("ec2").create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
        session.client("ec2").create_tags(
            Resources=[vpc], Tags=[{"Key": "Name", "Value": "bbws-sit"}]
        )
        yield sit_target({"orders_table": "orders-sit"})


def _tables(session: boto3.Session) -> None:
    dynamodb = session.client("dynamodb")
    keys: dict[str, Any] = {
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "tenant", "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    }
    dynamodb.create_table(
        TableName="orders-sit",
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-tenant",
                "KeySchema": [{"AttributeName": "tenant", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        **keys,
    )
    dynamodb.update_continuous_backups(
        TableName="orders-sit",
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
    )
    dynamodb.create_table(
        TableName="legacy-sit",
        ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
        AttributeDefinitions=keys["AttributeDefinitions"][:1],
        KeySchema=keys["KeySchema"],
    )


def _buckets(session: boto3.Session) -> None:
    s3 = session.client("s3")
    where = {"CreateBucketConfiguration": {"LocationConstraint": REGION}}
    for bucket in ("web-sit", "open-sit", "half-sit"):
        s3.create_bucket(Bucket=bucket, **where)  # type: ignore[arg-type]
    flags = dict.fromkeys(
        ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
    )
    s3.put_public_access_block(Bucket="web-sit", PublicAccessBlockConfiguration=flags)  # type: ignore[arg-type]
    half = {**flags, "RestrictPublicBuckets": False}
    s3.put_public_access_block(Bucket="half-sit", PublicAccessBlockConfiguration=half)  # type: ignore[arg-type]
    s3.put_bucket_versioning(Bucket="web-sit", VersioningConfiguration={"Status": "Enabled"})
    for n in range(3):
        s3.put_object(Bucket="web-sit", Key=f"templates/t{n}.html", Body=b"<p/>")


def _functions_and_alarms(session: boto3.Session) -> None:
    version = deploy(session, "orders-handler-sit", ECHO)
    point_alias(session, "orders-handler-sit", version)
    cloudwatch = session.client("cloudwatch")
    for name in ("bbws-sit-dlq-depth", "bbws-sit-errors", "bbws-sit-latency"):
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            MetricName="Errors",
            Namespace="AWS/Lambda",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
    for name in ("bbws-sit-dlq-depth", "bbws-sit-errors"):
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test")


def _certificates(session: boto3.Session) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sit.kimmyai.io")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    acm = session.client("acm", region_name="us-east-1")
    acm.import_certificate(
        Certificate=cert.public_bytes(serialization.Encoding.PEM), PrivateKey=pem_key
    )
    acm.request_certificate(DomainName="pending.kimmyai.io", ValidationMethod="DNS")


# (check, passes, words the summary must contain)
CASES: list[tuple[dict[str, Any], bool, str]] = [
    ({"check": "aws.identity"}, True, "815856636111"),
    ({"check": "aws.identity", "account_id": "093646564004"}, False, "not 093646564004"),
    ({"check": "dynamodb.table_exists", "table": "${orders_table}"}, True, "orders-sit exists"),
    ({"check": "dynamodb.table_exists", "table": "gone-sit"}, False, "not found"),
    ({"check": "dynamodb.gsi_exists", "table": "orders-sit", "index": "by-tenant"}, True, "has"),
    (
        {"check": "dynamodb.gsi_exists", "table": "legacy-sit", "index": "by-tenant"},
        False,
        "no index",
    ),
    ({"check": "dynamodb.pitr_enabled", "table": "orders-sit"}, True, "ENABLED"),
    ({"check": "dynamodb.pitr_enabled", "table": "legacy-sit"}, False, "DISABLED"),
    ({"check": "dynamodb.on_demand", "table": "orders-sit"}, True, "PAY_PER_REQUEST"),
    ({"check": "dynamodb.on_demand", "table": "legacy-sit"}, False, "PROVISIONED"),
    ({"check": "s3.bucket_exists", "bucket": "web-sit"}, True, "exists"),
    ({"check": "s3.bucket_exists", "bucket": "nobody-sit"}, False, "not found"),
    ({"check": "s3.public_access_blocked", "bucket": "web-sit"}, True, "all public access"),
    ({"check": "s3.public_access_blocked", "bucket": "open-sit"}, False, "not found"),
    ({"check": "s3.public_access_blocked", "bucket": "half-sit"}, False, "RestrictPublicBuckets"),
    ({"check": "s3.versioning_enabled", "bucket": "web-sit"}, True, "Enabled"),
    ({"check": "s3.versioning_enabled", "bucket": "open-sit"}, False, "Disabled"),
    (
        {"check": "s3.object_count", "bucket": "web-sit", "prefix": "templates/", "at_least": 3},
        True,
        "at least 3",
    ),
    (
        {"check": "s3.object_count", "bucket": "web-sit", "prefix": "templates/", "at_least": 12},
        False,
        "3 object(s)",
    ),
    ({"check": "acm.certificate_issued", "domain": "sit.kimmyai.io"}, True, "ISSUED in us-east-1"),
    (
        {"check": "acm.certificate_issued", "domain": "sit.kimmyai.io", "for_cloudfront": False},
        False,
        "eu-west-1",
    ),
    (
        {"check": "acm.certificate_issued", "domain": "pending.kimmyai.io"},
        False,
        "PENDING_VALIDATION",
    ),
    ({"check": "lambda.function_active", "function": "orders-handler-sit"}, True, "Active"),
    ({"check": "lambda.function_active", "function": "missing-sit"}, False, "not found"),
    ({"check": "lambda.alias_exists", "function": "orders-handler-sit"}, True, "live -> version 1"),
    (
        {"check": "lambda.alias_exists", "function": "orders-handler-sit", "alias": "canary"},
        False,
        "not found",
    ),
    (
        {"check": "cloudwatch.no_alarms", "prefix": "bbws-sit", "known": ["bbws-sit-dlq-depth"]},
        False,
        "bbws-sit-errors",
    ),
    (
        {
            "check": "cloudwatch.no_alarms",
            "prefix": "bbws-sit",
            "known": ["bbws-sit-dlq-depth", "bbws-sit-errors"],
        },
        True,
        "2 known",
    ),
    ({"check": "iam.role_exists", "role": "promote-sandbox-deploy"}, True, "exists"),
    ({"check": "iam.role_exists", "role": "nobody"}, False, "not found"),
    ({"check": "logs.group_exists", "group": "/aws/lambda/orders-sit"}, True, "exists"),
    ({"check": "logs.group_exists", "group": "/aws/lambda/orders"}, False, "not found"),
    ({"check": "route53.zone_exists", "zone": "sit.kimmyai.io"}, True, "exists"),
    ({"check": "route53.zone_exists", "zone": "prod.kimmyai.io"}, False, "not found"),
    ({"check": "ec2.vpc_exists", "vpc": "bbws-sit"}, True, "exists"),
    ({"check": "ec2.vpc_exists", "vpc": "vpc-0123456789abcdef0"}, False, "not found"),
    (
        {"check": "dynamodb.table_exists", "table": "${undefined_thing}"},
        False,
        "undefined variable ${undefined_thing}",
    ),
]


@pytest.mark.parametrize(
    ("fields", "passes", "words"), CASES, ids=[f"{c['check']}-{p}" for c, p, _ in CASES]
)
def test_a_check_passes_or_fails_for_the_right_reason(
    target: Target, fields: dict[str, Any], passes: bool, words: str
) -> None:
    outcome = run_check(target, check(**fields))
    assert outcome.passed is passes, outcome
    assert words in outcome.summary
    json.dumps(asdict(outcome))  # evidence is JSON for the journal


def test_the_engines_own_kinds_are_refused_with_a_typed_error(target: Target) -> None:
    for fields in (
        {"check": "manual", "item": "change request approved"},
        {"check": "project.deployed", "project": "products_lambda"},
    ):
        with pytest.raises(UnsupportedKind, match="not an AWS check") as raised:
            run_check(target, check(**fields))
        assert raised.value.code == "PRM031"


class _Status(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/ok" else 503)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"hi")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Status)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_ok_wants_an_expected_status(target: Target, site: str) -> None:
    assert run_check(target, check(check="http.ok", url=f"{site}/ok")).passed
    down = run_check(target, check(check="http.ok", url=f"{site}/down"))
    assert not down.passed and "503" in down.summary and down.evidence["status"] == 503
    assert run_check(target, check(check="http.ok", url=f"{site}/down", status=[503])).passed
    closed = run_check(target, check(check="http.ok", url=f"http://127.0.0.1:{free_port()}/"))
    assert not closed.passed and "no reply" in closed.summary


def test_an_unreachable_aws_endpoint_fails_the_check_instead_of_raising(
    target: Target, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    port = free_port()  # nothing listens there
    config.write_text(
        f"[profile nowhere]\nregion = {REGION}\nendpoint_url = http://127.0.0.1:{port}\n"
        "aws_access_key_id = x\naws_secret_access_key = y\n"
        "retry_mode = standard\nmax_attempts = 1\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    nowhere = replace(target, session=boto3.Session(profile_name="nowhere"))
    outcome = run_check(nowhere, check(check="s3.bucket_exists", bucket="web-sit"))
    assert not outcome.passed
    assert outcome.evidence["error"] == "EndpointConnectionError"
