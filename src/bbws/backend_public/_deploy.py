"""``deploy``: the runbook's steps 1, 5, 6, 7 and 9 as one idempotent call.

Order, and why:

1. preflight, packaging, site build: everything refusable without AWS is refused first;
2. reads: caller account, the bucket and its region, the OAI (prerequisites owned by the S3
   stack), so nothing is created when a prerequisite is missing;
3. certificate (may stop the deploy while DNS validation is pending), role, functions;
4. distribution, pointing at the function versions (Lambda@Edge before CloudFront, step 5);
5. bucket sync, then one ``/*`` invalidation if anything at all changed.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, cast

import boto3
from botocore.exceptions import ClientError

from bbws.schemas.common import Target, TargetError
from bbws.site import BuildManifest, build

from ._certificate import ensure_certificate
from ._distribution import DistributionSpec, ensure_distribution, find_oai, invalidate_all
from ._functions import ensure_function
from ._iam import IamClient, ensure_role
from ._package import EdgePackage, package_all
from ._spec import (
    EDGE_REGION,
    DeployResult,
    MissingPrerequisiteError,
    SiteSpec,
    bucket_name,
    oai_comment,
    preflight,
)
from ._sync import sync

if TYPE_CHECKING:
    from mypy_boto3_acm import ACMClient
    from mypy_boto3_cloudfront import CloudFrontClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sts import STSClient


@dataclass(frozen=True)
class _Clients:
    cloudfront: CloudFrontClient
    acm: ACMClient
    lam: LambdaClient
    iam: IamClient
    sts: STSClient
    s3: S3Client

    @classmethod
    def create(cls, session: boto3.session.Session, bucket_region: str) -> _Clients:
        # Explicit regions: the session's own default region is irrelevant to where things go.
        return cls(
            cloudfront=session.client("cloudfront", region_name=EDGE_REGION),
            acm=session.client("acm", region_name=EDGE_REGION),
            lam=session.client("lambda", region_name=EDGE_REGION),
            iam=cast(IamClient, session.client("iam", region_name=EDGE_REGION)),
            sts=session.client("sts", region_name=EDGE_REGION),
            s3=session.client("s3", region_name=bucket_region),
        )


def deploy(
    target: Target,
    spec: SiteSpec,
    *,
    session: boto3.session.Session | None = None,
    build_dir: Path | None = None,
) -> DeployResult:
    """Deploy the portal for ``target.env``; a second call with nothing changed changes nothing.

    ``target.region`` is where CloudFront, ACM and Lambda@Edge live and must be us-east-1;
    the bucket's region is ``spec.bucket_region``. ``build_dir`` keeps the site build (a
    temporary directory otherwise).
    """
    preflight(target, spec)
    packages = package_all(spec.auth, spec.runtime, check_binaries=spec.check_binaries)
    with tempfile.TemporaryDirectory(prefix="bbws-site-") as scratch:
        manifest = build(build_dir or Path(scratch), spec.api_base_url)
        aws = _Clients.create(target.session(session), spec.bucket_region)
        result = _apply(aws, target, spec, packages, manifest)
    if result.changed:
        result = replace(
            result, invalidation_id=invalidate_all(aws.cloudfront, result.distribution_id)
        )
    return result


def _apply(
    aws: _Clients,
    target: Target,
    spec: SiteSpec,
    packages: list[EdgePackage],
    manifest: BuildManifest,
) -> DeployResult:
    env = target.env
    _check_account(aws.sts, target)
    bucket = bucket_name(env)
    _check_bucket(aws.s3, bucket, spec.bucket_region)
    oai_id = find_oai(aws.cloudfront, oai_comment(env))

    certificate = ensure_certificate(aws.acm, spec.site_domain, spec.aliases)
    role = ensure_role(aws.iam, env)
    versions = [ensure_function(aws.lam, p, env, role, spec.runtime) for p in packages]
    wanted = DistributionSpec(
        env=env,
        aliases=spec.aliases,
        bucket=bucket,
        bucket_region=spec.bucket_region,
        oai_id=oai_id,
        certificate_arn=certificate,
        protected_prefixes=spec.auth.protected_prefixes,
        functions=tuple((p.function, v.arn) for p, v in zip(packages, versions, strict=True)),
    )
    distribution = ensure_distribution(aws.cloudfront, wanted, alias=spec.site_domain)
    synced = sync(aws.s3, bucket, manifest)
    return DeployResult(
        distribution_id=distribution.id,
        domain_name=distribution.domain_name,
        distribution=distribution.action,
        certificate_arn=certificate,
        versions={v.name: v.arn for v in versions},
        published=tuple(v.name for v in versions if v.published),
        uploaded=synced.uploaded,
        deleted=synced.deleted,
    )


def _check_account(sts: STSClient, target: Target) -> None:
    if not target.account_id:
        return
    actual = sts.get_caller_identity()["Account"]
    if actual != target.account_id:
        raise TargetError(
            f"credentials are for account {actual}, but {target.env} is account "
            f"{target.account_id}; switch profile before deploying"
        )


def _check_bucket(s3: S3Client, bucket: str, region: str) -> None:
    try:
        head = s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        raise MissingPrerequisiteError(
            f"bucket {bucket} is not reachable ({exc.response.get('Error', {}).get('Code')}); "
            f"the S3 stack (bbws.schemas.s3) creates it"
        ) from exc
    actual = head.get("BucketRegion") or region
    if actual != region:
        raise TargetError(f"bucket {bucket} is in {actual}, but the SiteSpec says {region}")
