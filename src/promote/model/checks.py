"""Typed precondition checks against a target account. ``check:`` selects the kind."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from promote.model.base import EnvironmentScoped, Summarised


class CheckBase(Summarised, EnvironmentScoped):
    kind_field: ClassVar[str] = "check"

    name: str | None = None
    region: str | None = None  # default: the environment's region


class IdentityCheck(CheckBase):
    """`aws sts get-caller-identity` answers with the expected account."""

    target_field: ClassVar[str] = "account_id"
    check: Literal["aws.identity"]
    account_id: str = "${account_id}"


class TableExists(CheckBase):
    target_field: ClassVar[str] = "table"
    check: Literal["dynamodb.table_exists"]
    table: str


class IndexExists(CheckBase):
    target_field: ClassVar[str] = "index"
    check: Literal["dynamodb.gsi_exists"]
    table: str
    index: str


class PitrEnabled(CheckBase):
    target_field: ClassVar[str] = "table"
    check: Literal["dynamodb.pitr_enabled"]
    table: str


class OnDemandBilling(CheckBase):
    target_field: ClassVar[str] = "table"
    check: Literal["dynamodb.on_demand"]
    table: str


class BucketExists(CheckBase):
    target_field: ClassVar[str] = "bucket"
    check: Literal["s3.bucket_exists"]
    bucket: str


class PublicAccessBlocked(CheckBase):
    """All four public-access-block flags are on."""

    target_field: ClassVar[str] = "bucket"
    check: Literal["s3.public_access_blocked"]
    bucket: str


class VersioningEnabled(CheckBase):
    target_field: ClassVar[str] = "bucket"
    check: Literal["s3.versioning_enabled"]
    bucket: str


class CertificateIssued(CheckBase):
    """An ACM certificate is ISSUED; for CloudFront it must live in us-east-1."""

    target_field: ClassVar[str] = "domain"
    check: Literal["acm.certificate_issued"]
    domain: str
    for_cloudfront: bool = True


class FunctionActive(CheckBase):
    target_field: ClassVar[str] = "function"
    check: Literal["lambda.function_active"]
    function: str


class AliasExists(CheckBase):
    target_field: ClassVar[str] = "function"
    check: Literal["lambda.alias_exists"]
    function: str
    alias: str = "live"


class NoAlarmsFiring(CheckBase):
    """No CloudWatch alarm in ALARM, except known ones (the runbooks' pre-existing DLQ alarm)."""

    target_field: ClassVar[str] = "prefix"
    check: Literal["cloudwatch.no_alarms"]
    prefix: str | None = None
    known: list[str] = Field(default_factory=list)


class HostedZoneExists(CheckBase):
    target_field: ClassVar[str] = "zone"
    check: Literal["route53.zone_exists"]
    zone: str


class HttpOk(CheckBase):
    target_field: ClassVar[str] = "url"
    """A URL answers with an expected status, e.g. "verify SIT is stable" before PROD."""

    check: Literal["http.ok"]
    url: str
    status: list[int] = Field(default_factory=lambda: [200])


class RoleExists(CheckBase):
    """An IAM role exists (execution roles, the deploy role a pipeline assumes)."""

    check: Literal["iam.role_exists"]
    target_field: ClassVar[str] = "role"
    role: str


class LogGroupExists(CheckBase):
    check: Literal["logs.group_exists"]
    target_field: ClassVar[str] = "group"
    group: str


class VpcExists(CheckBase):
    """A VPC exists, by id or by its Name tag."""

    check: Literal["ec2.vpc_exists"]
    target_field: ClassVar[str] = "vpc"
    vpc: str


class ObjectCount(CheckBase):
    """At least ``at_least`` objects under a prefix (the runbooks' "12 templates")."""

    check: Literal["s3.object_count"]
    target_field: ClassVar[str] = "bucket"
    bucket: str
    prefix: str = ""
    at_least: int = Field(ge=1)


class ManualCheck(CheckBase):
    """A checklist item only a person can attest (change request approved, scan clean)."""

    check: Literal["manual"]
    target_field: ClassVar[str] = "item"
    item: str
    role: str | None = None


class ProjectDeployed(CheckBase):
    """Another project has succeeded in an environment (the runbooks' dependency checkboxes)."""

    target_field: ClassVar[str] = "project"
    check: Literal["project.deployed"]
    project: str
    environment: str = "${env}"


Check = Annotated[
    IdentityCheck
    | TableExists
    | IndexExists
    | PitrEnabled
    | OnDemandBilling
    | BucketExists
    | PublicAccessBlocked
    | VersioningEnabled
    | CertificateIssued
    | FunctionActive
    | AliasExists
    | NoAlarmsFiring
    | HostedZoneExists
    | HttpOk
    | RoleExists
    | LogGroupExists
    | VpcExists
    | ObjectCount
    | ManualCheck
    | ProjectDeployed,
    Field(discriminator="check"),
]
