"""What the BBWS runbooks assume exists in each account before any promotion.

The runbooks' pre-deployment checklists verify things the promotion itself does not create:
the hosted zones and certificates of each domain, the VPC and terraform state of PROD
(002 Prerequisites), and what each service's own terraform creates (its execution role and
log group; that terraform is not in the sandbox). A new sandbox starts empty, so the demo
lays this baseline down first, through boto3 in each environment's account, as the
platform team once did by hand. Idempotent: a second call changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import boto3
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

EDGE_REGION: Final = "us-east-1"
FUNCTIONS: Final = ("product-handler", "campaigns-handler", "order-handler")
# 002 Prerequisites, "PROD AWS Account": "VPC exists in af-south-1 (vpc-080991bf9615e8c65,
# prod-vpc, 10.3.0.0/16)".
PROD_VPC: Final = ("vpc-080991bf9615e8c65", "prod-vpc", "10.3.0.0/16")
_LAMBDA_TRUST: Final = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


@dataclass(frozen=True)
class Environment:
    name: str
    region: str
    domain: str
    api_domain: str
    production: bool


# Makes a VPC with the given id: moto draws VPC ids at random, and the runbook names one.
VpcMaker = Callable[[Any, str, str, str], None]


def lay_down(
    session: boto3.Session, env: Environment, make_vpc: VpcMaker | None = None
) -> list[str]:
    """Create what ``env`` is assumed to have; returns what was created."""
    made: list[str] = []
    route53 = session.client("route53")
    for zone in (env.domain, env.api_domain):
        if _create_zone(route53, zone):
            made.append(f"hosted zone {zone}")
    made += _certificates(session, env)
    iam = session.client("iam")
    role = f"bbws-lambda-{env.name}"
    if _ignore_exists(
        lambda: iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(_LAMBDA_TRUST))
    ):
        made.append(f"role {role}")
    logs = session.client("logs", region_name=env.region)
    for function in FUNCTIONS:
        group = f"/aws/lambda/{function}-{env.name}"
        if _ignore_exists(lambda g=group: logs.create_log_group(logGroupName=g)):  # type: ignore[misc]
            made.append(f"log group {group}")
    if env.production:
        made += _terraform_state(session, env)
        if make_vpc is not None:
            vpc_id, name, cidr = PROD_VPC
            make_vpc(session.client("ec2", region_name=env.region), vpc_id, name, cidr)
            made.append(f"vpc {vpc_id} ({name})")
    return made


def _create_zone(route53: Any, zone: str) -> bool:
    existing = route53.list_hosted_zones_by_name(DNSName=zone)["HostedZones"]
    if any(z["Name"].rstrip(".") == zone for z in existing):
        return False
    route53.create_hosted_zone(Name=zone, CallerReference=f"bbws-baseline-{zone}")
    return True


def _certificates(session: boto3.Session, env: Environment) -> list[str]:
    """The API's regional certificate and the site's CloudFront one (us-east-1), issued."""
    # One certificate per name a check looks for: moto's ListCertificates has no
    # SubjectAlternativeNameSummaries, so a name is found only as a DomainName.
    wanted: list[tuple[str, tuple[str, ...]]] = [
        (env.region, (env.api_domain,)),
        (EDGE_REGION, (env.domain, f"*.{env.domain}")),
        (EDGE_REGION, (f"*.{env.domain}", env.domain)),
    ]
    made = []
    for region, names in wanted:
        acm = session.client("acm", region_name=region)
        listed = acm.list_certificates()["CertificateSummaryList"]
        if any(c.get("DomainName") == names[0] for c in listed):
            continue
        certificate, key = _self_signed(names)
        acm.import_certificate(Certificate=certificate, PrivateKey=key)
        made.append(f"certificate {', '.join(names)} in {region}")
    return made


def _self_signed(names: tuple[str, ...]) -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.PEM), pem_key


def _terraform_state(session: boto3.Session, env: Environment) -> list[str]:
    """002 Prerequisites: "S3 bucket for Terraform state (bbws-terraform-state-prod)",
    "DynamoDB table for Terraform locks (terraform-state-lock-prod)"."""
    made = []
    bucket = f"bbws-terraform-state-{env.name}"
    s3 = session.client("s3", region_name=env.region)
    location = {"LocationConstraint": env.region}
    if _ignore_exists(
        lambda: s3.create_bucket(Bucket=bucket, CreateBucketConfiguration=location)  # type: ignore[arg-type]
    ):
        made.append(f"bucket {bucket}")
    table = f"terraform-state-lock-{env.name}"
    dynamodb = session.client("dynamodb", region_name=env.region)
    if _ignore_exists(
        lambda: dynamodb.create_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
    ):
        made.append(f"table {table}")
    return made


_EXISTS: Final = frozenset(
    {
        "EntityAlreadyExists",
        "ResourceAlreadyExistsException",
        "BucketAlreadyOwnedByYou",
        "BucketAlreadyExists",
        "ResourceInUseException",
    }
)


def _ignore_exists(create: Callable[[], Any]) -> bool:
    try:
        create()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _EXISTS:
            return False
        raise
    return True
