"""The s3_schemas definition and its pure rules, without AWS."""

from __future__ import annotations

import pytest

from bbws.schemas.common import ChangeKind, Target, TargetError
from bbws.schemas.s3_definition import (
    VERDICTS,
    BucketSpec,
    PublicAccessBlock,
    define,
    normalize_lifecycle,
    normalize_replication,
    policy_grants,
    replication_role_policy,
    same,
)

DEV = Target("dev", "eu-west-1", "536580886816")
PROD = Target("prod", "af-south-1", "093646564004", dr_region="eu-west-1")
ROLES = ("frontend", "templates", "product-images", "orders", "tenant-assets", "logs")


def test_dev_has_the_six_runbook_buckets_and_no_dr() -> None:
    d = define(DEV)
    assert [b.name for b in d.buckets] == [f"bbws-{r}-dev" for r in ROLES]
    assert {b.region for b in d.buckets} == {"eu-west-1"}
    assert d.replication_role is None
    assert all(b.replicate_to is None for b in d.buckets)
    assert d.templates_bucket == "bbws-templates-dev"
    assert d.oai_comment == "bbws-cdn-dev"


def test_prod_replicates_each_bucket_to_a_dr_twin_in_the_dr_region() -> None:
    d = define(PROD)
    primaries = [b for b in d.buckets if b.region == "af-south-1"]
    dr = {b.name: b for b in d.buckets if b.region == "eu-west-1"}
    assert [b.name for b in primaries] == [f"bbws-{r}-prod" for r in ROLES]
    for spec in primaries:
        assert spec.replicate_to == f"{spec.name}-dr"
        twin = dr[f"{spec.name}-dr"]
        assert twin.violations() == [] and twin.replicate_to is None and not twin.cdn_read
    assert d.replication_role == "bbws-s3-replication-prod"


def test_every_defined_bucket_is_safe_and_only_cdn_buckets_are_readable() -> None:
    cdn = {"bbws-frontend-dev", "bbws-product-images-dev"}
    cdn |= {"bbws-frontend-prod", "bbws-product-images-prod"}  # not their DR twins
    for target in (DEV, PROD):
        for spec in define(target).buckets:
            assert spec.violations() == []
            assert spec.cdn_read == (spec.name in cdn), spec.name
            assert spec.extra_readers == ()


def test_only_logs_buckets_expire_objects() -> None:
    for spec in define(PROD).buckets:
        assert bool(spec.lifecycle) == spec.name.startswith("bbws-logs-")


def test_a_target_without_a_valid_env_is_refused() -> None:
    with pytest.raises(TargetError):
        define(Target("Prod!", "af-south-1"))
    with pytest.raises(TargetError):
        define(Target("prod", "eu-west-1", dr_region="eu-west-1"))


def test_replication_role_policy_is_scoped_to_the_bbws_buckets() -> None:
    statements = replication_role_policy(define(PROD))["Statement"]
    resources = [r for st in statements for r in st["Resource"]]
    assert all(r.startswith("arn:aws:s3:::bbws-") for r in resources)
    writes = next(st for st in statements if st["Sid"] == "WriteReplicas")
    assert all(r.endswith("-prod-dr/*") for r in writes["Resource"])


def test_policy_comparison_ignores_formatting() -> None:
    a = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": ["p"]},
                "Action": "s3:GetObject",
                "Resource": "r",
            }
        ]
    }
    b = {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Allow",
            "Principal": {"AWS": "p"},
            "Action": ["s3:GetObject"],
            "Resource": ["r"],
        },
    }
    assert policy_grants(a) == policy_grants(b)
    assert same("policy", a, b)
    assert not same("policy", a, None)


def test_live_spellings_of_filters_are_normalized() -> None:
    rule = {"ID": "x", "Status": "Enabled", "Expiration": {"Days": 1}}
    assert normalize_lifecycle([{**rule, "Filter": {}}]) == normalize_lifecycle(
        [{**rule, "Prefix": ""}]
    )
    live = {"Role": "arn:aws:iam::1:role/r", "Rules": [{"ID": "dr", "Filter": {}}]}
    assert normalize_replication(live) == {
        "Role": "r",
        "Rules": [{"ID": "dr", "Filter": {"Prefix": ""}}],
    }


SPEC = BucketSpec("bbws-logs-dev", "eu-west-1")
ALL_ON = PublicAccessBlock().to_api()


@pytest.mark.parametrize(
    ("attribute", "desired", "live", "kind", "action"),
    [
        (
            "public_access_block",
            ALL_ON,
            {**ALL_ON, "BlockPublicAcls": False},
            ChangeKind.UPDATE,
            "put-public-access-block",
        ),
        (
            "public_access_block",
            {**ALL_ON, "RestrictPublicBuckets": False},
            ALL_ON,
            ChangeKind.DESTRUCTIVE,
            "weaken-public-access-block",
        ),
        ("versioning", "Enabled", "Suspended", ChangeKind.UPDATE, "enable-versioning"),
        ("versioning", "Suspended", "Enabled", ChangeKind.DESTRUCTIVE, "suspend-versioning"),
        ("encryption", "AES256", None, ChangeKind.UPDATE, "put-bucket-encryption"),
        ("encryption", None, "AES256", ChangeKind.DESTRUCTIVE, "remove-bucket-encryption"),
        (
            "lifecycle",
            [{"ID": "a", "Status": "Enabled", "Expiration": {"Days": 30}}],
            [{"ID": "a", "Status": "Enabled", "Expiration": {"Days": 365}}],
            ChangeKind.DESTRUCTIVE,
            "shorten-lifecycle-expiry",
        ),
        (
            "lifecycle",
            [{"ID": "a", "Status": "Enabled", "Expiration": {"Days": 365}}],
            [],
            ChangeKind.UPDATE,
            "put-bucket-lifecycle",
        ),
        (
            "replication",
            None,
            {"Role": "r", "Rules": []},
            ChangeKind.DESTRUCTIVE,
            "delete-bucket-replication",
        ),
        (
            "replication",
            {"Role": "r", "Rules": []},
            None,
            ChangeKind.CREATE,
            "put-bucket-replication",
        ),
        ("policy", None, {"Statement": []}, ChangeKind.UPDATE, "delete-bucket-policy"),
    ],
)
def test_verdicts(
    attribute: str, desired: object, live: object, kind: ChangeKind, action: str
) -> None:
    got_kind, got_action, reason = VERDICTS[attribute](SPEC, desired, live)
    assert (got_kind, got_action) == (kind, action)
    assert reason and "\n" not in reason


def test_with_bucket_and_without_bucket_leave_the_original_alone() -> None:
    d = define(DEV)
    assert len(d.without_bucket("bbws-logs-dev").buckets) == 5
    assert not d.with_bucket("bbws-logs-dev", versioning=False).bucket("bbws-logs-dev").versioning
    assert d.bucket("bbws-logs-dev").versioning
    with pytest.raises(KeyError):
        d.without_bucket("bbws-nope-dev")
