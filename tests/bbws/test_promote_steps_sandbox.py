"""backend_public promoted into `promote sandbox`: the schema steps and the portal's deploy run
through promote's ``run_python`` with the sandbox's dev profile, then the portal answers at
https://dev.kimmyai.io/ through the sandbox's CDN front, its Lambda@Edge functions running.

What runs before, as a run's preconditions expect: an issued ACM certificate for the site in
us-east-1 (``acm.certificate_issued``; ACM's DNS validation is out of band, as in the runbook).
"""

from __future__ import annotations

import datetime
import http.client
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from promote.cli import check_estate
from promote.engine.steps import Outcome, StepErrored, Target
from promote.engine.steps.python_step import run_python
from promote.model.steps import PythonStep
from promote.sandbox import Sandbox
from tests.promote.sandbox.conftest import AWS_VARIABLES, BBWS, data_plane

DEV = "536580886816"
SITE = "dev.kimmyai.io"
DEPLOY = "bbws.promote_steps:deploy_backend_public"
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "x-xss-protection": "1; mode=block",
    "strict-transport-security": "max-age=31536000; includeSubDomains",
}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    estate, _, _ = check_estate(BBWS)
    assert estate is not None
    with data_plane(estate, tmp_path_factory.mktemp("portal") / "state") as running:
        yield running


@pytest.fixture(scope="module")
def dev(sandbox: Sandbox) -> Iterator[boto3.session.Session]:
    """The sandbox's dev profile, as `promote run dev estates/bbws --sandbox` signs in."""
    with pytest.MonkeyPatch.context() as mp:
        for name in AWS_VARIABLES:
            mp.delenv(name, raising=False)
        mp.setenv("AWS_CONFIG_FILE", str(sandbox.state_dir / "config"))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(sandbox.state_dir / "credentials"))
        yield boto3.session.Session(profile_name="Tebogo-dev")


@dataclass
class Promoted:
    schemas: list[Outcome]
    first: Outcome
    second: Outcome
    seconds: float


def target(sandbox: Sandbox, session: boto3.session.Session, region: str) -> Target:
    issuers = sandbox.services.issuers
    # The estate's dev values with the run's sandbox overrides (promote.engine.cli), and the
    # sandbox's CA for the JWKS fetch.
    variables = {
        "env": "dev",
        "account_id": DEV,
        "region": "eu-west-1",
        "edge_region": "us-east-1",
        "domain": SITE,
        "jwt_issuer": issuers.issuer("dev"),
        "jwks_url": issuers.jwks_url("dev"),
        "ca_bundle": str(sandbox.services.gateway.ca_file),
    }
    return Target("dev", DEV, region, session, variables)


def run(sandbox: Sandbox, session: boto3.session.Session, entry: str, region: str) -> Outcome:
    step = PythonStep.model_validate({"kind": "python", "entry": entry, "region": region})
    return run_python(step, target(sandbox, session, region), region)


def issue_certificate(session: boto3.session.Session, domain: str) -> str:
    """An issued certificate for ``domain`` in us-east-1, imported as one made out of band."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    arn: str = session.client("acm", region_name="us-east-1").import_certificate(
        Certificate=certificate.public_bytes(serialization.Encoding.PEM),
        PrivateKey=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )["CertificateArn"]
    return arn


@pytest.fixture(scope="module")
def promoted(sandbox: Sandbox, dev: boto3.session.Session) -> Promoted:
    started = time.monotonic()
    schemas = [
        run(sandbox, dev, f"bbws.promote_steps:{entry}", "eu-west-1")
        for entry in ("apply_dynamodb_schemas", "apply_s3_schemas")
    ]
    issue_certificate(dev, SITE)
    first = run(sandbox, dev, DEPLOY, "us-east-1")
    second = run(sandbox, dev, DEPLOY, "us-east-1")
    return Promoted(schemas, first, second, time.monotonic() - started)


def https(
    sandbox: Sandbox, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """``curl --connect-to ::127.0.0.1:<gateway> --cacert <ca> https://dev.kimmyai.io<path>``."""
    gateway = sandbox.services.gateway
    context = ssl.create_default_context(cafile=str(gateway.ca_file))
    connection = http.client.HTTPSConnection(SITE, gateway.https_port, context=context, timeout=10)
    connection.sock = context.wrap_socket(
        socket.create_connection(("127.0.0.1", gateway.https_port), timeout=10),
        server_hostname=SITE,
    )
    try:
        connection.request(method, path, headers={"Host": SITE, **(headers or {})})
        response = connection.getresponse()
        answered = {name.lower(): value for name, value in response.getheaders()}
        return response.status, answered, response.read()
    finally:
        connection.close()


def test_the_schema_steps_pass_in_the_sandbox(promoted: Promoted) -> None:
    dynamodb, s3 = promoted.schemas
    assert dynamodb.passed, dynamodb.summary
    assert s3.passed, s3.summary
    changes: list[str] = s3.evidence["result"]
    assert any("create-origin-access-identity" in line for line in changes)
    assert any("put-bucket-policy s3:bucket/bbws-frontend-dev" in line for line in changes)


def test_the_portal_deploys_once_and_a_second_run_changes_nothing(
    promoted: Promoted, dev: boto3.session.Session
) -> None:
    first, second = promoted.first, promoted.second
    assert first.passed, first.summary
    result: dict[str, Any] = first.evidence["result"]
    assert result["distribution"] == "created" and result["changed"] is True
    assert sorted(result["published"]) == sorted(
        f"bbws-{slug}-dev"
        for slug in ("security-headers", "url-rewrite", "auth-validation", "redirects")
    )
    assert "index.html" in result["uploaded"] and result["invalidation_id"]
    assert any("fetching the JWKS" in line for line in first.evidence["log"])
    # The distribution's S3 origin reads through the OAI the S3 stack made.
    cloudfront = dev.client("cloudfront")
    listed = cloudfront.list_cloud_front_origin_access_identities()
    [oai] = [
        item
        for item in listed["CloudFrontOriginAccessIdentityList"]["Items"]
        if item["Comment"] == "bbws-cdn-dev"
    ]
    config = cloudfront.get_distribution_config(Id=result["distribution_id"])["DistributionConfig"]
    (origin,) = config["Origins"]["Items"]
    assert origin["S3OriginConfig"]["OriginAccessIdentity"] == (
        f"origin-access-identity/cloudfront/{oai['Id']}"
    )

    assert second.passed, second.summary
    again: dict[str, Any] = second.evidence["result"]
    assert (again["distribution"], again["changed"], again["invalidation_id"]) == (
        "unchanged",
        False,
        None,
    )
    assert again["versions"] == result["versions"]
    assert promoted.seconds < 45


def test_the_portal_answers_through_the_cdn_with_its_security_headers(
    promoted: Promoted, sandbox: Sandbox
) -> None:
    assert promoted.first.passed, promoted.first.summary
    status, headers, body = https(sandbox, "/")
    assert status == 200, body[:300]
    assert b"<html" in body.lower()
    assert headers["content-type"].startswith("text/html")
    assert headers["cache-control"] == "no-cache, no-store, must-revalidate"
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, (name, headers)
    assert headers["content-security-policy"].startswith("default-src 'self'")

    # An SPA route is index.html (url-rewrite); a protected one needs a token of the issuer
    # whose JWKS the deploy fetched (auth-validation).
    assert https(sandbox, "/products")[0] == 200
    assert https(sandbox, "/protected-page", "HEAD")[0] == 401


def test_a_token_of_the_sandbox_issuer_opens_the_protected_pages(
    promoted: Promoted, sandbox: Sandbox
) -> None:
    assert promoted.first.passed, promoted.first.summary
    token = sandbox.services.issuers.mint("dev", tenant="tenant-1")
    status, _, body = https(sandbox, "/account", headers={"Authorization": f"Bearer {token}"})
    assert status == 200, body[:300]
    assert b"<html" in body.lower()
    other = sandbox.services.issuers.mint("sit", tenant="tenant-1")  # another issuer's key
    assert https(sandbox, "/account", headers={"Authorization": f"Bearer {other}"})[0] == 401


def test_without_the_sandbox_ca_the_jwks_fetch_is_an_infrastructure_error(
    sandbox: Sandbox, dev: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a run gets until the engine passes ``ca_bundle``: an errored step, nothing made."""
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    base = target(sandbox, dev, "us-east-1")
    variables = {k: v for k, v in base.variables.items() if k != "ca_bundle"}
    step = PythonStep.model_validate({"kind": "python", "entry": DEPLOY})
    with pytest.raises(StepErrored, match="CERTIFICATE_VERIFY_FAILED"):
        run_python(step, replace(base, variables=variables), "us-east-1")


def test_the_deploy_refuses_a_region_other_than_us_east_1(
    sandbox: Sandbox, dev: boto3.session.Session
) -> None:
    outcome = run(sandbox, dev, DEPLOY, "eu-west-1")
    assert not outcome.passed
    assert outcome.evidence["error"] == "TargetError"
    assert "must be in us-east-1" in outcome.summary
