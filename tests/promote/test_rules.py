from __future__ import annotations

import copy
from typing import Any

import pytest

from promote.diagnostics import Severity
from promote.rules import RULES, validate

from .conftest import SPEC, build, default_projects, project


def codes(
    spec: dict[str, Any] | None = None, projects: list[dict[str, Any]] | None = None
) -> list[str]:
    return [d.code for d in validate(build(spec, projects))]


def findings(spec: dict[str, Any] | None = None, projects: list[dict[str, Any]] | None = None):
    return validate(build(spec, projects))


def test_the_default_estate_is_clean() -> None:
    assert findings() == []


def test_every_rule_has_a_unique_code_and_summary() -> None:
    assert len(RULES) >= 20
    assert all(r.summary and r.name for r in RULES.values())


def test_unknown_dependency_suggests() -> None:
    [d] = findings(projects=[project("tables", "infra"), project("api", "apps", "tabels")])
    assert d.code == "V001" and d.path == ("depends_on", 0)
    assert d.message == "`api` depends on unknown project `tabels` (did you mean `tables`?)"


def test_cycle_is_printed_as_a_path() -> None:
    projects = [
        project("a", "apps", "b"),
        project("b", "apps", "c"),
        project("c", "apps", "a"),
        project("tables", "infra"),
    ]
    [d] = findings(projects=projects)
    assert (d.code, d.message) == ("V002", "dependency cycle: a -> b -> c -> a")
    assert d.file == "projects/a.yaml"


def test_self_dependency_is_a_cycle() -> None:
    [d] = findings(projects=[project("a", "apps", "a"), project("t", "infra")])
    assert d.message == "dependency cycle: a -> a"


def test_dependency_on_a_later_wave() -> None:
    # tables (infra) depends on api (apps), but apps is declared to run after infra.
    [d] = findings(projects=[project("tables", "infra", "api"), project("api", "apps")])
    assert d.code == "V003"
    assert "which runs after it" in d.message


def test_implied_wave_cycle_is_reported_once_per_edge() -> None:
    spec = copy.deepcopy(SPEC)
    spec["waves"][1]["depends_on"] = []
    found = findings(
        spec,
        [
            project("a", "infra", "b"),
            project("b", "apps", "c"),
            project("c", "apps"),
            project("d", "apps", "e"),
            project("e", "infra"),
        ],
    )
    assert {d.code for d in found} == {"V003"}
    assert all("neither can go first" in d.message for d in found)


def test_declared_wave_cycle() -> None:
    spec = copy.deepcopy(SPEC)
    spec["waves"][0]["depends_on"] = ["apps"]
    assert "V021" in codes(spec)


def test_unknown_wave_and_wave_dependency() -> None:
    spec = copy.deepcopy(SPEC)
    spec["waves"][1]["depends_on"] = ["infar"]
    found = findings(spec, [project("tables", "infra"), project("api", "ap")])
    messages = {d.message for d in found if d.code == "V011"}
    assert "unknown wave `ap` (did you mean `apps`?)" in messages
    assert "wave `apps` depends on unknown wave `infar` (did you mean `infra`?)" in messages


def test_schedule_before_dependency_names_both_waves() -> None:
    spec = copy.deepcopy(SPEC)
    spec["waves"][1]["schedule"]["prod"] = "2026-02-21T09:00:00"
    [d] = findings(spec)
    assert d.code == "V004" and d.path == ("waves", 1, "schedule", "prod")
    assert d.message == (
        "wave `apps` is scheduled in prod at 2026-02-21 09:00, before wave "
        "`infra` it depends on (2026-02-24 08:00)"
    )


def test_schedule_order_uses_implied_wave_dependencies() -> None:
    spec = copy.deepcopy(SPEC)
    spec["waves"][1]["depends_on"] = []  # only the project dependency links the waves
    spec["waves"][1]["schedule"]["prod"] = "2026-02-21T09:00:00"
    assert codes(spec) == ["V004"]


def test_schedule_inside_dependency_estimate_warns() -> None:
    spec = copy.deepcopy(SPEC)
    spec["waves"][1]["schedule"]["prod"] = "2026-02-24T08:05:00"  # infra takes 10m
    [d] = findings(spec)
    assert (d.code, d.severity) == ("V019", Severity.WARNING)
    assert "estimated to finish at 2026-02-24 08:10" in d.message


def test_schedule_against_promotion_path() -> None:
    spec = copy.deepcopy(SPEC)
    spec["waves"][0]["schedule"]["dev"] = "2026-03-01T08:00:00"
    [d] = findings(spec)
    assert d.code == "V018" and "before dev" in d.message


def test_aware_and_naive_times_compare() -> None:
    spec = copy.deepcopy(SPEC)
    spec["waves"][0]["schedule"]["prod"] = "2026-02-24T08:00:00+02:00"
    assert findings(spec) == []


def test_edge_region_of_environment_and_items() -> None:
    spec = copy.deepcopy(SPEC)
    spec["environments"]["dev"]["edge_region"] = "eu-west-1"
    site = project(
        "site",
        "apps",
        "tables",
        steps=[
            {"kind": "lambda.deploy", "function": "f", "edge": True, "region": "${region}"},
            {
                "kind": "cloudfront.invalidate",
                "distribution": "${domain}",
                "region": "${edge_region}",
            },
        ],
        preconditions=[
            {"check": "acm.certificate_issued", "domain": "${domain}", "region": "eu-west-1"}
        ],
    )
    found = [d for d in findings(spec, [*default_projects(), site]) if d.code == "V005"]
    paths = sorted(d.path for d in found)
    assert ("environments", "dev", "edge_region") in paths
    assert ("steps", 0, "region") in paths  # ${region} is eu-west-1 in dev
    assert ("preconditions", 0, "region") in paths
    # ${edge_region} is us-east-1 in prod but eu-west-1 in dev (itself reported above).
    assert ("steps", 1, "region") in paths


def test_production_lambda_needs_a_canary() -> None:
    api = project("api", "apps", "tables", kind="lambda-api")
    [d] = findings(projects=[project("tables", "infra"), api])
    assert d.code == "V006" and "canary" in d.message and d.path == ("canary", "prod")


def test_canary_in_production_satisfies_and_shape_is_checked() -> None:
    good = {"prod": {"steps": [{"weight": 10, "bake": "15m"}, {"weight": 50}, {"weight": 100}]}}
    api = project("api", "apps", "tables", kind="lambda-api", canary=good)
    assert findings(projects=[project("tables", "infra"), api]) == []
    bad = {"prod": {"steps": [{"weight": 50}, {"weight": 10}]}}
    api = project("api", "apps", "tables", kind="lambda-api", canary=bad)
    assert codes(projects=[project("tables", "infra"), api]) == ["V016"]


def test_all_at_once_in_production_warns() -> None:
    api = project(
        "api", "apps", "tables", kind="lambda-api", canary={"prod": {"strategy": "all_at_once"}}
    )
    [d] = findings(projects=[project("tables", "infra"), api])
    assert (d.code, d.severity) == ("V020", Severity.WARNING)


def test_a_bake_too_short_for_the_traffic_is_underpowered() -> None:
    # The runbooks' 10% step of 15 minutes, at 0.5 req/s, against their 5% error trigger.
    policy = {
        "steps": [{"weight": 10, "bake": "15m"}, {"weight": 50, "bake": "30m"}, {"weight": 100}],
        "analysis": {"expected_rps": 0.5},
    }
    api = project(
        "api",
        "apps",
        "tables",
        kind="lambda-api",
        canary={"prod": policy},
        rollback_triggers=[{"when": "error_rate > 5%"}],
    )
    found = findings(projects=[project("tables", "infra"), api])
    assert [(d.code, d.severity) for d in found] == [("V025", Severity.WARNING)]
    assert found[0].message == (
        "`api` in prod: 10% step at 0.5 req/s needs >= 46 min to detect a 5% error rate at "
        "alpha = 0.01 (5 errors); its bake is 15 min"
    )
    busy = copy.deepcopy(policy)
    busy["analysis"]["expected_rps"] = 100
    api["canary"] = {"prod": busy}
    assert findings(projects=[project("tables", "infra"), api]) == []


def test_approval_with_unknown_role_and_impossible_count() -> None:
    api = project(
        "api", "apps", "tables", approvals={"prod": ["tech_leed", {"role": "dba", "count": 2}]}
    )
    found = findings(projects=[project("tables", "infra"), api])
    by_code = {d.code: d.message for d in found}
    assert by_code["V007"].startswith("unknown role `tech_leed` (did you mean `tech_lead`?)")
    assert by_code["V014"] == "needs 2 distinct `dba` approvers in prod, but the role has 1"


def test_duplicate_project_and_wave_names() -> None:
    spec = copy.deepcopy(SPEC)
    spec["waves"].append({"name": "apps"})
    found = findings(spec, [*default_projects(), project("api", "apps")])
    assert sorted(d.code for d in found) == ["V008", "V008"]


@pytest.mark.parametrize("account", ["12345", "12345678901a", "0123456789012"])
def test_malformed_account_id(account: str) -> None:
    spec = copy.deepcopy(SPEC)
    spec["environments"]["dev"]["account_id"] = account
    assert codes(spec) == ["V009"]


def test_region_names() -> None:
    spec = copy.deepcopy(SPEC)
    spec["environments"]["prod"]["dr_region"] = "eu-west1"
    assert codes(spec) == ["V022"]


def test_smoke_test_with_undefined_variable() -> None:
    tests = [
        {
            "name": "create",
            "method": "POST",
            "url": "https://${api_domain}/v1.0/things",
            "headers": {"Authorization": "Bearer ${token}"},
            "capture": {"thing_id": "id"},
        },
        {"name": "get", "url": "https://${api_domain}/v1.0/things/${thing_id}"},
        {"name": "typo", "url": "https://${api_domian}/v1.0/things/${thing_idd}"},
    ]
    api = project("api", "apps", "tables", smoke_tests=tests)
    found = findings(projects=[project("tables", "infra"), api])
    assert [(d.code, d.path) for d in found] == [("V010", ("smoke_tests", 2, "url"))] * 2
    messages = sorted(d.message for d in found)
    assert messages[0] == (
        "undefined variable `${api_domian}` in dev, prod (did you mean `api_domain`?)"
    )
    assert messages[1].startswith("undefined variable `${thing_idd}`")


def test_api_route_uses_defined_variables() -> None:
    api = project(
        "api",
        "apps",
        "tables",
        vars={"fn": "things-${env}"},
        api={"base_path": "/v1.0/things", "function": "${fnc}"},
    )
    [d] = findings(projects=[project("tables", "infra"), api])
    assert (d.code, d.path) == ("V010", ("api", "function"))
    assert "did you mean `fn`" in d.message
    ok = project(
        "ok", "apps", "tables", vars={"fn": "x"}, api={"base_path": "/t", "function": "${fn}"}
    )
    assert codes(projects=[project("tables", "infra"), ok]) == []


def test_capture_is_only_visible_to_later_tests() -> None:
    tests = [
        {"name": "get", "url": "https://x/${thing_id}"},
        {"name": "create", "url": "https://x", "capture": {"thing_id": "id"}},
    ]
    api = project("api", "apps", "tables", smoke_tests=tests)
    assert codes(projects=[project("tables", "infra"), api]) == ["V010"]


def test_variables_per_environment_and_scoping() -> None:
    steps = [
        {
            "kind": "shell",
            "command": "echo ${dr_region} $${HOME} $LATEST",
            "environments": ["prod"],
        },
        {"kind": "shell", "command": "echo ${dr_region}"},
    ]
    api = project("api", "apps", "tables", steps=steps, vars={"fn": "api-${env}", "alias": "${fn}"})
    [d] = findings(projects=[project("tables", "infra"), api])
    assert d.path == ("steps", 1, "command") and "in dev" in d.message and "prod" not in d.message


def test_var_order_matters() -> None:
    api = project("api", "apps", "tables", vars={"a": "${b}", "b": "x"})
    [d] = findings(projects=[project("tables", "infra"), api])
    assert d.path == ("vars", "a")


def test_unknown_environment_references() -> None:
    spec = copy.deepcopy(SPEC)
    spec["promotion_path"] = ["dev", "prd"]
    api = project(
        "api",
        "apps",
        "tables",
        approvals={"sit": ["tech_lead"]},
        smoke_tests=[{"name": "t", "url": "https://x", "environments": ["qa"]}],
    )
    found = [d for d in findings(spec, [project("tables", "infra"), api]) if d.code == "V012"]
    assert {d.message.split(" (")[0] for d in found} == {
        "unknown environment `prd`",
        "unknown environment `sit`",
        "unknown environment `qa`",
    }


def test_warnings_for_reasons_roles_empty_waves_and_off_path() -> None:
    spec = copy.deepcopy(SPEC)
    spec["roles"]["dba"]["people"] = []
    spec["waves"].append({"name": "later"})
    spec["environments"]["qa"] = copy.deepcopy(spec["environments"]["dev"])
    projects = [
        project("tables", "infra"),
        {"name": "api", "kind": "generic", "wave": "apps", "depends_on": ["tables"]},
    ]
    found = findings(spec, projects)
    assert sorted(d.code for d in found) == ["V015", "V017", "V023", "V024"]
    assert all(d.severity is Severity.WARNING for d in found)


def test_strict_makes_warnings_errors() -> None:
    projects = [
        project("tables", "infra"),
        {"name": "api", "kind": "generic", "wave": "apps", "depends_on": ["tables"]},
    ]
    [d] = validate(build(None, projects), strict=True)
    assert (d.code, d.severity) == ("V017", Severity.ERROR)


def test_another_environments_values_are_reachable() -> None:
    checks = [
        {"check": "http.ok", "url": "https://${dev.api_domain}/health", "environments": ["prod"]},
        {"check": "http.ok", "url": "https://${qa.api_domain}/health"},
    ]
    api = project("api", "apps", "tables", preconditions=checks)
    [d] = findings(projects=[project("tables", "infra"), api])
    assert d.path == ("preconditions", 1, "url") and "`${qa.api_domain}`" in d.message


def test_new_check_kinds_and_scoped_policies_load() -> None:
    api = project(
        "api",
        "apps",
        "tables",
        preconditions=[
            {"check": "iam.role_exists", "role": "deploy-${env}"},
            {"check": "s3.object_count", "bucket": "b", "prefix": "t/", "at_least": 12},
            {"check": "manual", "item": "Change request approved", "role": "tech_leed"},
        ],
        alarms=[
            {
                "name": "slow writes",
                "when": "latency_p95 > 3s",
                "scope": "writes",
                "environments": ["prod"],
            }
        ],
        success_criteria={"prod": [{"when": "latency_p95 < 500ms", "scope": "reads"}]},
    )
    [d] = findings(projects=[project("tables", "infra"), api])
    assert d.code == "V007" and d.path == ("preconditions", 2, "role")
