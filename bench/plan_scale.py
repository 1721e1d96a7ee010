"""Benchmark: a synthetic estate of 5,000 projects and 20,000 dependencies.

Targets (issue 2), on a 2-core machine:
  - loaded from YAML files, validated and planned: under 2 s;
  - the model-only part (model, rules and plan from parsed data): under 0.5 s.

Run: .venv/bin/python bench/plan_scale.py [--projects N] [--edges-per-project K] [--repeat R]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from promote.cli import check_estate
from promote.loader import paused_gc
from promote.model import Estate, EstateSpec, Project
from promote.planning import make_plan
from promote.rules import validate
from promote.rules.context import RuleContext

WAVES = 10
TARGET_TOTAL_S = 2.0
TARGET_MODEL_S = 0.5


def spec_data() -> dict[str, Any]:
    env = {
        "region": "eu-west-1",
        "credentials": {"profile": "bench"},
    }
    return {
        "name": "bench",
        "environments": {
            "dev": {
                **env,
                "account_id": "111111111111",
                "domain": "dev.b.test",
                "api_domain": "api.dev.b.test",
            },
            "prod": {
                **env,
                "account_id": "222222222222",
                "domain": "b.test",
                "api_domain": "api.b.test",
                "production": True,
            },
        },
        "promotion_path": ["dev", "prod"],
        "roles": {"tech_lead": {"title": "Tech Lead", "people": ["a", "b"]}},
        "inputs": {"token": {"secret": True}},
        "waves": [
            {
                "name": f"w{i}",
                "depends_on": [f"w{i - 1}"] if i else [],
                "schedule": {"prod": f"2026-03-{i + 1:02d}T08:00:00"},
            }
            for i in range(WAVES)
        ],
    }


def project_data(count: int, edges_per_project: int, seed: int = 7) -> list[dict[str, Any]]:
    """Each project depends on distinct earlier projects, so the graph is a DAG, and its wave
    never precedes its dependencies' waves."""
    rng = random.Random(seed)
    per_wave = count // WAVES
    # The first projects have fewer earlier ones to depend on; a few later projects make up
    # the difference, so the estate has exactly count * edges_per_project dependencies.
    owed = sum(edges_per_project - i for i in range(min(count, edges_per_project)))
    projects = []
    for i in range(count):
        extra = 1 if edges_per_project < i <= edges_per_project + owed else 0
        k = min(i, edges_per_project + extra)
        deps = rng.sample(range(i), k) if k else []
        lambda_api = i % 3 == 0
        data: dict[str, Any] = {
            "name": f"p{i:05d}",
            "kind": "lambda-api" if lambda_api else "generic",
            "wave": f"w{min(i // per_wave, WAVES - 1)}",
            "estimate": f"{1 + i % 30}m",
            "depends_on": [{"project": f"p{d:05d}", "reason": "uses it"} for d in deps],
            "vars": {"function": f"p{i:05d}-${{env}}"},
            "approvals": {"prod": ["tech_lead"]},
            "preconditions": [{"check": "dynamodb.table_exists", "table": "t-${env}"}],
            "steps": [{"kind": "lambda.deploy", "function": "${function}"}],
            "smoke_tests": [
                {
                    "name": "health",
                    "url": "https://${api_domain}/p/health",
                    "headers": {"Authorization": "Bearer ${token}"},
                }
            ],
        }
        if lambda_api:
            data["canary"] = {"prod": {"steps": [{"weight": 10, "bake": "15m"}, {"weight": 100}]}}
        projects.append(data)
    return projects


def write_estate(root: Path, spec: dict[str, Any], projects: list[dict[str, Any]]) -> None:
    (root / "projects").mkdir(parents=True)
    (root / "estate.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    for data in projects:
        text = yaml.safe_dump(data, sort_keys=False)
        (root / "projects" / f"{data['name']}.yaml").write_text(text)


def full_pipeline(root: Path) -> int:
    """What `promote plan prod DIR` does before rendering: the CLI's own functions."""
    try:
        estate, found, context = check_estate(root)
        assert estate is not None and not [d for d in found if d.is_error], found[:3]
        return len(make_plan(estate, "prod", context).layers)
    finally:
        gc.unfreeze()  # check_estate froze this run's objects; let the next run start clean


def model_only(spec: dict[str, Any], projects: list[dict[str, Any]]) -> int:
    """The same from parsed data: models, rules and plan, with the CLI's GC handling."""
    try:
        with paused_gc():
            estate = Estate(
                spec=EstateSpec.model_validate(spec),
                projects=tuple(Project.model_validate(p) for p in projects),
            )
            gc.freeze()
        context = RuleContext(estate)  # shared by rules and planning, as in the CLI
        assert not [d for d in validate(estate, context=context) if d.is_error]
        return len(make_plan(estate, "prod", context).layers)
    finally:
        gc.unfreeze()


def measure(fn: Callable[[], int], repeat: int) -> tuple[list[float], int]:
    times, result = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=5000)
    parser.add_argument("--edges-per-project", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    spec, projects = spec_data(), project_data(args.projects, args.edges_per_project)
    edges = sum(len(p["depends_on"]) for p in projects)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "estate"
        write_estate(root, spec, projects)
        full_pipeline(root)  # warm the file cache and imports once
        full, layers = measure(lambda: full_pipeline(root), args.repeat)
    model, _ = measure(lambda: model_only(spec, projects), args.repeat)

    print(
        f"plan_scale: {args.projects} projects, {edges} dependencies, {WAVES} waves, "
        f"{layers} layers; best / median of {args.repeat} runs"
    )
    ok = True
    for label, times, target in (
        ("files -> validated plan", full, TARGET_TOTAL_S),
        ("model + rules + plan", model, TARGET_MODEL_S),
    ):
        best, median = min(times), statistics.median(times)
        verdict = "ok" if median < target else "MISSED"
        ok &= median < target
        print(
            f"  {label:<24} best {best:6.3f} s   median {median:6.3f} s   "
            f"target < {target} s  {verdict}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
