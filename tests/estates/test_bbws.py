"""The BBWS estate (estates/bbws): it validates, plans as the runbooks order, keeps the
runbooks' resource names, and the README's original schedule is caught."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from promote.cli import main
from promote.loader import load_estate
from promote.planning import make_plan
from promote.rules import validate

ROOT = Path(__file__).resolve().parents[2]
BBWS = ROOT / "estates" / "bbws"
ORIGINAL = ROOT / "tests" / "fixtures" / "estates" / "bbws_original_schedule"
LAMBDAS = ("campaigns_lambda", "product_lambda", "order_lambda")


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_bbws_validates_strictly(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "validate", str(BBWS), "--strict")
    assert code == 0, out
    assert "✓ bbws is valid (0 warning(s))" in out


def test_all_seven_projects_with_the_readme_waves() -> None:
    estate = load_estate(BBWS).estate
    assert estate is not None
    waves = {p.name: p.wave for p in estate.projects}
    assert waves == {
        "campaigns_lambda": "wave-1-api-services",
        "product_lambda": "wave-1-api-services",
        "order_lambda": "wave-1-api-services",
        "dynamodb_schemas": "wave-2-infrastructure",
        "s3_schemas": "wave-2-infrastructure",
        "backend_public": "wave-2-infrastructure",
        "ecs_terraform": "wave-2-infrastructure",
    }
    envs = estate.spec.environments
    assert (envs["dev"].account_id, envs["dev"].region) == ("536580886816", "eu-west-1")
    assert (envs["sit"].account_id, envs["sit"].region) == ("815856636111", "eu-west-1")
    assert (envs["prod"].account_id, envs["prod"].region, envs["prod"].dr_region) == (
        "093646564004",
        "af-south-1",
        "eu-west-1",
    )
    assert envs["sit"].credentials.profile == "Tebogo-sit"
    assert envs["prod"].credentials.profile == "Tebogo-prod"


def test_plan_sit_orders_foundation_before_apis(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "plan", "sit", str(BBWS), "--format", "json")
    assert code == 0
    plan = json.loads(out)
    assert plan["environment"] == "sit"
    layer = {name: i for i, names in enumerate(plan["layers"]) for name in names}
    for foundation in ("dynamodb_schemas", "s3_schemas"):
        for api in LAMBDAS:
            assert layer[foundation] < layer[api]
    assert layer["product_lambda"] < layer["order_lambda"]
    path = [p["name"] for p in plan["critical_path"]["projects"]]
    assert path[-1] == "order_lambda" and "product_lambda" in path


def test_runbook_resource_names_resolve_per_environment() -> None:
    estate = load_estate(BBWS).estate
    assert estate is not None
    sit = make_plan(estate, "sit").projects
    steps = " ".join(sit["product_lambda"].gates.steps + sit["campaigns_lambda"].gates.steps)
    assert "product-handler-sit" in steps and "campaigns-handler-sit" in steps
    checks = " ".join(sit["product_lambda"].gates.preconditions)
    assert "products-sit" in checks and "bbws-product-images-sit" in checks
    site = " ".join(sit["backend_public"].gates.steps)
    assert "bbws-frontend-sit" in site
    smoke = sit["product_lambda"].gates.smoke_tests
    assert "Test 1 health check: GET https://api.sit.kimmyai.io/v1.0/products/health" in smoke


def test_production_gates_follow_the_runbooks() -> None:
    estate = load_estate(BBWS).estate
    assert estate is not None
    prod = make_plan(estate, "prod").projects
    assert prod["product_lambda"].gates.canary == "10% (15m) -> 50% (30m) -> 100%"
    assert prod["product_lambda"].gates.soak == "8 checkpoints over 2d"
    assert {"Tech Lead", "DevOps Lead", "Product Owner"} <= set(
        prod["order_lambda"].gates.approvals
    )
    assert set(prod["dynamodb_schemas"].gates.approvals) >= {"DBA", "FinOps Lead"}


def test_readme_original_schedule_is_a_schedule_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "validate", str(ORIGINAL))
    assert code == 2
    errors = [line for line in out.splitlines() if " error: " in line]
    assert len(errors) == 1
    [line] = errors
    assert (
        ": V004 error: wave `wave-1-api-services` is scheduled in sit at 2026-01-10 10:00" in line
    )
    assert "before wave `wave-2-infrastructure` it depends on (2026-01-13 09:00)" in line
    assert line.startswith(f"{ORIGINAL / 'estate.yaml'}:") or "estate.yaml:" in line


def test_fixture_differs_from_the_estate_only_in_that_date() -> None:
    real = yaml.safe_load((BBWS / "estate.yaml").read_text())
    fixture = yaml.safe_load((ORIGINAL / "estate.yaml").read_text())
    assert fixture["waves"][1]["schedule"]["sit"].isoformat() == "2026-01-10T10:00:00"
    fixture["waves"][1]["schedule"]["sit"] = real["waves"][1]["schedule"]["sit"]
    assert fixture == real
    assert (ORIGINAL / "projects").resolve() == (BBWS / "projects").resolve()


def test_closing_a_cycle_exits_2_with_its_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "bbws"
    shutil.copytree(BBWS, copy)
    tables = copy / "projects" / "dynamodb_schemas.yaml"
    data = yaml.safe_load(tables.read_text())
    data["depends_on"] = [
        *data.get("depends_on", []),
        {"project": "order_lambda", "reason": "closes a cycle"},
    ]
    tables.write_text(yaml.safe_dump(data, sort_keys=False))
    code, out, _ = cli(capsys, "validate", str(copy))
    assert code == 2
    assert (
        "V002 error: dependency cycle: dynamodb_schemas -> order_lambda -> dynamodb_schemas" in out
    )


def test_rules_and_loader_agree_on_a_clean_estate() -> None:
    loaded = load_estate(BBWS)
    assert loaded.estate is not None and loaded.diagnostics == []
    assert validate(loaded.estate, strict=True) == []
