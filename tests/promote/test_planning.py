from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from promote.errors import UnknownEnvironment
from promote.planning import make_plan
from promote.render.mermaid import plan_mermaid
from promote.render.plan_json import plan_data

from .conftest import SPEC, build, project


def shop_projects() -> list[dict]:
    return [
        project("tables", "infra", estimate="10m"),
        project("buckets", "infra", estimate="10m"),
        project("site", "infra", "tables", "buckets", estimate="20m"),
        project(
            "products",
            "apps",
            "tables",
            estimate="30m",
            approvals={"prod": ["tech_lead", {"role": "tech_lead", "count": 2}]},
            canary={"prod": {"steps": [{"weight": 10, "bake": "15m"}, {"weight": 100}]}},
            smoke_tests=[{"name": "health", "url": "https://${api_domain}/v1.0/health"}],
            preconditions=[
                {"check": "dynamodb.table_exists", "table": "products-${env}"},
                {"check": "http.ok", "url": "https://x", "environments": ["prod"]},
            ],
            soak={"prod": {"duration": "48h", "checkpoints": 8}},
        ),
        project("orders", "apps", "tables", "products", estimate="40m"),
    ]


def test_layers_respect_dependencies_and_waves() -> None:
    plan = make_plan(build(None, shop_projects()), "prod")
    assert plan.layers == [["buckets", "tables"], ["site"], ["products"], ["orders"]]


def test_critical_path_and_duration() -> None:
    plan = make_plan(build(None, shop_projects()), "prod")
    assert plan.critical_path == ["buckets", "site", "products", "orders"]
    assert plan.duration == timedelta(minutes=100)


def test_gates_are_resolved_for_the_environment() -> None:
    estate = build(None, shop_projects())
    gates = make_plan(estate, "prod").projects["products"].gates
    assert gates.approvals == ["Tech Lead", "2 of Tech Lead"]
    assert gates.preconditions == ["dynamodb.table_exists products-prod", "http.ok https://x"]
    assert gates.smoke_tests == ["health: GET https://api.shop.test/v1.0/health"]
    assert gates.canary == "10% (15m) -> 100%"
    assert gates.soak == "8 checkpoints over 2d"
    dev = make_plan(estate, "dev").projects["products"].gates
    assert dev.approvals == [] and dev.canary is None and len(dev.preconditions) == 1


def test_timeline_follows_the_schedule_and_dependencies() -> None:
    plan = make_plan(build(None, shop_projects()), "prod")
    infra, apps = plan.waves
    assert infra.scheduled == datetime(2026, 2, 24, 8, tzinfo=UTC)
    assert infra.estimated_finish == datetime(2026, 2, 24, 8, 30, tzinfo=UTC)
    assert apps.estimated_start == datetime(2026, 2, 25, 9, tzinfo=UTC)
    assert apps.estimated_finish == datetime(2026, 2, 25, 10, 10, tzinfo=UTC)


def test_unscheduled_environment_has_a_timeline_without_dates() -> None:
    plan = make_plan(build(None, shop_projects()), "dev")
    assert all(w.estimated_start is None for w in plan.waves)


def test_unknown_environment() -> None:
    with pytest.raises(
        UnknownEnvironment, match=r"unknown environment `prd` \(did you mean `prod`"
    ):
        make_plan(build(None, shop_projects()), "prd")


def test_json_and_mermaid_outputs() -> None:
    plan = make_plan(build(None, shop_projects()), "prod")
    data = plan_data(plan)
    assert data["environment"] == "prod"
    assert data["layers"][0] == ["buckets", "tables"]
    assert [p["name"] for p in data["critical_path"]["projects"]][-1] == "orders"
    assert data["critical_path"]["duration_seconds"] == 6000
    chart = plan_mermaid(plan)
    assert chart.startswith("flowchart LR\n")
    assert "  products --> orders" in chart
    assert "class buckets,site,products,orders critical" in chart


def test_table_output_shows_layers_path_gates_and_a_late_wave() -> None:
    from rich.console import Console

    from promote.render.text import print_plan

    spec = copy.deepcopy(SPEC)
    spec["waves"][1]["schedule"]["prod"] = "2026-02-24T08:10:00"  # before infra's 30m end
    console = Console(record=True, width=140)
    print_plan(console, make_plan(build(spec, shop_projects()), "prod"))
    text = console.export_text()
    assert "Execution layers" in text and "Critical path (1h40m)" in text
    assert "Tech Lead, 2 of Tech Lead" in text
    assert "scheduled 2026-02-24 08:10, starts 20m late" in text


def test_cross_environment_values_resolve_in_gates() -> None:
    checks = [
        {
            "check": "http.ok",
            "url": "https://${dev.api_domain}/v1.0/health",
            "environments": ["prod"],
            "name": "dev is stable",
        }
    ]
    projects = [*shop_projects()[:3], project("x", "apps", "tables", preconditions=checks)]
    gates = make_plan(build(None, projects), "prod").projects["x"].gates
    assert gates.preconditions == ["dev is stable (http.ok https://api.dev.shop.test/v1.0/health)"]


def test_triggers_and_alarms_follow_environments_and_show_scope() -> None:
    api = project(
        "api",
        "apps",
        "tables",
        rollback_triggers=[
            {"when": "latency_p95 > 3s", "scope": "writes"},
            {"manual": "Any P0 incident", "environments": ["prod"]},
        ],
        alarms=[
            {
                "name": "High Duration (Read)",
                "when": "latency_p95 > 1s",
                "scope": "reads",
                "environments": ["prod"],
            }
        ],
        success_criteria={"prod": [{"when": "latency_p95 < 500ms", "scope": "reads"}]},
    )
    estate = build(None, [project("tables", "infra"), api])
    dev = make_plan(estate, "dev").projects["api"].gates
    assert dev.rollback_triggers == ["latency_p95 > 3s (writes)"] and dev.alarms == []
    prod = make_plan(estate, "prod").projects["api"].gates
    assert prod.rollback_triggers == ["latency_p95 > 3s (writes)", "Any P0 incident"]
    assert prod.alarms == ["High Duration (Read): latency_p95 > 1s (reads)"]
    assert prod.success_criteria == ["latency_p95 < 500ms (reads)"]
