"""What the analysis charts plot and mark: series across steps, traffic shifts, decisions. Pure.

:mod:`promote.engine.report_svg_analysis` draws them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from promote.engine.report_analysis_model import (
    ProjectAnalysis,
    Series,
    Soak,
    decision_label,
    find_series,
)
from promote.engine.report_times import moment

# A chart's measure -> the rule metric whose thresholds it shows.
CHARTED = {"error_rate": "error_rate", "p95": "latency_p95"}


@dataclass(frozen=True)
class Marker:
    """A moment on a chart: a traffic shift (``verdict`` None) or a decision."""

    at: float  # epoch seconds
    label: str
    tip: str
    verdict: str | None = None


def canary_markers(analysis: ProjectAnalysis) -> list[Marker]:
    """Each canary step's shift, and each verdict at the end of (or during) its bake."""
    markers = []
    for step in analysis.steps:
        at = moment(step.time or "")
        if at is not None:
            tip = f"canary step {step.step + 1}: {step.weight}% of traffic on the new version"
            markers.append(Marker(at.timestamp(), f"{step.weight}%", tip))
        for verdict in step.verdicts:
            markers += _decision(verdict.time, f"{step.weight}%", verdict.verdict, verdict.action)
    return markers


def soak_markers(soak: Soak) -> list[Marker]:
    """The soak's start, and each checkpoint's verdict."""
    markers = []
    start = moment(soak.started or "")
    if start is not None:
        markers.append(Marker(start.timestamp(), "soak", f"soak of {soak.planned} checkpoints"))
    for checkpoint in soak.checkpoints:
        where, verdict = f"{checkpoint.checkpoint}/{checkpoint.of}", checkpoint.verdict
        markers += _decision(checkpoint.time, where, verdict, verdict, shown=where)
    return markers


def _decision(
    time: str, where: str, verdict: str, action: str, shown: str | None = None
) -> list[Marker]:
    at = moment(time)
    if at is None:
        return []
    label = decision_label(verdict, action)
    tip = f"decision at {where}: {label}"
    return [Marker(at.timestamp(), f"{shown} {label}" if shown else label, tip, verdict)]


def merged(found: Iterable[Series]) -> list[Series]:
    """One series per function, role and version, across canary steps; none empty."""
    joined: list[Series] = []
    for series in found:
        find_series(joined, series.function, series.role, series.version).points += series.points
    return [s for s in joined if s.points]
