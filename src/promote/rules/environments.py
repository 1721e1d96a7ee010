"""Rules about environments, accounts, regions, the promotion path and roles."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from promote.diagnostics import Severity, YamlPath
from promote.interpolation import UndefinedVariable, interpolate, scope_for
from promote.model import EDGE_REGION, Project
from promote.model.checks import CertificateIssued
from promote.model.steps import CloudFrontInvalidate, LambdaDeploy
from promote.rules import rule
from promote.rules.context import Finding, RuleContext
from promote.suggest import did_you_mean

E, W = Severity.ERROR, Severity.WARNING
_ACCOUNT_ID = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")


@rule("V009", "account-id", E, "An account id is not exactly 12 digits.")
def account_id(ctx: RuleContext) -> Iterator[Finding]:
    for name, env in ctx.spec.environments.items():
        if not _ACCOUNT_ID.match(env.account_id):
            yield ctx.in_spec(
                ("environments", name, "account_id"),
                f"account id `{env.account_id}` of {name} is not 12 digits",
            )


@rule("V022", "region-name", E, "A region is not an AWS region name.")
def region_name(ctx: RuleContext) -> Iterator[Finding]:
    for name, env in ctx.spec.environments.items():
        for key in ("region", "dr_region", "edge_region"):
            value = getattr(env, key)
            if value is not None and not _REGION.match(value):
                yield ctx.in_spec(
                    ("environments", name, key),
                    f"`{value}` is not an AWS region name (such as eu-west-1)",
                )


@rule("V005", "edge-region", E, "CloudFront certificates or Lambda@Edge outside us-east-1.")
def edge_region(ctx: RuleContext) -> Iterator[Finding]:
    for name, env in ctx.spec.environments.items():
        if env.edge_region != EDGE_REGION:
            yield ctx.in_spec(
                ("environments", name, "edge_region"),
                f"edge region of {name} is {env.edge_region}: CloudFront certificates and "
                f"Lambda@Edge must be in {EDGE_REGION}",
            )
    for project in ctx.estate.projects:
        yield from _edge_items(ctx, project)


def _edge_items(ctx: RuleContext, project: Project) -> Iterator[Finding]:
    for section in ("preconditions", "steps", "rollback"):
        for index, item in enumerate(getattr(project, section)):
            what = _edge_resource(item)  # a cheap type test first: most items are not edge
            if what is None or item.region is None:
                continue
            region = item.region
            for env_name, resolved in _resolved_regions(ctx, region):
                if resolved != EDGE_REGION:
                    yield ctx.in_project(
                        project,
                        (section, index, "region"),
                        f"{what} must be in {EDGE_REGION}, "
                        f"but resolves to {resolved} in {env_name}",
                    )
                    break


def _edge_resource(item: object) -> str | None:
    if isinstance(item, LambdaDeploy) and item.edge:
        return "Lambda@Edge function"
    if isinstance(item, CertificateIssued) and item.for_cloudfront:
        return "a CloudFront certificate"
    if isinstance(item, CloudFrontInvalidate):
        return "CloudFront"
    return None


def _resolved_regions(ctx: RuleContext, region: str) -> Iterator[tuple[str, str]]:
    for env_name in ctx.spec.environments:
        try:
            yield env_name, interpolate(region, scope_for(ctx.spec.environments, env_name))
        except UndefinedVariable:
            continue  # reported by the undefined-variable rule


@rule("V013", "promotion-path", E, "The promotion path repeats an environment.")
def promotion_path(ctx: RuleContext) -> Iterator[Finding]:
    seen: set[str] = set()
    for index, name in enumerate(ctx.spec.promotion_path):
        if name in seen:
            yield ctx.in_spec(("promotion_path", index), f"`{name}` appears twice on the path")
        seen.add(name)


@rule("V023", "off-path-environment", W, "An environment is not on the promotion path.")
def off_path(ctx: RuleContext) -> Iterator[Finding]:
    for name in ctx.spec.environments:
        if name not in ctx.spec.promotion_path:
            yield ctx.in_spec(
                ("environments", name),
                f"environment `{name}` is not on the promotion path",
                at_key=True,
            )


@rule("V012", "unknown-environment", E, "Something names an environment the estate lacks.")
def unknown_environment(ctx: RuleContext) -> Iterator[Finding]:
    known = ctx.spec.environments
    for index, name in enumerate(ctx.spec.promotion_path):
        if name not in known:
            yield ctx.in_spec(("promotion_path", index), _unknown(name, known))
    for index, wave in enumerate(ctx.spec.waves):
        for env in wave.schedule:
            if env not in known:
                yield ctx.in_spec(("waves", index, "schedule", env), _unknown(env, known), True)
    for project in ctx.estate.projects:
        for path, env in _environment_references(project):
            if env not in known:
                yield ctx.in_project(project, path, _unknown(env, known), at_key=True)


def _environment_references(project: Project) -> Iterator[tuple[YamlPath, str]]:
    for section in ("approvals", "canary", "success_criteria", "soak"):
        for env in getattr(project, section):
            yield (section, env), env
    for section in ("preconditions", "steps", "smoke_tests", "rollback"):
        for index, item in enumerate(getattr(project, section)):
            for position, env in enumerate(item.environments or ()):
                yield (section, index, "environments", position), env


def _unknown(name: str, known: Iterable[str]) -> str:
    return f"unknown environment `{name}`{did_you_mean(name, known)}"


@rule("V015", "role-without-people", W, "A role of the approval matrix has nobody in it.")
def role_without_people(ctx: RuleContext) -> Iterator[Finding]:
    for key, role in ctx.spec.roles.items():
        if not role.people:
            yield ctx.in_spec(
                ("roles", key),
                f"role `{key}` ({role.title}) has no people: nobody can approve",
                at_key=True,
            )
