"""A plan as JSON-ready data (``promote plan --format json``). Durations are seconds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from promote.planning import EnvironmentPlan


def plan_data(plan: EnvironmentPlan) -> dict[str, Any]:
    return {
        "environment": plan.environment,
        "account_id": plan.account_id,
        "region": plan.region,
        "layers": plan.layers,
        "critical_path": {
            "projects": [
                {
                    "name": name,
                    "estimate_seconds": plan.projects[name].estimate.total_seconds(),
                    "start_seconds": plan.projects[name].start.total_seconds(),
                }
                for name in plan.critical_path
            ],
            "duration_seconds": plan.duration.total_seconds(),
        },
        "projects": {
            name: {
                "kind": p.kind,
                "wave": p.wave,
                "layer": p.layer,
                "depends_on": p.depends_on,
                "estimate_seconds": p.estimate.total_seconds(),
                "start_seconds": p.start.total_seconds(),
                "finish_seconds": p.finish.total_seconds(),
                "gates": p.gates._asdict(),
            }
            for name, p in sorted(plan.projects.items())
        },
        "waves": [
            {
                "name": w.name,
                "title": w.title,
                "projects": w.projects,
                "scheduled": _iso(w.scheduled),
                "estimated_start": _iso(w.estimated_start),
                "estimated_finish": _iso(w.estimated_finish),
            }
            for w in plan.waves
        ],
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
