"""``${name}`` interpolation of per-environment values. Pure.

``$${x}`` stands for a literal ``${x}``, so shell steps can still use their own variables.
Shell-style ``$NAME`` without braces (``$LATEST``) is never touched.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from typing import Any

from promote.model import Environment

_TOKEN = re.compile(r"\$\$\{|\$\{([^}]*)\}")
# `name`, or `env.name` for another environment's value (`${sit.api_domain}`).
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")

# Known only while a run executes; the validator accepts them anywhere.
ENGINE_VARIABLES = frozenset(
    {"run_id", "project", "version", "previous_version", "artifact_sha256", "started_by"}
)


class UndefinedVariable(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def variables_in(text: str) -> list[str]:
    """The names a template refers to, in order (escaped ``$${..}`` excluded)."""
    return [m.group(1).strip() for m in _TOKEN.finditer(text) if m.group(0) != "$${"]


def is_valid_name(name: str) -> bool:
    return bool(_NAME.match(name))


def interpolate(text: str, values: Mapping[str, str], keep: Collection[str] = ()) -> str:
    """Substitute ``values``; names in ``keep`` stay as placeholders for the engine to fill."""
    if "$" not in text:
        return text

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name = match.group(1).strip()
        if name in values:
            return values[name]
        if name in keep:
            return match.group(0)
        raise UndefinedVariable(name)

    return _TOKEN.sub(substitute, text)


def strings_in(
    data: Any, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every string that contains ``$`` inside nested data, with its path."""
    if isinstance(data, str):
        if "$" in data:
            yield path, data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from strings_in(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from strings_in(value, (*path, index))


def environment_variables(name: str, env: Environment) -> dict[str, str]:
    """The values every template may use in environment ``name``."""
    values = {
        "env": name,
        "account_id": env.account_id,
        "region": env.region,
        "domain": env.domain,
        "api_domain": env.api_domain,
        "edge_region": env.edge_region,
    }
    optional = {
        "dr_region": env.dr_region,
        "profile": env.credentials.profile,
        "role_arn": env.credentials.role_arn,
    }
    values.update({k: v for k, v in optional.items() if v is not None})
    values.update(env.variables)
    return values


def scope_for(environments: Mapping[str, Environment], name: str) -> dict[str, str]:
    """What templates may use in environment ``name``: its own values, plus every
    environment's as ``env.key`` (PROD's "verify SIT is stable" reads ``${sit.api_domain}``)."""
    values = environment_variables(name, environments[name])
    for other, env in environments.items():
        values.update({f"{other}.{k}": v for k, v in environment_variables(other, env).items()})
    return values


def project_variables(
    base: Mapping[str, str], project_vars: Mapping[str, str], keep: Collection[str] = ()
) -> dict[str, str]:
    """The environment's values plus the project's ``vars``, each of which may use earlier ones.

    Raises UndefinedVariable for a var that uses a name not known at that point.
    """
    values = dict(base)
    for key, template in project_vars.items():
        values[key] = interpolate(template, values, keep)
    return values
