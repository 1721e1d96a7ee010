"""The run as a DBOS workflow: projects in dependency order, independent ones in parallel.

Each project is a child workflow (:mod:`promote.engine.project_flow`) enqueued on one queue
partitioned by AWS account, so at most ``per_account`` projects act in one account at a
time, across every run and worker sharing the system database. The run starts a layer's
projects together and waits for each to report its end; a project whose dependency did not
succeed is Skipped with the reason, and once a person aborts, the rest are Aborted.

The workflow is deterministic given its input (the run spec) and the recorded step outputs
and messages, as DBOS replay requires.
"""

from __future__ import annotations

from typing import Any

from dbos import DBOS, SetEnqueueOptions, SetWorkflowID

from promote.engine.phases import ProjectPhase, run_phase_of
from promote.engine.plan import DEFAULT_PER_ACCOUNT, ProjectSpec, RunSpec
from promote.engine.project_flow import project_workflow
from promote.engine.runtime import (
    DONE_TOPIC,
    activity,
    approval_topic,
    is_wake,
    journal_path,
    project_workflow_id,
    record,
)

WORKFLOW_NAME = "promote.run"
QUEUE = "promote-projects"
# How long one wait for a project's end lasts before the run checks whether a project ended
# without reporting; ends are durable messages, so this only bounds that check's delay.
_DONE_WAIT = 30.0

__all__ = [
    "DEFAULT_PER_ACCOUNT",
    "QUEUE",
    "WORKFLOW_NAME",
    "approval_topic",
    "journal_path",
    "project_workflow_id",
    "register_queue",
    "run_workflow",
]


def register_queue(per_account: int = DEFAULT_PER_ACCOUNT) -> None:
    """Declares the project queue; call after DBOS.launch (the limit lives in the database,
    so every worker sharing it obeys the last one set)."""
    DBOS.register_queue(
        QUEUE,
        partition_concurrency=per_account,
        polling_interval_sec=0.05,
        on_conflict="always_update",
    )


@DBOS.workflow(name=WORKFLOW_NAME)
def run_workflow(spec: dict[str, Any]) -> str:
    with activity.run():
        return _Run(RunSpec.from_json(spec)).execute()


class _Run:
    def __init__(self, spec: RunSpec) -> None:
        self.spec = spec
        self.phases: dict[str, ProjectPhase] = {}
        self.appends = 0

    def execute(self) -> str:
        self.record("run.started", None, {"spec": self.spec.to_json()})
        for layer in self.spec.layers:
            self.layer(layer)
        phase = run_phase_of(list(self.phases.values()))
        self.record("run.finished", None, {"phase": phase.value})
        return phase.value

    def record(self, kind: str, project: str | None, data: dict[str, Any]) -> None:
        activity.check()
        self.appends += 1
        record(self.spec.run_id, f"{project or 'run'}:{kind}:{self.appends}", kind, project, data)

    def layer(self, names: list[str]) -> None:
        started = []
        for name in names:
            blocked = self.blocked(self.spec.projects[name])
            if blocked is not None:
                phase, reason = blocked
                self.phases[name] = phase
                self.record("project.phase", name, {"phase": phase.value, "reason": reason})
                continue
            self.start(name)
            started.append(name)
        self.wait_for(set(started))

    def blocked(self, p: ProjectSpec) -> tuple[ProjectPhase, str] | None:
        if ProjectPhase.ABORTED in self.phases.values():
            return ProjectPhase.ABORTED, "the run was aborted"
        if p.skip:
            return ProjectPhase.SKIPPED, p.skip
        for dep in p.depends_on:
            if self.phases.get(dep) is not ProjectPhase.SUCCEEDED:
                return ProjectPhase.SKIPPED, f"dependency `{dep}` {self.phases[dep].value}"
        return None

    def start(self, name: str) -> None:
        activity.check()
        child = project_workflow_id(self.spec.run_id, name)
        with SetWorkflowID(child), SetEnqueueOptions(queue_partition_key=self.spec.account_id):
            DBOS.enqueue_workflow(QUEUE, project_workflow, self.spec.to_json(), name)

    def wait_for(self, pending: set[str]) -> None:
        while pending:
            message = activity.receive(self.spec.run_id, DONE_TOPIC, _DONE_WAIT)
            if message is None:
                # No news for a while: a project that can no longer report (cancelled
                # by hand, or out of recovery attempts) must not hold the run forever.
                ended = ended_without_report(self.spec.run_id, sorted(pending))
                for name, phase in ended.items():
                    pending.discard(name)
                    self.phases[name] = ProjectPhase(phase)
                    reason = "its workflow ended without reporting (cancelled or broken)"
                    self.record("project.phase", name, {"phase": phase, "reason": reason})
                continue
            if is_wake(message) or message.get("project") not in pending:
                continue
            pending.discard(message["project"])
            self.phases[message["project"]] = ProjectPhase(message["phase"])


@DBOS.step(name="promote.ended_without_report")
def ended_without_report(run_id: str, projects: list[str]) -> dict[str, str]:
    """Project -> its phase, for the project workflows DBOS ended without a report."""
    ids = {project_workflow_id(run_id, p): p for p in projects}
    found = DBOS.list_workflows(workflow_ids=list(ids), load_input=False, load_output=False)
    ended: dict[str, str] = {}
    for workflow in found:
        if workflow.status == "CANCELLED":
            ended[ids[workflow.workflow_id]] = ProjectPhase.ABORTED.value
        elif workflow.status in {"ERROR", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"}:
            ended[ids[workflow.workflow_id]] = ProjectPhase.ERRORED.value
    return ended
