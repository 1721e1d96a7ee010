"""What a run will do, fixed when it starts: the run spec. Pure.

The spec is plain JSON and is the DBOS workflow's input. Replay after a crash must take the
same path, so the workflow never reads the estate again: an estate edited while a run waits
for approvals does not change that run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from promote.engine.approvals import Requirement
from promote.engine.errors import UnknownProject
from promote.graph import DependencyGraph, Node
from promote.interpolation import UndefinedVariable, interpolate, project_variables, scope_for
from promote.model import Estate, Project
from promote.model.base import Condition
from promote.model.checks import ManualCheck
from promote.model.policies import Soak, SuccessCriterion, TrafficPolicy
from promote.model.steps import LambdaDeploy
from promote.suggest import did_you_mean

# At most this many projects of the runs act in one AWS account at once, by default.
DEFAULT_PER_ACCOUNT = 4


@dataclass(frozen=True)
class ProjectSpec:
    name: str
    depends_on: list[str]  # only the dependencies promoted in this run
    variables: dict[str, str]
    checks: list[dict[str, Any]]  # automatic preconditions, as model dumps
    requirements: list[Requirement]  # approvals, manual checks included
    steps: list[dict[str, Any]]
    smoke_tests: list[dict[str, Any]]
    rollback: list[dict[str, Any]]
    # The release: {project, sha256, label, size, kind}; None for a project with nothing to
    # build (see artifacts.py).
    artifact: dict[str, Any] | None = None
    # Traffic steps after the smoke tests: [{weight, bake_seconds}], ending at 100.
    canary: list[dict[str, Any]] = field(default_factory=list)
    # Success criteria: people sign off the manual ones; metric ones are listed for the
    # analysis that judges them (not this engine's).
    sign_offs: list[Requirement] = field(default_factory=list)
    metric_criteria: list[str] = field(default_factory=list)
    # What the ledger records when the project succeeds: "deployed", or "rolled_back" in a
    # whole-run rollback (whose ``artifact`` is then the release that is back, or {}).
    ledger_status: str = "deployed"
    # Manual steps a rollback leaves to people: recorded, not waited for.
    advice: list[dict[str, Any]] = field(default_factory=list)
    skip: str | None = None  # why the run skips the project (not in the sandbox)
    # How the canary steps are judged (see analysis_flow.py): {rules, settings, interval,
    # inconclusive, namespace, dimensions}; None for timed bakes only.
    analysis: dict[str, Any] | None = None
    criteria_rules: list[dict[str, Any]] = field(default_factory=list)  # metric criteria
    # {duration, checkpoints, rules, manual, known_alarms, settings}; None without a soak.
    soak: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["requirements"] = [r.to_json() for r in self.requirements]
        data["sign_offs"] = [r.to_json() for r in self.sign_offs]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProjectSpec:
        fields = dict(data)
        fields["requirements"] = [Requirement.from_json(r) for r in data["requirements"]]
        fields["sign_offs"] = [Requirement.from_json(r) for r in data.get("sign_offs", [])]
        return cls(**fields)


@dataclass(frozen=True)
class RunSpec:
    run_id: str
    environment: str
    account_id: str
    region: str
    started_by: str
    four_eyes: bool
    approval_ttl: float  # seconds an approval wait lasts before the project fails
    roles: dict[str, list[str]]  # role -> people
    titles: dict[str, str]  # role -> its title, e.g. tech_lead -> Tech Lead
    layers: list[list[str]]
    projects: dict[str, ProjectSpec] = field(default_factory=dict)
    # Bake times are multiplied by this (the demo's --time-scale); 1 in real promotions.
    time_scale: float = 1.0
    rolls_back: str | None = None  # the run a rollback run undoes
    sandbox: bool = False  # promoting into `promote sandbox`: not_in_sandbox items skip

    def to_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["projects"] = {n: p.to_json() for n, p in self.projects.items()}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunSpec:
        fields = dict(data)
        fields["projects"] = {n: ProjectSpec.from_json(p) for n, p in data["projects"].items()}
        return cls(**fields)


def make_run_spec(
    estate: Estate,
    env: str,
    run_id: str,
    started_by: str,
    projects: Sequence[str] | None = None,
    *,
    artifacts: Mapping[str, dict[str, Any]] | None = None,
    time_scale: float = 1.0,
    sandbox: bool = False,
) -> RunSpec:
    environment = estate.environment(env)
    chosen = select_projects(estate, projects)
    names = {p.name for p in chosen}
    base = scope_for(estate.spec.environments, env)
    spec = RunSpec(
        run_id=run_id,
        environment=env,
        account_id=environment.account_id,
        region=environment.region,
        started_by=started_by,
        four_eyes=environment.four_eyes,
        approval_ttl=estate.spec.approval_ttl.total_seconds(),
        roles={name: list(role.people) for name, role in estate.spec.roles.items()},
        titles={name: role.title for name, role in estate.spec.roles.items()},
        layers=_layers(estate, chosen),
        projects={
            p.name: _project_spec(estate, p, env, names, base, (artifacts or {}).get(p.name))
            for p in chosen
        },
        time_scale=time_scale,
        sandbox=sandbox,
    )
    for p in chosen:
        # The engine's own variables (interpolation.ENGINE_VARIABLES); version and
        # previous_version come from lambda.deploy's outputs.
        engine = {"run_id": run_id, "project": p.name, "started_by": started_by}
        release = spec.projects[p.name].artifact or {}
        if release.get("sha256"):
            engine["artifact_sha256"] = str(release["sha256"])
        variables = {**spec.projects[p.name].variables, **engine}
        spec.projects[p.name] = replace(spec.projects[p.name], variables=variables)
    if sandbox:
        for p in chosen:
            if p.not_in_sandbox:
                spec.projects[p.name] = replace(
                    spec.projects[p.name], skip=f"not in the sandbox: {p.not_in_sandbox}"
                )
    return spec


def select_projects(estate: Estate, projects: Sequence[str] | None) -> list[Project]:
    if projects is None:
        return list(estate.projects)
    known = [p.name for p in estate.projects]
    chosen = []
    for name in projects:
        found = estate.project(name)
        if found is None:
            raise UnknownProject(f"unknown project `{name}`{did_you_mean(name, known)}")
        chosen.append(found)
    return chosen


def _layers(estate: Estate, chosen: list[Project]) -> list[list[str]]:
    # Dependencies outside the selection are taken as already promoted: a run of one project
    # does not redeploy what it depends on.
    nodes = {p.name: Node(p.name, p.dependency_names, p.wave) for p in chosen}
    waves = {w.name: w.depends_on for w in estate.spec.waves}
    return DependencyGraph(nodes, waves).layers()


def _project_spec(
    estate: Estate,
    project: Project,
    env: str,
    chosen: set[str],
    base: dict[str, str],
    artifact: dict[str, Any] | None,
) -> ProjectSpec:
    checks = [c for c in project.preconditions if c.applies_to(env)]
    canary = _canary(project.canary.get(env))
    criteria = project.success_criteria.get(env, [])

    def title(role: str | None) -> str:
        found = estate.spec.roles.get(role) if role else None
        return found.title if found else (role or "anyone with a role")

    try:
        variables = project_variables(base, project.vars)
    except UndefinedVariable:
        variables = dict(base)  # validation reports it; the executor will fail the template
    return ProjectSpec(
        name=project.name,
        depends_on=[d for d in project.dependency_names if d in chosen],
        variables=variables,
        checks=[_dump(c) for c in checks if not isinstance(c, ManualCheck)],
        requirements=_requirements(estate, project, env, checks),
        steps=[_step(s, canary) for s in project.steps if s.applies_to(env)],
        smoke_tests=[_dump(t) for t in project.smoke_tests if t.applies_to(env)],
        rollback=[_dump(s) for s in project.rollback if s.applies_to(env)],
        artifact=artifact,
        canary=canary,
        sign_offs=[
            Requirement(c.role, 1, f"{title(c.role)} to sign off `{c.manual}`", c.manual)
            for c in criteria
            if c.manual
        ],
        metric_criteria=[_criterion(c) for c in criteria if c.when],
        analysis=_analysis(project, env, variables),
        criteria_rules=[
            _rule(c.when, c.scope, trigger=False, window=c.window) for c in criteria if c.when
        ],
        soak=_soak(project.soak.get(env)),
    )


def _rule(
    condition: Condition,
    scope: str | None,
    *,
    trigger: bool,
    window: timedelta | None = None,
    min_samples: int | None = None,
) -> dict[str, Any]:
    return {
        "condition": condition.text,
        "scope": scope or "all",
        "trigger": trigger,
        "window": window.total_seconds() if window else None,
        "min_samples": min_samples,
    }


def _analysis(project: Project, env: str, variables: dict[str, str]) -> dict[str, Any] | None:
    policy = project.canary.get(env)
    if policy is None or not policy.analysis.enabled:
        return None
    settings = policy.analysis
    triggers = [t for t in project.rollback_triggers if t.when and t.applies_to(env)]
    metrics = project.metrics
    return {
        "rules": [
            _rule(t.when, t.scope, trigger=True, window=t.window, min_samples=t.min_samples)
            for t in triggers
            if t.when
        ],
        "settings": {
            "alpha": settings.alpha,
            "min_samples": settings.min_samples,
            "compare": settings.compare,
            "warmup": settings.warmup.total_seconds(),
        },
        "interval": settings.interval.total_seconds(),
        "inconclusive": settings.inconclusive,
        "namespace": metrics.namespace if metrics else None,
        "dimensions": {
            k: _interpolated(v, variables)
            for k, v in (metrics.dimensions if metrics else {}).items()
        },
    }


def _interpolated(text: str, variables: dict[str, str]) -> str:
    try:
        return interpolate(text, variables)
    except UndefinedVariable:
        return text  # validation reports it


def _soak(soak: Soak | None) -> dict[str, Any] | None:
    if soak is None:
        return None
    return {
        "duration": soak.duration.total_seconds(),
        "checkpoints": soak.checkpoints,
        "rules": [_rule(c, None, trigger=False) for c in soak.criteria],
        "manual": list(soak.manual),
        "known_alarms": list(soak.known_alarms),
        "settings": {"alpha": soak.alpha, "min_samples": soak.min_samples, "compare": False},
    }


def _canary(policy: TrafficPolicy | None) -> list[dict[str, Any]]:
    """The policy as constant-weight steps ending at 100 percent; none without a policy."""
    if policy is None:
        return []
    steps: list[tuple[int, timedelta | None]]
    if policy.strategy == "all_at_once":
        steps = [(100, None)]
    elif policy.strategy == "linear":
        assert policy.step_weight is not None  # the model requires it for linear
        weights = list(range(policy.step_weight, 100, policy.step_weight))
        steps = [(w, policy.interval) for w in weights]
    else:
        steps = [(s.weight, s.bake) for s in policy.steps if 0 < s.weight < 100]
    steps = [s for s in steps if s[0] < 100] + [(100, None)]
    return [
        {"weight": weight, "bake_seconds": bake.total_seconds() if bake else 0.0}
        for weight, bake in steps
    ]


def _step(step: Any, canary: list[dict[str, Any]]) -> dict[str, Any]:
    dumped = _dump(step)
    if isinstance(step, LambdaDeploy) and canary:
        dumped["traffic"] = "none"  # the canary steps move the traffic
    return dumped


def _criterion(criterion: SuccessCriterion) -> str:
    assert criterion.when is not None
    text = str(criterion.when)
    return f"{text} ({criterion.scope})" if criterion.scope else text


def _requirements(
    estate: Estate, project: Project, env: str, checks: list[Any]
) -> list[Requirement]:
    def title(role: str) -> str:
        found = estate.spec.roles.get(role)
        return found.title if found else role

    required = [Requirement(a.role, a.count, title(a.role)) for a in project.approvals.get(env, [])]
    for check in checks:
        if isinstance(check, ManualCheck):
            label = title(check.role) if check.role else "anyone with a role"
            required.append(Requirement(check.role, 1, f"{label} for `{check.item}`", check.item))
    return required


def _dump(model: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped
