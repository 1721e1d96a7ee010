"""The durable engine with its real executor, promoting into a data-plane sandbox: an alias
shift that passes its smoke test, and one that fails it and is rolled back."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from pydantic import TypeAdapter

from promote.engine.aws import AwsExecutor
from promote.engine.journal import verify
from promote.engine.phases import ProjectPhase, RunPhase
from promote.engine.ports import Target
from promote.engine.runs import Engine
from promote.engine.workflow import journal_path
from promote.model import Check, Estate, EstateSpec, Project, SmokeTest
from promote.sandbox import Sandbox
from tests.promote.sandbox.conftest import AWS_VARIABLES, data_plane
from tests.promote.sandbox.functions import deploy, point_alias

from . import SPEC

FUNCTION = "shop-api-dev"  # the run promotes into dev
HEALTHY = """
import json, os

def handler(event, context):
    body = {"version": os.environ["AWS_LAMBDA_FUNCTION_VERSION"]}
    return {"statusCode": 200, "body": json.dumps(body)}
"""
BROKEN = """
def handler(event, context):
    return {"statusCode": 500, "body": "{}"}
"""


def estate(release: str) -> Estate:
    spec = copy.deepcopy(SPEC)
    api: dict[str, Any] = {
        "name": "api",
        "kind": "lambda-api",
        "wave": "apps",
        "vars": {"function": "shop-api-${env}", "release": release},
        "api": {"base_path": "/v1.0/shop", "function": "${function}"},
        "preconditions": [{"check": "lambda.alias_exists", "function": "${function}"}],
        "steps": [{"kind": "lambda.alias", "function": "${function}", "version": "${release}"}],
        "smoke_tests": [
            {
                "name": "health",
                "url": "https://${api_domain}/v1.0/shop/health",
                "expect": {"status": 200, "json": {"version": "${release}"}},
            }
        ],
        # The runbooks' rollback: the alias back to the version it pointed at before.
        "rollback": [{"kind": "lambda.alias", "function": "${function}"}],
    }
    web = {"name": "web", "kind": "generic", "wave": "apps", "depends_on": ["api"]}
    projects = (Project.model_validate(api), Project.model_validate(web))
    return Estate(spec=EstateSpec.model_validate(spec), projects=projects)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    model = estate("1")
    state = tmp_path_factory.mktemp("engine-sandbox")
    saved = {k: os.environ.pop(k) for k in AWS_VARIABLES if k in os.environ}
    with data_plane(model, state) as running:
        os.environ["AWS_CONFIG_FILE"] = str(state / "config")
        os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(state / "credentials")
        try:
            yield running
        finally:
            os.environ.pop("AWS_CONFIG_FILE")
            os.environ.pop("AWS_SHARED_CREDENTIALS_FILE")
            os.environ.update(saved)


def promote(sandbox: Sandbox, release: str, state: Path) -> tuple[Engine, str]:
    model = estate(release)
    gateway = sandbox.services.gateway
    executor = AwsExecutor(
        model, http_connect=("127.0.0.1", gateway.https_port), ca_file=gateway.ca_file
    )
    engine = Engine(state, executor=executor)
    return engine, engine.start_run(model, "dev", started_by="ann")


def test_a_release_that_passes_its_smoke_test_is_promoted(sandbox: Sandbox, tmp_path: Path) -> None:
    session = boto3.Session(profile_name="shop-dev")
    first = deploy(session, FUNCTION, HEALTHY)
    point_alias(session, FUNCTION, first)
    second = deploy(session, FUNCTION, HEALTHY + "\n# v2\n")

    engine, run_id = promote(sandbox, second, tmp_path / "state")
    try:
        status = engine.wait(run_id, timeout=60)
    finally:
        engine.close()

    assert status.phase is RunPhase.SUCCEEDED, status
    alias = session.client("lambda").get_alias(FunctionName=FUNCTION, Name="live")
    assert alias["FunctionVersion"] == second
    journal = journal_path(tmp_path / "state", run_id)
    assert verify(journal).ok
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    [smoke] = [e for e in events if e["kind"] == "smoke.result"]
    outcome = smoke["data"]["outcome"]
    assert outcome["passed"] is True and outcome["evidence"]["status"] == 200, smoke


def test_a_failing_smoke_test_rolls_the_alias_back_and_skips_dependents(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    session = boto3.Session(profile_name="shop-dev")
    name = FUNCTION
    good = deploy(session, name, HEALTHY + "\n# good\n")
    point_alias(session, name, good)
    bad = deploy(session, name, BROKEN)

    engine, run_id = promote(sandbox, bad, tmp_path / "state")
    try:
        status = engine.wait(run_id, timeout=60)
    finally:
        engine.close()

    assert status.phase is RunPhase.FAILED, status
    assert status.projects["api"].phase is ProjectPhase.ROLLED_BACK
    assert status.projects["web"].phase is ProjectPhase.SKIPPED
    alias = session.client("lambda").get_alias(FunctionName=name, Name="live")
    assert alias["FunctionVersion"] == good  # back where it was before the run
    assert verify(journal_path(tmp_path / "state", run_id)).ok


def test_an_environment_with_only_a_role_is_reached_by_assuming_it(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = copy.deepcopy(SPEC)
    role = "arn:aws:iam::111111111111:role/deployer"
    spec["environments"]["dev"]["credentials"] = {"role_arn": role}
    model = Estate(spec=EstateSpec.model_validate(spec), projects=())
    # The base credentials: the sandbox's own profile (its fake keys and endpoint).
    monkeypatch.setenv("AWS_PROFILE", "promote-sandbox")
    target = Target(run_id="r", project="p", environment="dev", account_id="111111111111",
                    region="eu-west-1")  # fmt: skip
    identity = TypeAdapter(Check).validate_python({"check": "aws.identity"})
    outcome = AwsExecutor(model).check(target, identity)
    assert outcome.passed, outcome  # STS says the session acts in the role's account


def test_evidence_is_redacted_before_it_is_checkpointed(sandbox: Sandbox) -> None:
    model = estate("1")
    executor = AwsExecutor(model, secrets=["s3cr3t"])
    smoke = SmokeTest.model_validate(
        {"name": "t", "url": "http://127.0.0.1:1/?token=s3cr3t", "headers": {"Cookie": "c=1"}}
    )
    target = Target(run_id="r", project="api", environment="dev", account_id="111111111111",
                    region="eu-west-1")  # fmt: skip
    outcome = executor.smoke_test(target, smoke)
    assert not outcome.passed
    assert "s3cr3t" not in json.dumps(outcome.to_json()) and "c=1" not in json.dumps(
        outcome.to_json()
    )


def test_a_bucket_without_its_public_access_block_stops_the_project_before_any_step(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    session = boto3.Session(profile_name="shop-dev")
    s3 = session.client("s3")
    s3.create_bucket(
        Bucket="site-dev", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    site = {
        "name": "site",
        "kind": "static-site",
        "wave": "apps",
        "preconditions": [{"check": "s3.public_access_blocked", "bucket": "site-${env}"}],
        "steps": [{"kind": "shell", "name": "upload", "command": "echo uploaded"}],
    }
    after = {"name": "after", "kind": "generic", "wave": "apps", "depends_on": ["site"]}
    spec = EstateSpec.model_validate(copy.deepcopy(SPEC))
    model = Estate(
        spec=spec, projects=(Project.model_validate(site), Project.model_validate(after))
    )
    engine = Engine(tmp_path / "state", executor=AwsExecutor(model))
    try:
        run_id = engine.start_run(model, "dev", started_by="ann")
        status = engine.wait(run_id, timeout=60)
        events = engine.control.journal(run_id).events()
    finally:
        engine.close()

    assert status.phase is RunPhase.FAILED
    site_status = status.projects["site"]
    assert site_status.phase is ProjectPhase.FAILED
    assert site_status.reason is not None and "check 1 failed" in site_status.reason
    assert status.projects["after"].phase is ProjectPhase.SKIPPED
    assert not [e for e in events if e["kind"] == "step.result"]  # nothing after it ran
