"""Entry points: ``Engine`` runs promotions; ``RunControl`` decides on and watches them.

The engine is a DBOS worker. Its system database is SQLite under the state directory by
default (``<state_dir>/dbos.sqlite``); a ``postgresql://`` URL lets workers share one. When
it launches, DBOS resumes every run left unfinished by a crash or ``kill -9``.

``RunControl`` talks to the system database through a DBOS client and reads journals, so
``approve``, ``reject``, ``abort`` and ``status`` work from any process without becoming a
worker (a second worker on the same database would also try to recover the runs).
DBOS allows one instance per process, so a process holds at most one Engine.
"""

from __future__ import annotations

import getpass
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from dbos import DBOS, DBOSClient, SetWorkflowID
from ulid import ULID

from promote.engine.approvals import Requirement, Tally
from promote.engine.artifacts import ArtifactStore
from promote.engine.errors import ApprovalRefused, UnknownProject, UnknownRun
from promote.engine.journal import Journal, Redactor
from promote.engine.ledger import Ledger
from promote.engine.phases import RunPhase
from promote.engine.plan import DEFAULT_PER_ACCOUNT, RunSpec, make_run_spec, select_projects
from promote.engine.ports import Executor
from promote.engine.releases import resolve
from promote.engine.rollback import rollback_spec
from promote.engine.runtime import (
    Runtime,
    approval_topic,
    begin_stop,
    install,
    journal_path,
    project_workflow_id,
    wait_stopped,
)
from promote.engine.status import RunStatus, fold
from promote.engine.workers import gone, own_id
from promote.engine.workflow import register_queue, run_workflow
from promote.errors import UsageError
from promote.model import Estate

DEFAULT_STATE_DIR = Path(".promote")
APP_NAME = "promote"
# The key of the run.started event; the workflow's first append uses the same one.
_STARTED_KEY = "run:run.started:1"


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _write_ahead_log(database_url: str) -> None:
    """SQLite in WAL mode: a checkpoint is one fsync of the log instead of several of the
    database (it halves the cost of a step). The mode is kept in the file."""
    if not database_url.startswith("sqlite:///"):
        return
    path = Path(database_url.removeprefix("sqlite:///"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA journal_mode=WAL")


def new_run_id(env: str) -> str:
    # ULIDs sort by time, so a directory listing of runs is in start order.
    return f"{env}-{str(ULID()).lower()}"


class RunControl:
    """Approve, reject, abort and watch runs from any process."""

    def __init__(self, state_dir: Path, database_url: str | None = None) -> None:
        self.state_dir = state_dir
        self.database_url = database_url or sqlite_url(state_dir / "dbos.sqlite")
        self._client_field: DBOSClient | None = None

    @property
    def _client(self) -> DBOSClient:
        if self._client_field is None:
            self._client_field = DBOSClient(system_database_url=self.database_url)
        return self._client_field

    def close(self) -> None:
        if self._client_field is not None:
            self._client_field.destroy()
            self._client_field = None

    def journal(self, run_id: str) -> Journal:
        return Journal(journal_path(self.state_dir, run_id))

    def status(self, run_id: str) -> RunStatus:
        events = self.journal(run_id).events()
        if not events:
            raise UnknownRun(f"no run `{run_id}` under {self.state_dir}")
        status = fold(run_id, events)
        if not status.phase.is_final:
            _overlay_workflow_state(status, self._workflow_state(run_id))
        return status

    def wait(self, run_id: str, timeout: float, poll: float = 0.05) -> RunStatus:
        """The run's status once it is final, or when ``timeout`` seconds have passed."""
        deadline = time.monotonic() + timeout
        status = self.status(run_id)
        while not status.phase.is_final and time.monotonic() < deadline:
            time.sleep(poll)
            status = self.status(run_id)
        return status

    def approve(self, run_id: str, project: str, person: str, comment: str | None = None) -> None:
        tally, gate = self._tally(run_id, project)
        refusal = tally.refusal(person)
        if refusal is not None:
            raise ApprovalRefused(f"{project}: {refusal}")
        self._send(run_id, project, gate, "approve", person, comment)

    def reject(self, run_id: str, project: str, person: str, comment: str | None = None) -> None:
        tally, gate = self._tally(run_id, project)
        refusal = tally.may_reject(person)
        if refusal is not None:
            raise ApprovalRefused(f"{project}: {refusal}")
        self._send(run_id, project, gate, "reject", person, comment)

    def abort(self, run_id: str, by: str | None = None) -> None:
        """Stops the run: DBOS cancels the workflow before its next step, and a message wakes
        a project waiting for approval, so the worker does not sit on a dead wait."""
        status = self.status(run_id)
        if status.phase.is_final:
            raise UsageError(f"run `{run_id}` has already ended: {status.phase.value}")
        who = by or getpass.getuser()
        self._client.cancel_workflow(run_id)
        for project in status.projects:
            child = project_workflow_id(run_id, project)
            if self._exists(child):
                self._client.cancel_workflow(child)
                message = {"decision": "abort", "person": who}
                self._client.send(child, message, approval_topic(project))
        self.journal(run_id).append(
            "run:aborted", "run.finished", None, {"phase": "Aborted", "reason": f"aborted by {who}"}
        )

    def _tally(self, run_id: str, project: str) -> tuple[Tally, int]:
        """The approvals so far at the gate the project waits at, and that gate's number,
        rebuilt from the journal to refuse early and clearly; the workflow checks every
        decision again when it receives it."""
        status = self.status(run_id)
        if status.phase.is_final:
            raise UsageError(f"run `{run_id}` has already ended: {status.phase.value}")
        entry = status.projects.get(project)
        if entry is None:
            raise UnknownProject(f"run `{run_id}` does not promote `{project}`")
        if entry.phase.is_final:
            raise ApprovalRefused(f"{project} has already ended: {entry.phase.value}")
        spec: dict[str, Any] = status.spec
        required = [Requirement.from_json(r) for r in entry.requirements]
        if not entry.waiting_for:
            raise ApprovalRefused(f"{project} is not waiting for approval ({entry.phase.value})")
        tally = Tally(required, spec["roles"], spec["started_by"], spec["four_eyes"])
        for person in entry.approvers:
            tally.grant(person)
        return tally, entry.gate

    def _send(
        self,
        run_id: str,
        project: str,
        gate: int,
        decision: str,
        person: str,
        comment: str | None,
    ) -> None:
        # The same decision sent twice to one gate (a retried command) is delivered once,
        # and a decision for one gate is never taken for the next.
        message = {"decision": decision, "person": person, "comment": comment, "gate": gate}
        key = f"{run_id}:{project}:{gate}:{decision}:{person}"
        child = project_workflow_id(run_id, project)
        self._client.send(child, message, approval_topic(project), idempotency_key=key)

    def _exists(self, workflow_id: str) -> bool:
        return bool(self._client.list_workflows(workflow_ids=[workflow_id]))

    def _workflow_state(self, run_id: str) -> str | None:
        try:
            return str(self._client.retrieve_workflow(run_id).get_status().status)
        except Exception:  # not started yet: start_run journals before DBOS knows the run
            return None


def _overlay_workflow_state(status: RunStatus, state: str | None) -> None:
    # The journal says what the workflow got to write; DBOS knows when it can write no more.
    if state == "CANCELLED":
        status.phase = RunPhase.ABORTED
    elif state in {"ERROR", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"}:
        status.phase = RunPhase.ERRORED


def prepare_run(
    estate: Estate,
    env: str,
    state_dir: Path,
    projects: Sequence[str] | None = None,
    started_by: str | None = None,
    *,
    estate_dir: Path | None = None,
    time_scale: float = 1.0,
    sandbox: bool = False,
    policy: str | None = None,
) -> RunSpec:
    """What a run would do, fixed: its releases (built in the first environment of the
    path, else taken from the ledger) and its spec. Needs no worker: ``--dry-run`` shows it."""
    chosen = select_projects(estate, projects)
    store = ArtifactStore(state_dir / "artifacts")
    where = estate_dir or Path(".")
    releases = resolve(estate, where, env, chosen, Ledger(state_dir), store, sandbox, policy)
    return make_run_spec(
        estate,
        env,
        new_run_id(env),
        started_by or getpass.getuser(),
        projects,
        artifacts=releases,
        time_scale=time_scale,
        sandbox=sandbox,
    )


class Engine:
    """A DBOS worker that runs promotions; creating it resumes unfinished runs."""

    def __init__(
        self,
        state_dir: Path,
        database_url: str | None = None,
        *,
        executor: Executor,
        secrets: Iterable[str] = (),
        per_account: int = DEFAULT_PER_ACCOUNT,
        executor_id: str | None = None,
        recover: Iterable[str] = (),
        take_over: bool = True,
    ) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir = state_dir
        self.executor_id = own_id(executor_id)
        self.control = RunControl(state_dir, database_url)
        self.runtime = Runtime(executor, state_dir, Redactor(secrets))
        install(self.runtime)
        _write_ahead_log(self.control.database_url)
        DBOS(
            config={
                "name": APP_NAME,
                "system_database_url": self.control.database_url,
                "log_level": "WARNING",
                # Projects report their end, and people their decisions, as messages; the
                # default 1 s poll would add up to a second to every layer and approval.
                "notification_listener_polling_interval_sec": 0.05,
                # At launch DBOS resumes the unfinished work of its executor id (workers.py).
                "executor_id": self.executor_id,
            }
        )
        DBOS.launch()
        register_queue(per_account)
        self._take_over(recover, take_over)

    def _take_over(self, named: Iterable[str], dead_ones: bool) -> None:
        """Resume the runs of the workers named, and of this host's workers that are gone:
        what DBOS's admin API does for `POST /dbos-workflow-recovery` (its documented way to
        recover another executor's work when self-hosted without Conductor)."""
        dead: list[str] = []
        if dead_ones:
            pending = DBOS.list_workflows(status="PENDING", load_input=False, load_output=False)
            dead = gone((w.executor_id or "" for w in pending), self.executor_id)
        executors = sorted(set(dead) | set(named))
        if executors:
            DBOS._recover_pending_workflows(executors)

    @property
    def ledger(self) -> Ledger:
        return self.runtime.ledger

    @property
    def artifacts(self) -> ArtifactStore:
        return ArtifactStore(self.state_dir / "artifacts")

    def close(self, timeout: float = 10) -> None:
        """Stops this worker. Runs stop at their next step and stay PENDING; the next
        engine on the same database resumes them."""
        for workflow_id, topic in begin_stop():
            DBOS.send(workflow_id, {"decision": "wake"}, topic)
        wait_stopped(timeout)
        DBOS.destroy()
        self.control.close()
        install(None)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start_run(
        self,
        estate: Estate,
        env: str,
        projects: Sequence[str] | None = None,
        started_by: str | None = None,
        *,
        estate_dir: Path | None = None,
        time_scale: float = 1.0,
        sandbox: bool = False,
        policy: str | None = None,
    ) -> str:
        """Starts a run. Raises PromotionRefused when a release has not succeeded in the
        environment before ``env`` on the promotion path."""
        spec = prepare_run(
            estate,
            env,
            self.state_dir,
            projects,
            started_by,
            estate_dir=estate_dir,
            time_scale=time_scale,
            sandbox=sandbox,
            policy=policy,
        )
        self._launch(spec)
        return spec.run_id

    def start_rollback(self, run_id: str, started_by: str | None = None) -> str:
        """Starts a run that rolls run ``run_id`` back, last layer first (see rollback.py)."""
        events = self.control.journal(run_id).events()
        if not events:
            raise UnknownRun(f"no run `{run_id}` under {self.state_dir}")
        environment = events[0]["data"]["spec"]["environment"]
        new_id = new_run_id(environment)
        ledger = self.ledger
        spec = rollback_spec(
            events,
            ledger.before(run_id),
            ledger.current(),
            new_id,
            started_by or getpass.getuser(),
        )
        self._launch(spec)
        return new_id

    def _launch(self, spec: RunSpec) -> None:
        # DBOS first: a run in the journal that DBOS does not know would never be resumed
        # (a kill between the two). The workflow journals run.started itself, under the same
        # key; journaling it here too lets status know the run as soon as this returns.
        with SetWorkflowID(spec.run_id):
            DBOS.start_workflow(run_workflow, spec.to_json())
        self.runtime.journal(spec.run_id).append(
            _STARTED_KEY, "run.started", None, {"spec": spec.to_json()}
        )

    def status(self, run_id: str) -> RunStatus:
        return self.control.status(run_id)

    def wait(self, run_id: str, timeout: float) -> RunStatus:
        return self.control.wait(run_id, timeout)

    def approve(self, run_id: str, project: str, person: str, comment: str | None = None) -> None:
        self.control.approve(run_id, project, person, comment)

    def reject(self, run_id: str, project: str, person: str, comment: str | None = None) -> None:
        self.control.reject(run_id, project, person, comment)

    def abort(self, run_id: str, by: str | None = None) -> None:
        self.control.abort(run_id, by)
