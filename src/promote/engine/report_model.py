"""The data model of a run's deployment log: its header, and per project what happened. Pure.

:mod:`promote.engine.report` builds it from a run's journal (and documents its JSON, which
is these dataclasses' fields); the Markdown and HTML modules show it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from promote.engine.report_analysis_model import ProjectAnalysis

FORMAT_VERSION = 1
# "manual": a rollback step left to people, recorded but not run.
Result = Literal["passed", "failed", "errored", "skipped", "manual"]
Decided = Literal["approved", "rejected", "refused"]


@dataclass(frozen=True)
class Verification:
    intact: bool
    events: int
    broken_at: int | None
    reason: str | None
    last_hash: str | None


@dataclass(frozen=True)
class RunHeader:
    run_id: str
    environment: str | None
    account_id: str | None
    region: str | None
    started_by: str | None
    started: str | None
    finished: str | None
    duration_seconds: float | None
    phase: str
    reason: str | None
    verification: Verification


@dataclass(frozen=True)
class ItemResult:
    """A precondition check, a deploy step, a rollback step or a skipped step."""

    name: str
    kind: str | None
    result: Result
    summary: str
    time: str
    duration_seconds: float | None
    plan: dict[str, Any] | None = None


@dataclass(frozen=True)
class SmokeResult:
    name: str
    method: str
    url: str
    status: int | None
    latency_ms: float | None
    result: Result
    summary: str
    time: str
    duration_seconds: float | None


@dataclass(frozen=True)
class Requirement:
    role: str | None
    count: int
    title: str
    item: str | None


@dataclass(frozen=True)
class Decision:
    decision: Decided
    person: str | None
    time: str
    comment: str | None
    reason: str | None  # why promote refused it
    waited_seconds: float | None  # since the request


@dataclass
class ApprovalRequest:
    """One wait for people: the approvals before deploying, a manual step's confirmation,
    a destructive terraform plan's approval, or a sign-off; with the decisions it got."""

    what: str
    requested: str
    requirements: list[Requirement] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)


@dataclass(frozen=True)
class CanaryStep:
    weight: Any
    bake_seconds: Any
    version: Any
    previous_version: Any
    time: str


@dataclass(frozen=True)
class Artifact:
    label: str | None
    kind: str | None
    sha256: str | None
    time: str


@dataclass(frozen=True)
class LedgerUpdate:
    environment: str | None
    version: Any  # the entry's version, else its artifact's label
    sha256: str | None
    status: str | None
    time: str


@dataclass(frozen=True)
class TimelineEntry:
    time: str
    offset_seconds: float | None
    kind: str
    text: str


@dataclass
class ProjectReport:
    name: str
    layer: int | None
    phase: str
    reason: str | None
    started: str | None
    finished: str | None
    duration_seconds: float | None
    artifacts: list[Artifact] = field(default_factory=list)
    checks: list[ItemResult] = field(default_factory=list)
    approvals: list[ApprovalRequest] = field(default_factory=list)
    steps: list[ItemResult] = field(default_factory=list)
    smoke_tests: list[SmokeResult] = field(default_factory=list)
    canary: list[CanaryStep] = field(default_factory=list)
    rollback: list[ItemResult] = field(default_factory=list)
    ledger: list[LedgerUpdate] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)
    analysis: ProjectAnalysis | None = None


@dataclass
class Report:
    version: int
    run: RunHeader
    projects: list[ProjectReport]
    run_events: list[TimelineEntry]
