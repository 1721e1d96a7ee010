"""Step kinds and smoke tests against the data-plane sandbox: alias shifts, HTTP through the
TLS gateway, shell commands, S3 sync, and secrets kept out of every outcome."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import boto3
import pytest

from promote.cli import check_estate
from promote.engine.steps import (
    Outcome,
    StepErrored,
    Target,
    UnsupportedKind,
    run_smoke_test,
    run_step,
    shift_alias,
)
from promote.model.steps import SmokeTest
from promote.sandbox import Sandbox
from tests.promote.sandbox.conftest import BBWS, data_plane, free_port
from tests.promote.sandbox.functions import deploy, point_alias

from .steps_support import API, PROFILE, REGION, point_at, sit_target, step

TOKEN = "eyJhbGciOi.sandbox-secret-token.c2lnbmF0dXJl"
FUNCTION = "product-handler-sit"
# Echoes what it was sent, so a leaked Authorization header would show in the evidence.
ECHO = """
import json, os

def handler(event, context):
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    body = {"path": event["path"], "version": os.environ["AWS_LAMBDA_FUNCTION_VERSION"],
            "auth": headers.get("authorization"), "data": {"id": "p-42", "tags": ["a", "b"]}}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps(body)}
"""


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    estate, _, _ = check_estate(BBWS)
    assert estate is not None
    state_dir = tmp_path_factory.mktemp("step-kinds") / "state"
    with data_plane(estate, state_dir) as running:
        yield running


@pytest.fixture(scope="module")
def versions(sandbox: Sandbox) -> Iterator[tuple[str, str]]:
    """The products function with versions 1 and 2, its alias `live` on 1."""
    with pytest.MonkeyPatch.context() as patch:
        point_at(sandbox, patch)
        session = boto3.Session(profile_name=PROFILE)
        first = deploy(session, FUNCTION, ECHO)
        second = deploy(session, FUNCTION, ECHO + "\n# v2\n")
        point_alias(session, FUNCTION, first)
        yield first, second


@pytest.fixture
def target(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Target:
    point_at(sandbox, monkeypatch)
    gateway = sandbox.services.gateway
    return sit_target(
        {"api_domain": API, "token": TOKEN, "run_id": "run-1"},
        secrets=frozenset({TOKEN}),
        connect=("127.0.0.1", gateway.https_port),
        ca_file=gateway.ca_file,
    )


def _alias(target: Target) -> tuple[str, dict[str, float]]:
    alias = target.session.client("lambda").get_alias(FunctionName=FUNCTION, Name="live")
    return alias["FunctionVersion"], dict(
        alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})
    )


def test_an_alias_shifts_weight_then_version_and_repeats_as_no_op(
    target: Target, versions: tuple[str, str]
) -> None:
    first, second = versions
    canary = shift_alias(target, FUNCTION, "live", first, weights={second: 0.25})
    assert canary.evidence["changed"] and _alias(target) == (first, {second: 0.25})
    again = shift_alias(target, FUNCTION, "live", first, weights={second: 0.25})
    assert again.passed and not again.evidence["changed"] and "already so" in again.summary

    promote = step(kind="lambda.alias", function=FUNCTION, version="${version}")
    full = run_step(replace_vars(target, version=second), promote)
    assert full.passed and full.evidence["changed"]
    assert _alias(target) == (second, {})
    assert full.outputs == {"version": second, "previous_version": first}
    assert not run_step(replace_vars(target, version=second), promote).evidence["changed"]

    rollback = step(kind="lambda.alias", function=FUNCTION)  # version: ${previous_version}
    assert run_step(replace_vars(target, previous_version=first), rollback).passed
    assert _alias(target) == (first, {})


def replace_vars(target: Target, **values: str) -> Target:
    return replace(target, variables={**target.variables, **values})


def test_an_alias_step_without_its_variable_fails_and_a_missing_function_errors(
    target: Target, versions: tuple[str, str]
) -> None:
    undefined = run_step(target, step(kind="lambda.alias", function=FUNCTION))
    assert not undefined.passed and "undefined variable ${previous_version}" in undefined.summary
    with pytest.raises(StepErrored) as raised:
        run_step(target, step(kind="lambda.alias", function="nobody-sit", version="1"))
    assert raised.value.code == "PRM030" and "ResourceNotFoundException" in str(raised.value)


def _smoke(**fields: object) -> SmokeTest:
    base = {
        "name": "products health",
        "url": "https://${api_domain}/v1.0/products/health",
        "headers": {"Authorization": "Bearer ${token}"},
    }
    return SmokeTest.model_validate({**base, **fields})


def _no_secret(outcome: Outcome) -> None:
    dumped = json.dumps(asdict(outcome))
    assert TOKEN not in dumped
    assert "***" in dumped


def test_a_smoke_test_captures_checks_json_and_keeps_the_token_out(
    target: Target, versions: tuple[str, str]
) -> None:
    test = _smoke(
        expect={"status": 200, "json": {"path": "/v1.0/products/health", "data.tags.1": "b"}},
        capture={"product_id": "data.id", "served_by": "version"},
        latency_budget="5s",
    )
    outcome = run_smoke_test(target, test)
    assert outcome.passed, outcome.summary
    assert outcome.outputs == {"product_id": "p-42", "served_by": versions[0]}
    assert outcome.evidence["status"] == 200 and outcome.evidence["latency_ms"] > 0
    assert outcome.evidence["request_headers"] == {"Authorization": "***"}
    _no_secret(outcome)  # the function echoed the token in its body: redacted there too


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"expect": {"status": [201, 202]}}, "status 200, expected 201 or 202"),
        ({"expect": {"json": {"data.id": "p-1"}}}, "`data.id` is 'p-42', expected 'p-1'"),
        ({"expect": {"headers": {"content-type": "text/html"}}}, "header content-type"),
        ({"expect": {"body_contains": "unicorn"}}, "does not contain 'unicorn'"),
        ({"latency_budget": "1ms"}, "over the 1 ms budget"),
        ({"capture": {"x": "data.missing"}}, "capture `x`"),
        ({"url": "https://${api_domain}/v1.0/${nope}"}, "undefined variable ${nope}"),
    ],
)
def test_a_smoke_test_fails_for_the_right_reason(
    target: Target, versions: tuple[str, str], fields: dict[str, object], reason: str
) -> None:
    outcome = run_smoke_test(target, _smoke(**fields))
    assert not outcome.passed
    assert reason in outcome.summary
    assert TOKEN not in json.dumps(asdict(outcome))


def test_an_http_step_is_a_smoke_test_and_no_reply_is_a_failure(
    target: Target, versions: tuple[str, str]
) -> None:
    http = step(
        kind="http",
        method="post",
        url="https://${api_domain}/v1.0/products",
        headers={"Authorization": "Bearer ${token}"},
        json={"name": "widget"},
        capture={"id": "data.id"},
    )
    outcome = run_step(target, http)
    assert outcome.passed and outcome.outputs == {"id": "p-42"}
    _no_secret(outcome)
    closed = step(kind="http", url="http://api.example.test/")
    # In the sandbox, plain http goes to the gateway's plain port: here, one nobody serves.
    with pytest.raises(ValueError, match="no gateway port for http"):
        run_step(target, closed)  # never to the real host
    nobody = dataclasses.replace(target, plain_http_connect=("127.0.0.1", free_port()))
    refused = run_step(nobody, closed)
    assert not refused.passed and "no reply (ConnectionRefusedError" in refused.summary


def test_a_check_step_delegates(target: Target, versions: tuple[str, str]) -> None:
    alias = {"check": "lambda.alias_exists", "function": FUNCTION}
    assert run_step(target, step(kind="check", that=alias)).passed
    missing = {**alias, "alias": "nope"}
    assert not run_step(target, step(kind="check", that=missing)).passed


def test_a_shell_step_acts_in_the_target_account_and_redacts(target: Target) -> None:
    script = (
        f"{sys.executable} -c \"import boto3; print(boto3.client('sts')"
        ".get_caller_identity()['Account'])\"; echo $GREETING $AWS_REGION; echo ${token} >&2"
    )
    outcome = run_step(target, step(kind="shell", command=script, env={"GREETING": "hi ${env}"}))
    assert outcome.passed, outcome.evidence
    assert outcome.evidence["stdout"].split() == ["815856636111", "hi", "sit", REGION]
    assert outcome.evidence["stderr"].strip() == "***"
    _no_secret(outcome)


def test_a_shell_step_fails_on_exit_status_and_timeout(target: Target) -> None:
    exited = run_step(target, step(kind="shell", command="echo no; exit 3"))
    assert not exited.passed and exited.evidence["exit_code"] == 3 and "exited 3" in exited.summary
    slow = run_step(target, step(kind="shell", command="sleep 5", timeout="300ms"))
    assert not slow.passed and "timed out" in slow.summary
    # `$${X}` is the shell's own variable, left for the shell.
    literal = run_step(target, step(kind="shell", command="X=own; echo $${X}"))
    assert literal.evidence["stdout"].strip() == "own"


def test_s3_sync_uploads_with_cache_rules_and_skips_what_is_unchanged(
    target: Target, tmp_path: Path
) -> None:
    s3 = target.session.client("s3")
    s3.create_bucket(
        Bucket="web-sync-sit", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    (tmp_path / "img").mkdir()
    (tmp_path / "index.html").write_text("<h1>v1</h1>")
    (tmp_path / "app.js").write_text("console.log(1)")
    (tmp_path / "img" / "logo.svg").write_text("<svg/>")
    sync = step(
        kind="s3.sync",
        source=str(tmp_path),
        bucket="web-sync-${env}",
        prefix="site",
        delete=True,
        cache_control=[
            {"pattern": "*.html", "cache_control": "no-cache"},
            {"pattern": "*", "cache_control": "max-age=31536000"},
        ],
    )
    first = run_step(target, sync)
    assert first.evidence["counts"] == {"uploaded": 3, "unchanged": 0, "deleted": 0}
    index = s3.head_object(Bucket="web-sync-sit", Key="site/index.html")
    assert (index["CacheControl"], index["ContentType"]) == ("no-cache", "text/html")
    logo = s3.head_object(Bucket="web-sync-sit", Key="site/img/logo.svg")
    assert logo["CacheControl"] == "max-age=31536000"

    assert run_step(target, sync).evidence["counts"] == {
        "uploaded": 0,
        "unchanged": 3,
        "deleted": 0,
    }
    (tmp_path / "index.html").write_text("<h1>v2</h1>")
    (tmp_path / "app.js").unlink()
    third = run_step(target, sync)
    assert third.evidence["counts"] == {"uploaded": 1, "unchanged": 1, "deleted": 1}
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="web-sync-sit")["Contents"]]
    assert sorted(keys) == ["site/img/logo.svg", "site/index.html"]


def test_an_invalidation_of_an_unknown_distribution_errors(target: Target) -> None:
    with pytest.raises(StepErrored, match="no CloudFront distribution"):
        run_step(target, step(kind="cloudfront.invalidate", distribution="cdn.sit.kimmyai.io"))


def test_manual_steps_are_the_engines_to_run(target: Target) -> None:
    with pytest.raises(UnsupportedKind):
        run_step(target, step(kind="manual", instructions="approve the CR"))


def test_lambda_deploy_without_a_built_artifact_fails_and_says_why(target: Target) -> None:
    outcome = run_step(target, step(kind="lambda.deploy", function=FUNCTION))
    assert not outcome.passed
    assert "give the project an `artifact:`" in outcome.summary


def test_an_invalidation_finds_the_distribution_by_its_alias(target: Target) -> None:
    cloudfront = target.session.client("cloudfront", region_name="us-east-1")
    origin = {
        "Id": "web",
        "DomainName": "web-sit.s3.amazonaws.com",
        "S3OriginConfig": {"OriginAccessIdentity": ""},
    }
    config: Any = {
        "CallerReference": "cdn-sit",
        "Aliases": {"Quantity": 1, "Items": ["cdn.sit.kimmyai.io"]},
        "Origins": {"Quantity": 1, "Items": [origin]},
        "DefaultCacheBehavior": {"TargetOriginId": "web", "ViewerProtocolPolicy": "allow-all"},
        "Comment": "",
        "Enabled": True,
    }
    created = cloudfront.create_distribution(DistributionConfig=config)
    distribution = created["Distribution"]["Id"]
    outcome = run_step(
        target,
        step(
            kind="cloudfront.invalidate", distribution="cdn.sit.kimmyai.io", paths=["/index.html"]
        ),
    )
    assert outcome.passed and outcome.evidence["distribution"] == distribution
    listed = cloudfront.list_invalidations(DistributionId=distribution)["InvalidationList"]
    assert [i["Id"] for i in listed["Items"]] == [outcome.outputs["invalidation_id"]]


def test_a_cold_start_over_a_latency_budget_is_judged_on_a_second_request(
    target: Target, versions: tuple[str, str]
) -> None:
    session = target.session
    slow_once = """
import json, os, time
first = True
def handler(event, context):
    global first
    if first:
        first = False
        time.sleep(0.6)  # what a cold start costs, once per worker
    return {"statusCode": 200, "body": json.dumps({"ok": True})}
"""
    version = deploy(session, FUNCTION, slow_once)  # a version of its own, with a cold start
    lam = session.client("lambda")
    lam.update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion=version)
    try:
        outcome = run_step(target, step(kind="http", url="https://${api_domain}/v1.0/products/x",
                                        latency_budget="500ms"))  # fmt: skip
    finally:
        lam.update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion=versions[0])
    assert outcome.passed, outcome.summary
    assert outcome.evidence["first_attempt"]["ms"] >= 500
    post = _smoke(method="POST", latency_budget="1ms", url="https://${api_domain}/v1.0/products")
    refused = run_step(
        target, step(kind="http", **post.model_dump(by_alias=True, exclude={"name"}))
    )
    assert not refused.passed and "first_attempt" not in refused.evidence  # never repeated


def test_rolling_back_to_no_version_removes_the_alias_the_release_created(
    target: Target, versions: tuple[str, str]
) -> None:
    session = target.session
    version = deploy(session, "brand-new-sit", ECHO)
    point_alias(session, "brand-new-sit", version)
    rollback = step(kind="lambda.alias", function="brand-new-sit")
    outcome = run_step(replace_vars(target, previous_version=""), rollback)
    assert outcome.passed and outcome.evidence["removed"]
    assert "removed" in outcome.summary
    with pytest.raises(session.client("lambda").exceptions.ResourceNotFoundException):
        session.client("lambda").get_alias(FunctionName="brand-new-sit", Name="live")
    assert run_step(replace_vars(target, previous_version=""), rollback).passed  # idempotent
