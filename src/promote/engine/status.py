"""A run's status, read back from its journal. Pure.

The journal is the one record of what happened, so status is a fold over its events:
any process can show it, including one that is not running the workflow.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from promote.engine.phases import ProjectPhase, RunPhase


@dataclass
class ProjectStatus:
    phase: ProjectPhase = ProjectPhase.PENDING
    reason: str | None = None  # why it ended as it did, or what it waits for
    approvers: list[str] = field(default_factory=list)  # of the gate it waits at
    requirements: list[dict[str, Any]] = field(default_factory=list)  # that gate's
    gate: int = 0  # how many approval gates it reached (approval, confirmation, sign-off)

    @property
    def waiting_for(self) -> str | None:
        return self.reason if self.phase is ProjectPhase.WAITING_FOR_APPROVAL else None


@dataclass
class RunStatus:
    run_id: str
    environment: str | None
    phase: RunPhase
    started_by: str | None
    projects: dict[str, ProjectStatus] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)  # the run spec, from run.started

    def waiting(self) -> dict[str, str]:
        """Project -> what it waits for, e.g. ``waiting for 1 of Tech Lead, 1 of DevOps Lead``."""
        return {n: p.reason or "" for n, p in self.projects.items() if p.waiting_for}


def fold(run_id: str, events: Iterable[Mapping[str, Any]]) -> RunStatus:
    status = RunStatus(run_id, None, RunPhase.RUNNING, None)
    for event in events:
        _apply(status, event)
    if not status.phase.is_final and status.waiting():
        status.phase = RunPhase.WAITING_FOR_APPROVAL
    return status


def _apply(status: RunStatus, event: Mapping[str, Any]) -> None:
    kind, data, project = event["kind"], event.get("data") or {}, event.get("project")
    if status.phase.is_final:
        return  # a step in flight when the run was aborted may still append its result
    if kind == "run.started":
        spec = data["spec"]
        status.spec = spec
        status.environment = spec["environment"]
        status.started_by = spec["started_by"]
        status.projects = {name: ProjectStatus() for layer in spec["layers"] for name in layer}
    elif kind == "project.phase" and project:
        entry = status.projects.setdefault(project, ProjectStatus())
        entry.phase = ProjectPhase(data["phase"])
        entry.reason = data.get("reason")
    elif kind == "approval.requested" and project:
        entry = status.projects.setdefault(project, ProjectStatus())
        entry.gate += 1
        entry.approvers = []
        entry.requirements = list(data.get("requirements", []))
    elif kind == "approval.given" and project:
        status.projects.setdefault(project, ProjectStatus()).approvers.append(data["person"])
    elif kind == "run.finished":
        status.phase = RunPhase(data["phase"])
        if status.phase is RunPhase.ABORTED:
            _abort_unfinished(status, data.get("reason"))


def _abort_unfinished(status: RunStatus, reason: str | None) -> None:
    for entry in status.projects.values():
        if not entry.phase.is_final:
            entry.phase = ProjectPhase.ABORTED
            entry.reason = reason or "the run was aborted"
