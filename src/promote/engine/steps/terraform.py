"""The ``terraform`` step kind: plan into a saved plan file, then apply exactly that plan.

The engine runs it in two halves so that a destructive plan (deletes, replaces) can wait for
the extra approval between them. Both halves run the real terraform binary; a plan or apply
that terraform rejects is a failed Outcome (the release is wrong), while a missing binary or
directory is StepErrored (promote could not act).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from promote.engine.steps.port import Outcome, StepErrored, Target, failed, passed
from promote.model.steps import TerraformStep

STEP_TIMEOUT = timedelta(minutes=30)
# After the timeout terraform gets SIGINT and this long to stop cleanly (releasing the state
# lock, writing what it applied) before it is killed.
GRACE_SECONDS = 60.0
OUTPUT_LIMIT = 4096  # characters of terraform's stdout and stderr kept (the tail)
STALE = "Saved plan is stale"
NO_CHANGE = frozenset({"no-op", "read"})  # a data source read changes nothing


class _TimedOut(Exception):
    pass


@dataclass
class _Terraform:
    """One step's terraform calls: the same binary, directory, environment and deadline, and
    a transcript of what they printed for the evidence."""

    binary: str
    cwd: Path
    env: dict[str, str]
    deadline: float
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)

    def run(self, *args: str, pinned: bool = True, record: bool = True) -> tuple[int, str, str]:
        """Run ``terraform *args``: (exit code, stdout, stderr). Raises _TimedOut.

        ``pinned`` sets TF_WORKSPACE, so that another environment selecting its workspace in
        the same checkout between plan and apply cannot redirect this one; `workspace
        select` refuses to run with it set."""
        env = dict(self.env)
        if not pinned:
            env.pop("TF_WORKSPACE", None)
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise _TimedOut
        try:
            process = subprocess.Popen(
                [self.binary, *args],
                cwd=self.cwd,
                env=env,
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:
            raise StepErrored(f"terraform could not start in {self.cwd}: {exc}") from exc
        try:
            out, err = process.communicate(timeout=remaining)
        except subprocess.TimeoutExpired:
            out, err = _interrupt(process)
            self._record(args, out, err)
            raise _TimedOut from None
        if record:
            self._record(args, out, err)
        return process.returncode, out, err

    def _record(self, args: tuple[str, ...], out: str, err: str) -> None:
        self.stdout.append(f"$ terraform {' '.join(args)}\n{out}")
        self.stderr.append(err)

    def tails(self) -> dict[str, str]:
        return {"stdout": _tail("".join(self.stdout)), "stderr": _tail("".join(self.stderr))}


def plan(
    step: TerraformStep, target: Target, region: str, plan_dir: Path, binary: str | None = None
) -> Outcome:
    """Plan ``step.dir`` in its workspace into a plan file under ``plan_dir``.

    Passes when terraform planned; ``outputs["destructive"]`` says whether the plan deletes
    or replaces anything. Raises StepErrored when terraform or the directory is missing."""
    tf = _terraform(step, target, region, binary)
    plan_dir.mkdir(parents=True, exist_ok=True)
    plan_file = plan_dir / _plan_name(tf.cwd, step.workspace)
    # A plan left from an earlier call must not be applied, nor its marker trusted, if this
    # plan fails or differs.
    plan_file.unlink(missing_ok=True)
    _marker(plan_file).unlink(missing_ok=True)
    evidence: dict[str, Any] = {"dir": step.dir, "workspace": step.workspace}
    try:
        for args, pinned in (
            (("init", "-input=false", "-no-color"), False),
            (("workspace", "select", "-or-create", "-no-color", step.workspace), False),
            (("plan", "-input=false", "-no-color", f"-out={plan_file}", *_vars(step)), True),
        ):
            code, _, _ = tf.run(*args, pinned=pinned)
            if code != 0:
                return failed(
                    f"{_label(step)}: terraform {args[0]} exited {code}",
                    **evidence,
                    exit_code=code,
                    **tf.tails(),
                )
        code, shown, err = tf.run("show", "-json", "-no-color", str(plan_file), record=False)
    except _TimedOut:
        return _timed_out(step, tf, evidence)
    if code != 0:
        return failed(
            f"{_label(step)}: terraform show exited {code}",
            **evidence,
            exit_code=code,
            **tf.tails(),
            show_stderr=_tail(err),
        )
    return _planned(step, plan_file, json.loads(shown), {**evidence, **tf.tails()})


def _planned(
    step: TerraformStep, plan_file: Path, shown: dict[str, Any], evidence: dict[str, Any]
) -> Outcome:
    planned = [
        (str(change["address"]), [str(action) for action in change["change"]["actions"]])
        for change in shown.get("resource_changes", [])
        if not set(change["change"]["actions"]) <= NO_CHANGE
    ]
    destructive = [address for address, actions in planned if "delete" in actions]
    counts = {"add": 0, "change": 0, "destroy": 0, "replace": 0, "forget": 0}
    for _, actions in planned:
        key = _count_key(actions)
        counts[key] = counts.get(key, 0) + 1
    changes = [{"address": address, "actions": actions} for address, actions in planned]
    summary = f"{_label(step)}: " + (
        ", ".join(f"{n} to {key}" for key, n in counts.items() if n) or "no changes"
    )
    if destructive:
        summary += f"; destructive: {', '.join(destructive)}"
    outputs = {
        "plan_file": str(plan_file),
        "destructive": "true" if destructive else "false",
        "changes": str(len(changes)),
    }
    evidence.update(changes=changes, destructive=destructive, counts=counts)
    return Outcome(True, summary, evidence, outputs)


def _count_key(actions: list[str]) -> str:
    if "delete" in actions:
        return "replace" if "create" in actions else "destroy"
    return {"create": "add", "update": "change"}.get(actions[0], actions[0])


def apply(
    step: TerraformStep, target: Target, region: str, plan_file: Path, binary: str | None = None
) -> Outcome:
    """Apply the saved ``plan_file`` from ``plan`` to the step's workspace.

    Idempotent: a plan already applied (by this call's marker, or because terraform finds
    the saved plan stale and a fresh plan has nothing to do) passes without applying again.
    Raises StepErrored when terraform, the directory or the plan file is missing."""
    tf = _terraform(step, target, region, binary)
    if not plan_file.is_file():
        raise StepErrored(f"{_label(step)}: no plan file at {plan_file}: plan again")
    evidence: dict[str, Any] = {
        "dir": step.dir,
        "workspace": step.workspace,
        "plan_file": str(plan_file),
    }
    digest = hashlib.sha256(plan_file.read_bytes()).hexdigest()
    marker = _marker(plan_file)
    if marker.is_file() and marker.read_text().strip() == digest:
        return passed(f"{_label(step)}: already applied", **evidence, applied=False)
    try:
        outcome = _apply(step, tf, plan_file, evidence)
    except _TimedOut:
        return _timed_out(step, tf, evidence)
    if outcome.passed:
        marker.write_text(digest + "\n")
    return outcome


def _apply(
    step: TerraformStep, tf: _Terraform, plan_file: Path, evidence: dict[str, Any]
) -> Outcome:
    # A resumed run may land in a fresh checkout: init is cheap and makes apply possible.
    for command, args, pinned in (
        ("init", ("-input=false", "-no-color"), False),
        ("apply", ("-input=false", "-no-color", str(plan_file)), True),
    ):
        code, _, err = tf.run(command, *args, pinned=pinned)
        if code != 0 and command == "apply" and STALE in err:
            return _stale(step, tf, evidence)
        if code != 0:
            summary = f"{_label(step)}: terraform {command} exited {code}"
            return failed(summary, **evidence, applied=False, exit_code=code, **tf.tails())
    return passed(f"{_label(step)}: applied", **evidence, applied=True, **tf.tails())


def _stale(step: TerraformStep, tf: _Terraform, evidence: dict[str, Any]) -> Outcome:
    """The state moved since the plan: most likely because this plan was applied and the
    call that applied it died before writing its marker. Nothing left to do proves it."""
    code, _, _ = tf.run("plan", "-input=false", "-no-color", "-detailed-exitcode", *_vars(step))
    evidence = {**evidence, "stale": True, "exit_code": code, **tf.tails()}
    if code == 0:
        return passed(
            f"{_label(step)}: already applied (the state matches)", **evidence, applied=False
        )
    reason = "the state has other changes" if code == 2 else f"terraform plan exited {code}"
    return failed(
        f"{_label(step)}: the saved plan is stale and {reason}: plan again",
        **evidence,
        applied=False,
    )


def _terraform(step: TerraformStep, target: Target, region: str, binary: str | None) -> _Terraform:
    found = shutil.which(binary or "terraform")
    if found is None:
        where = f" at {binary}" if binary else " (not on PATH)"
        raise StepErrored(f"{_label(step)}: terraform is not installed{where}")
    cwd = target.path(step.dir)
    if not cwd.is_dir():
        raise StepErrored(f"{_label(step)}: the directory {cwd} does not exist")
    env = dict(os.environ)
    env.update(
        TF_IN_AUTOMATION="1",
        TF_INPUT="0",
        TF_WORKSPACE=step.workspace,
        AWS_REGION=region,
        AWS_DEFAULT_REGION=region,
    )
    if "profile" in target.variables:
        env["AWS_PROFILE"] = target.variables["profile"]
    seconds = (step.timeout or STEP_TIMEOUT).total_seconds()
    return _Terraform(found, cwd, env, time.monotonic() + seconds)


def _interrupt(process: subprocess.Popen[str]) -> tuple[str, str]:
    """Stop terraform as Ctrl-C would, so it can release the state lock; kill it if not."""
    process.send_signal(signal.SIGINT)
    try:
        return process.communicate(timeout=GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()


def _timed_out(step: TerraformStep, tf: _Terraform, evidence: dict[str, Any]) -> Outcome:
    seconds = (step.timeout or STEP_TIMEOUT).total_seconds()
    return failed(
        f"{_label(step)}: timed out after {seconds:g} s", **evidence, timed_out=True, **tf.tails()
    )


def _vars(step: TerraformStep) -> list[str]:
    return [arg for key, value in step.vars.items() for arg in ("-var", f"{key}={value}")]


def _plan_name(cwd: Path, workspace: str) -> str:
    """The same directory and workspace give the same file, so a repeated plan replaces its
    own plan and two terraform steps sharing a plan_dir do not collide."""
    digest = hashlib.sha256(f"{cwd.resolve()}\0{workspace}".encode()).hexdigest()[:12]
    return f"{re.sub(r'[^A-Za-z0-9_.-]', '_', workspace)}-{digest}.tfplan"


def _marker(plan_file: Path) -> Path:
    return plan_file.with_name(plan_file.name + ".applied")


def _label(step: TerraformStep) -> str:
    return step.name or f"terraform {step.dir} [{step.workspace}]"


def _tail(output: str) -> str:
    return output[-OUTPUT_LIMIT:]
