"""What the workflows need from the process they run in, and their checkpointed steps.

Everything with an effect happens in a DBOS step: executor calls, journal and ledger appends
and the clock are checkpointed, so after a crash a workflow replays to where it was and a
completed step is not run again. DBOS is one per process, so the engine installs one
``Runtime`` per process too.

Journal keys come from a counter of each workflow's own appends, so a step re-run after a
crash writes the same key and the journal keeps one copy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dbos import DBOS
from pydantic import TypeAdapter

from promote.analysis.evaluate import Request, evaluate
from promote.engine.journal import Journal, Redactor
from promote.engine.ledger import Ledger
from promote.engine.ports import AliasShift, Executor, StepOutcome, Target
from promote.model import Check, SmokeTest, Step

_CHECK: TypeAdapter[Check] = TypeAdapter(Check)
_STEP: TypeAdapter[Step] = TypeAdapter(Step)
# Children report their end to the run on this topic; workers shutting down wake it too.
DONE_TOPIC = "project.done"


def approval_topic(project: str) -> str:
    return f"approval:{project}"


def project_workflow_id(run_id: str, project: str) -> str:
    """Each project of a run is a child workflow with this id: approvals are sent to it."""
    return f"{run_id}/{project}"


def journal_path(state_dir: Path, run_id: str) -> Path:
    return state_dir / "runs" / run_id / "journal.jsonl"


@dataclass
class Runtime:
    executor: Executor
    state_dir: Path
    redactor: Redactor

    def journal(self, run_id: str) -> Journal:
        return Journal(journal_path(self.state_dir, run_id), self.redactor)

    @property
    def ledger(self) -> Ledger:
        return Ledger(self.state_dir)


_runtime: Runtime | None = None


class WorkerStopping(BaseException):
    """Ends a workflow's thread when its worker shuts down. A BaseException, because DBOS
    records an Exception as the run's error; this leaves the run PENDING, and the next
    worker resumes it as it would after a crash."""


class _Activity:
    """The workflows executing in this process and the messages they wait for, so a worker
    that shuts down can wake its waits (a DBOS.recv outlives DBOS.destroy, and its thread
    would keep the interpreter from exiting until the wait times out)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.running = 0
        self.waits: set[tuple[str, str]] = set()  # (workflow id, topic)

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
    def waiting(self, workflow_id: str, topic: str) -> Iterator[None]:
        with self.lock:
            self.waits.add((workflow_id, topic))
        try:
            yield
        finally:
            with self.lock:
                self.waits.discard((workflow_id, topic))

    def receive(self, workflow_id: str, topic: str, timeout: float) -> Any:
        """``DBOS.recv`` that a stopping worker can wake. Returns the message, None when
        ``timeout`` passed, or WAKE: a wake replayed after a restart, which means only that
        the caller should work out what it still waits for, and how long, and ask again."""
        self.check()
        with self.waiting(workflow_id, topic):
            message = DBOS.recv(topic, timeout)
        if is_wake(message):
            self.check()  # raises while this worker stops
            return WAKE
        return message


WAKE: dict[str, Any] = {"decision": "wake"}


def is_wake(message: Any) -> bool:
    return isinstance(message, dict) and message.get("decision") == "wake"


activity = _Activity()


def install(runtime: Runtime | None) -> None:
    global _runtime
    _runtime = runtime
    if runtime is not None:  # a thread left over from a closed engine must stay stopped
        activity.stopping.clear()


def begin_stop() -> list[tuple[str, str]]:
    """Stops workflows at their next step; returns the (workflow id, topic) waits to wake."""
    activity.stopping.set()
    with activity.lock:
        return sorted(activity.waits)


def wait_stopped(timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while activity.running and time.monotonic() < deadline:
        time.sleep(0.01)
    return activity.running == 0


def current() -> Runtime:
    if _runtime is None:
        raise RuntimeError("no promote engine in this process: create an Engine first")
    return _runtime


@DBOS.step(name="promote.record")
def record(run_id: str, key: str, kind: str, project: str | None, data: dict[str, Any]) -> None:
    current().journal(run_id).append(key, kind, project, data)


@DBOS.step(name="promote.ledger")
def record_deployment(key: str, entry: dict[str, Any]) -> None:
    current().ledger.append(key, entry)


@DBOS.step(name="promote.deployed")
def check_deployed(
    key: str, run_id: str, project: str, item: dict[str, Any], environment: str
) -> dict[str, Any]:
    """A ``project.deployed`` check, answered by the ledger, journaled as check results are."""
    found = current().ledger.deployed(environment, item["project"])
    passed = found is not None and found.status == "deployed"
    summary = (
        f"`{item['project']}` is deployed in {environment}: {found.label} by {found.run_id}"
        if passed and found
        else f"`{item['project']}` has not succeeded in {environment}"
    )
    evidence = found.to_json() if found else {}
    result = {"outcome": StepOutcome(passed, summary, evidence).to_json(), "errored": False}
    current().journal(run_id).append(key, "check.result", project, {"item": item, **result})
    return result


@DBOS.step(name="promote.clock")
def clock() -> float:
    # A step, so that replay sees the time the first execution saw.
    return time.time()


@DBOS.step(name="promote.execute")
def execute(key: str, action: str, target: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    runtime = current()
    where = Target(**target)
    errored = False
    try:
        outcome = _dispatch(runtime.executor, action, where, item)
    except Exception as exc:  # an executor that raises broke; it did not judge the release
        errored = True
        # Redacted here: the step's result is checkpointed as it is, before the journal's
        # own redaction.
        summary = runtime.redactor(f"{type(exc).__name__}: {exc}")
        outcome = StepOutcome(False, summary, {"error": runtime.redactor(repr(exc))})
    result = {"outcome": outcome.to_json(), "errored": errored}
    runtime.journal(where.run_id).append(
        key, f"{action}.result", where.project, {"item": item, **result}
    )
    return result


@DBOS.step(name="promote.analyse")
def analyse(
    key: str, target: dict[str, Any], request: dict[str, Any], context: dict[str, Any]
) -> dict[str, Any]:
    """One evaluation of a canary step or soak checkpoint, journaled as a chart sample. A
    source that fails is not a verdict on the release: the result says ``errored``."""
    runtime = current()
    where = Target(**target)
    try:
        source = runtime.executor.metrics(where)
        evaluation = evaluate(source, Request.from_json(request)).to_json()
    except Exception as exc:
        return {"errored": True, "reason": runtime.redactor(f"{type(exc).__name__}: {exc}")}
    sample = {
        **context,
        "at": request["end"],
        "verdict": evaluation["verdict"],
        "versions": evaluation["sample"],
    }
    runtime.journal(where.run_id).append(key, "analysis.sample", where.project, sample)
    return {"errored": False, "evaluation": evaluation}


def _dispatch(executor: Executor, action: str, target: Target, item: dict[str, Any]) -> StepOutcome:
    if action == "check":
        return executor.check(target, _CHECK.validate_python(item))
    if action == "smoke":
        return executor.smoke_test(target, SmokeTest.model_validate(item))
    if action == "canary":
        return executor.shift(target, AliasShift(**item))
    if action == "terraform.apply":
        step = {k: v for k, v in item.items() if k != "plan_file"}
        return executor.terraform_apply(target, _STEP.validate_python(step), item["plan_file"])
    return executor.step(target, _STEP.validate_python(item))  # "step" and "rollback"
