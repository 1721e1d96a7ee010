"""Typed precondition checks against a target account, through boto3.

Each kind answers with an :class:`Outcome`; an AWS error is a failed check (with the
error's code as evidence), never an exception. ``manual`` and ``project.deployed`` are the
engine's (approvals, the ledger) and raise :class:`UnsupportedKind`.
"""

from __future__ import annotations

import http.client
from functools import singledispatch
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from promote.engine.steps.port import (
    Outcome,
    Target,
    UnsupportedKind,
    failed,
    fill,
    passed,
    redacted,
)
from promote.engine.steps.smoke import send
from promote.interpolation import UndefinedVariable
from promote.model.checks import (
    AliasExists,
    BucketExists,
    CertificateIssued,
    Check,
    CheckBase,
    FunctionActive,
    HostedZoneExists,
    HttpOk,
    IdentityCheck,
    IndexExists,
    LogGroupExists,
    ManualCheck,
    NoAlarmsFiring,
    ObjectCount,
    OnDemandBilling,
    PitrEnabled,
    ProjectDeployed,
    PublicAccessBlocked,
    RoleExists,
    TableExists,
    VersioningEnabled,
    VpcExists,
)
from promote.model.steps import HttpRequest

# Error codes that mean "the thing is not there": a plain failed check, said plainly.
NOT_FOUND = frozenset(
    {
        "404",
        "NoSuchBucket",
        "NotFound",
        "ResourceNotFoundException",
        "NoSuchEntity",
        "NoSuchPublicAccessBlockConfiguration",
        "InvalidVpcID.NotFound",
        "TableNotFoundException",
    }
)
CLOUDFRONT_REGION = "us-east-1"


def scope(target: Target) -> dict[str, str]:
    """The target's variables, with its own identity as defaults (``${account_id}``)."""
    base = {"env": target.env, "account_id": target.account_id, "region": target.region}
    return {**base, **target.variables}


def run_check(target: Target, check: Check) -> Outcome:
    """Run one check. Raises UnsupportedKind for the engine's own kinds."""
    if isinstance(check, ManualCheck | ProjectDeployed):
        raise UnsupportedKind(
            f"`{check.check}` is not an AWS check: the engine answers it "
            "(approvals and the promotion ledger)"
        )
    label = check.summary()
    try:
        filled = fill(check, scope(target))
    except UndefinedVariable as exc:
        outcome = failed(f"{label}: undefined variable ${{{exc.name}}}", undefined=exc.name)
        return redacted(outcome, target.secrets)
    try:
        outcome = _check(filled, target, filled.region or target.region)
    except ClientError as exc:
        outcome = _client_error(filled.summary(), exc)
    except BotoCoreError as exc:
        outcome = failed(f"{filled.summary()}: {exc}", error=type(exc).__name__)
    return redacted(outcome, target.secrets)


def _client_error(label: str, exc: ClientError) -> Outcome:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = str(error.get("Message", ""))
    if code in NOT_FOUND:
        return failed(f"{label}: not found", error=code, message=message)
    return failed(f"{label}: {code} {message}".rstrip(), error=code, message=message)


@singledispatch
def _check(check: CheckBase, target: Target, region: str) -> Outcome:
    # Every kind of the model's Check union is registered below or refused above.
    raise UnsupportedKind(f"no runner for check kind {type(check).__name__}")


@_check.register
def _identity(check: IdentityCheck, target: Target, region: str) -> Outcome:
    account = target.session.client("sts", region_name=region).get_caller_identity()["Account"]
    if account != check.account_id:
        return failed(f"acting in account {account}, not {check.account_id}", account=account)
    return passed(f"acting in account {account}", account=account)


def _table(target: Target, region: str, table: str) -> dict[str, Any]:
    client = target.session.client("dynamodb", region_name=region)
    description: dict[str, Any] = dict(client.describe_table(TableName=table)["Table"])
    return description


@_check.register
def _table_exists(check: TableExists, target: Target, region: str) -> Outcome:
    status = _table(target, region, check.table).get("TableStatus")
    return passed(f"table {check.table} exists ({status})", status=status)


@_check.register
def _index_exists(check: IndexExists, target: Target, region: str) -> Outcome:
    indexes = _table(target, region, check.table).get("GlobalSecondaryIndexes", [])
    names = sorted(index["IndexName"] for index in indexes)
    if check.index not in names:
        return failed(f"table {check.table} has no index {check.index}", indexes=names)
    return passed(f"table {check.table} has index {check.index}", indexes=names)


@_check.register
def _pitr(check: PitrEnabled, target: Target, region: str) -> Outcome:
    client = target.session.client("dynamodb", region_name=region)
    backups = client.describe_continuous_backups(TableName=check.table)
    pitr = backups["ContinuousBackupsDescription"].get("PointInTimeRecoveryDescription", {})
    status = pitr.get("PointInTimeRecoveryStatus", "DISABLED")
    verdict = passed if status == "ENABLED" else failed
    return verdict(f"table {check.table}: point-in-time recovery {status}", status=status)


@_check.register
def _on_demand(check: OnDemandBilling, target: Target, region: str) -> Outcome:
    summary = _table(target, region, check.table).get("BillingModeSummary", {})
    # A table that never changed mode has no summary: it is provisioned.
    mode = summary.get("BillingMode", "PROVISIONED")
    verdict = passed if mode == "PAY_PER_REQUEST" else failed
    return verdict(f"table {check.table}: billing mode {mode}", billing_mode=mode)


@_check.register
def _bucket_exists(check: BucketExists, target: Target, region: str) -> Outcome:
    target.session.client("s3", region_name=region).head_bucket(Bucket=check.bucket)
    return passed(f"bucket {check.bucket} exists")


@_check.register
def _public_access(check: PublicAccessBlocked, target: Target, region: str) -> Outcome:
    client = target.session.client("s3", region_name=region)
    flags = dict(
        client.get_public_access_block(Bucket=check.bucket)["PublicAccessBlockConfiguration"]
    )
    off = sorted(name for name, on in flags.items() if not on)
    if off or len(flags) < 4:
        return failed(
            f"bucket {check.bucket}: public access not blocked ({', '.join(off)})", **flags
        )
    return passed(f"bucket {check.bucket}: all public access blocked", **flags)


@_check.register
def _versioning(check: VersioningEnabled, target: Target, region: str) -> Outcome:
    client = target.session.client("s3", region_name=region)
    status = client.get_bucket_versioning(Bucket=check.bucket).get("Status", "Disabled")
    verdict = passed if status == "Enabled" else failed
    return verdict(f"bucket {check.bucket}: versioning {status}", status=status)


@_check.register
def _certificate(check: CertificateIssued, target: Target, region: str) -> Outcome:
    # CloudFront only uses certificates from us-east-1, whatever the environment's region.
    where = CLOUDFRONT_REGION if check.for_cloudfront else region
    client = target.session.client("acm", region_name=where)
    statuses: dict[str, str] = {}
    for page in client.get_paginator("list_certificates").paginate(
        Includes={"keyTypes": ["RSA_1024", "RSA_2048", "RSA_3072", "RSA_4096", "EC_prime256v1",
                               "EC_secp384r1", "EC_secp521r1"]}
    ):  # fmt: skip
        for cert in page["CertificateSummaryList"]:
            names = {cert.get("DomainName"), *cert.get("SubjectAlternativeNameSummaries", [])}
            if check.domain in names:
                statuses[cert["CertificateArn"]] = cert.get("Status", "UNKNOWN")
    evidence = {"region": where, "certificates": statuses}
    if "ISSUED" in statuses.values():
        return passed(f"certificate for {check.domain} ISSUED in {where}", **evidence)
    found = ", ".join(sorted(set(statuses.values()))) or "none"
    return failed(f"no ISSUED certificate for {check.domain} in {where} ({found})", **evidence)


@_check.register
def _function_active(check: FunctionActive, target: Target, region: str) -> Outcome:
    client = target.session.client("lambda", region_name=region)
    config = client.get_function_configuration(FunctionName=check.function)
    state = config.get("State", "Active")  # older functions report no state: active
    verdict = passed if state == "Active" else failed
    return verdict(f"function {check.function} is {state}", state=state)


@_check.register
def _alias_exists(check: AliasExists, target: Target, region: str) -> Outcome:
    client = target.session.client("lambda", region_name=region)
    alias = client.get_alias(FunctionName=check.function, Name=check.alias)
    version = alias["FunctionVersion"]
    weights = dict(alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {}))
    return passed(
        f"alias {check.function}:{check.alias} -> version {version}",
        version=version,
        weights=weights,
    )


@_check.register
def _no_alarms(check: NoAlarmsFiring, target: Target, region: str) -> Outcome:
    client: Any = target.session.client("cloudwatch", region_name=region)
    arguments: dict[str, Any] = {"StateValue": "ALARM"}
    if check.prefix:
        arguments["AlarmNamePrefix"] = check.prefix
    firing: list[str] = []
    for page in client.get_paginator("describe_alarms").paginate(**arguments):
        # Filtered again here: moto ignores StateValue when a prefix is given.
        alarms = [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]
        firing += [a["AlarmName"] for a in alarms if a.get("StateValue") == "ALARM"]
    unknown = sorted(set(firing) - set(check.known))
    evidence = {"firing": sorted(firing), "known": check.known}
    if unknown:
        return failed(f"{len(unknown)} alarm(s) in ALARM: {', '.join(unknown)}", **evidence)
    return passed(f"no alarm in ALARM ({len(firing)} known)", **evidence)


@_check.register
def _role_exists(check: RoleExists, target: Target, region: str) -> Outcome:
    client: Any = target.session.client("iam", region_name=region)
    arn = client.get_role(RoleName=check.role)["Role"]["Arn"]
    return passed(f"role {check.role} exists", arn=arn)


@_check.register
def _log_group(check: LogGroupExists, target: Target, region: str) -> Outcome:
    client: Any = target.session.client("logs", region_name=region)
    pages = client.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=check.group)
    if any(g["logGroupName"] == check.group for p in pages for g in p.get("logGroups", [])):
        return passed(f"log group {check.group} exists")
    return failed(f"log group {check.group}: not found")


@_check.register
def _object_count(check: ObjectCount, target: Target, region: str) -> Outcome:
    client = target.session.client("s3", region_name=region)
    counted = 0
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=check.bucket, Prefix=check.prefix
    )
    for page in pages:
        counted += page.get("KeyCount", 0)
        if counted >= check.at_least:  # enough: no need to list a large bucket to its end
            break
    where = f"s3://{check.bucket}/{check.prefix}"
    evidence = {"counted": counted, "at_least": check.at_least}
    if counted < check.at_least:
        return failed(
            f"{where}: {counted} object(s), expected at least {check.at_least}", **evidence
        )
    return passed(f"{where}: at least {check.at_least} object(s)", **evidence)


@_check.register
def _zone_exists(check: HostedZoneExists, target: Target, region: str) -> Outcome:
    client: Any = target.session.client("route53", region_name=region)
    name = check.zone.rstrip(".") + "."
    zones = client.list_hosted_zones_by_name(DNSName=name)["HostedZones"]
    ids = [z["Id"] for z in zones if z["Name"] == name]
    if not ids:
        return failed(f"hosted zone {check.zone}: not found")
    return passed(f"hosted zone {check.zone} exists", zone_ids=ids)


@_check.register
def _vpc_exists(check: VpcExists, target: Target, region: str) -> Outcome:
    client: Any = target.session.client("ec2", region_name=region)
    if check.vpc.startswith("vpc-"):
        vpcs = client.describe_vpcs(VpcIds=[check.vpc])["Vpcs"]
    else:
        vpcs = client.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [check.vpc]}])["Vpcs"]
    ids = [v["VpcId"] for v in vpcs]
    if not ids:
        return failed(f"vpc {check.vpc}: not found")
    return passed(f"vpc {check.vpc} exists", vpc_ids=ids)


@_check.register
def _http_ok(check: HttpOk, target: Target, region: str) -> Outcome:
    try:
        exchange = send(target, HttpRequest(url=check.url))
    except (OSError, http.client.HTTPException) as exc:
        return failed(f"GET {check.url}: no reply ({type(exc).__name__})", url=check.url)
    evidence = exchange.evidence()
    if exchange.status not in check.status:
        return failed(f"GET {check.url} -> {exchange.status}", **evidence)
    return passed(f"GET {check.url} -> {exchange.status}", **evidence)
