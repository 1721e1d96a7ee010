"""A plan as a Mermaid flowchart: waves as subgraphs, the critical path highlighted."""

from __future__ import annotations

import re

from promote.model import format_duration
from promote.planning import EnvironmentPlan


def _id(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def plan_mermaid(plan: EnvironmentPlan) -> str:
    lines = ["flowchart LR"]
    for wave in plan.waves:
        lines.append(f'  subgraph {_id("wave_" + wave.name)}["{wave.title}"]')
        for name in wave.projects:
            estimate = format_duration(plan.projects[name].estimate)
            lines.append(f'    {_id(name)}["{name}<br/>{estimate}"]')
        lines.append("  end")
    for name, project in sorted(plan.projects.items()):
        for dependency in project.depends_on:
            if dependency in plan.projects:
                lines.append(f"  {_id(dependency)} --> {_id(name)}")
    if plan.critical_path:
        lines.append("  classDef critical stroke:#d33,stroke-width:3px")
        lines.append(f"  class {','.join(_id(n) for n in plan.critical_path)} critical")
    return "\n".join(lines) + "\n"
