"""The data model of a project's analysis in the report: series, verdicts, steps, soak. Pure.

:mod:`promote.engine.report_analysis` builds it from the journal's analysis events (and
documents its JSON); the Markdown tables and the HTML charts show it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Threshold:
    rule: str
    metric: str
    op: str
    threshold: float
    scope: str
    trigger: bool


@dataclass(frozen=True)
class Point:
    at: float
    offset_seconds: float | None
    verdict: str | None
    requests: int | None
    error_rate: float | None
    p95: float | None


@dataclass
class Series:
    function: str
    role: str
    version: str | None
    points: list[Point] = field(default_factory=list)


@dataclass(frozen=True)
class Judgement:
    judge: str
    verdict: str
    reason: str
    measure: str
    statistic: float | None
    threshold: float | None
    samples: dict[str, int]
    inputs: dict[str, Any]


@dataclass
class Verdict:
    time: str
    offset_seconds: float | None
    verdict: str
    action: str
    extended: bool
    reason: str | None
    judgements: list[Judgement]
    unjudged: list[str]


@dataclass(frozen=True)
class Extension:
    time: str
    seconds: float | None


@dataclass(frozen=True)
class Decision:
    time: str
    offset_seconds: float | None
    verdict: str
    action: str


@dataclass
class AnalysedStep:
    step: int
    weight: Any = None
    bake_seconds: Any = None
    time: str | None = None
    offset_seconds: float | None = None
    series: list[Series] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    extensions: list[Extension] = field(default_factory=list)
    decision: Decision | None = None


@dataclass(frozen=True)
class Check:
    passed: bool
    summary: str


@dataclass
class Checkpoint:
    checkpoint: Any
    of: Any
    due: float | None
    time: str
    offset_seconds: float | None
    verdict: str
    judgements: list[Judgement]
    unjudged: list[str]
    checks: list[Check]


@dataclass
class Soak:
    started: str | None = None
    planned: Any = None
    seconds: float | None = None
    ends_at: float | None = None
    thresholds: list[Threshold] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    decision: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Errored:
    time: str
    during: str
    reason: str


@dataclass
class ProjectAnalysis:
    thresholds: list[Threshold] = field(default_factory=list)
    steps: list[AnalysedStep] = field(default_factory=list)
    criteria: Verdict | None = None
    soak: Soak | None = None
    errors: list[Errored] = field(default_factory=list)


def find_series(found: list[Series], function: str, role: str, version: str | None) -> Series:
    """The series of ``found`` of that function, role and version, added when it is new."""
    for series in found:
        if (series.function, series.role, series.version) == (function, role, version):
            return series
    found.append(Series(function, role, version))
    return found[-1]


def decision_label(verdict: str, action: str) -> str:
    """A verdict and what the engine did on it: "pass", "fail: rolled back", "inconclusive:
    extended"; the verdict alone when the action is only its consequence."""
    same = action == verdict or {"pass": "passed", "fail": "failed"}.get(verdict) == action
    return verdict if same else f"{verdict}: {action}"
