"""Shared by the step-port tests: a Target in SIT, acting through the sandbox's profiles."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
import pytest
from pydantic import TypeAdapter

from promote.engine.steps import Target
from promote.model.checks import Check
from promote.model.steps import Step
from promote.sandbox import Sandbox
from tests.promote.sandbox.conftest import AWS_VARIABLES

SIT = "815856636111"
REGION = "eu-west-1"
PROFILE = "Tebogo-sit"
API = "api.sit.kimmyai.io"

CHECK: TypeAdapter[Check] = TypeAdapter(Check)
STEP: TypeAdapter[Step] = TypeAdapter(Step)


def point_at(sandbox: Sandbox, patch: pytest.MonkeyPatch) -> None:
    """boto3 (and child processes) use the sandbox's profiles, and nothing else."""
    for name in AWS_VARIABLES:
        patch.delenv(name, raising=False)
    patch.setenv("AWS_CONFIG_FILE", str(sandbox.state_dir / "config"))
    patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(sandbox.state_dir / "credentials"))


def sit_target(
    variables: Mapping[str, str] | None = None,
    secrets: frozenset[str] = frozenset(),
    connect: tuple[str, int] | None = None,
    ca_file: Path | None = None,
) -> Target:
    scope = {"env": "sit", "account_id": SIT, "region": REGION, "profile": PROFILE}
    return Target(
        env="sit",
        account_id=SIT,
        region=REGION,
        session=boto3.Session(profile_name=PROFILE),
        variables={**scope, **(variables or {})},
        secrets=secrets,
        http_connect=connect,
        ca_file=ca_file,
    )


def check(**fields: Any) -> Check:
    return CHECK.validate_python(fields)


def step(**fields: Any) -> Step:
    return STEP.validate_python(fields)
