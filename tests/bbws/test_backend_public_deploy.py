"""deploy() against moto: what it creates, what it refuses, and that a second run is a no-op.

Two moto 5.2 gaps are filled here, in the test only (see ``moto_account``):
* CloudFront origin access identities have no API in moto (every call answers 404), so
  ``CloudFrontOaiDouble`` (tests/bbws/aws_doubles.py) answers the OAI calls as CloudFront would;
* moto stores a distribution but drops ``LambdaFunctionAssociations`` and ``S3OriginConfig``
  from what it returns, so its two model constructors are wrapped to keep them.
"""

from __future__ import annotations

import contextlib
import json

import boto3
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from moto import mock_aws
from moto.cloudfront import models as cloudfront_models

from bbws.backend_public import (
    CertificatePendingError,
    DistributionAction,
    MissingPrerequisiteError,
    SiteSpec,
    TargetError,
    deploy,
)
from bbws.backend_public._distribution import CACHING_OPTIMIZED
from bbws.backend_public._sync import IMMUTABLE, NO_CACHE
from bbws.edge.auth_validation import AuthConfig
from bbws.schemas.common import Target
from tests.bbws.aws_doubles import CloudFrontOaiDouble

ACCOUNT = "123456789012"  # moto's
SIT = Target("sit", "us-east-1", ACCOUNT)
FUNCTIONS = ("security-headers", "url-rewrite", "auth-validation", "redirects")


def _fill_moto_gaps(mp: pytest.MonkeyPatch) -> None:
    keep_behaviour = cloudfront_models.DefaultCacheBehaviour.__init__
    keep_origin = cloudfront_models.Origin.__init__

    def behaviour(self, config):
        keep_behaviour(self, config)
        self.lambda_function_associations = config.get("LambdaFunctionAssociations") or {
            "Quantity": 0
        }

    def origin(self, config):
        keep_origin(self, config)
        if "S3OriginConfig" in config:
            self.s3_origin_config = config["S3OriginConfig"]

    # CacheBehaviour.__init__ calls DefaultCacheBehaviour.__init__, so both keep them.
    mp.setattr(cloudfront_models.DefaultCacheBehaviour, "__init__", behaviour)
    mp.setattr(cloudfront_models.Origin, "__init__", origin)


@contextlib.contextmanager
def moto_account(*, issue_certificates: bool = True):
    """Fake credentials, moto with its gaps filled, and a session whose region is not
    us-east-1 (deploy must choose regions itself). Yields (session, oais)."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            mp.setenv(name, "testing")
        mp.setenv("AWS_DEFAULT_REGION", "eu-west-1")
        mp.delenv("AWS_PROFILE", raising=False)
        _fill_moto_gaps(mp)
        if issue_certificates:
            # moto issues an AMAZON_ISSUED certificate 60 s after the request by default.
            mp.setattr("moto.settings.ACM_VALIDATION_WAIT", 0)
        with mock_aws():
            session = boto3.session.Session(region_name="eu-west-1")
            oais = CloudFrontOaiDouble()
            oais.install(session)
            yield session, oais


@pytest.fixture
def account():
    with moto_account() as (session, oais):
        yield session, oais


@pytest.fixture
def session(account):
    return account[0]


@pytest.fixture
def oais(account):
    return account[1]


def make_bucket(session, oais, env, region):
    """What the S3 stack provides: a locked-down bucket readable only through its OAI."""
    oai_id = oais.add(f"bbws-cdn-{env}")
    s3 = session.client("s3", region_name=region)
    bucket = f"bbws-frontend-{env}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    principal = f"arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity {oai_id}"
    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": principal},
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
    }
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    return oai_id


@pytest.fixture
def sit_bucket(session, oais):
    return make_bucket(session, oais, "sit", "eu-west-1")


@pytest.fixture(scope="module")
def auth():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return AuthConfig(
        issuer="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_SitPool01",
        jwks={"keys": [{**public, "kid": "k1", "alg": "RS256"}]},
    )


@pytest.fixture
def sit_spec(auth):
    # check_binaries on (the default): the edge zips are pure Python, so this venv can deploy.
    return SiteSpec.for_env("sit", auth)


def distribution_config(session, distribution_id):
    cf = session.client("cloudfront", region_name="us-east-1")
    return cf.get_distribution_config(Id=distribution_id)["DistributionConfig"]


def associations(behaviour):
    return {
        a["EventType"]: a["LambdaFunctionARN"].split(":function:")[1]
        for a in behaviour["LambdaFunctionAssociations"].get("Items", [])
    }


def invalidation_count(session, distribution_id):
    cf = session.client("cloudfront", region_name="us-east-1")
    listing = cf.list_invalidations(DistributionId=distribution_id)["InvalidationList"]
    return listing["Quantity"]


# --- refusals before anything is created -----------------------------------------------------


def lambda_functions(session):
    return session.client("lambda", region_name="us-east-1").list_functions()["Functions"]


@pytest.mark.parametrize("region", ["eu-west-1", "af-south-1"])
def test_refuses_a_non_us_east_1_edge_region_before_any_aws_call(session, sit_spec, region):
    sent = []
    session.events.register("before-send", lambda request, **_: sent.append(request.url))

    with pytest.raises(TargetError) as refused:
        deploy(Target("sit", region, ACCOUNT), sit_spec, session=session)

    message = str(refused.value)
    assert "CloudFront distribution 'bbws-frontend-sit'" in message
    assert "ACM certificate" in message and "Lambda@Edge" in message
    assert "us-east-1" in message and repr(region) in message
    assert sent == []


def test_refuses_credentials_for_another_account(session, sit_bucket, sit_spec):
    with pytest.raises(TargetError, match="815856636111"):
        deploy(Target("sit", "us-east-1", "815856636111"), sit_spec, session=session)

    assert lambda_functions(session) == []


def test_refuses_when_the_s3_stack_has_not_run(session, sit_spec):
    with pytest.raises(MissingPrerequisiteError, match="bbws-frontend-sit"):
        deploy(SIT, sit_spec, session=session)


def test_refuses_a_bucket_in_another_region_than_the_spec_says(session, sit_bucket, auth):
    spec = SiteSpec.for_env("sit", auth, bucket_region="af-south-1")

    with pytest.raises(TargetError, match="bbws-frontend-sit is in eu-west-1"):
        deploy(SIT, spec, session=session)

    assert lambda_functions(session) == []


def test_refuses_without_the_oai_and_creates_nothing(session, oais, sit_spec):
    make_bucket(session, oais, "sit", "eu-west-1")
    oais.clear()

    with pytest.raises(MissingPrerequisiteError, match="bbws-cdn-sit"):
        deploy(SIT, sit_spec, session=session)

    assert lambda_functions(session) == []


def test_pending_certificate_stops_with_the_dns_records(sit_spec):
    with moto_account(issue_certificates=False) as (session, oais):
        make_bucket(session, oais, "sit", "eu-west-1")

        with pytest.raises(CertificatePendingError) as pending:
            deploy(SIT, sit_spec, session=session)

        assert pending.value.records
        assert all(kind == "CNAME" for _, kind, _ in pending.value.records)
        assert lambda_functions(session) == []


# --- the first deploy, and a second with nothing changed ---------------------------------------


@pytest.fixture(scope="class")
def deployed(auth):
    """One first deploy shared by a class of read-only checks: a deploy costs about a second."""
    with moto_account() as (session, oais):
        oai_id = make_bucket(session, oais, "sit", "eu-west-1")
        spec = SiteSpec.for_env("sit", auth)
        yield session, oai_id, deploy(SIT, spec, session=session)


class TestFirstDeploy:
    @pytest.fixture
    def session(self, deployed):
        return deployed[0]

    @pytest.fixture
    def first(self, deployed):
        return deployed[2]

    def test_creates_the_four_functions_with_published_versions_in_us_east_1(self, session, first):
        lam = session.client("lambda", region_name="us-east-1")

        assert first.published == tuple(f"bbws-{f}-sit" for f in FUNCTIONS)
        for slug in FUNCTIONS:
            name = f"bbws-{slug}-sit"
            assert first.versions[name] == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}:1"
            config = lam.get_function_configuration(FunctionName=name)
            settings = (config["Runtime"], config["MemorySize"], config["Timeout"])
            assert settings == ("python3.12", 128, 5)
            assert config["Role"].endswith(":role/lambda-edge-execution-role-sit")
            assert not config.get("Environment", {}).get("Variables")
        assert session.client("lambda", region_name="eu-west-1").list_functions()["Functions"] == []

    def test_execution_role_is_assumable_by_lambda_at_edge(self, session, first):
        role = session.client("iam").get_role(RoleName="lambda-edge-execution-role-sit")["Role"]
        services = role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"]

        assert set(services) == {"lambda.amazonaws.com", "edgelambda.amazonaws.com"}

    def test_distribution_serves_the_bucket_through_the_oai_with_the_certificate(
        self, session, deployed, first
    ):
        config = distribution_config(session, first.distribution_id)

        assert first.distribution is DistributionAction.CREATED
        assert config["Comment"] == "bbws-frontend-sit"
        assert config["Aliases"]["Items"] == ["sit.kimmyai.io"]
        (origin,) = config["Origins"]["Items"]
        assert origin["DomainName"] == "bbws-frontend-sit.s3.eu-west-1.amazonaws.com"
        assert origin["S3OriginConfig"]["OriginAccessIdentity"] == (
            f"origin-access-identity/cloudfront/{deployed[1]}"
        )
        assert config["ViewerCertificate"]["ACMCertificateArn"] == first.certificate_arn
        assert first.certificate_arn.startswith("arn:aws:acm:us-east-1:")
        assert config["ViewerCertificate"]["SSLSupportMethod"] == "sni-only"
        default = config["DefaultCacheBehavior"]
        assert (default["ViewerProtocolPolicy"], default["Compress"]) == ("redirect-to-https", True)
        assert default["CachePolicyId"] == CACHING_OPTIMIZED

    def test_all_four_edge_functions_are_associated_one_per_event_type(self, session, first):
        config = distribution_config(session, first.distribution_id)

        assert associations(config["DefaultCacheBehavior"]) == {
            "viewer-request": "bbws-redirects-sit:1",
            "origin-request": "bbws-url-rewrite-sit:1",
            "viewer-response": "bbws-security-headers-sit:1",
        }
        protected = config["CacheBehaviors"]["Items"]
        assert [b["PathPattern"] for b in protected] == [
            "/protected-page",
            "/protected-page/*",
            "/account",
            "/account/*",
            "/admin",
            "/admin/*",
        ]
        for behaviour in protected:
            assert associations(behaviour) == {
                "viewer-request": "bbws-auth-validation-sit:1",  # redirects, then the token
                "origin-request": "bbws-url-rewrite-sit:1",
                "viewer-response": "bbws-security-headers-sit:1",
            }
            # Cached like the rest: the viewer-request check runs before the cache.
            assert behaviour["CachePolicyId"] == CACHING_OPTIMIZED
            assert not behaviour.get("OriginRequestPolicyId")
            assert behaviour["ViewerProtocolPolicy"] == "redirect-to-https"

    def test_objects_carry_the_runbook_cache_headers(self, session, first):
        s3 = session.client("s3", region_name="eu-west-1")
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="bbws-frontend-sit")["Contents"]]

        assert sorted(first.uploaded) == sorted(keys)
        index = s3.head_object(Bucket="bbws-frontend-sit", Key="index.html")
        assert index["CacheControl"] == NO_CACHE
        assert index["ContentType"] == "text/html; charset=utf-8"
        expected_types = {
            "js": "text/javascript; charset=utf-8",
            "css": "text/css; charset=utf-8",
            "svg": "image/svg+xml",
        }
        assets = [k for k in keys if k != "index.html"]
        assert len(assets) == 3
        for key in assets:
            head = s3.head_object(Bucket="bbws-frontend-sit", Key=key)
            assert head["CacheControl"] == IMMUTABLE
            assert head["ContentType"] == expected_types[key.rsplit(".", 1)[1]]
        assert first.uploaded[-1] == "index.html"  # after the assets it names

    def test_first_deploy_invalidates_everything(self, session, first):
        cf = session.client("cloudfront", region_name="us-east-1")
        batch = cf.get_invalidation(DistributionId=first.distribution_id, Id=first.invalidation_id)

        assert batch["Invalidation"]["InvalidationBatch"]["Paths"]["Items"] == ["/*"]

    # Last in the class: it deploys again, though by design it changes nothing.
    def test_second_deploy_with_nothing_changed_is_a_no_op(self, session, auth, first):
        lam = session.client("lambda", region_name="us-east-1")

        def version_counts():
            return {
                f: len(lam.list_versions_by_function(FunctionName=f"bbws-{f}-sit")["Versions"])
                for f in FUNCTIONS
            }

        before = version_counts()

        second = deploy(SIT, SiteSpec.for_env("sit", auth), session=session)

        assert second.published == ()
        assert second.uploaded == () and second.deleted == ()
        assert second.distribution is DistributionAction.UNCHANGED
        assert second.invalidation_id is None and not second.changed
        assert second.versions == first.versions
        assert second.distribution_id == first.distribution_id
        assert version_counts() == before
        assert invalidation_count(session, first.distribution_id) == 1


# --- deploys that change something -----------------------------------------------------------


@pytest.fixture
def first(session, sit_bucket, sit_spec):
    return deploy(SIT, sit_spec, session=session)


def test_new_site_content_uploads_only_what_changed_and_deletes_stale_objects(session, auth, first):
    s3 = session.client("s3", region_name="eu-west-1")
    s3.put_object(Bucket="bbws-frontend-sit", Key="assets/app.0badf00d.js", Body=b"old")
    moved = SiteSpec.for_env("sit", auth, api_base_url="https://api2.sit.kimmyai.io")

    result = deploy(SIT, moved, session=session)

    assert result.uploaded == ("index.html",)
    assert result.deleted == ("assets/app.0badf00d.js",)
    assert result.published == ()
    assert result.distribution is DistributionAction.UNCHANGED
    assert result.invalidation_id is not None
    assert invalidation_count(session, first.distribution_id) == 2


def test_changed_auth_config_republishes_only_auth_and_updates_the_distribution(
    session, auth, first
):
    wider = AuthConfig(
        issuer=auth.issuer, jwks=auth.jwks, protected_prefixes=(*auth.protected_prefixes, "/me")
    )

    result = deploy(SIT, SiteSpec.for_env("sit", wider), session=session)

    assert result.published == ("bbws-auth-validation-sit",)
    assert result.versions["bbws-auth-validation-sit"].endswith(":2")
    assert result.distribution is DistributionAction.UPDATED
    behaviours = distribution_config(session, first.distribution_id)["CacheBehaviors"]["Items"]
    assert [b["PathPattern"] for b in behaviours][-2:] == ["/me", "/me/*"]
    assert {associations(b)["viewer-request"] for b in behaviours} == {"bbws-auth-validation-sit:2"}
    assert result.uploaded == () and result.invalidation_id is not None


def test_a_distribution_with_auth_on_origin_request_is_moved_to_the_new_layout(
    session, auth, first
):
    """The previous layout (auth on origin-request behind CachingDisabled and an origin-request
    policy forwarding viewer headers) is replaced on the next deploy, other settings kept."""
    cf = session.client("cloudfront", region_name="us-east-1")
    live = cf.get_distribution_config(Id=first.distribution_id)
    old = live["DistributionConfig"]
    arns = first.versions
    for behaviour in old["CacheBehaviors"]["Items"]:
        behaviour["CachePolicyId"] = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # CachingDisabled
        behaviour["OriginRequestPolicyId"] = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
        behaviour["LambdaFunctionAssociations"]["Items"] = [
            {"EventType": event, "LambdaFunctionARN": arns[name], "IncludeBody": False}
            for event, name in (
                ("viewer-request", "bbws-redirects-sit"),
                ("origin-request", "bbws-auth-validation-sit"),
                ("viewer-response", "bbws-security-headers-sit"),
            )
        ]
    old["Logging"] = {"Enabled": True, "IncludeCookies": False, "Bucket": "logs.s3", "Prefix": "c/"}
    cf.update_distribution(Id=first.distribution_id, IfMatch=live["ETag"], DistributionConfig=old)

    result = deploy(SIT, SiteSpec.for_env("sit", auth), session=session)

    assert result.distribution is DistributionAction.UPDATED
    assert result.published == ()
    config = distribution_config(session, first.distribution_id)
    for behaviour in config["CacheBehaviors"]["Items"]:
        assert associations(behaviour)["viewer-request"] == "bbws-auth-validation-sit:1"
        assert associations(behaviour)["origin-request"] == "bbws-url-rewrite-sit:1"
        assert behaviour["CachePolicyId"] == CACHING_OPTIMIZED
        assert not behaviour.get("OriginRequestPolicyId")
    assert config["Logging"]["Bucket"] == "logs.s3"


def test_prod_uses_the_apex_and_www_and_an_af_south_1_bucket(session, oais, auth):
    make_bucket(session, oais, "prod", "af-south-1")
    spec = SiteSpec.for_env("prod", auth)

    result = deploy(Target("prod", "us-east-1", ACCOUNT), spec, session=session)

    config = distribution_config(session, result.distribution_id)
    assert sorted(config["Aliases"]["Items"]) == ["kimmyai.io", "www.kimmyai.io"]
    origin = config["Origins"]["Items"][0]["DomainName"]
    assert origin == "bbws-frontend-prod.s3.af-south-1.amazonaws.com"
    acm = session.client("acm", region_name="us-east-1")
    certificate = acm.describe_certificate(CertificateArn=result.certificate_arn)["Certificate"]
    assert certificate["DomainName"] == "kimmyai.io"
    assert set(certificate["SubjectAlternativeNames"]) == {"kimmyai.io", "www.kimmyai.io"}
    index = session.client("s3", region_name="af-south-1").get_object(
        Bucket="bbws-frontend-prod", Key="index.html"
    )
    assert b'content="https://api.kimmyai.io"' in index["Body"].read()
