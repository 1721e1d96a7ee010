"""The terraform step kind against the real binary, with only the built-in ``terraform_data``
resource: no provider to download, no network, state in the checkout's local backend."""

from __future__ import annotations

import json
import shutil
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from promote.engine.steps.port import Outcome, StepErrored, Target
from promote.engine.steps.terraform import apply, plan
from promote.model.steps import TerraformStep

pytestmark = pytest.mark.skipif(
    shutil.which("terraform") is None,
    reason="terraform is not installed: the terraform step kind is tested with the real binary",
)

REGION = "eu-west-1"
# `version` is a reserved variable name in terraform, so the release is `release`.
CONFIG = """
variable "release" {
  type    = string
  default = "0"
}

resource "terraform_data" "app" {
  input            = var.release
  triggers_replace = ["%s"]
}

resource "terraform_data" "extra" {
  input = "extra"
}
"""


@pytest.fixture(autouse=True)
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Terraform as a clean CI runner has it: no CLI config, plugin cache or version check."""
    for name in ("TF_PLUGIN_CACHE_DIR", "TF_WORKSPACE", "TF_DATA_DIR", "TF_CLI_ARGS"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "terraformrc"
    config.write_text("")
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(config))
    monkeypatch.setenv("CHECKPOINT_DISABLE", "1")


def target(workdir: Path) -> Target:
    return Target(
        env="sit",
        account_id="222222222222",
        region=REGION,
        session=boto3.Session(region_name=REGION),
        variables={"profile": "x"},
        workdir=workdir,
    )


def infra(tmp_path: Path, config: str) -> Path:
    directory = tmp_path / "infra"
    directory.mkdir(exist_ok=True)
    (directory / "main.tf").write_text(config)
    return directory


def tf(workspace: str = "sit", **fields: Any) -> TerraformStep:
    return TerraformStep(kind="terraform", dir="infra", workspace=workspace, **fields)


def planned(tmp_path: Path, step: TerraformStep, plans: str = "plans") -> Outcome:
    outcome = plan(step, target(tmp_path), REGION, tmp_path / plans)
    assert outcome.passed, outcome
    return outcome


def applied(tmp_path: Path, step: TerraformStep, plans: str = "plans") -> Outcome:
    outcome = planned(tmp_path, step, plans)
    result = apply(step, target(tmp_path), REGION, Path(outcome.outputs["plan_file"]))
    assert result.passed, result
    assert result.evidence["applied"] is True
    return result


def state(tmp_path: Path, workspace: str = "sit") -> dict[str, dict[str, Any]]:
    """Each resource's attributes, by address, in the workspace's local state."""
    path = tmp_path / "infra" / "terraform.tfstate.d" / workspace / "terraform.tfstate"
    resources = json.loads(path.read_text())["resources"]
    return {f"{r['type']}.{r['name']}": r["instances"][0]["attributes"] for r in resources}


def test_a_first_plan_creates_and_apply_writes_the_workspace_state(tmp_path: Path) -> None:
    infra(tmp_path, CONFIG % "a")
    outcome = planned(tmp_path, tf())

    plan_file = Path(outcome.outputs["plan_file"])
    assert plan_file.is_file() and plan_file.parent == tmp_path / "plans"
    assert outcome.outputs == {
        "plan_file": str(plan_file), "destructive": "false", "changes": "2"
    }  # fmt: skip
    assert all(isinstance(value, str) for value in outcome.outputs.values())
    assert outcome.evidence["changes"] == [
        {"address": "terraform_data.app", "actions": ["create"]},
        {"address": "terraform_data.extra", "actions": ["create"]},
    ]
    assert outcome.evidence["destructive"] == []
    assert outcome.evidence["counts"] == {
        "add": 2, "change": 0, "destroy": 0, "replace": 0, "forget": 0
    }  # fmt: skip
    assert outcome.evidence["dir"] == "infra" and outcome.evidence["workspace"] == "sit"
    assert "2 to add" in outcome.summary and "$ terraform plan" in outcome.evidence["stdout"]

    result = apply(tf(), target(tmp_path), REGION, plan_file)

    assert result.passed and result.evidence["applied"] is True, result
    assert set(state(tmp_path)) == {"terraform_data.app", "terraform_data.extra"}
    assert not (tmp_path / "infra" / "terraform.tfstate").exists()  # not the default workspace
    again = planned(tmp_path, tf())
    assert again.outputs["changes"] == "0" and again.evidence["changes"] == []
    assert again.summary.endswith("no changes")


def test_a_saved_plan_is_applied_once(tmp_path: Path) -> None:
    infra(tmp_path, CONFIG % "a")
    outcome = planned(tmp_path, tf())
    plan_file = Path(outcome.outputs["plan_file"])
    apply(tf(), target(tmp_path), REGION, plan_file)
    ids = {address: attrs["id"] for address, attrs in state(tmp_path).items()}

    again = apply(tf(), target(tmp_path), REGION, plan_file)

    assert again.passed and again.evidence["applied"] is False, again
    assert "already applied" in again.summary and "stale" not in again.evidence
    assert {address: attrs["id"] for address, attrs in state(tmp_path).items()} == ids


def test_a_stale_plan_already_in_the_state_passes(tmp_path: Path) -> None:
    """The apply that died before writing its marker: terraform calls the plan stale."""
    infra(tmp_path, CONFIG % "a")
    plan_file = Path(planned(tmp_path, tf()).outputs["plan_file"])
    apply(tf(), target(tmp_path), REGION, plan_file)
    ids = {address: attrs["id"] for address, attrs in state(tmp_path).items()}
    plan_file.with_name(plan_file.name + ".applied").unlink()

    again = apply(tf(), target(tmp_path), REGION, plan_file)

    assert again.passed and again.evidence["stale"] is True, again
    assert again.evidence["applied"] is False and "already applied" in again.summary
    assert {address: attrs["id"] for address, attrs in state(tmp_path).items()} == ids
    # Now marked: a third call does not run terraform at all.
    third = apply(tf(), target(tmp_path), REGION, plan_file)
    assert third.passed and "stale" not in third.evidence


def test_a_stale_plan_with_other_changes_left_fails(tmp_path: Path) -> None:
    infra(tmp_path, CONFIG % "a")
    old = tmp_path / "old.tfplan"
    shutil.copy(planned(tmp_path, tf()).outputs["plan_file"], old)
    applied(tmp_path, tf())
    infra(tmp_path, CONFIG % "b")  # the state no longer matches the config

    result = apply(tf(), target(tmp_path), REGION, old)

    assert not result.passed and result.evidence["stale"] is True, result
    assert "plan again" in result.summary
    assert not old.with_name(old.name + ".applied").exists()


def test_a_replace_is_destructive(tmp_path: Path) -> None:
    infra(tmp_path, CONFIG % "a")
    applied(tmp_path, tf())
    infra(tmp_path, CONFIG % "b")

    outcome = planned(tmp_path, tf())

    assert outcome.outputs["destructive"] == "true" and outcome.outputs["changes"] == "1"
    assert outcome.evidence["destructive"] == ["terraform_data.app"]
    assert outcome.evidence["changes"] == [
        {"address": "terraform_data.app", "actions": ["delete", "create"]}
    ]
    assert outcome.evidence["counts"]["replace"] == 1
    assert "destructive: terraform_data.app" in outcome.summary


def test_a_delete_is_destructive(tmp_path: Path) -> None:
    infra(tmp_path, CONFIG % "a")
    applied(tmp_path, tf())
    infra(tmp_path, CONFIG.split('resource "terraform_data" "extra"')[0] % "a")

    outcome = planned(tmp_path, tf())

    assert outcome.outputs["destructive"] == "true"
    assert outcome.evidence["changes"] == [
        {"address": "terraform_data.extra", "actions": ["delete"]}
    ]
    assert outcome.evidence["destructive"] == ["terraform_data.extra"]
    assert outcome.evidence["counts"]["destroy"] == 1


def test_an_in_place_update_is_not_destructive(tmp_path: Path) -> None:
    infra(tmp_path, CONFIG % "a")
    applied(tmp_path, tf(vars={"release": "1"}))

    outcome = planned(tmp_path, tf(vars={"release": "2"}))

    assert outcome.outputs["destructive"] == "false" and outcome.outputs["changes"] == "1"
    assert outcome.evidence["changes"] == [{"address": "terraform_data.app", "actions": ["update"]}]


def test_vars_reach_the_configuration(tmp_path: Path) -> None:
    infra(tmp_path, CONFIG % "a")

    applied(tmp_path, tf(vars={"release": "1.2.3"}))

    assert state(tmp_path)["terraform_data.app"]["input"]["value"] == "1.2.3"


def test_each_workspace_keeps_its_own_state(tmp_path: Path) -> None:
    """Planning UAT in the same checkout selects its workspace; SIT's plan still applies to
    SIT."""
    infra(tmp_path, CONFIG % "a")
    sit = planned(tmp_path, tf(vars={"release": "sit"}), plans="sit")
    planned(tmp_path, tf("uat", vars={"release": "uat"}), plans="uat")
    assert (tmp_path / "infra" / ".terraform" / "environment").read_text() == "uat"

    result = apply(
        tf(vars={"release": "sit"}), target(tmp_path), REGION, Path(sit.outputs["plan_file"])
    )

    assert result.passed, result
    assert state(tmp_path, "sit")["terraform_data.app"]["input"]["value"] == "sit"
    assert not (tmp_path / "infra" / "terraform.tfstate.d" / "uat" / "terraform.tfstate").exists()


def test_a_repeated_plan_forgets_the_applied_marker(tmp_path: Path) -> None:
    infra(tmp_path, CONFIG % "a")
    applied(tmp_path, tf())
    infra(tmp_path, CONFIG % "b")

    outcome = planned(tmp_path, tf())
    plan_file = Path(outcome.outputs["plan_file"])
    assert not plan_file.with_name(plan_file.name + ".applied").exists()
    result = apply(tf(), target(tmp_path), REGION, plan_file)

    assert result.evidence["applied"] is True, result
    assert planned(tmp_path, tf()).outputs["changes"] == "0"


def test_an_invalid_configuration_fails(tmp_path: Path) -> None:
    infra(tmp_path, 'resource "terraform_data" "app" {\n  no_such_argument = 1\n}\n')

    outcome = plan(tf(), target(tmp_path), REGION, tmp_path / "plans")

    assert not outcome.passed and outcome.outputs == {}
    assert outcome.evidence["exit_code"] == 1
    assert "Unsupported argument" in outcome.evidence["stderr"]
    assert not list((tmp_path / "plans").glob("*.tfplan"))


def test_a_missing_binary_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    infra(tmp_path, CONFIG % "a")
    with pytest.raises(StepErrored, match="terraform is not installed"):
        plan(tf(), target(tmp_path), REGION, tmp_path / "plans", binary="/nonexistent/terraform")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(StepErrored, match="terraform is not installed") as raised:
        apply(tf(), target(tmp_path), REGION, tmp_path / "plans" / "x.tfplan")
    assert raised.value.code == "PRM030"


def test_a_missing_directory_or_plan_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(StepErrored, match="does not exist"):
        plan(tf(), target(tmp_path), REGION, tmp_path / "plans")
    infra(tmp_path, CONFIG % "a")
    with pytest.raises(StepErrored, match="no plan file"):
        apply(tf(), target(tmp_path), REGION, tmp_path / "plans" / "x.tfplan")


def fake_terraform(tmp_path: Path, body: str) -> str:
    script = tmp_path / "fake-terraform"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_terraform_runs_with_the_environment_s_profile_and_region(tmp_path: Path) -> None:
    infra(tmp_path, CONFIG % "a")
    log = tmp_path / "calls"
    binary = fake_terraform(
        tmp_path,
        f'echo "$* | $TF_IN_AUTOMATION $TF_INPUT $AWS_PROFILE $AWS_REGION '
        f'$AWS_DEFAULT_REGION ${{TF_WORKSPACE:-none}} $PWD" >> {log}\n'
        'if [ "$1" = show ]; then echo \'{"resource_changes": []}\'; fi',
    )

    outcome = plan(
        tf(vars={"release": "7"}), target(tmp_path), "us-east-1", tmp_path / "p", binary=binary
    )

    assert outcome.passed, outcome
    calls = log.read_text().splitlines()
    cwd = tmp_path / "infra"
    plan_file = outcome.outputs["plan_file"]
    assert calls == [
        f"init -input=false -no-color | 1 0 x us-east-1 us-east-1 none {cwd}",
        f"workspace select -or-create -no-color sit | 1 0 x us-east-1 us-east-1 none {cwd}",
        f"plan -input=false -no-color -out={plan_file} -var release=7 "
        f"| 1 0 x us-east-1 us-east-1 sit {cwd}",
        f"show -json -no-color {plan_file} | 1 0 x us-east-1 us-east-1 sit {cwd}",
    ]


def test_a_step_that_outlives_its_timeout_is_interrupted_and_fails(tmp_path: Path) -> None:
    infra(tmp_path, CONFIG % "a")
    binary = fake_terraform(
        tmp_path,
        "trap 'echo interrupted >&2; exit 130' INT\necho started\nwhile :; do sleep 0.1; done",
    )
    step = tf(timeout=timedelta(seconds=0.5))

    outcome = plan(step, target(tmp_path), REGION, tmp_path / "plans", binary=binary)

    assert not outcome.passed and outcome.evidence["timed_out"] is True, outcome
    assert "timed out after 0.5 s" in outcome.summary
    assert "started" in outcome.evidence["stdout"]
    assert "interrupted" in outcome.evidence["stderr"]
