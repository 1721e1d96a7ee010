"""Rules about gates: approvals, roles, canary policies and template variables."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise

from pydantic import BaseModel

from promote.analysis.bakes import bake_warnings
from promote.diagnostics import Severity, YamlPath
from promote.interpolation import (
    ENGINE_VARIABLES,
    is_valid_name,
    scope_for,
    strings_in,
    variables_in,
)
from promote.model import Project, ProjectKind, TrafficPolicy
from promote.model.checks import ManualCheck
from promote.model.steps import HttpRequest, ManualStep, TerraformStep
from promote.rules import rule
from promote.rules.context import Finding, RuleContext
from promote.suggest import did_you_mean

E, W = Severity.ERROR, Severity.WARNING
TEMPLATED_SECTIONS = ("preconditions", "steps", "smoke_tests", "rollback")


@rule(
    "V006",
    "production-canary",
    E,
    "A lambda-api project is promoted to production without a canary policy.",
)
def production_canary(ctx: RuleContext) -> Iterator[Finding]:
    for project in ctx.estate.projects:
        if project.kind is not ProjectKind.LAMBDA_API:
            continue
        for env in ctx.production():
            if env not in project.canary:
                yield ctx.in_project(
                    project,
                    ("canary", env),
                    f"`{project.name}` is a lambda-api promoted to {env} without a canary "
                    f"policy: add canary.{env} (e.g. steps 10% -> 50% -> 100%)",
                )


@rule("V020", "production-all-at-once", W, "Production traffic moves all at once.")
def production_all_at_once(ctx: RuleContext) -> Iterator[Finding]:
    for project in ctx.estate.projects:
        for env in ctx.production():
            policy = project.canary.get(env)
            if policy is not None and policy.strategy == "all_at_once":
                yield ctx.in_project(
                    project,
                    ("canary", env, "strategy"),
                    f"`{project.name}` shifts all {env} traffic at once: no canary can catch a "
                    f"bad release",
                )


@rule("V025", "underpowered-bake", W, "A canary bake is too short to detect a regression.")
def underpowered_bake(ctx: RuleContext) -> Iterator[Finding]:
    for project in ctx.estate.projects:
        for env in project.canary:
            for warning in bake_warnings(project, env):
                yield ctx.in_project(
                    project, ("canary", env, "steps"), f"`{project.name}` in {env}: {warning}"
                )


@rule("V016", "canary-shape", E, "Canary weights do not rise strictly to 100%.")
def canary_shape(ctx: RuleContext) -> Iterator[Finding]:
    for project in ctx.estate.projects:
        for env, policy in project.canary.items():
            problem = _canary_problem(policy)
            if problem:
                yield ctx.in_project(project, ("canary", env, "steps"), problem)


def _canary_problem(policy: TrafficPolicy) -> str | None:
    if policy.strategy != "canary":
        return None
    weights = [s.weight for s in policy.steps]
    if any(b <= a for a, b in pairwise(weights)):
        return f"canary weights must rise step by step, got {weights}"
    if weights[-1] != 100:
        return f"the last canary step must send 100% of traffic, got {weights[-1]}%"
    return None


@rule("V007", "unknown-role", E, "An approval or sign-off names a role the matrix lacks.")
def unknown_role(ctx: RuleContext) -> Iterator[Finding]:
    roles = ctx.spec.roles
    for project in ctx.estate.projects:
        for path, role in _role_references(project):
            if role not in roles:
                yield ctx.in_project(
                    project,
                    path,
                    f"unknown role `{role}`{did_you_mean(role, roles)}; "
                    f"the approval matrix has {', '.join(roles) or 'no roles'}",
                )


def _role_references(project: Project) -> Iterator[tuple[YamlPath, str]]:
    for env, requirements in project.approvals.items():
        for index, requirement in enumerate(requirements):
            yield ("approvals", env, index), requirement.role
    for env, criteria in project.success_criteria.items():
        for index, criterion in enumerate(criteria):
            if criterion.role:
                yield ("success_criteria", env, index, "role"), criterion.role
    for section in ("steps", "rollback"):
        for index, step in enumerate(getattr(project, section)):
            yield from _step_roles((section, index), step)
    for index, check in enumerate(project.preconditions):
        if isinstance(check, ManualCheck) and check.role:
            yield ("preconditions", index, "role"), check.role


def _step_roles(path: YamlPath, step: object) -> Iterator[tuple[YamlPath, str]]:
    if isinstance(step, ManualStep) and step.role:
        yield (*path, "role"), step.role
    if isinstance(step, TerraformStep):
        for position, role in enumerate(step.destructive_approval):
            yield (*path, "destructive_approval", position), role


@rule(
    "V014",
    "approval-unsatisfiable",
    E,
    "An approval needs more distinct people than its role has.",
)
def approval_unsatisfiable(ctx: RuleContext) -> Iterator[Finding]:
    for project in ctx.estate.projects:
        for env, requirements in project.approvals.items():
            for index, requirement in enumerate(requirements):
                role = ctx.spec.roles.get(requirement.role)
                if role is not None and role.people and requirement.count > len(role.people):
                    yield ctx.in_project(
                        project,
                        ("approvals", env, index),
                        f"needs {requirement.count} distinct `{requirement.role}` approvers in "
                        f"{env}, but the role has {len(role.people)}",
                    )


@dataclass
class _Item:
    """One templated item of a project (a check, step, smoke test or rollback step) and the
    variable names its strings use. Where a name sits is only worked out if it is unknown."""

    section: str
    index: int | None  # None for a section that is one item (api)
    environments: Sequence[str] | None
    names: list[str]
    captures: Sequence[str]
    model: BaseModel

    def paths(self, name: str) -> list[YamlPath]:
        data = self.model.model_dump(by_alias=True, exclude_defaults=True)
        at: YamlPath = (self.section,) if self.index is None else (self.section, self.index)
        found = [(*at, *path) for path, text in strings_in(data) if name in variables_in(text)]
        return found or [at]


@rule("V010", "undefined-variable", E, "A template uses a variable that is not defined.")
def undefined_variable(ctx: RuleContext) -> Iterator[Finding]:
    always = set(ctx.spec.inputs) | ENGINE_VARIABLES
    environments = ctx.spec.environments
    known_in = {name: set(scope_for(environments, name)) | always for name in environments}
    # Known in every environment whatever the order: most names, so most projects need no
    # per-environment pass at all.
    everywhere = set.intersection(*known_in.values()) if known_in else set()
    for project in ctx.estate.projects:
        items = _templated_items(project)
        var_names = [(key, variables_in(template)) for key, template in project.vars.items()]
        if _all_known(items, var_names, everywhere | set(project.vars)):
            continue
        missing: dict[tuple[YamlPath, str], tuple[list[str], set[str]]] = {}
        for env, known in known_in.items():
            for path, name, scope in _unknown_in_vars(var_names, known):
                _note(missing, path, name, env, scope)
            for item, name, scope in _unknown_names(project, items, env, known):
                for path in item.paths(name):
                    _note(missing, path, name, env, scope)
        for (path, name), (envs, scope) in missing.items():
            yield ctx.in_project(project, path, _undefined_message(name, envs, scope))


def _all_known(items: list[_Item], var_names: list[tuple[str, list[str]]], known: set[str]) -> bool:
    # A var may only use the vars before it, so vars are checked with the env's names only.
    return all(n in known for i in items for n in i.names) and all(
        n in known and n not in dict(var_names) for _, names in var_names for n in names
    )


def _note(
    missing: dict[tuple[YamlPath, str], tuple[list[str], set[str]]],
    path: YamlPath,
    name: str,
    env: str,
    scope: set[str],
) -> None:
    envs, seen = missing.setdefault((path, name), ([], set()))
    if env not in envs:
        envs.append(env)
    seen.update(scope)


def _undefined_message(name: str, envs: list[str], known: set[str]) -> str:
    if not is_valid_name(name):
        return f"`${{{name}}}` is not a valid variable name (letters, digits and _, or env.name)"
    where = ", ".join(envs)
    return f"undefined variable `${{{name}}}` in {where}{did_you_mean(name, known)}"


@functools.lru_cache(maxsize=4096)
def _names_in(text: str) -> tuple[str, ...]:
    # Many projects share items word for word (`function: ${function}`): scan each once.
    return tuple(variables_in(text))


def _templated_items(project: Project) -> list[_Item]:
    # Names are read from each item's JSON (serialised by pydantic-core, in Rust): on large
    # estates that is several times faster than walking the data in Python.
    items = []
    for section in TEMPLATED_SECTIONS:
        for index, item in enumerate(getattr(project, section)):
            text = item.model_dump_json(by_alias=True, exclude_defaults=True)
            names = list(_names_in(text)) if "${" in text else []
            captures = list(item.capture) if isinstance(item, HttpRequest) else []
            items.append(_Item(section, index, item.environments, names, captures, item))
    if project.api is not None:
        text = project.api.model_dump_json()
        items.append(_Item("api", None, None, variables_in(text), [], project.api))
    return items


def _unknown_names(
    project: Project, items: list[_Item], env: str, known: set[str]
) -> Iterator[tuple[_Item, str, set[str]]]:
    """Names no scope defines. ``known`` is shared between projects and never changed; what a
    project adds (its vars, then captures in order) is kept apart, as it is usually small."""
    local: set[str] = set(project.vars)
    for item in items:
        if item.environments is not None and env not in item.environments:
            continue
        for name in item.names:
            if name not in known and name not in local:
                yield item, name, known | local
        local.update(item.captures)


def _unknown_in_vars(
    var_names: list[tuple[str, list[str]]], known: set[str]
) -> Iterator[tuple[YamlPath, str, set[str]]]:
    # Each var may use the ones written before it.
    earlier: set[str] = set()
    for key, names in var_names:
        for name in names:
            if name not in known and name not in earlier:
                yield ("vars", key), name, known | earlier
        earlier.add(key)
