"""Rules about the shape of the estate: names, dependencies, cycles, waves and schedules."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from itertools import pairwise

from promote.diagnostics import Severity
from promote.graph import find_cycles
from promote.model import Project
from promote.rules import rule
from promote.rules.context import Finding, RuleContext
from promote.suggest import did_you_mean

E, W = Severity.ERROR, Severity.WARNING


@rule("V001", "unknown-dependency", E, "A project depends on a project the estate does not have.")
def unknown_dependency(ctx: RuleContext) -> Iterator[Finding]:
    for project in ctx.estate.projects:
        for index, name in enumerate(project.dependency_names):
            if name not in ctx.projects:
                hint = did_you_mean(name, ctx.projects)
                yield ctx.in_project(
                    project,
                    ("depends_on", index),
                    f"`{project.name}` depends on unknown project `{name}`{hint}",
                )


@rule("V002", "dependency-cycle", E, "Projects depend on each other in a cycle.")
def dependency_cycle(ctx: RuleContext) -> Iterator[Finding]:
    for cycle in ctx.project_cycles:
        first = ctx.projects[cycle[0]]
        index = first.dependency_names.index(cycle[1])
        yield ctx.in_project(
            first, ("depends_on", index), f"dependency cycle: {' -> '.join(cycle)}"
        )


@rule("V003", "wave-order", E, "A project depends on a project in a wave that runs after its own.")
def wave_order(ctx: RuleContext) -> Iterator[Finding]:
    for project, dependency in ctx.cross_wave_edges:
        if project.wave not in ctx.wave_ancestors[dependency.wave]:
            continue
        declared = project.wave in ctx.declared_wave_ancestors[dependency.wave]
        why = "runs after it" if declared else "also waits for it, so neither can go first"
        index = project.dependency_names.index(dependency.name)
        yield ctx.in_project(
            project,
            ("depends_on", index),
            f"`{project.name}` (wave `{project.wave}`) depends on `{dependency.name}` in wave "
            f"`{dependency.wave}`, which {why}",
        )


@rule("V021", "wave-cycle", E, "Waves declare dependencies on each other in a cycle.")
def wave_cycle(ctx: RuleContext) -> Iterator[Finding]:
    for cycle in find_cycles(ctx.explicit_wave_deps):
        index = _wave_index(ctx, cycle[0])
        yield ctx.in_spec(("waves", index, "depends_on"), f"wave cycle: {' -> '.join(cycle)}")


@rule("V011", "unknown-wave", E, "A project or wave names a wave the estate does not have.")
def unknown_wave(ctx: RuleContext) -> Iterator[Finding]:
    for project in ctx.estate.projects:
        if project.wave not in ctx.waves:
            hint = did_you_mean(project.wave, ctx.waves)
            yield ctx.in_project(project, ("wave",), f"unknown wave `{project.wave}`{hint}")
    for index, wave in enumerate(ctx.spec.waves):
        for position, name in enumerate(wave.depends_on):
            if name not in ctx.waves:
                yield ctx.in_spec(
                    ("waves", index, "depends_on", position),
                    f"wave `{wave.name}` depends on unknown wave `{name}`"
                    f"{did_you_mean(name, ctx.waves)}",
                )


@rule("V008", "duplicate-name", E, "Two projects or two waves share a name.")
def duplicate_name(ctx: RuleContext) -> Iterator[Finding]:
    first: dict[str, Project] = {}
    for project in ctx.estate.projects:
        earlier = first.setdefault(project.name, project)
        if earlier is not project:  # the file is only looked up for a duplicate
            yield ctx.in_project(
                project,
                ("name",),
                f"project `{project.name}` is also defined in {earlier.origin}",
            )
    seen: set[str] = set()
    for index, wave in enumerate(ctx.spec.waves):
        if wave.name in seen:
            yield ctx.in_spec(("waves", index, "name"), f"wave `{wave.name}` is defined twice")
        seen.add(wave.name)


@rule("V017", "dependency-reason", W, "A dependency does not say why it exists.")
def dependency_reason(ctx: RuleContext) -> Iterator[Finding]:
    for project in ctx.estate.projects:
        for index, dependency in enumerate(project.depends_on):
            if not dependency.reason:
                yield ctx.in_project(
                    project,
                    ("depends_on", index),
                    f"dependency on `{dependency.project}` has no `reason`: say what it needs",
                )


@rule("V024", "empty-wave", W, "A wave has no projects.")
def empty_wave(ctx: RuleContext) -> Iterator[Finding]:
    used = {p.wave for p in ctx.estate.projects}
    for index, wave in enumerate(ctx.spec.waves):
        if wave.name not in used:
            yield ctx.in_spec(("waves", index, "name"), f"wave `{wave.name}` has no projects")


@rule(
    "V004",
    "schedule-order",
    E,
    "A wave is scheduled, in some environment, before a wave it depends on.",
)
def schedule_order(ctx: RuleContext) -> Iterator[Finding]:
    for index, wave in enumerate(ctx.spec.waves):
        for env, when in wave.schedule.items():
            for other_name in sorted(ctx.acyclic_wave_deps.get(wave.name, ())):
                other = _scheduled(ctx, other_name, env)
                if other is not None and when < other:
                    yield ctx.in_spec(
                        ("waves", index, "schedule", env),
                        f"wave `{wave.name}` is scheduled in {env} at {_fmt(when)}, before wave "
                        f"`{other_name}` it depends on ({_fmt(other)})",
                    )


@rule(
    "V019",
    "schedule-tight",
    W,
    "A wave starts before the estimated finish of a wave it depends on.",
)
def schedule_tight(ctx: RuleContext) -> Iterator[Finding]:
    durations = _wave_durations(ctx)
    for index, wave in enumerate(ctx.spec.waves):
        for env, when in wave.schedule.items():
            for other_name in sorted(ctx.acyclic_wave_deps.get(wave.name, ())):
                other = _scheduled(ctx, other_name, env)
                if other is None or when < other:
                    continue  # unscheduled, or already a schedule-order error
                finish = other.timestamp() + durations.get(other_name, 0.0)
                if when.timestamp() < finish:
                    yield ctx.in_spec(
                        ("waves", index, "schedule", env),
                        f"wave `{wave.name}` starts in {env} at {_fmt(when)}, but wave "
                        f"`{other_name}` is estimated to finish at "
                        f"{_fmt(datetime.fromtimestamp(finish, when.tzinfo))}",
                    )


@rule(
    "V018",
    "schedule-path-order",
    E,
    "A wave is scheduled in an environment before it is scheduled in the one before it on "
    "the promotion path.",
)
def schedule_path_order(ctx: RuleContext) -> Iterator[Finding]:
    path = [env for env in ctx.spec.promotion_path if env in ctx.spec.environments]
    for index, wave in enumerate(ctx.spec.waves):
        for earlier, later in pairwise(path):
            before, after = wave.schedule.get(earlier), wave.schedule.get(later)
            if before is not None and after is not None and after < before:
                yield ctx.in_spec(
                    ("waves", index, "schedule", later),
                    f"wave `{wave.name}` is scheduled in {later} at {_fmt(after)}, before "
                    f"{earlier} ({_fmt(before)}), which comes first on the promotion path",
                )


def _scheduled(ctx: RuleContext, wave_name: str, env: str) -> datetime | None:
    wave = ctx.estate.wave(wave_name)
    return wave.schedule.get(env) if wave else None


def _wave_index(ctx: RuleContext, name: str) -> int:
    return next(i for i, w in enumerate(ctx.spec.waves) if w.name == name)


def _wave_durations(ctx: RuleContext) -> dict[str, float]:
    """Each wave's own length: its projects' longest chain of estimates."""
    if ctx.graph is None:
        return {}
    times = ctx.graph.earliest_times(within_waves=True)
    durations: dict[str, float] = {}
    for project in ctx.projects.values():
        durations[project.wave] = max(durations.get(project.wave, 0.0), times[project.name].finish)
    return durations


def _fmt(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M")
