"""The CloudFront distribution: found by its alias, created or updated only when it differs.

Cache behaviours (CloudFront allows one function per event type per behaviour):

    default (*)                     CachingOptimized
        viewer-request   redirects        www -> apex, http -> https
        origin-request   url-rewrite      SPA routes -> /index.html
        viewer-response  security-headers
    <prefix> and <prefix>/*         CachingOptimized
    for each protected prefix
        viewer-request   auth-validation  the same redirects, then the token check
        origin-request   url-rewrite
        viewer-response  security-headers

Protected paths are cached like the rest: viewer-request runs on every request, before the
cache is looked at, so a cached copy is only ever served after the token check. What is
cached there is the static SPA shell (``/index.html``, the same for every viewer), and no
viewer header or cookie needs to reach S3, so there is no origin-request policy either.

Only the fields listed in ``MANAGED`` are ours: an update starts from the live configuration,
so settings added by other runbook steps (access logging, WAF) survive a deploy.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, cast

from ._package import EdgeFunction, Scope
from ._spec import DistributionAction, MissingPrerequisiteError, distribution_comment

if TYPE_CHECKING:
    from mypy_boto3_cloudfront import CloudFrontClient
    from mypy_boto3_cloudfront.type_defs import (
        CacheBehaviorTypeDef,
        DefaultCacheBehaviorTypeDef,
        DistributionConfigTypeDef,
        LambdaFunctionAssociationTypeDef,
    )

# AWS-managed policy IDs, the same in every account.
CACHING_OPTIMIZED: Final = "658327ea-f89d-4fab-a63d-7e88639e58f6"

MANAGED: Final = (
    "Comment",
    "Enabled",
    "Aliases",
    "DefaultRootObject",
    "Origins",
    "DefaultCacheBehavior",
    "CacheBehaviors",
    "ViewerCertificate",
    "HttpVersion",
    "IsIPV6Enabled",
    "PriceClass",
)


@dataclass(frozen=True)
class DistributionSpec:
    env: str
    aliases: tuple[str, ...]
    bucket: str
    bucket_region: str
    oai_id: str
    certificate_arn: str
    protected_prefixes: tuple[str, ...]
    functions: tuple[tuple[EdgeFunction, str], ...]  # (function, version ARN)

    @property
    def origin_id(self) -> str:
        return f"s3-{self.bucket}"


@dataclass(frozen=True)
class DistributionState:
    id: str
    domain_name: str
    action: DistributionAction


def find_oai(cf: CloudFrontClient, comment: str) -> str:
    """The id of the one Origin Access Identity the S3 stack labelled ``comment``."""
    paginator = cf.get_paginator("list_cloud_front_origin_access_identities")
    found = [
        item["Id"]
        for page in paginator.paginate()
        for item in page["CloudFrontOriginAccessIdentityList"].get("Items", [])
        if item["Comment"] == comment
    ]
    if len(found) != 1:
        raise MissingPrerequisiteError(
            f"expected one CloudFront origin access identity with comment {comment!r}, found "
            f"{len(found)}; the S3 stack (bbws.schemas.s3) creates it with the bucket"
        )
    return found[0]


def _associations(spec: DistributionSpec, scope: Scope) -> list[LambdaFunctionAssociationTypeDef]:
    return [
        {"LambdaFunctionARN": arn, "EventType": function.trigger.value, "IncludeBody": False}
        for function, arn in spec.functions
        if function.scope in (Scope.ALL, scope)
    ]


def _behaviour(spec: DistributionSpec, scope: Scope) -> DefaultCacheBehaviorTypeDef:
    # The same cache policy everywhere: see the module docstring for why protected paths may
    # be cached. Behaviours differ only in their functions.
    associations = _associations(spec, scope)
    return {
        "TargetOriginId": spec.origin_id,
        "ViewerProtocolPolicy": "redirect-to-https",
        "AllowedMethods": {
            "Quantity": 2,
            "Items": ["GET", "HEAD"],
            "CachedMethods": {"Quantity": 2, "Items": ["GET", "HEAD"]},
        },
        "Compress": True,
        "CachePolicyId": CACHING_OPTIMIZED,
        "LambdaFunctionAssociations": {"Quantity": len(associations), "Items": associations},
    }


def _protected(spec: DistributionSpec) -> list[CacheBehaviorTypeDef]:
    patterns = [p for prefix in spec.protected_prefixes for p in (prefix, f"{prefix}/*")]
    protected = _behaviour(spec, Scope.PROTECTED)
    return [cast("CacheBehaviorTypeDef", {"PathPattern": p, **protected}) for p in patterns]


def desired_config(spec: DistributionSpec) -> DistributionConfigTypeDef:
    behaviours = _protected(spec)
    return {
        "CallerReference": distribution_comment(spec.env),
        "Comment": distribution_comment(spec.env),
        "Enabled": True,
        "Aliases": {"Quantity": len(spec.aliases), "Items": list(spec.aliases)},
        "DefaultRootObject": "index.html",
        "Origins": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": spec.origin_id,
                    # The regional name: af-south-1 is opt-in and has no global endpoint.
                    "DomainName": f"{spec.bucket}.s3.{spec.bucket_region}.amazonaws.com",
                    "OriginPath": "",
                    "S3OriginConfig": {
                        "OriginAccessIdentity": f"origin-access-identity/cloudfront/{spec.oai_id}"
                    },
                }
            ],
        },
        "DefaultCacheBehavior": _behaviour(spec, Scope.DEFAULT),
        "CacheBehaviors": {"Quantity": len(behaviours), "Items": behaviours},
        "ViewerCertificate": {
            "ACMCertificateArn": spec.certificate_arn,
            "SSLSupportMethod": "sni-only",
            "MinimumProtocolVersion": "TLSv1.2_2021",
        },
        "HttpVersion": "http2and3",
        "IsIPV6Enabled": True,
        "PriceClass": "PriceClass_All",
    }


def _behaviour_key(behaviour: Mapping[str, Any]) -> tuple[Any, ...]:
    associations = behaviour.get("LambdaFunctionAssociations", {}).get("Items", [])
    return (
        behaviour.get("PathPattern", "*"),
        behaviour.get("TargetOriginId"),
        behaviour.get("ViewerProtocolPolicy"),
        behaviour.get("Compress"),
        behaviour.get("CachePolicyId"),
        behaviour.get("OriginRequestPolicyId") or "",
        sorted((a["EventType"], a["LambdaFunctionARN"]) for a in associations),
    )


def managed_view(config: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a configuration this stack owns, normalised for comparison."""
    origins = config.get("Origins", {}).get("Items", [])
    behaviours = config.get("CacheBehaviors", {}).get("Items", [])
    certificate = config.get("ViewerCertificate", {})
    return {
        "scalars": [config.get(k) for k in ("Comment", "Enabled", "DefaultRootObject")],
        "protocol": [config.get(k) for k in ("HttpVersion", "IsIPV6Enabled", "PriceClass")],
        "aliases": sorted(config.get("Aliases", {}).get("Items", [])),
        "origins": sorted(
            (o["Id"], o["DomainName"], o.get("S3OriginConfig", {}).get("OriginAccessIdentity"))
            for o in origins
        ),
        "default": _behaviour_key(config.get("DefaultCacheBehavior", {})),
        "behaviours": [_behaviour_key(b) for b in behaviours],
        "certificate": [
            certificate.get(k)
            for k in ("ACMCertificateArn", "SSLSupportMethod", "MinimumProtocolVersion")
        ],
    }


def _summaries(cf: CloudFrontClient) -> Iterator[Mapping[str, Any]]:
    for page in cf.get_paginator("list_distributions").paginate():
        yield from page["DistributionList"].get("Items", [])


def find_distribution(cf: CloudFrontClient, alias: str) -> Mapping[str, Any] | None:
    matches = [d for d in _summaries(cf) if alias in d.get("Aliases", {}).get("Items", [])]
    return matches[0] if matches else None


def ensure_distribution(
    cf: CloudFrontClient, spec: DistributionSpec, alias: str
) -> DistributionState:
    desired = desired_config(spec)
    existing = find_distribution(cf, alias)
    if existing is None:
        created = cf.create_distribution(DistributionConfig=desired)["Distribution"]
        return DistributionState(created["Id"], created["DomainName"], DistributionAction.CREATED)
    live = cf.get_distribution_config(Id=existing["Id"])
    current = live["DistributionConfig"]
    if managed_view(current) == managed_view(desired):
        return DistributionState(
            existing["Id"], existing["DomainName"], DistributionAction.UNCHANGED
        )
    # Wire-shape merge: the live config (keeps CallerReference, logging, WAF) plus our fields.
    ours = {key: desired[key] for key in MANAGED}
    merged = cast("DistributionConfigTypeDef", {**current, **ours})
    cf.update_distribution(Id=existing["Id"], IfMatch=live["ETag"], DistributionConfig=merged)
    return DistributionState(existing["Id"], existing["DomainName"], DistributionAction.UPDATED)


def invalidate_all(cf: CloudFrontClient, distribution_id: str) -> str:
    batch: Sequence[str] = ["/*"]
    return cf.create_invalidation(
        DistributionId=distribution_id,
        InvalidationBatch={
            "Paths": {"Quantity": len(batch), "Items": list(batch)},
            # Unique per call: reusing a reference returns the old invalidation instead.
            "CallerReference": f"bbws-deploy-{time.time_ns()}",
        },
    )["Invalidation"]["Id"]
