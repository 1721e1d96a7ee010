"""The terraform step end to end: the durable engine, its real executor and the real
terraform binary, on ``terraform_data`` only (no provider can be downloaded here). A plan
that destroys a resource is flagged destructive and waits for its extra approval; nothing
is applied before it."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import boto3
import pytest

from promote.engine.aws import AwsExecutor
from promote.engine.phases import ProjectPhase, RunPhase
from promote.engine.runs import Engine
from promote.model import Estate, EstateSpec, Project

from . import SPEC, events, until

pytestmark = pytest.mark.skipif(
    shutil.which("terraform") is None,
    reason="terraform is not installed: the terraform step is tested with the real binary",
)

KEEP = 'resource "terraform_data" "keep" {\n  input = "kept"\n}\n'
DOOMED = 'resource "terraform_data" "doomed" {\n  input = "doomed"\n}\n'


def estate() -> Estate:
    project = {
        "name": "infra",
        "kind": "generic",
        "wave": "infra",
        "steps": [
            {
                "kind": "terraform",
                "name": "stack",
                "dir": "stack",
                "destructive_approval": ["tech_lead", "dba"],
            }
        ],
    }
    spec = EstateSpec.model_validate(copy.deepcopy(SPEC))
    return Estate(spec=spec, projects=(Project.model_validate(project),))


def state_of(stack: Path) -> set[str]:
    data = json.loads((stack / "terraform.tfstate.d" / "sit" / "terraform.tfstate").read_text())
    return {f"{r['type']}.{r['name']}" for r in data["resources"]}


def test_a_destructive_plan_waits_for_its_approvers_then_applies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("TF_WORKSPACE", "TF_DATA_DIR", "TF_CLI_ARGS", "TF_PLUGIN_CACHE_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(tmp_path / "terraformrc"))
    (tmp_path / "terraformrc").write_text("")
    monkeypatch.setenv("CHECKPOINT_DISABLE", "1")
    stack = tmp_path / "stack"
    stack.mkdir()
    (stack / "main.tf").write_text(KEEP + DOOMED)
    model = estate()
    executor = AwsExecutor(
        model,
        sessions=lambda env: boto3.Session(region_name="eu-west-1"),
        workdir=tmp_path,
        state_dir=tmp_path / "state",
    )
    with Engine(tmp_path / "state", executor=executor) as engine:
        first = engine.start_run(model, "sit", started_by="ann", estate_dir=tmp_path)
        assert engine.wait(first, timeout=60).phase is RunPhase.SUCCEEDED  # creates: no gate
        assert state_of(stack) == {"terraform_data.keep", "terraform_data.doomed"}

        (stack / "main.tf").write_text(KEEP)  # the next release destroys `doomed`
        second = engine.start_run(model, "sit", started_by="ann", estate_dir=tmp_path)
        status = until(
            engine, second, lambda s: s.projects["infra"].phase is ProjectPhase.WAITING_FOR_APPROVAL
        )
        assert status.waiting()["infra"] == (
            "waiting for destructive change: 1 of Tech Lead, 1 of DBA"
        )
        [requested] = events(engine, second, "approval.requested", "infra")
        assert requested["destroys"] == "terraform_data.doomed"
        [plan] = events(engine, second, "step.result", "infra")
        assert plan["outcome"]["outputs"]["destructive"] == "true"
        assert state_of(stack) == {"terraform_data.keep", "terraform_data.doomed"}  # not yet

        engine.approve(second, "infra", "bob")
        engine.approve(second, "infra", "dee")
        assert engine.wait(second, timeout=60).phase is RunPhase.SUCCEEDED
        assert state_of(stack) == {"terraform_data.keep"}
        [applied] = events(engine, second, "terraform.apply.result", "infra")
        assert applied["outcome"]["passed"]
