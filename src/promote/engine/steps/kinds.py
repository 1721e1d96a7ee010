"""Step kinds: what ``run_step`` does for each, idempotent where the kind allows.

A step that could not act because AWS or the network failed raises StepErrored; a step that
acted and found a problem (a smoke test's reply, a script's exit status) is a failed Outcome.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import subprocess
import tempfile
from datetime import timedelta
from functools import singledispatch
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promote.engine.steps import lambda_deploy, terraform
from promote.engine.steps.checks import run_check, scope
from promote.engine.steps.port import (
    Outcome,
    StepErrored,
    Target,
    UnsupportedKind,
    failed,
    fill,
    infrastructure,
    passed,
    redacted,
)
from promote.engine.steps.python_step import run_python
from promote.engine.steps.smoke import assess, request_evidence, send
from promote.engine.steps.sync import sync
from promote.interpolation import UndefinedVariable
from promote.model.steps import (
    CheckStep,
    CloudFrontInvalidate,
    HttpRequest,
    HttpStep,
    LambdaAlias,
    LambdaDeploy,
    PythonStep,
    S3Sync,
    ShellStep,
    SmokeTest,
    Step,
    StepBase,
    TerraformStep,
)

if TYPE_CHECKING:
    from mypy_boto3_lambda.type_defs import AliasRoutingConfigurationTypeDef

SHELL_TIMEOUT = timedelta(minutes=15)
EDGE_REGION = "us-east-1"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
OUTPUT_LIMIT = 4096  # characters of a command's stdout and stderr kept (the tail)


def run_step(target: Target, step: Step) -> Outcome:
    """Run one step. Raises StepErrored when AWS or the network failed, and UnsupportedKind
    for the kind the engine runs itself (manual: people confirm it). A terraform step plans;
    :func:`apply_terraform` applies the saved plan once the engine has the approvals."""
    try:
        filled = fill(step, scope(target))
    except UndefinedVariable as exc:
        outcome = failed(
            f"{step.summary()}: undefined variable ${{{exc.name}}}", undefined=exc.name
        )
        return redacted(outcome, target.secrets)
    if isinstance(filled, CheckStep):
        return run_check(target, filled.that)  # redacted there
    region = filled.region or target.region
    if isinstance(filled, LambdaDeploy) and filled.edge and not filled.region:
        region = EDGE_REGION  # Lambda@Edge functions live in us-east-1, whatever the home
    with infrastructure(filled.summary()):
        outcome = _step(filled, target, region)
    return redacted(outcome, target.secrets)


def run_smoke_test(target: Target, test: SmokeTest) -> Outcome:
    try:
        filled = fill(test, scope(target))
    except UndefinedVariable as exc:
        outcome = failed(f"{test.name}: undefined variable ${{{exc.name}}}", undefined=exc.name)
        return redacted(outcome, target.secrets)
    return redacted(_exchange(target, filled, filled.name, None), target.secrets)


def _exchange(
    target: Target, request: HttpRequest, label: str, timeout: timedelta | None
) -> Outcome:
    """A reply that misses its expectations fails; no reply at all is a failure too, since
    the service (not promote's infrastructure) is what a smoke test probes."""
    try:
        exchange = send(target, request, timeout)
        outcome = assess(request, exchange, label)
        if outcome.evidence.get("only_over_budget") and request.method in _SAFE_METHODS:
            # A latency budget is an SLA for warm requests: the first request to a version
            # that was just deployed pays its cold start. A safe request that missed only
            # the budget is sent once more, and judged on that; both times are kept.
            first = {"ms": round(exchange.seconds * 1000), "summary": outcome.summary}
            outcome = assess(request, send(target, request, timeout), label)
            outcome.evidence["first_attempt"] = first
    except (OSError, http.client.HTTPException) as exc:
        summary = f"{label}: {request.method} {request.url}: no reply ({type(exc).__name__}: {exc})"
        return Outcome(False, summary, {**request_evidence(request), "error": type(exc).__name__})
    return outcome


@singledispatch
def _step(step: StepBase, target: Target, region: str) -> Outcome:
    kind = getattr(step, "kind", type(step).__name__)
    raise UnsupportedKind(f"`{kind}` steps are run by the engine, not by this port")


@_step.register
def _http(step: HttpStep, target: Target, region: str) -> Outcome:
    return _exchange(target, step, step.name or step.url, step.timeout)


@_step.register
def _alias(step: LambdaAlias, target: Target, region: str) -> Outcome:
    return shift_alias(target, step.function, step.alias, step.version, region=region)


@_step.register
def _sync(step: S3Sync, target: Target, region: str) -> Outcome:
    return sync(target, step, region)


@_step.register
def _python(step: PythonStep, target: Target, region: str) -> Outcome:
    return run_python(step, target, region)


@_step.register
def _deploy(step: LambdaDeploy, target: Target, region: str) -> Outcome:
    artifact = target.artifact
    if not artifact or artifact.get("kind") != "zip" or target.read_artifact is None:
        return failed(
            f"{step.summary()}: nothing to deploy: give the project an `artifact:` to build",
            artifact=dict(artifact or {}),
        )
    sha = str(artifact["sha256"])
    code = target.read_artifact(sha)
    return lambda_deploy.deploy(step, target, region, code, sha, str(artifact["label"]))


@_step.register
def _plan(step: TerraformStep, target: Target, region: str) -> Outcome:
    return terraform.plan(step, target, region, _plan_dir(target, step))


def _plan_dir(target: Target, step: TerraformStep) -> Path:
    base = target.scratch or Path(tempfile.gettempdir()) / "promote-terraform"
    which = hashlib.sha256(f"{step.dir}\0{step.name}\0{step.workspace}".encode()).hexdigest()
    return base / "terraform" / which[:16]


def apply_terraform(target: Target, step: TerraformStep, plan_file: str) -> Outcome:
    """Apply the plan a terraform step saved (the engine asked for any approval it needed)."""
    try:
        filled = fill(step, scope(target))
    except UndefinedVariable as exc:
        return failed(f"{step.summary()}: undefined variable ${{{exc.name}}}", undefined=exc.name)
    outcome = terraform.apply(filled, target, filled.region or target.region, Path(plan_file))
    return redacted(outcome, target.secrets)


def shift_traffic(
    target: Target, function: str, alias: str, version: str, previous: str, weight: int
) -> Outcome:
    """A canary step: ``weight`` percent of ``function:alias`` on ``version``."""
    with infrastructure(f"shift {function}:{alias}"):
        outcome = lambda_deploy.shift(
            target, target.region, function, alias, version, previous or None, weight
        )
    return redacted(outcome, target.secrets)


def shift_alias(
    target: Target,
    function: str,
    alias: str,
    version: str,
    weights: dict[str, float] | None = None,
    region: str | None = None,
) -> Outcome:
    """Point ``function:alias`` at ``version``, sending ``weights`` (version -> share) to
    others: the rollback, and each canary increment. Does nothing when already so.

    Raises ClientError/BotoCoreError (run_step turns them into StepErrored)."""
    client = target.session.client("lambda", region_name=region or target.region)
    wanted = {k: float(v) for k, v in (weights or {}).items()}
    try:
        current = client.get_alias(FunctionName=function, Name=alias)
    except client.exceptions.ResourceNotFoundException:
        current = None
    previous = current["FunctionVersion"] if current else None
    routing = (
        dict(current.get("RoutingConfig", {}).get("AdditionalVersionWeights", {}))
        if current
        else {}
    )
    evidence: dict[str, Any] = {
        "function": function,
        "alias": alias,
        "from": previous,
        "from_weights": routing,
    }
    outputs = {"version": version, "previous_version": previous or ""}
    if not version:
        return _remove_alias(client, function, alias, current is not None, evidence)
    label = f"{function}:{alias} -> {version}" + (f" (+{wanted})" if wanted else "")
    if previous == version and routing == wanted:
        return Outcome(True, f"{label}: already so", {**evidence, "changed": False}, outputs)
    config: AliasRoutingConfigurationTypeDef = {"AdditionalVersionWeights": wanted}
    if current is None:
        client.create_alias(
            FunctionName=function, Name=alias, FunctionVersion=version, RoutingConfig=config
        )
    else:
        client.update_alias(
            FunctionName=function, Name=alias, FunctionVersion=version, RoutingConfig=config
        )
    return Outcome(True, f"{label} (was {previous})", {**evidence, "changed": True}, outputs)


def _remove_alias(
    client: Any, function: str, alias: str, exists: bool, evidence: dict[str, Any]
) -> Outcome:
    """Rolling back to no version: the alias did not exist before the release that
    created it (a first deploy), so the rollback removes it again."""
    if exists:
        client.delete_alias(FunctionName=function, Name=alias)
    summary = f"{function}:{alias} removed: no version had it before this release"
    return Outcome(True, summary, {**evidence, "changed": exists, "removed": True}, {})


@_step.register
def _shell(step: ShellStep, target: Target, region: str) -> Outcome:
    env = dict(os.environ)
    env.update({"AWS_REGION": region, "AWS_DEFAULT_REGION": region})
    if "profile" in target.variables:
        env["AWS_PROFILE"] = target.variables["profile"]
    env.update(step.env)
    seconds = (step.timeout or SHELL_TIMEOUT).total_seconds()
    evidence: dict[str, Any] = {"command": step.command, "cwd": step.cwd, "env": step.env}
    try:
        result = subprocess.run(
            ["/bin/sh", "-c", step.command],
            cwd=_shell_cwd(target, step), env=env,
            capture_output=True, text=True, timeout=seconds, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        evidence.update(stdout=_tail(exc.stdout), stderr=_tail(exc.stderr))
        return failed(f"`{step.command}` timed out after {seconds:g} s", **evidence)
    except OSError as exc:  # the cwd is missing, or no shell
        raise StepErrored(f"`{step.command}` could not start: {exc}") from exc
    evidence.update(
        exit_code=result.returncode, stdout=_tail(result.stdout), stderr=_tail(result.stderr)
    )
    if result.returncode != 0:
        return failed(f"`{step.command}` exited {result.returncode}", **evidence)
    return passed(f"`{step.command}` succeeded", **evidence)


def _shell_cwd(target: Target, step: ShellStep) -> Path:
    """The step's cwd, or the run's own work directory, so files a command writes (the
    runbooks' pre-deployment-snapshot.json) stay with the run, not in the checkout."""
    if step.cwd:
        return target.path(step.cwd)
    if target.scratch is None:
        return target.path(".")
    target.scratch.mkdir(parents=True, exist_ok=True)
    return target.scratch


def _tail(output: str | bytes | None) -> str:
    if output is None:
        return ""
    text = output.decode(errors="replace") if isinstance(output, bytes) else output
    return text[-OUTPUT_LIMIT:]


@_step.register
def _invalidate(step: CloudFrontInvalidate, target: Target, region: str) -> Outcome:
    # CloudFront is global; its API lives in us-east-1.
    client = target.session.client("cloudfront", region_name="us-east-1")
    distribution = _distribution_id(client, step.distribution)
    # The same run and paths give the same reference, so a retried step finds the
    # invalidation it already made instead of paying for a second.
    reference = _reference(target, distribution, step.paths)
    answer = client.create_invalidation(
        DistributionId=distribution,
        InvalidationBatch={
            "Paths": {"Quantity": len(step.paths), "Items": step.paths},
            "CallerReference": reference,
        },
    )
    invalidation = answer["Invalidation"]
    evidence = {"distribution": distribution, "paths": step.paths, "status": invalidation["Status"]}
    summary = f"invalidated {', '.join(step.paths)} on {distribution} ({invalidation['Id']})"
    return Outcome(True, summary, evidence, {"invalidation_id": invalidation["Id"]})


def _distribution_id(client: Any, name: str) -> str:
    """An id as given, or the distribution that serves ``name`` as an alias (CNAME)."""
    for page in client.get_paginator("list_distributions").paginate():
        for item in page.get("DistributionList", {}).get("Items", []):
            if item["Id"] == name or name in item.get("Aliases", {}).get("Items", []):
                return str(item["Id"])
    raise StepErrored(f"no CloudFront distribution has the id or alias {name}")


def _reference(target: Target, distribution: str, paths: list[str]) -> str:
    run = target.variables.get("run_id", "")
    if not run:
        return f"promote-{os.urandom(8).hex()}"
    digest = hashlib.sha256("\n".join([run, distribution, *paths]).encode()).hexdigest()
    return f"promote-{digest[:32]}"
