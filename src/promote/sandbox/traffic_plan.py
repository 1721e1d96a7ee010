"""What `promote sandbox traffic` sends: requests taken from a project's own smoke tests.

The estate already says what a healthy request to each API looks like: its smoke tests. For
one environment, the first smoke test of each kind that can be filled in becomes that kind's
request:

- ``health``: a GET without an ``Authorization`` header that expects a 2xx;
- ``read``: a GET with one that expects a 2xx;
- ``write``: a POST, PUT or PATCH that expects a 2xx.

``${token}`` is the minted bearer token, and the engine's run-time variables (``${run_id}``
and the like) become a value unique to each request, so writes that must be unique (a SKU)
stay valid under load. A test that needs a value captured by an earlier one (``${id}``) is
skipped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from promote.interpolation import (
    ENGINE_VARIABLES,
    UndefinedVariable,
    interpolate,
    project_variables,
    scope_for,
)
from promote.model import Estate, Project, SmokeTest
from promote.sandbox.errors import SandboxError
from promote.sandbox.traffic import UNIQUE, RequestTemplate, TrafficPlan
from promote.suggest import did_you_mean

WRITES = frozenset({"POST", "PUT", "PATCH"})


def estate_plan(
    estate: Estate,
    env: str,
    mix: Mapping[str, float],
    *,
    token: str,
    project: str | None = None,
) -> TrafficPlan:
    """The requests of ``project`` (default: the first project with an ``api`` route and
    smoke tests) in ``env``, sent in proportions ``mix``."""
    chosen = _project(estate, project)
    values = project_variables(scope_for(estate.spec.environments, env), chosen.vars)
    values["token"] = token
    values.update(dict.fromkeys(ENGINE_VARIABLES, UNIQUE))
    templates: dict[str, RequestTemplate] = {}
    for test in chosen.smoke_tests:
        kind = _kind(test)
        if kind is None or kind in templates or not test.applies_to(env):
            continue
        template = _filled(test, values)
        if template is not None:
            templates[kind] = template
    missing = sorted(k for k, weight in mix.items() if weight > 0 and k not in templates)
    if missing:
        raise SandboxError(
            f"project `{chosen.name}` has no smoke test usable as {', '.join(missing)} in {env} "
            f"(it has: {', '.join(sorted(templates)) or 'none'}); change --mix"
        )
    return TrafficPlan(templates=templates, mix=dict(mix))


def _project(estate: Estate, name: str | None) -> Project:
    if name is not None:
        found = next((p for p in estate.projects if p.name == name), None)
        if found is None:
            names = [p.name for p in estate.projects]
            raise SandboxError(f"unknown project `{name}`{did_you_mean(name, names)}")
        return found
    for candidate in estate.projects:
        if candidate.api is not None and candidate.smoke_tests:
            return candidate
    raise SandboxError("no project has an `api` route and smoke tests; pass --project")


def _kind(test: SmokeTest) -> str | None:
    if not any(200 <= status < 300 for status in test.expect.status):
        return None
    if test.method == "GET":
        has_auth = any(header.lower() == "authorization" for header in test.headers)
        return "read" if has_auth else "health"
    return "write" if test.method in WRITES else None


def _filled(test: SmokeTest, values: Mapping[str, str]) -> RequestTemplate | None:
    try:
        url = interpolate(test.url, values)
        headers = {k: interpolate(v, values) for k, v in test.headers.items()}
        body = test.body and interpolate(test.body, values)
        if test.json_body is not None:
            body = json.dumps(_fill_json(test.json_body, values))
            headers.setdefault("Content-Type", "application/json")
    except UndefinedVariable:
        return None  # needs a value captured by an earlier test
    if test.form:
        return None  # multipart uploads are not part of the load mix
    return RequestTemplate(test.method, url, headers, body)


def _fill_json(data: Any, values: Mapping[str, str]) -> Any:
    if isinstance(data, str):
        return interpolate(data, values)
    if isinstance(data, list):
        return [_fill_json(item, values) for item in data]
    if isinstance(data, dict):
        return {key: _fill_json(item, values) for key, item in data.items()}
    return data
