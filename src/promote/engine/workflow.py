"""The run as a DBOS workflow: the order of projects and, per project, its gates.

Everything with an effect happens in a DBOS step: executor calls and journal appends are
checkpointed, so after a crash the workflow replays to where it was and a completed step
is not run again. Waiting for people is ``DBOS.recv`` on the project's topic, which is
durable too: a message sent while the worker was down waits in the system database.

The workflow is deterministic given its input (the run spec) and the recorded step outputs.
Journal keys come from a counter of the workflow's own appends, so a step re-run after a
crash writes the same key and the journal keeps one copy.

Projects of one layer run one after another in this increment; running them in parallel
(with a per-account limit) is for a later one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dbos import DBOS
from pydantic import TypeAdapter

from promote.engine.approvals import Tally
from promote.engine.journal import Journal, Redactor
from promote.engine.phases import ProjectPhase, run_phase_of
from promote.engine.plan import ProjectSpec, RunSpec
from promote.engine.ports import Executor, StepOutcome, Target
from promote.model import Check, SmokeTest, Step

WORKFLOW_NAME = "promote.run"
_CHECK: TypeAdapter[Check] = TypeAdapter(Check)
_STEP: TypeAdapter[Step] = TypeAdapter(Step)


def approval_topic(project: str) -> str:
    return f"approval:{project}"


def journal_path(state_dir: Path, run_id: str) -> Path:
    return state_dir / "runs" / run_id / "journal.jsonl"


@dataclass
class Runtime:
    """What the steps need from the process they run in. DBOS is one per process, so the
    engine installs one runtime per process too."""

    executor: Executor
    state_dir: Path
    redactor: Redactor

    def journal(self, run_id: str) -> Journal:
        return Journal(journal_path(self.state_dir, run_id), self.redactor)


_runtime: Runtime | None = None


class WorkerStopping(BaseException):
    """Ends a workflow's thread when its worker shuts down. A BaseException, because DBOS
    records an Exception as the run's error; this leaves the run PENDING, and the next
    worker resumes it as it would after a crash."""


class _Activity:
    """The runs executing in this process and the approvals they wait for, so a worker
    that shuts down can wake its waits (a DBOS.recv outlives DBOS.destroy, and its thread
    would keep the interpreter from exiting until the wait times out)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.running = 0
        self.waits: set[tuple[str, str]] = set()

    def check(self) -> None:
        if self.stopping.is_set():
            raise WorkerStopping()

    @contextmanager
    def run(self) -> Iterator[None]:
        with self.lock:
            self.running += 1
        try:
            yield
        finally:
            with self.lock:
                self.running -= 1

    @contextmanager
    def waiting(self, run_id: str, project: str) -> Iterator[None]:
        with self.lock:
            self.waits.add((run_id, project))
        try:
            yield
        finally:
            with self.lock:
                self.waits.discard((run_id, project))


_activity = _Activity()


def install(runtime: Runtime | None) -> None:
    global _runtime
    _runtime = runtime
    _activity.stopping.clear()


def begin_stop() -> list[tuple[str, str]]:
    """Stops runs at their next step; returns the (run, project) waits to wake."""
    _activity.stopping.set()
    with _activity.lock:
        return sorted(_activity.waits)


def wait_stopped(timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _activity.running and time.monotonic() < deadline:
        time.sleep(0.01)
    return _activity.running == 0


def _current() -> Runtime:
    if _runtime is None:
        raise RuntimeError("no promote engine in this process: create an Engine first")
    return _runtime


@DBOS.step(name="promote.record")
def record(run_id: str, key: str, kind: str, project: str | None, data: dict[str, Any]) -> None:
    _current().journal(run_id).append(key, kind, project, data)


@DBOS.step(name="promote.clock")
def clock() -> float:
    # A step, so that replay sees the time the first execution saw.
    return time.time()


@DBOS.step(name="promote.execute")
def execute(key: str, action: str, target: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    runtime = _current()
    where = Target(**target)
    errored = False
    try:
        outcome = _dispatch(runtime.executor, action, where, item)
    except Exception as exc:  # an executor that raises broke; it did not judge the release
        errored = True
        outcome = StepOutcome(False, f"{type(exc).__name__}: {exc}", {"error": repr(exc)})
    result = {"outcome": outcome.to_json(), "errored": errored}
    runtime.journal(where.run_id).append(
        key, f"{action}.result", where.project, {"item": item, **result}
    )
    return result


def _dispatch(executor: Executor, action: str, target: Target, item: dict[str, Any]) -> StepOutcome:
    if action == "check":
        return executor.check(target, _CHECK.validate_python(item))
    if action == "smoke":
        return executor.smoke_test(target, SmokeTest.model_validate(item))
    return executor.step(target, _STEP.validate_python(item))  # "step" and "rollback"


@DBOS.workflow(name=WORKFLOW_NAME)
def run_workflow(spec: dict[str, Any]) -> str:
    with _activity.run():
        return _Run(RunSpec.from_json(spec)).execute()


class _Stop(Exception):
    """A project ends early with this phase and reason."""

    def __init__(self, phase: ProjectPhase, reason: str) -> None:
        super().__init__(reason)
        self.phase = phase
        self.reason = reason


class _Run:
    def __init__(self, spec: RunSpec) -> None:
        self.spec = spec
        self.phases: dict[str, ProjectPhase] = {}
        self.appends = 0
        self.aborted = False

    def execute(self) -> str:
        self.record("run.started", None, {"spec": self.spec.to_json()})
        for layer in self.spec.layers:
            for name in layer:
                self.phases[name] = self.project(self.spec.projects[name])
        phase = run_phase_of(list(self.phases.values()))
        self.record("run.finished", None, {"phase": phase.value})
        return phase.value

    def record(self, kind: str, project: str | None, data: dict[str, Any]) -> None:
        _activity.check()
        self.appends += 1
        record(self.spec.run_id, f"{project or 'run'}:{kind}:{self.appends}", kind, project, data)

    def set_phase(self, project: str, phase: ProjectPhase, reason: str | None = None) -> None:
        self.record("project.phase", project, {"phase": phase.value, "reason": reason})

    def project(self, p: ProjectSpec) -> ProjectPhase:
        blocked = self.blocked(p)
        if blocked is not None:
            self.set_phase(p.name, blocked.phase, blocked.reason)
            return blocked.phase
        self.set_phase(p.name, ProjectPhase.RUNNING)
        variables = dict(p.variables)
        try:
            self.gates(p, variables)
        except _Stop as stop:
            self.set_phase(p.name, stop.phase, stop.reason)
            return stop.phase
        self.set_phase(p.name, ProjectPhase.SUCCEEDED)
        return ProjectPhase.SUCCEEDED

    def blocked(self, p: ProjectSpec) -> _Stop | None:
        if self.aborted:
            return _Stop(ProjectPhase.ABORTED, "the run was aborted")
        for dep in p.depends_on:
            if self.phases.get(dep) is not ProjectPhase.SUCCEEDED:
                return _Stop(ProjectPhase.SKIPPED, f"dependency `{dep}` {self.phases[dep].value}")
        return None

    def gates(self, p: ProjectSpec, variables: dict[str, str]) -> None:
        for index, check in enumerate(p.checks):
            self.call(p, "check", index, check, variables)
        if p.requirements:
            self.approvals(p)
        deployed = False
        try:
            for index, step in enumerate(p.steps):
                deployed = True
                self.call(p, "step", index, step, variables)
            for index, test in enumerate(p.smoke_tests):
                self.call(p, "smoke", index, test, variables)
        except _Stop as stop:
            raise self.rollback(p, variables, stop) if deployed else stop from None

    def call(
        self,
        p: ProjectSpec,
        action: str,
        index: int,
        item: dict[str, Any],
        variables: dict[str, str],
    ) -> None:
        _activity.check()
        self.appends += 1
        key = f"{p.name}:{action}.result:{self.appends}"
        target = Target(
            self.spec.run_id,
            p.name,
            self.spec.environment,
            self.spec.account_id,
            self.spec.region,
            dict(variables),
        )
        result = execute(key, action, target.__dict__, item)
        outcome = StepOutcome.from_json(result["outcome"])
        if result["errored"]:
            raise _Stop(ProjectPhase.ERRORED, f"{action} {index + 1} errored: {outcome.summary}")
        if not outcome.passed:
            raise _Stop(ProjectPhase.FAILED, f"{action} {index + 1} failed: {outcome.summary}")
        # Captures flow into the variables of later steps and smoke tests.
        variables.update(outcome.outputs)

    def rollback(self, p: ProjectSpec, variables: dict[str, str], cause: _Stop) -> _Stop:
        if not p.rollback:
            return cause
        try:
            for index, step in enumerate(p.rollback):
                self.call(p, "rollback", index, step, variables)
        except _Stop as broke:
            return _Stop(ProjectPhase.ERRORED, f"{cause.reason}; rollback: {broke.reason}")
        return _Stop(ProjectPhase.ROLLED_BACK, f"{cause.reason}; rolled back")

    def approvals(self, p: ProjectSpec) -> None:
        spec = self.spec
        tally = Tally(p.requirements, spec.roles, spec.started_by, spec.four_eyes)
        deadline = clock() + spec.approval_ttl
        self.record(
            "approval.requested", p.name, {"requirements": [r.to_json() for r in p.requirements]}
        )
        while not tally.satisfied:
            waiting = f"waiting for {tally.waiting_for()}"
            self.set_phase(p.name, ProjectPhase.WAITING_FOR_APPROVAL, waiting)
            _activity.check()
            with _activity.waiting(spec.run_id, p.name):
                message = DBOS.recv(approval_topic(p.name), max(deadline - clock(), 0))
            if message is None:
                raise _Stop(ProjectPhase.FAILED, f"approvals expired while {waiting}")
            self.decide(p, tally, message)
        self.set_phase(p.name, ProjectPhase.RUNNING, f"approved by {', '.join(tally.approvers)}")

    def decide(self, p: ProjectSpec, tally: Tally, message: dict[str, Any]) -> None:
        decision, person = message.get("decision"), str(message.get("person"))
        comment = message.get("comment")
        handler = _DECISIONS.get(str(decision))
        if handler is None:
            self.record(
                "approval.refused", p.name, {"message": message, "reason": "unknown decision"}
            )
            return
        handler(self, p, tally, person, comment)


def _approve(run: _Run, p: ProjectSpec, tally: Tally, person: str, comment: str | None) -> None:
    refusal = tally.refusal(person)
    if refusal is not None:
        run.record("approval.refused", p.name, {"person": person, "reason": refusal})
        return
    tally.grant(person)
    run.record("approval.given", p.name, {"person": person, "comment": comment})


def _reject(run: _Run, p: ProjectSpec, tally: Tally, person: str, comment: str | None) -> None:
    refusal = tally.may_reject(person)
    if refusal is not None:
        run.record("approval.refused", p.name, {"person": person, "reason": refusal})
        return
    run.record("approval.rejected", p.name, {"person": person, "comment": comment})
    raise _Stop(ProjectPhase.FAILED, f"rejected by {person}" + (f": {comment}" if comment else ""))


def _abort(run: _Run, p: ProjectSpec, tally: Tally, person: str, comment: str | None) -> None:
    run.aborted = True
    raise _Stop(ProjectPhase.ABORTED, f"aborted by {person}")


def _wake(run: _Run, p: ProjectSpec, tally: Tally, person: str, comment: str | None) -> None:
    # Sent by a worker shutting down to end its wait; replayed after a restart, it does nothing.
    _activity.check()


_DECISIONS: dict[str, Callable[[_Run, ProjectSpec, Tally, str, str | None], None]] = {
    "approve": _approve,
    "reject": _reject,
    "abort": _abort,
    "wake": _wake,
}
