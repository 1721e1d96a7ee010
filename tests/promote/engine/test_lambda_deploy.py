"""The ``lambda.deploy`` step kind and the canary's alias shift, against moto's Lambda: create
or update, one published version per release, and an alias that remembers where it came from
when the engine repeats a step after a crash."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from promote.engine.steps import StepErrored, Target
from promote.engine.steps.lambda_deploy import deploy, shift
from promote.model.steps import LambdaDeploy

from .steps_support import step

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's
FUNCTION = "product-handler-sit"


def release(source: str) -> tuple[bytes, str]:
    """A release artifact: a zip with ``app.py``, and its hex sha256."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("app.py"), source)  # fixed date: the same bytes
    code = buffer.getvalue()
    return code, hashlib.sha256(code).hexdigest()


V1 = release("def handler(event, context):\n    return 1\n")
V2 = release("def handler(event, context):\n    return 2\n")


@pytest.fixture
def target(monkeypatch: pytest.MonkeyPatch) -> Iterator[Target]:
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        yield Target("sit", ACCOUNT, REGION, session, {"env": "sit"})


@pytest.fixture
def role(target: Target) -> str:
    """moto's Lambda wants a role that exists."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    answer = target.session.client("iam").create_role(
        RoleName="product-handler-sit", AssumeRolePolicyDocument=json.dumps(trust)
    )
    return str(answer["Role"]["Arn"])


def lambda_step(**fields: Any) -> LambdaDeploy:
    made = step(kind="lambda.deploy", function=FUNCTION, **fields)
    assert isinstance(made, LambdaDeploy)
    return made


def alias(target: Target, name: str = "live") -> tuple[str, dict[str, float]]:
    answer = target.session.client("lambda").get_alias(FunctionName=FUNCTION, Name=name)
    return answer["FunctionVersion"], dict(
        answer.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})
    )


def versions(target: Target) -> list[str]:
    answer = target.session.client("lambda").list_versions_by_function(FunctionName=FUNCTION)
    return [item["Version"] for item in answer["Versions"]]


def test_a_missing_function_is_created_with_its_alias_on_version_1(
    target: Target, role: str
) -> None:
    made = lambda_step(
        role=role, handler="app.handler", memory=512, function_timeout="30s",
        environment={"STAGE": "sit"},
    )  # fmt: skip
    outcome = deploy(made, target, REGION, *V1, "1.0.0")
    assert outcome.passed, outcome.summary
    assert outcome.outputs == {
        "function": FUNCTION,
        "alias": "live",
        "version": "1",
        "previous_version": "",
        "code_sha256": target.session.client("lambda").get_function(FunctionName=FUNCTION)[
            "Configuration"
        ]["CodeSha256"],
        "label": "1.0.0",
    }
    assert outcome.evidence["function"] == "created" and not outcome.evidence["version_reused"]
    assert outcome.evidence["function_arn"].endswith(f":function:{FUNCTION}")
    assert outcome.evidence["alias_before"] is None
    assert outcome.evidence["alias_after"]["version"] == "1"
    assert alias(target) == ("1", {})
    config = target.session.client("lambda").get_function_configuration(FunctionName=FUNCTION)
    assert (config["Handler"], config["MemorySize"], config["Timeout"]) == ("app.handler", 512, 30)
    assert config["Environment"]["Variables"] == {"STAGE": "sit"}
    published = target.session.client("lambda").get_function_configuration(
        FunctionName=FUNCTION, Qualifier="1"
    )
    assert published["Description"] == f"promote 1.0.0 sha256:{V1[1][:12]}"


def test_a_missing_function_without_role_or_handler_fails(target: Target, role: str) -> None:
    outcome = deploy(lambda_step(handler="app.handler"), target, REGION, *V1, "1.0.0")
    assert not outcome.passed
    assert "does not exist" in outcome.summary and "`role`" in outcome.summary
    assert "terraform" in outcome.summary
    no_handler = deploy(lambda_step(role=role), target, REGION, *V1, "1.0.0")
    assert not no_handler.passed and "`handler`" in no_handler.summary
    assert target.session.client("lambda").list_functions()["Functions"] == []


def test_a_second_release_publishes_version_2_and_moves_the_alias(
    target: Target, role: str
) -> None:
    made = lambda_step(role=role, handler="app.handler")
    deploy(made, target, REGION, *V1, "1.0.0")
    outcome = deploy(made, target, REGION, *V2, "1.1.0")
    assert outcome.passed, outcome.summary
    assert (outcome.outputs["version"], outcome.outputs["previous_version"]) == ("2", "1")
    assert outcome.evidence["function"] == "updated" and outcome.evidence["changes"] == ["code"]
    assert outcome.evidence["alias_before"]["version"] == "1"
    assert outcome.evidence["alias_after"]["version"] == "2"
    assert "alias live 1 -> 2" in outcome.summary
    assert alias(target) == ("2", {})
    assert versions(target) == ["$LATEST", "1", "2"]


def test_a_repeated_release_publishes_once_and_remembers_the_previous_version(
    target: Target, role: str
) -> None:
    made = lambda_step(role=role, handler="app.handler")
    first = deploy(made, target, REGION, *V1, "1.0.0")
    again = deploy(made, target, REGION, *V1, "1.0.0")
    assert first.outputs == again.outputs and again.outputs["previous_version"] == ""
    assert again.evidence["version_reused"] and again.evidence["function"] == "unchanged"

    second = deploy(made, target, REGION, *V2, "1.1.0")
    repeated = deploy(made, target, REGION, *V2, "1.1.0")  # the engine's retry after a crash
    assert repeated.passed and repeated.outputs == second.outputs
    assert (repeated.outputs["version"], repeated.outputs["previous_version"]) == ("2", "1")
    assert repeated.evidence["version_reused"] and repeated.evidence["changes"] == []
    assert repeated.evidence["alias_before"] == repeated.evidence["alias_after"]
    assert versions(target) == ["$LATEST", "1", "2"] and alias(target) == ("2", {})


def test_a_crash_after_the_code_update_publishes_the_release_once(
    target: Target, role: str
) -> None:
    made = lambda_step(role=role, handler="app.handler")
    deploy(made, target, REGION, *V1, "1.0.0")
    client = target.session.client("lambda")
    client.update_function_code(FunctionName=FUNCTION, ZipFile=V2[0])  # then the crash
    outcome = deploy(made, target, REGION, *V2, "1.1.0")
    assert outcome.evidence["changes"] == [] and not outcome.evidence["version_reused"]
    assert (outcome.outputs["version"], outcome.outputs["previous_version"]) == ("2", "1")
    assert versions(target) == ["$LATEST", "1", "2"]


def test_traffic_none_leaves_the_alias_to_the_canary_shifts(target: Target, role: str) -> None:
    deploy(lambda_step(role=role, handler="app.handler"), target, REGION, *V1, "1.0.0")
    canary = lambda_step(role=role, handler="app.handler", traffic="none")
    outcome = deploy(canary, target, REGION, *V2, "1.1.0")
    assert (outcome.outputs["version"], outcome.outputs["previous_version"]) == ("2", "1")
    assert alias(target) == ("1", {})

    ten = shift(target, REGION, FUNCTION, "live", "2", "1", 10)
    assert ten.passed and ten.outputs == {"weight": "10"} and ten.evidence["changed"]
    assert ten.evidence["alias_after"]["weights"] == {"2": 0.1}
    assert alias(target) == ("1", {"2": 0.1})
    assert not shift(target, REGION, FUNCTION, "live", "2", "1", 10).evidence["changed"]
    # Repeated mid-canary: the alias keeps its share, and the previous version is still 1.
    mid = deploy(canary, target, REGION, *V2, "1.1.0")
    assert mid.outputs["previous_version"] == "1" and alias(target) == ("1", {"2": 0.1})

    full = shift(target, REGION, FUNCTION, "live", "2", "1", 100)
    assert full.outputs == {"weight": "100"} and alias(target) == ("2", {})
    description = full.evidence["alias_after"]["description"]
    assert description == "promote previous=1 version=2 release=1.1.0"  # kept by the shifts
    # Repeated after the full shift: the alias is on 2, and its description still says 1.
    after = deploy(canary, target, REGION, *V2, "1.1.0")
    assert after.outputs["previous_version"] == "1" and alias(target) == ("2", {})
    assert versions(target) == ["$LATEST", "1", "2"]


def test_shift_without_a_previous_version_points_at_the_version(target: Target, role: str) -> None:
    deploy(lambda_step(role=role, handler="app.handler"), target, REGION, *V1, "1.0.0")
    deploy(lambda_step(traffic="none"), target, REGION, *V2, "1.1.0")
    assert shift(target, REGION, FUNCTION, "live", "2", None, 10).passed
    assert alias(target) == ("2", {})
    with pytest.raises(ValueError, match="percentage"):
        shift(target, REGION, FUNCTION, "live", "2", "1", 101)


def test_settings_are_updated_when_they_change(target: Target, role: str) -> None:
    deploy(
        lambda_step(role=role, handler="app.handler", environment={"STAGE": "sit"}),
        target, REGION, *V1, "1.0.0",
    )  # fmt: skip
    changed = lambda_step(role=role, handler="app.handler", environment={"STAGE": "uat"})
    outcome = deploy(changed, target, REGION, *V1, "1.0.1")
    assert outcome.evidence["function"] == "updated"
    assert outcome.evidence["changes"] == ["Environment"]
    client = target.session.client("lambda")
    config = client.get_function_configuration(FunctionName=FUNCTION)
    assert config["Environment"]["Variables"] == {"STAGE": "uat"}
    version = outcome.outputs["version"]
    assert client.get_function_configuration(FunctionName=FUNCTION, Qualifier=version)[
        "Environment"
    ]["Variables"] == {"STAGE": "uat"}


def test_without_role_only_stated_settings_change(target: Target, role: str) -> None:
    """Terraform owns a function promote did not create: the model's defaults touch nothing."""
    client = target.session.client("lambda")
    client.create_function(
        FunctionName=FUNCTION, Runtime="python3.12", Role=role, Handler="app.handler",
        Code={"ZipFile": V1[0]}, MemorySize=1024, Timeout=60,
        Environment={"Variables": {"TABLE": "products"}},
    )  # fmt: skip
    outcome = deploy(lambda_step(), target, REGION, *V2, "1.1.0")
    assert outcome.evidence["changes"] == ["code"]
    config = client.get_function_configuration(FunctionName=FUNCTION)
    assert (config["MemorySize"], config["Timeout"]) == (1024, 60)
    assert config["Environment"]["Variables"] == {"TABLE": "products"}
    more = deploy(lambda_step(memory=2048), target, REGION, *V2, "1.1.1")
    assert more.evidence["changes"] == ["MemorySize"]


def test_aws_failures_are_step_errored(target: Target) -> None:
    missing_role = f"arn:aws:iam::{ACCOUNT}:role/nobody"
    with pytest.raises(StepErrored, match="InvalidParameterValueException"):
        deploy(lambda_step(role=missing_role, handler="app.handler"), target, REGION, *V1, "1.0.0")
    with pytest.raises(StepErrored, match="ResourceNotFoundException"):
        shift(target, REGION, FUNCTION, "live", "2", "1", 10)
