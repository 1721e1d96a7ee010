"""What a deploy is asked for (``SiteSpec``), what it reports (``DeployResult``), its errors,
and the checks that run before any AWS call.

Error tree (codes are stable)::

    StackError (bbws.schemas.common)          BBWS-STACK
    ├── TargetError                           BBWS-TARGET         wrong region or account
    ├── PackagingError                        BBWS-EDGE-PACKAGE   an edge zip would not run
    ├── MissingPrerequisiteError              BBWS-PREREQUISITE   bucket or OAI not there yet
    └── CertificatePendingError               BBWS-CERT-PENDING   DNS validation outstanding
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from bbws.edge.auth_validation import AuthConfig
from bbws.schemas.common import StackError, Target, TargetError

# CloudFront reads certificates and Lambda@Edge functions only from us-east-1.
EDGE_REGION: Final = "us-east-1"
_ENV = re.compile(r"[a-z][a-z0-9-]{0,20}")


class PackagingError(StackError):
    code = "BBWS-EDGE-PACKAGE"


class MissingPrerequisiteError(StackError):
    """Something another stack owns (bucket, OAI) is missing: deploy that stack first."""

    code = "BBWS-PREREQUISITE"


class CertificatePendingError(StackError):
    """The certificate exists but is not issued; CloudFront refuses it until it is."""

    code = "BBWS-CERT-PENDING"

    def __init__(self, arn: str, records: Sequence[tuple[str, str, str]]) -> None:
        self.arn = arn
        self.records = tuple(records)
        listed = "; ".join(f"{name} {kind} {value}" for name, kind, value in self.records)
        super().__init__(
            f"certificate {arn} is waiting for DNS validation; create these records and "
            f"deploy again: {listed or 'none reported yet, describe the certificate'}"
        )


def bucket_name(env: str) -> str:
    return f"bbws-frontend-{env}"


def oai_comment(env: str) -> str:
    """How the S3 stack labels the OAI it grants s3:GetObject on the bucket."""
    return f"bbws-cdn-{env}"


def distribution_comment(env: str) -> str:
    return f"bbws-frontend-{env}"


def role_name(env: str) -> str:
    return f"lambda-edge-execution-role-{env}"


@dataclass(frozen=True)
class SiteSpec:
    """One environment's portal: names, regions, and what the edge needs to know.

    ``site_domain`` is the alias the distribution is found by and the certificate's domain;
    ``aliases`` are every name it answers (they become the certificate's SANs).
    ``check_binaries=False`` skips the check that bundled distributions load on ``runtime``
    (their wheel tags). The bundled ones are pure Python, so nothing needs to turn it off.
    """

    site_domain: str
    aliases: tuple[str, ...]
    bucket_region: str
    api_base_url: str
    auth: AuthConfig
    runtime: str = "python3.12"
    check_binaries: bool = True

    @classmethod
    def for_env(cls, env: str, auth: AuthConfig, **overrides: Any) -> SiteSpec:
        """The estate's values for dev, sit and prod (the runbook's environment table)."""
        if env not in _PRESETS:
            raise TargetError(f"no preset for environment {env!r}; build a SiteSpec directly")
        domain, aliases, bucket_region = _PRESETS[env]
        values: dict[str, Any] = {
            "site_domain": domain,
            "aliases": aliases,
            "bucket_region": bucket_region,
            "api_base_url": f"https://api.{domain}",
            "auth": auth,
        }
        return cls(**{**values, **overrides})


_PRESETS: Final[Mapping[str, tuple[str, tuple[str, ...], str]]] = {
    "dev": ("dev.kimmyai.io", ("dev.kimmyai.io",), "eu-west-1"),
    "sit": ("sit.kimmyai.io", ("sit.kimmyai.io",), "eu-west-1"),
    "prod": ("kimmyai.io", ("kimmyai.io", "www.kimmyai.io"), "af-south-1"),
}


class DistributionAction(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class DeployResult:
    """What one deploy did. ``versions`` maps each function name to the version ARN in use."""

    distribution_id: str
    domain_name: str
    distribution: DistributionAction
    certificate_arn: str
    versions: Mapping[str, str]
    published: tuple[str, ...] = ()
    uploaded: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    invalidation_id: str | None = None

    @property
    def changed(self) -> bool:
        return bool(
            self.published
            or self.uploaded
            or self.deleted
            or self.distribution is not DistributionAction.UNCHANGED
        )


def preflight(target: Target, spec: SiteSpec) -> None:
    """Everything that can be refused without calling AWS."""
    if not _ENV.fullmatch(target.env):
        raise TargetError(f"environment name {target.env!r} must be lower-case letters/digits")
    if target.region != EDGE_REGION:
        raise TargetError(
            f"CloudFront distribution {distribution_comment(target.env)!r}, its ACM certificate "
            f"for {spec.site_domain!r} and the Lambda@Edge functions bbws-*-{target.env} must "
            f"be in {EDGE_REGION}; the target region is {target.region!r} "
            f"(the bucket's own region, {spec.bucket_region!r}, is set on the SiteSpec)"
        )
    if spec.site_domain not in spec.aliases:
        raise TargetError(f"site_domain {spec.site_domain!r} must be one of the aliases")
    if not spec.bucket_region:
        raise TargetError("bucket_region is required")
