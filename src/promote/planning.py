"""Planning: what promoting the estate into one environment involves, in what order. Pure.

``make_plan(estate, env)`` expects an estate that validated without errors.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from promote.analysis.bakes import bake_warnings
from promote.errors import EstateInvalid
from promote.graph import DependencyGraph, critical_path, wave_order
from promote.interpolation import (
    ENGINE_VARIABLES,
    UndefinedVariable,
    interpolate,
    project_variables,
    scope_for,
    variables_in,
)
from promote.model import Estate, Project, SuccessCriterion, TrafficPolicy, format_duration
from promote.rules.context import RuleContext


class Gates(NamedTuple):
    """What stands between a project and success in one environment, in the order it runs.

    Gates and ProjectPlan are tuples: a plan makes one of each per project, and tuples are
    immutable yet several times cheaper to build than frozen dataclasses."""

    approvals: list[str]
    preconditions: list[str]
    steps: list[str]
    smoke_tests: list[str]
    canary: str | None
    success_criteria: list[str]
    soak: str | None
    rollback_triggers: list[str]
    alarms: list[str]
    # Canary steps too short for the analysis to catch a regression (V025).
    bake_warnings: tuple[str, ...] = ()


class ProjectPlan(NamedTuple):
    name: str
    kind: str
    wave: str
    depends_on: list[str]
    layer: int
    estimate: timedelta
    start: timedelta  # earliest, from the start of the run, ignoring the schedule
    finish: timedelta
    gates: Gates


@dataclass(frozen=True)
class WavePlan:
    name: str
    title: str
    projects: list[str]
    scheduled: datetime | None
    # With the schedule honoured: a wave starts at its scheduled time or when the waves it
    # depends on have finished, whichever is later.
    estimated_start: datetime | None
    estimated_finish: datetime | None


@dataclass(frozen=True)
class EnvironmentPlan:
    environment: str
    account_id: str
    region: str
    layers: list[list[str]]
    critical_path: list[str]
    duration: timedelta
    projects: dict[str, ProjectPlan]
    waves: list[WavePlan]


def make_plan(estate: Estate, env: str, context: RuleContext | None = None) -> EnvironmentPlan:
    environment = estate.environment(env)
    ctx = context or RuleContext(estate)
    graph = ctx.graph
    if graph is None:
        raise EstateInvalid([])  # cycles cannot be planned: validate first
    texts = _Texts(scope_for(estate.spec.environments, env), _runtime_names(estate))
    times = graph.earliest_times()
    generations = graph.layers(times)
    layer_of = {name: index for index, names in enumerate(generations) for name in names}
    projects = {
        name: ProjectPlan(
            name=name,
            kind=p.kind.value,
            wave=p.wave,
            depends_on=p.dependency_names,
            layer=layer_of[name],
            estimate=p.estimate,
            start=timedelta(seconds=times[name].start),
            finish=timedelta(seconds=times[name].finish),
            gates=gates_for(estate, p, env, texts=texts),
        )
        for name, p in ctx.projects.items()
    }
    total = max((t.finish for t in times.values()), default=0.0)
    return EnvironmentPlan(
        environment=env,
        account_id=environment.account_id,
        region=environment.region,
        layers=generations,
        critical_path=critical_path(times),
        duration=timedelta(seconds=total),
        projects=projects,
        waves=_timeline(estate, graph, env),
    )


def _timeline(estate: Estate, graph: DependencyGraph, env: str) -> list[WavePlan]:
    scheduled = {w.name: w.schedule[env] for w in estate.spec.waves if env in w.schedule}
    origin = min(scheduled.values(), default=None)
    release = (
        {wave: (when - origin).total_seconds() for wave, when in scheduled.items()}
        if origin
        else {}
    )
    times = graph.earliest_times(release=release)
    by_wave: dict[str | None, list[str]] = {}
    for project, node in graph.nodes.items():
        by_wave.setdefault(node.wave, []).append(project)
    plans = []
    for name in wave_order(graph.wave_deps):
        wave = estate.wave(name)
        members = sorted(by_wave.get(name, ()))
        start = min((times[p].start for p in members), default=release.get(name))
        finish = max((times[p].finish for p in members), default=start)
        plans.append(
            WavePlan(
                name=name,
                title=(wave.title if wave and wave.title else name),
                projects=members,
                scheduled=scheduled.get(name),
                estimated_start=_at(origin, start),
                estimated_finish=_at(origin, finish),
            )
        )
    return plans


def _at(origin: datetime | None, offset: float | None) -> datetime | None:
    if origin is None or offset is None:
        return None
    return origin + timedelta(seconds=offset)


class _Texts:
    """Fills the summaries of one environment's plan. A text that uses only the
    environment's names (``${api_domain}``, ``${env}``: most of them) reads the same for every
    project, so it is filled once per plan rather than once per project."""

    def __init__(self, scope: dict[str, str], runtime: frozenset[str]) -> None:
        self.scope = scope
        self.runtime = runtime
        self._names: dict[str, frozenset[str]] = {}
        self._shared: dict[str, str] = {}

    def filler(self, project: Project) -> Callable[[str], str]:
        own = set(project.vars) | _captures(project)
        if not own:
            return self._fill_shared
        values = _values(self.scope, project)
        keep = self.runtime | own

        def fill(text: str) -> str:
            if "$" not in text:
                return text
            names = self._names.get(text)
            if names is None:
                names = self._names[text] = frozenset(variables_in(text))
            return self._fill_shared(text) if names.isdisjoint(own) else _fill(text, values, keep)

        return fill

    def _fill_shared(self, text: str) -> str:
        if "$" not in text:
            return text
        filled = self._shared.get(text)
        if filled is None:
            filled = self._shared[text] = _fill(text, self.scope, self.runtime)
        return filled


def _fill(text: str, values: Mapping[str, str], keep: Collection[str]) -> str:
    try:
        return interpolate(text, values, keep)
    except UndefinedVariable:
        return text  # reported by validation; the plan shows the template as written


def gates_for(
    estate: Estate,
    project: Project,
    env: str,
    scope: dict[str, str] | None = None,
    texts: _Texts | None = None,
) -> Gates:
    """The gates of ``project`` in ``env``, with templates filled in where they can be.
    ``scope`` (``scope_for(environments, env)``) and ``texts`` are shared when planning many
    projects; run-time values (inputs, the engine's, captures) stay as placeholders."""
    if texts is None:
        base = scope if scope is not None else _scope(estate, env)
        texts = _Texts(base, _runtime_names(estate))
    fill = texts.filler(project)

    canary = project.canary.get(env)
    soak = project.soak.get(env)
    return Gates(
        approvals=[
            f"{r.count} of {_title(estate, r.role)}" if r.count > 1 else _title(estate, r.role)
            for r in project.approvals.get(env, [])
        ],
        preconditions=[fill(c.summary()) for c in project.preconditions if c.applies_to(env)],
        steps=[fill(s.summary()) for s in project.steps if s.applies_to(env)],
        smoke_tests=[
            fill(f"{t.name}: {t.method} {t.url}") for t in project.smoke_tests if t.applies_to(env)
        ],
        canary=_describe_canary(canary) if canary else None,
        success_criteria=[_criterion(c) for c in project.success_criteria.get(env, [])],
        soak=(
            f"{soak.checkpoints} checkpoints over {format_duration(soak.duration)}"
            if soak
            else None
        ),
        rollback_triggers=[
            _scoped(str(t.when) if t.when else str(t.manual), t.scope)
            for t in project.rollback_triggers
            if t.applies_to(env)
        ],
        alarms=[
            f"{a.name}: {_scoped(str(a.when), a.scope)}"
            for a in project.alarms
            if a.applies_to(env)
        ],
        bake_warnings=tuple(bake_warnings(project, env)) if canary else (),
    )


def _scoped(text: str, scope: str | None) -> str:
    return f"{text} ({scope})" if scope else text


def _criterion(criterion: SuccessCriterion) -> str:
    if criterion.when is not None:
        return _scoped(str(criterion.when), criterion.scope)
    return str(criterion.manual)


def _scope(estate: Estate, env: str) -> dict[str, str]:
    estate.environment(env)  # raises UnknownEnvironment with a suggestion
    return scope_for(estate.spec.environments, env)


def _values(base: dict[str, str], project: Project) -> dict[str, str]:
    try:
        return project_variables(base, project.vars)
    except UndefinedVariable:
        return base


def _runtime_names(estate: Estate) -> frozenset[str]:
    return frozenset(estate.spec.inputs) | ENGINE_VARIABLES


def _captures(project: Project) -> set[str]:
    names: set[str] = set()
    for test in project.smoke_tests:
        names.update(test.capture)
    return names


def _title(estate: Estate, role: str) -> str:
    found = estate.spec.roles.get(role)
    return found.title if found else role


def _describe_canary(policy: TrafficPolicy) -> str:
    if policy.strategy == "all_at_once":
        return "all at once"
    if policy.strategy == "linear":
        interval = format_duration(policy.interval or timedelta())
        return f"linear +{policy.step_weight}% every {interval}"
    parts = []
    for step in policy.steps:
        bake = f" ({format_duration(step.bake)})" if step.bake else ""
        parts.append(f"{step.weight}%{bake}")
    return " -> ".join(parts)
