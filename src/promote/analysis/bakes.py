"""Whether a plan's canary bakes are long enough for the analysis to catch a regression.
Pure: ``promote validate`` (rule V025) and ``promote plan`` ask it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from promote.analysis.sizing import describe, minimum_bake
from promote.model import Project
from promote.model.base import Metric
from promote.model.policies import TrafficPolicy


def bake_warnings(project: Project, env: str) -> list[str]:
    """One line per canary step of ``project`` in ``env`` whose bake is too short to detect
    the error rate the policy must catch, at the traffic it expects."""
    policy = project.canary.get(env)
    if policy is None or not policy.analysis.enabled:
        return []
    analysis = policy.analysis
    rps = analysis.expected_rps
    detect = analysis.detect_error_rate or _trigger_error_rate(project, env)
    if rps is None or detect is None:
        return []
    alpha = (
        analysis.alpha / 2 if analysis.compare and _latency_rules(project, env) else analysis.alpha
    )
    warnings = []
    for weight, bake in _steps(policy):
        need = minimum_bake(rps, weight, detect, analysis.baseline_error_rate, alpha)
        if bake.total_seconds() < need.seconds:
            warnings.append(
                f"{describe(weight, rps, detect, alpha, need)}; its bake is {_minutes(bake)}"
            )
    return warnings


def _trigger_error_rate(project: Project, env: str) -> float | None:
    rates = [
        t.when.threshold
        for t in project.rollback_triggers
        if t.when and t.applies_to(env) and t.when.metric is Metric.ERROR_RATE
        and t.when.op in (">", ">=")
    ]  # fmt: skip
    return min(rates) if rates else None


def _latency_rules(project: Project, env: str) -> bool:
    return any(
        t.when and t.applies_to(env) and "LATENCY" in t.when.metric.name
        for t in project.rollback_triggers
    )


def _steps(policy: TrafficPolicy) -> Iterator[tuple[int, timedelta]]:
    if policy.strategy == "linear" and policy.step_weight and policy.interval:
        for weight in range(policy.step_weight, 100, policy.step_weight):
            yield weight, policy.interval
    elif policy.strategy == "canary":
        for step in policy.steps:
            if 0 < step.weight < 100:
                yield step.weight, step.bake or timedelta(0)


def _minutes(bake: timedelta) -> str:
    seconds = bake.total_seconds()
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"
