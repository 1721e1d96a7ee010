"""CloudFront origin access identities in the sandbox (promote.sandbox.moto_oai), through boto3
with the sandbox's profiles, as the S3 stack and backend_public use them."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from promote.cli import check_estate
from promote.sandbox import Sandbox

from .conftest import BBWS, data_plane

ROOT = "https://cloudfront.amazonaws.com/2020-05-31/origin-access-identity/cloudfront"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """Overrides conftest's: the estate's sandbox with its data plane, which installs the OAI
    API at start (before any CloudFront request), as `promote sandbox up` runs it."""
    estate, _, _ = check_estate(BBWS)
    assert estate is not None
    with data_plane(estate, tmp_path_factory.mktemp("oai") / "state") as running:
        yield running


def cloudfront(profile: str = "Tebogo-dev") -> Any:
    return boto3.Session(profile_name=profile).client("cloudfront")


def create(client: Any, reference: str, comment: str) -> Any:
    return client.create_cloud_front_origin_access_identity(
        CloudFrontOriginAccessIdentityConfig={"CallerReference": reference, "Comment": comment}
    )


def code(error: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    answer: Any = error.value.response
    return answer["Error"]["Code"], answer["ResponseMetadata"]["HTTPStatusCode"]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_create_answers_cloudfronts_shape_and_get_list_agree(aws_env: Sandbox) -> None:
    client = cloudfront()
    reference = unique("bbws-cdn-dev")
    made = create(client, reference, "bbws-cdn-dev")

    assert made["ResponseMetadata"]["HTTPStatusCode"] == 201
    identity = made["CloudFrontOriginAccessIdentity"]
    oai_id = identity["Id"]
    assert re.fullmatch(r"E[A-Z0-9]{13}", oai_id)
    assert re.fullmatch(r"[0-9a-f]{96}", identity["S3CanonicalUserId"])
    assert identity["CloudFrontOriginAccessIdentityConfig"] == {
        "CallerReference": reference,
        "Comment": "bbws-cdn-dev",
    }
    assert made["Location"] == f"{ROOT}/{oai_id}"
    assert made["ETag"]

    got = client.get_cloud_front_origin_access_identity(Id=oai_id)
    assert got["CloudFrontOriginAccessIdentity"] == identity
    assert got["ETag"] == made["ETag"]
    config = client.get_cloud_front_origin_access_identity_config(Id=oai_id)
    assert config["CloudFrontOriginAccessIdentityConfig"] == {
        "CallerReference": reference,
        "Comment": "bbws-cdn-dev",
    }
    assert config["ETag"] == made["ETag"]
    # As bbws.schemas.s3 reads them: the paginator, summaries with the comment.
    pages = client.get_paginator("list_cloud_front_origin_access_identities").paginate()
    summaries = [s for page in pages for s in page["CloudFrontOriginAccessIdentityList"]["Items"]]
    assert {
        "Id": oai_id,
        "S3CanonicalUserId": identity["S3CanonicalUserId"],
        "Comment": "bbws-cdn-dev",
    } in summaries


def test_the_same_caller_reference_and_config_answer_the_same_identity(aws_env: Sandbox) -> None:
    client = cloudfront()
    reference = unique("ref")
    first = create(client, reference, "same")
    again = create(client, reference, "same")

    assert again["CloudFrontOriginAccessIdentity"] == first["CloudFrontOriginAccessIdentity"]
    assert again["ETag"] == first["ETag"]
    with pytest.raises(ClientError) as other:
        create(client, reference, "another comment")
    assert code(other) == ("CloudFrontOriginAccessIdentityAlreadyExists", 409)


def test_identities_are_per_account(aws_env: Sandbox) -> None:
    dev, sit = cloudfront("Tebogo-dev"), cloudfront("Tebogo-sit")
    made = create(dev, unique("dev-only"), "dev-only")["CloudFrontOriginAccessIdentity"]

    listed = sit.list_cloud_front_origin_access_identities()["CloudFrontOriginAccessIdentityList"]
    assert made["Id"] not in [item["Id"] for item in listed.get("Items", [])]
    with pytest.raises(ClientError) as missing:
        sit.get_cloud_front_origin_access_identity(Id=made["Id"])
    assert code(missing) == ("NoSuchCloudFrontOriginAccessIdentity", 404)


def test_update_and_delete_need_the_current_etag(aws_env: Sandbox) -> None:
    client = cloudfront()
    reference = unique("etag")
    made = create(client, reference, "before")
    oai_id, etag = made["CloudFrontOriginAccessIdentity"]["Id"], made["ETag"]
    config = {"CallerReference": reference, "Comment": "after"}

    with pytest.raises(ClientError) as without:
        client.update_cloud_front_origin_access_identity(
            Id=oai_id, IfMatch="", CloudFrontOriginAccessIdentityConfig=config
        )
    assert code(without) == ("InvalidIfMatchVersion", 400)
    with pytest.raises(ClientError) as renamed:
        client.update_cloud_front_origin_access_identity(
            Id=oai_id,
            IfMatch=etag,
            CloudFrontOriginAccessIdentityConfig={**config, "CallerReference": "other"},
        )
    assert code(renamed) == ("IllegalUpdate", 400)

    updated = client.update_cloud_front_origin_access_identity(
        Id=oai_id, IfMatch=etag, CloudFrontOriginAccessIdentityConfig=config
    )
    assert updated["CloudFrontOriginAccessIdentity"]["CloudFrontOriginAccessIdentityConfig"] == (
        config
    )
    assert updated["ETag"] != etag
    assert (
        updated["CloudFrontOriginAccessIdentity"]["S3CanonicalUserId"]
        == made["CloudFrontOriginAccessIdentity"]["S3CanonicalUserId"]
    )

    with pytest.raises(ClientError) as stale:
        client.delete_cloud_front_origin_access_identity(Id=oai_id, IfMatch=etag)
    assert code(stale) == ("PreconditionFailed", 412)
    deleted = client.delete_cloud_front_origin_access_identity(Id=oai_id, IfMatch=updated["ETag"])
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as gone:
        client.get_cloud_front_origin_access_identity_config(Id=oai_id)
    assert code(gone) == ("NoSuchCloudFrontOriginAccessIdentity", 404)


def test_a_distribution_reads_its_s3_origin_through_the_identity(aws_env: Sandbox) -> None:
    client = cloudfront()
    made = create(client, unique("cdn"), "cdn")
    oai_id, etag = made["CloudFrontOriginAccessIdentity"]["Id"], made["ETag"]
    named = f"origin-access-identity/cloudfront/{oai_id}"
    reference = unique("site")
    distribution = client.create_distribution(
        DistributionConfig={
            "CallerReference": reference,
            "Comment": reference,
            "Enabled": True,
            "Origins": {
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "site",
                        "DomainName": "oai-site.s3.eu-west-1.amazonaws.com",
                        "S3OriginConfig": {"OriginAccessIdentity": named},
                    }
                ],
            },
            "DefaultCacheBehavior": {
                "TargetOriginId": "site",
                "ViewerProtocolPolicy": "redirect-to-https",
                "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
            },
        }
    )["Distribution"]

    config = client.get_distribution_config(Id=distribution["Id"])["DistributionConfig"]
    (origin,) = config["Origins"]["Items"]
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": named}
    with pytest.raises(ClientError) as in_use:
        client.delete_cloud_front_origin_access_identity(Id=oai_id, IfMatch=etag)
    assert code(in_use) == ("CloudFrontOriginAccessIdentityInUse", 409)


def test_the_list_pages_with_markers(aws_env: Sandbox) -> None:
    client = cloudfront("Tebogo-prod")
    made = [create(client, unique("page"), f"page {n}") for n in range(3)]
    ids = [m["CloudFrontOriginAccessIdentity"]["Id"] for m in made]

    first = client.list_cloud_front_origin_access_identities(MaxItems="2")[
        "CloudFrontOriginAccessIdentityList"
    ]
    assert (first["IsTruncated"], first["Quantity"], first["MaxItems"]) == (True, 2, 2)
    assert first["NextMarker"] == first["Items"][-1]["Id"]
    rest = client.list_cloud_front_origin_access_identities(
        Marker=first["NextMarker"], MaxItems="2"
    )["CloudFrontOriginAccessIdentityList"]
    assert rest["IsTruncated"] is False and "NextMarker" not in rest
    assert [i["Id"] for i in first["Items"] + rest["Items"]] == ids
