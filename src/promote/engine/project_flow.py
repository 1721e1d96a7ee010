"""One project of a run, as a child DBOS workflow: its gates, in the issue's order.

preconditions -> approvals -> deploy steps -> smoke tests -> canary -> success criteria ->
ledger. A failure after something was deployed runs the project's rollback steps. The
workflow reports its end to the run's workflow (``DONE_TOPIC``), which starts the projects
that depend on it. Waiting for people is ``DBOS.recv`` on the project's topic, durable: a
decision sent while no worker runs waits in the system database.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from dbos import DBOS

from promote.engine import analysis_flow
from promote.engine.analysis_flow import Stop
from promote.engine.approvals import Requirement, Tally
from promote.engine.phases import ProjectPhase
from promote.engine.plan import ProjectSpec, RunSpec
from promote.engine.ports import StepOutcome, Target
from promote.engine.runtime import (
    DONE_TOPIC,
    activity,
    approval_topic,
    check_deployed,
    clock,
    execute,
    is_wake,
    project_workflow_id,
    record,
    record_deployment,
)
from promote.interpolation import interpolate

PROJECT_WORKFLOW = "promote.project"


@DBOS.workflow(name=PROJECT_WORKFLOW)
def project_workflow(spec: dict[str, Any], name: str) -> str:
    with activity.run():
        run = RunSpec.from_json(spec)
        try:
            phase = _Project(run, run.projects[name]).execute()
        except Exception:  # even the journal failed: the run must still hear of the end
            phase = ProjectPhase.ERRORED
        DBOS.send(run.run_id, {"project": name, "phase": phase.value}, DONE_TOPIC)
        return phase.value


class _Project:
    def __init__(self, run: RunSpec, spec: ProjectSpec) -> None:
        self.run = run
        self.spec = spec
        self.appends = 0
        self.variables = dict(spec.variables)
        self.deployed: list[dict[str, str]] = []  # lambda.deploy outputs, for the canary
        self.gate = 0  # approval gates reached: a decision names the gate it is for
        self.canary_started = 0.0  # when the first canary step shifted traffic
        self.deployed_at = 0.0  # when the deploy steps ended

    @property
    def workflow_id(self) -> str:
        return project_workflow_id(self.run.run_id, self.spec.name)

    def execute(self) -> ProjectPhase:
        try:
            self.set_phase(ProjectPhase.RUNNING)
            self.gates()
        except Stop as stop:
            self.set_phase(stop.phase, stop.reason)
            return stop.phase
        except Exception as exc:  # promote itself broke: the project Errors, the run goes on
            reason = f"{type(exc).__name__}: {exc}"
            self.set_phase(ProjectPhase.ERRORED, reason)
            return ProjectPhase.ERRORED
        self.set_phase(ProjectPhase.SUCCEEDED)
        return ProjectPhase.SUCCEEDED

    def key(self, kind: str) -> str:
        self.appends += 1
        return f"{self.spec.name}:{kind}:{self.appends}"

    def record(self, kind: str, data: dict[str, Any]) -> None:
        activity.check()
        record(self.run.run_id, self.key(kind), kind, self.spec.name, data)

    def set_phase(self, phase: ProjectPhase, reason: str | None = None) -> None:
        self.record("project.phase", {"phase": phase.value, "reason": reason})

    def target(self) -> Target:
        run = self.run
        return Target(
            run.run_id,
            self.spec.name,
            run.environment,
            run.account_id,
            run.region,
            dict(self.variables),
            self.spec.artifact,
        )

    def call(self, action: str, index: int, item: dict[str, Any]) -> StepOutcome:
        activity.check()
        key = self.key(f"{action}.result")
        if action == "check" and item.get("check") == "project.deployed":
            env = interpolate(str(item.get("environment", "${env}")), self.variables)
            result = check_deployed(key, self.run.run_id, self.spec.name, item, env)
        else:
            result = execute(key, action, self.target().__dict__, item)
        outcome = StepOutcome.from_json(result["outcome"])
        if result["errored"]:
            raise Stop(ProjectPhase.ERRORED, f"{action} {index + 1} errored: {outcome.summary}")
        if not outcome.passed:
            raise Stop(ProjectPhase.FAILED, f"{action} {index + 1} failed: {outcome.summary}")
        # Captures flow into the variables of later steps and smoke tests.
        self.variables.update(outcome.outputs)
        return outcome

    # The gates, in order.

    def gates(self) -> None:
        spec = self.spec
        if spec.artifact:
            self.record("artifact", dict(spec.artifact))
        for item in spec.advice:
            self.record("rollback.manual", {"item": item})
        for index, check in enumerate(spec.checks):
            self.call("check", index, check)
        if spec.requirements:
            self.approvals(spec.requirements, "approval")
        deployed = False
        try:
            for index, step in enumerate(spec.steps):
                # A step that may act makes a failure from here on need the rollback; a
                # confirmation by people does not act.
                deployed = deployed or step.get("kind") != "manual"
                self.step(index, step)
            if self.deployed:
                self.deployed_at = clock()
            for index, test in enumerate(spec.smoke_tests):
                self.call("smoke", index, test)
            self.canary()
            self.success_criteria()
        except Stop as stop:
            raise self.rollback(stop) if deployed else stop from None
        except Exception as exc:  # promote broke mid-deploy: still undo what it did
            broke = Stop(ProjectPhase.ERRORED, f"{type(exc).__name__}: {exc}")
            raise self.rollback(broke) if deployed else broke from exc
        self.record_ledger()
        analysis_flow.soak(self)

    def step(self, index: int, step: dict[str, Any]) -> None:
        kind = step.get("kind")
        if self.run.sandbox and step.get("not_in_sandbox"):
            reason = f"not in the sandbox: {step['not_in_sandbox']}"
            self.record("step.skipped", {"item": step, "reason": reason})
            return
        if kind == "manual":
            label = step.get("name") or step["instructions"]
            role = step.get("role")
            who = self.role_title(role) if role else "anyone with a role"
            need = Requirement(role, 1, f"{who} to confirm `{label}`", label)
            self.approvals([need], "confirmation")
            return
        outcome = self.call("step", index, step)
        if kind == "lambda.deploy":
            self.deployed.append(dict(outcome.outputs))
        elif kind == "terraform":
            self.terraform_apply(index, step, outcome)

    def terraform_apply(self, index: int, step: dict[str, Any], plan: StepOutcome) -> None:
        roles = step.get("destructive_approval") or []
        if plan.outputs.get("destructive") == "true" and roles:
            # Approvals, not attestations: each role needs a person of its own.
            needs = [Requirement(r, 1, self.role_title(r)) for r in roles]
            doomed = ", ".join(plan.evidence.get("destructive", [])) or "resources"
            self.approvals(needs, "destructive change", {"destroys": doomed})
        apply = {**step, "plan_file": plan.outputs["plan_file"]}
        self.call("terraform.apply", index, apply)

    def canary(self) -> None:
        if not self.spec.canary or not self.deployed:
            return
        for index, stage in enumerate(self.spec.canary):
            for release in self.deployed:
                self.shift(index, release, int(stage["weight"]))
            bake = float(stage["bake_seconds"]) * self.run.time_scale
            self.record("canary.step", {"weight": stage["weight"], "bake_seconds": bake})
            analysis_flow.watch(self, index, int(stage["weight"]), bake)

    def shift(self, index: int, release: dict[str, str], weight: int) -> None:
        shift = {
            "function": release["function"],
            "alias": release["alias"],
            "version": release["version"],
            "previous": release.get("previous_version", ""),
            "weight": weight,
        }
        self.call("canary", index, shift)

    def success_criteria(self) -> None:
        analysis_flow.judge_criteria(self)
        if self.spec.sign_offs:
            self.approvals(self.spec.sign_offs, "sign-off")

    def record_ledger(self, status: str | None = None) -> None:
        """The release's entry in the ledger: the spec's status, or a soak's."""
        status = status or self.spec.ledger_status
        if self.spec.artifact is None:
            return
        run = self.run
        entry = {
            "environment": run.environment,
            "project": self.spec.name,
            "artifact": self.spec.artifact,
            "run_id": run.run_id,
            "status": status,
        }
        record_deployment(f"{run.run_id}:{self.spec.name}:{status}", entry)
        self.record("ledger.updated", entry)

    def rollback(self, cause: Stop) -> Stop:
        ran, left = 0, []
        try:
            for index, step in enumerate(self.spec.rollback):
                if step.get("kind") == "manual":
                    # An option for people, not something to wait for while traffic suffers.
                    self.record("rollback.manual", {"item": step})
                    left.append(step.get("name") or step.get("instructions", ""))
                    continue
                missing = _uncaptured(step, self.variables)
                if missing:
                    reason = f"nothing to undo: ${{{missing}}} was never captured (no deploy ran)"
                    self.record("step.skipped", {"item": step, "reason": reason})
                    continue
                self.call("rollback", index, step)
                ran += 1
        except Stop as broke:
            return Stop(ProjectPhase.ERRORED, f"{cause.reason}; rollback: {broke.reason}")
        if not ran and not cause.undone:
            # Nothing was undone: the cause stands, and people have the options.
            options = f"; rollback left to people: {'; '.join(left)}" if left else ""
            return Stop(cause.phase, cause.reason + options)
        if cause.phase is ProjectPhase.ERRORED:
            # The machinery broke: undone, but the run must say Errored, not Failed.
            return Stop(ProjectPhase.ERRORED, f"{cause.reason}; rolled back")
        return Stop(ProjectPhase.ROLLED_BACK, f"{cause.reason}; rolled back")

    # People.

    def role_title(self, role: str) -> str:
        return self.run.titles.get(role, role)

    def approvals(
        self, needs: list[Requirement], what: str, context: dict[str, Any] | None = None
    ) -> None:
        run = self.run
        self.gate += 1
        tally = Tally(needs, run.roles, run.started_by, run.four_eyes)
        deadline = clock() + run.approval_ttl
        requested = {"what": what, "requirements": [r.to_json() for r in needs]}
        self.record("approval.requested", {**requested, **(context or {})})
        while not tally.satisfied:
            gate = "" if what == "approval" else f"{what}: "
            waiting = f"waiting for {gate}{tally.waiting_for()}"
            self.set_phase(ProjectPhase.WAITING_FOR_APPROVAL, waiting)
            topic = approval_topic(self.spec.name)
            message = activity.receive(self.workflow_id, topic, max(deadline - clock(), 0))
            if message is None:
                raise Stop(ProjectPhase.FAILED, f"approvals expired while {waiting}")
            if not is_wake(message):
                self.decide(tally, message)
        self.set_phase(ProjectPhase.RUNNING, f"{what} by {', '.join(tally.approvers)}")

    def decide(self, tally: Tally, message: dict[str, Any]) -> None:
        person = str(message.get("person"))
        gate = message.get("gate")
        if gate is not None and gate != self.gate:
            # Sent for an earlier gate (a surplus approval): it does not carry over.
            reason = f"for gate {gate}, not the current gate {self.gate}"
            self.record("approval.refused", {"person": person, "reason": reason})
            return
        handler = _DECISIONS.get(str(message.get("decision")))
        if handler is None:
            self.record("approval.refused", {"message": message, "reason": "unknown decision"})
            return
        handler(self, tally, person, message.get("comment"))


# Values only a deploy step captures: a rollback step that needs one has nothing to undo
# when the deploy never ran.
_CAPTURED_BY_DEPLOY = ("previous_version", "version")


def _uncaptured(step: dict[str, Any], variables: dict[str, str]) -> str | None:
    text = json.dumps(step)
    for name in _CAPTURED_BY_DEPLOY:
        if f"${{{name}}}" in text and name not in variables:
            return name
    return None


def _approve(p: _Project, tally: Tally, person: str, comment: str | None) -> None:
    refusal = tally.refusal(person)
    if refusal is not None:
        p.record("approval.refused", {"person": person, "reason": refusal})
        return
    tally.grant(person)
    p.record("approval.given", {"person": person, "comment": comment})


def _reject(p: _Project, tally: Tally, person: str, comment: str | None) -> None:
    refusal = tally.may_reject(person)
    if refusal is not None:
        p.record("approval.refused", {"person": person, "reason": refusal})
        return
    p.record("approval.rejected", {"person": person, "comment": comment})
    raise Stop(ProjectPhase.FAILED, f"rejected by {person}" + (f": {comment}" if comment else ""))


def _abort(p: _Project, tally: Tally, person: str, comment: str | None) -> None:
    raise Stop(ProjectPhase.ABORTED, f"aborted by {person}")


_DECISIONS: dict[str, Callable[[_Project, Tally, str, str | None], None]] = {
    "approve": _approve,
    "reject": _reject,
    "abort": _abort,
}
