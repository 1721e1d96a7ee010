"""Deploy the BBWS customer portal: Lambda@Edge, certificate, CloudFront and the site bucket.

    from bbws.backend_public import SiteSpec, deploy
    from bbws.edge.auth_validation import AuthConfig
    from bbws.schemas.common import Target

    auth = AuthConfig(issuer="https://cognito-idp.eu-west-1.amazonaws.com/<pool>", jwks=jwks)
    result = deploy(Target("sit", "us-east-1", "815856636111"), SiteSpec.for_env("sit", auth))

``Target.region`` is where CloudFront, ACM and Lambda@Edge live and must be us-east-1 (refused
before any AWS call otherwise); the bucket region is on the ``SiteSpec``. The bucket
``bbws-frontend-<env>`` and the OAI commented ``bbws-cdn-<env>`` come from the S3 stack.
See docs/bbws/backend_public.md.
"""

from bbws.schemas.common import StackError, TargetError

from ._deploy import deploy
from ._package import EDGE_FUNCTIONS, EdgeFunction, EdgePackage, Scope, Trigger, package_all
from ._spec import (
    EDGE_REGION,
    CertificatePendingError,
    DeployResult,
    DistributionAction,
    MissingPrerequisiteError,
    PackagingError,
    SiteSpec,
)

__all__ = [
    "EDGE_FUNCTIONS",
    "EDGE_REGION",
    "CertificatePendingError",
    "DeployResult",
    "DistributionAction",
    "EdgeFunction",
    "EdgePackage",
    "MissingPrerequisiteError",
    "PackagingError",
    "Scope",
    "SiteSpec",
    "StackError",
    "TargetError",
    "Trigger",
    "deploy",
    "package_all",
]
