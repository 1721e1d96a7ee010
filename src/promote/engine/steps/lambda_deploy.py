"""The ``lambda.deploy`` step kind, and the alias shift of a Lambda canary.

``deploy`` puts the release artifact's zip into the function (creating the function when the
step gives a ``role``), publishes a version for the release and points the alias at it;
``shift`` moves a canary's share of the alias's traffic. Both may be repeated after a crash:

- a version is published once per release: one whose code and description (the release's
  label) match is reused, and Lambda itself publishes nothing when ``$LATEST`` is unchanged;
- when promote moves an alias it writes where it came from into the alias's description
  (``promote previous=1 version=2 release=1.4.0``), so that a repeated deploy that finds the
  alias already on (or routing weight to) the new version still reports the version before.

Settings on an existing function: with ``role`` promote owns the function and every setting
the step has (memory, timeout, environment, handler) is kept in line; without ``role``
(terraform owns the function) only a ``handler``, a non-empty ``environment`` and a memory or
timeout other than the model's defaults are applied.

Lambda@Edge (``edge: true``) functions must live in us-east-1; the caller passes that region.
AWS failures raise StepErrored; a function promote may not create is a failed Outcome.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from promote.engine.steps.port import Outcome, Target, failed, infrastructure
from promote.model.steps import LambdaDeploy

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_lambda.literals import RuntimeType

# The alias's description while promote moves it; previous is "" for a new alias.
NOTE = re.compile(
    r"^promote previous=(?P<previous>\S*) version=(?P<version>\S+) release=(?P<release>.*)$"
)
DEFAULTS = LambdaDeploy.model_fields


def deploy(
    step: LambdaDeploy, target: Target, region: str, code: bytes, sha256: str, label: str
) -> Outcome:
    """Deploy ``code`` (the release's zip, ``sha256`` its hex digest) as release ``label``.

    Outputs: function, alias, version, previous_version ("" for a new alias), code_sha256
    (Lambda's: the base64 of the digest) and label. Raises StepErrored when AWS fails."""
    client: LambdaClient = target.session.client("lambda", region_name=region)
    code_sha256 = base64.b64encode(bytes.fromhex(sha256)).decode()
    with infrastructure(f"lambda.deploy {step.function} ({region})"):
        try:
            current: Mapping[str, Any] | None = client.get_function_configuration(
                FunctionName=step.function
            )
        except client.exceptions.ResourceNotFoundException:
            current = None
        settings = _settings(step)
        if current is None:
            if step.role is None:
                return failed(
                    f"function {step.function} does not exist in {target.account_id} {region}:"
                    " give the step a `role` to let promote create it, or create it with the"
                    " project's terraform first",
                    function=step.function, region=region,
                )  # fmt: skip
            if step.handler is None:
                return failed(
                    f"function {step.function} does not exist, and promote needs the step's"
                    " `handler` to create it",
                    function=step.function, region=region,
                )  # fmt: skip
            answer = client.create_function(
                FunctionName=step.function, Role=step.role, Code={"ZipFile": code},
                Runtime=cast("RuntimeType", step.runtime), **settings,
            )  # fmt: skip
            arn, action, changes = answer["FunctionArn"], "created", sorted(settings)
            _settle(client, step, "function_active_v2")
        else:
            arn, action = current["FunctionArn"], "unchanged"
            changes = _update(client, step, current, code, code_sha256, settings)
            action = "updated" if changes else action
        _settle(client, step, "function_updated_v2")
        version, reused = _publish(client, step.function, code_sha256, sha256, label, settings)
        before, after, previous = _point(client, step, version, label)
    outputs = {
        "function": step.function,
        "alias": step.alias,
        "version": version,
        "previous_version": previous,
        "code_sha256": code_sha256,
        "label": label,
    }
    evidence = {
        "function_arn": arn,
        "region": region,
        "edge": step.edge,
        "function": action,
        "changes": changes,
        "version": version,
        "version_reused": reused,
        "alias_before": before,
        "alias_after": after,
        "sha256": sha256,
    }
    moved = "" if after == before else f", alias {step.alias} {_show(before)} -> {_show(after)}"
    summary = (
        f"{step.function} {action}: version {version}"
        f" {'reused' if reused else 'published'} for {label}{moved}"
    )
    return Outcome(True, summary, evidence, outputs)


def shift(
    target: Target,
    region: str,
    function: str,
    alias: str,
    version: str,
    previous: str | None,
    weight: int,
) -> Outcome:
    """Send ``weight`` percent of ``function:alias`` to ``version``, the rest to ``previous``.

    100 (or no previous) points the alias at ``version`` alone, 0 at ``previous`` alone. The
    alias's description (promote's note of the previous version) is kept. Raises StepErrored
    when AWS fails, or the alias does not exist (``deploy`` creates it)."""
    if not 0 <= weight <= 100:
        raise ValueError(f"a canary weight is a percentage, not {weight}")
    weights: dict[str, float] = {version: weight / 100} if previous and 0 < weight < 100 else {}
    primary = previous if previous and weight < 100 else version
    client: LambdaClient = target.session.client("lambda", region_name=region)
    with infrastructure(f"shift {function}:{alias} to {weight}% on {version} ({region})"):
        before = _state(client.get_alias(FunctionName=function, Name=alias))
        changed = (before["version"], before["weights"]) != (primary, weights)
        after = before
        if changed:
            answer = client.update_alias(
                FunctionName=function, Name=alias, FunctionVersion=primary,
                RoutingConfig={"AdditionalVersionWeights": weights},
            )  # fmt: skip
            after = _state(answer)
    summary = f"{function}:{alias}: {weight}% on {version}" + (
        f" ({_show(before)} -> {_show(after)})" if changed else " (already so)"
    )
    evidence = {
        "function": function,
        "alias": alias,
        "alias_before": before,
        "alias_after": after,
        "changed": changed,
    }
    return Outcome(True, summary, evidence, {"weight": str(weight)})


def _settings(step: LambdaDeploy) -> dict[str, Any]:
    """The configuration the step states (see the module's docstring), as Lambda names it."""
    owned = step.role is not None
    settings: dict[str, Any] = {}
    if step.handler is not None:
        settings["Handler"] = step.handler
    if owned or step.memory != DEFAULTS["memory"].default:
        settings["MemorySize"] = step.memory
    if owned or step.function_timeout != DEFAULTS["function_timeout"].default:
        settings["Timeout"] = int(step.function_timeout.total_seconds())
    if owned or step.environment:
        settings["Environment"] = {"Variables": dict(step.environment)}
    return settings


def _differences(configuration: Mapping[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    environment = configuration.get("Environment", {}).get("Variables", {})
    actual = {**configuration, "Environment": {"Variables": environment}}
    return {key: value for key, value in settings.items() if actual.get(key) != value}


def _update(
    client: LambdaClient,
    step: LambdaDeploy,
    current: Mapping[str, Any],
    code: bytes,
    code_sha256: str,
    settings: dict[str, Any],
) -> list[str]:
    """Bring ``$LATEST`` to the release's code and the step's settings; what changed."""
    changes = []
    if current.get("LastUpdateStatus") == "InProgress":  # an earlier attempt, or terraform
        _settle(client, step, "function_updated_v2")
        current = client.get_function_configuration(FunctionName=step.function)
    if current["CodeSha256"] != code_sha256:
        client.update_function_code(FunctionName=step.function, ZipFile=code)
        changes.append("code")
        _settle(client, step, "function_updated_v2")
    configuration = _differences(current, settings)
    if configuration:
        client.update_function_configuration(FunctionName=step.function, **configuration)
        changes.extend(sorted(configuration))
    return changes


def _settle(client: LambdaClient, step: LambdaDeploy, waiter: str) -> None:
    """Wait until Lambda has finished creating or updating the function (a WaiterError is a
    BotoCoreError, so a function that never settles is StepErrored)."""
    seconds = step.timeout.total_seconds() if step.timeout else 300.0
    config = {"Delay": 2, "MaxAttempts": max(1, int(seconds // 2))}
    client.get_waiter(waiter).wait(FunctionName=step.function, WaiterConfig=config)  # type: ignore[call-overload]


def _publish(
    client: LambdaClient,
    function: str,
    code_sha256: str,
    sha256: str,
    label: str,
    settings: dict[str, Any],
) -> tuple[str, bool]:
    """The release's version: one published before with this code, label and settings, or
    a new one. Returns the version and whether it was reused."""
    description = f"promote {label} sha256:{sha256[:12]}"
    found = [
        int(item["Version"])
        for page in client.get_paginator("list_versions_by_function").paginate(
            FunctionName=function
        )
        for item in page["Versions"]
        if item["Version"] != "$LATEST"
        and item["CodeSha256"] == code_sha256
        and item.get("Description") == description
        and not _differences(item, settings)
    ]
    if found:
        return str(max(found)), True
    answer = client.publish_version(
        FunctionName=function, CodeSha256=code_sha256, Description=description
    )
    return answer["Version"], False


def _point(
    client: LambdaClient, step: LambdaDeploy, version: str, label: str
) -> tuple[dict[str, Any] | None, dict[str, Any], str]:
    """Create the alias on ``version``, or move it there (traffic "all"), or leave its traffic
    (traffic "none": the canary moves it), noting the previous version in its description.
    Returns the alias before and after, and the previous version."""
    try:
        current: Mapping[str, Any] | None = client.get_alias(
            FunctionName=step.function, Name=step.alias
        )
    except client.exceptions.ResourceNotFoundException:
        current = None
    if current is None:
        answer = client.create_alias(
            FunctionName=step.function, Name=step.alias, FunctionVersion=version,
            Description=_note("", version, label),
        )  # fmt: skip
        return None, _state(answer), ""
    before = _state(current)
    note = NOTE.match(before["description"])
    moved = before["version"] == version or version in before["weights"]
    if moved and note and (note["version"], note["release"]) == (version, label):
        previous = note["previous"]  # an earlier attempt of this release moved it
    else:
        previous = before["version"]
    primary, weights = (
        (version, {}) if step.traffic == "all" else (before["version"], before["weights"])
    )
    description = _note(previous, version, label)
    if {"version": primary, "weights": weights, "description": description} == before:
        return before, before, previous
    answer = client.update_alias(
        FunctionName=step.function, Name=step.alias, FunctionVersion=primary,
        RoutingConfig={"AdditionalVersionWeights": weights}, Description=description,
    )  # fmt: skip
    return before, _state(answer), previous


def _note(previous: str, version: str, label: str) -> str:
    return f"promote previous={previous} version={version} release={label}"[:256]


def _state(alias: Mapping[str, Any]) -> dict[str, Any]:
    weights = alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})
    return {
        "version": alias["FunctionVersion"],
        "weights": {key: float(value) for key, value in weights.items()},
        "description": alias.get("Description", ""),
    }


def _show(alias: Mapping[str, Any] | None) -> str:
    if alias is None:
        return "(none)"
    shares = "".join(f" +{v}:{w:.0%}" for v, w in alias["weights"].items())
    return f"{alias['version']}{shares}"
