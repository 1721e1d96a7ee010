"""The engine's commands: ``run``, ``approve``, ``reject``, ``abort``, ``status``, ``logs``
and ``verify``, registered on the main app by :mod:`promote.cli`.

``promote run`` is the worker for the run it starts: it shows the run's progress and exits
with its final phase (0 Succeeded, 3 Failed, 4 Errored, 5 Aborted). The other commands go
through :class:`~promote.engine.runs.RunControl` and the journal, so they work from another
terminal while the run waits. DBOS and boto3 are imported only by the commands that need
them, so that ``promote validate`` starts as fast as before.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from promote.engine.errors import JournalBroken, UnknownRun
from promote.engine.journal import Journal
from promote.engine.journal import verify as verify_journal
from promote.engine.phases import ProjectPhase
from promote.engine.ports import Executor
from promote.engine.status import RunStatus
from promote.errors import EstateInvalid, UsageError
from promote.model import Estate
from promote.sandbox.server import Running, config_paths, running

if TYPE_CHECKING:
    from promote.engine.runs import RunControl

DEFAULT_STATE_DIR = Path(".promote")
DEFAULT_SANDBOX_DIR = Path(".promote/sandbox")
POLL_SECONDS = 0.1
# Variables that would win over the sandbox's profiles and reach real AWS.
_AWS_OVERRIDES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
)

stdout = Console(soft_wrap=False, width=None if sys.stdout.isatty() else 120)


class Format(StrEnum):
    TEXT = "text"
    JSON = "json"


StateDir = Annotated[
    Path, typer.Option("--state-dir", help="Where runs live: dbos.sqlite and runs/<id>/.")
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="The DBOS system database; default sqlite under --state-dir. "
        "A postgresql:// URL lets workers share it.",
    ),
]
RunId = Annotated[str, typer.Argument(help="The run's id, as `promote run` printed it.")]
ProjectOpt = Annotated[str, typer.Option("--project", "-p", help="The project to decide on.")]
PersonOpt = Annotated[str, typer.Option("--as", help="Who decides: a person of the roles.")]
CommentOpt = Annotated[str | None, typer.Option("--comment", help="Recorded in the journal.")]
FormatOpt = Annotated[
    Format, typer.Option("--format", "-f", help="text for people, json for scripts.")
]

# The seam between the CLI and the accounts: tests replace it with a fake executor.
ExecutorFactory = Callable[[Estate, Running | None], Executor]


def aws_executor(estate: Estate, sandbox: Running | None) -> Executor:
    from promote.engine.aws import AwsExecutor

    if sandbox is None:
        return AwsExecutor(estate)
    if sandbox.http_port is None or sandbox.https_port is None or sandbox.ca_file is None:
        # Without its gateway, smoke tests would go to the real hosts.
        raise UsageError(
            "the running sandbox has no gateway (started with --accounts-only); "
            "restart it with `promote sandbox up DIR`"
        )
    # Every request reaches the sandbox's gateway, as `curl --connect-to` would, trusting
    # its CA; the sandbox's profiles act in its accounts.
    return AwsExecutor(
        estate,
        http_connect=("127.0.0.1", sandbox.https_port),
        plain_http_connect=("127.0.0.1", sandbox.http_port),
        ca_file=Path(sandbox.ca_file),
        profiles=sandbox.profiles,
    )


make_executor: ExecutorFactory = aws_executor


def run(
    environment: Annotated[str, typer.Argument(help="The environment to promote into.")],
    directory: Annotated[
        Path, typer.Argument(help="The estate folder (holds estate.yaml and projects/).")
    ] = Path("."),
    projects: Annotated[
        str | None,
        typer.Option("--projects", help="Comma-separated projects; default all of them."),
    ] = None,
    sandbox: Annotated[
        bool, typer.Option("--sandbox", help="Promote into the running `promote sandbox`.")
    ] = False,
    sandbox_state_dir: Annotated[
        Path, typer.Option("--sandbox-state-dir", help="The sandbox's state directory.")
    ] = DEFAULT_SANDBOX_DIR,
    state_dir: StateDir = DEFAULT_STATE_DIR,
    database_url: DatabaseUrl = None,
    started_by: Annotated[
        str | None, typer.Option("--started-by", help="Who starts the run; default your login.")
    ] = None,
    output: FormatOpt = Format.TEXT,
) -> int:
    """Promote the estate into ENVIRONMENT and follow the run until it ends.

    Prints each project's phase changes and what it waits for, then a summary. Approve
    from another terminal with `promote approve RUN --project P --as PERSON`. Exit code:
    0 Succeeded, 3 Failed, 4 Errored, 5 Aborted.
    """
    _json_errors(output is Format.JSON)
    estate = _valid_estate(directory)
    estate.environment(environment)  # an unknown environment is refused before any work
    target = _use_sandbox(sandbox_state_dir) if sandbox else None
    if target is not None and state_dir == DEFAULT_STATE_DIR and database_url is None:
        # Runs in the sandbox keep a database of their own: an engine resumes every
        # unfinished run of its database with its own executor, and a sandbox run must
        # never be resumed against the real accounts, nor a real one against the sandbox.
        state_dir = sandbox_state_dir / "engine"
    executor = make_executor(estate, target)
    from promote.engine.runs import Engine

    chosen = [p.strip() for p in projects.split(",") if p.strip()] if projects else None
    text = output is Format.TEXT
    with Engine(state_dir, database_url, executor=executor) as engine:
        run_id = engine.start_run(estate, environment, chosen, started_by)
        where = "" if state_dir == DEFAULT_STATE_DIR else f" --state-dir {state_dir}"
        if text:
            stdout.print(f"run {run_id} started (runs under {state_dir})", highlight=False)
        try:
            status = _follow(engine.control, run_id, text, where)
        except KeyboardInterrupt:
            # The engine stops the run at its next step; it stays pending, not lost.
            stdout.print(
                f"interrupted: run {run_id} stays pending; the next engine on "
                f"{state_dir} (the next `promote run` with the same target) resumes it",
                highlight=False,
            )
            return 130
    _show(status, output)
    return status.phase.exit_code


def approve(
    run_id: RunId,
    project: ProjectOpt,
    person: PersonOpt,
    comment: CommentOpt = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
    database_url: DatabaseUrl = None,
) -> int:
    """Approve PROJECT in run RUN as PERSON (refused with PRM042 if PERSON may not)."""
    with _control(state_dir, database_url) as control:
        control.approve(run_id, project, person, comment)
    stdout.print(f"{person} approves {project} in {run_id}", highlight=False)
    return 0


def reject(
    run_id: RunId,
    project: ProjectOpt,
    person: PersonOpt,
    comment: CommentOpt = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
    database_url: DatabaseUrl = None,
) -> int:
    """Reject PROJECT in run RUN as PERSON: the project Fails and its dependents are skipped."""
    with _control(state_dir, database_url) as control:
        control.reject(run_id, project, person, comment)
    stdout.print(f"{person} rejects {project} in {run_id}", highlight=False)
    return 0


def abort(
    run_id: RunId,
    person: Annotated[
        str | None, typer.Option("--as", help="Who aborts; default your login.")
    ] = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
    database_url: DatabaseUrl = None,
) -> int:
    """Abort run RUN: it stops before its next step, and waiting projects stop waiting."""
    with _control(state_dir, database_url) as control:
        control.abort(run_id, person)
    stdout.print(f"aborted {run_id}", highlight=False)
    return 0


def status(
    run_id: Annotated[
        str | None, typer.Argument(help="A run's id; without it, the runs under --state-dir.")
    ] = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
    database_url: DatabaseUrl = None,
    output: FormatOpt = Format.TEXT,
) -> int:
    """Show run RUN: its phase, each project's phase and reason, and what it waits for.

    Without RUN, list the runs under --state-dir, newest first.
    """
    _json_errors(output is Format.JSON)
    with _control(state_dir, database_url) as control:
        if run_id is None:
            _show_runs([control.status(r) for r in _run_ids(state_dir)], output, state_dir)
        else:
            _show(control.status(run_id), output)
    return 0


def logs(
    run_id: RunId,
    state_dir: StateDir = DEFAULT_STATE_DIR,
    output: FormatOpt = Format.TEXT,
) -> int:
    """Print run RUN's journal: seq, time, kind, project and a summary of each event."""
    _json_errors(output is Format.JSON)
    events = Journal(_existing_journal(state_dir, run_id)).events()
    if output is Format.JSON:
        _print_json(events)
        return 0
    table = Table("seq", "time", "kind", "project", "summary", box=None)
    for event in events:
        table.add_row(
            str(event["seq"]),
            event["time"],
            event["kind"],
            event.get("project") or "",
            summarise(event),
        )
    stdout.print(table, highlight=False)
    return 0


def verify(run_id: RunId, state_dir: StateDir = DEFAULT_STATE_DIR) -> int:
    """Check run RUN's journal hash chain: exit 0 if intact, 1 (PRM043) at the first bad event."""
    result = verify_journal(_existing_journal(state_dir, run_id))
    if not result.ok:
        raise JournalBroken(f"journal broken at event {result.bad_seq}: {result.reason}")
    stdout.print(f"journal intact: {result.events} events", highlight=False)
    return 0


COMMANDS: tuple[Callable[..., int], ...] = (run, approve, reject, abort, status, logs, verify)


def _valid_estate(directory: Path) -> Estate:
    # Imported here: promote.cli imports this module to register its commands.
    from promote.cli import check_estate

    estate, found, _ = check_estate(directory)
    if estate is None or any(d.is_error for d in found):
        raise EstateInvalid(found)
    return estate


def _json_errors(on: bool) -> None:
    # The boundary reports errors as JSON when the command's output is JSON.
    from promote import cli

    cli._state["json"] = on


def _use_sandbox(state_dir: Path) -> Running:
    """Points boto3 at the sandbox's profiles, for this process, and returns the sandbox."""
    found = running(state_dir)
    if found is None:
        raise UsageError(
            f"no sandbox running under {state_dir}; start one with `promote sandbox up DIR`"
        )
    config, credentials = config_paths(state_dir)
    for name in _AWS_OVERRIDES:
        os.environ.pop(name, None)
    os.environ["AWS_CONFIG_FILE"] = str(config)
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(credentials)
    return found


@contextmanager
def _control(state_dir: Path, database_url: str | None) -> Iterator[RunControl]:
    from promote.engine.runs import RunControl

    control = RunControl(state_dir, database_url)
    try:
        yield control
    finally:
        control.close()


def _follow(control: RunControl, run_id: str, text: bool, where: str = "") -> RunStatus:
    """Polls the run until it is final, printing each project phase change. Changes come
    from the journal rather than from the status, so none is missed between two polls."""
    printed = 0
    while True:
        # The status first: once it is final, the events read next include the last one.
        current = control.status(run_id)
        events = control.journal(run_id).events()
        for event in events[printed:] if text else ():
            if event["kind"] == "project.phase" and event.get("project"):
                data = event.get("data") or {}
                phase = ProjectPhase(data["phase"])
                line = _change_line(run_id, event["project"], phase, data.get("reason"), where)
                stdout.print(line, highlight=False, soft_wrap=True)
        printed = len(events)
        if current.phase.is_final:
            return current
        time.sleep(POLL_SECONDS)


def _change_line(
    run_id: str, project: str, phase: ProjectPhase, reason: str | None, where: str = ""
) -> str:
    if phase is ProjectPhase.WAITING_FOR_APPROVAL:
        hint = f"promote approve {run_id} --project {project} --as PERSON{where}"
        return f"{project}: {reason} — {hint}"
    return f"{project}: {phase.value}" + (f" — {reason}" if reason else "")


def _status_data(s: RunStatus) -> dict[str, Any]:
    return {
        "run_id": s.run_id,
        "environment": s.environment,
        "phase": s.phase.value,
        "started_by": s.started_by,
        "projects": {
            name: {"phase": p.phase.value, "reason": p.reason, "approvers": p.approvers}
            for name, p in s.projects.items()
        },
        "waiting": s.waiting(),
    }


def _show(s: RunStatus, output: Format) -> None:
    if output is Format.JSON:
        _print_json(_status_data(s))
        return
    stdout.print(
        f"run {s.run_id} into {s.environment}, started by {s.started_by}: {s.phase.value}",
        highlight=False,
    )
    table = Table("project", "phase", "reason", "approved by", box=None)
    for name, p in s.projects.items():
        table.add_row(name, p.phase.value, p.reason or "", ", ".join(p.approvers))
    stdout.print(table, highlight=False)
    for name, waiting in s.waiting().items():
        stdout.print(
            _change_line(s.run_id, name, ProjectPhase.WAITING_FOR_APPROVAL, waiting),
            highlight=False,
            soft_wrap=True,
        )


def _run_ids(state_dir: Path) -> list[str]:
    root = state_dir / "runs"
    if not root.is_dir():
        return []
    ids = [p.name for p in root.iterdir() if (p / "journal.jsonl").exists()]
    # Ids end in a ULID, which sorts by start time.
    return sorted(ids, key=lambda i: i.rsplit("-", 1)[-1], reverse=True)


def _show_runs(runs: list[RunStatus], output: Format, state_dir: Path) -> None:
    if output is Format.JSON:
        _print_json([_status_data(s) for s in runs])
        return
    if not runs:
        stdout.print(f"no runs under {state_dir}", highlight=False)
        return
    table = Table("run", "environment", "phase", "started by", box=None)
    for s in runs:
        table.add_row(s.run_id, s.environment or "", s.phase.value, s.started_by or "")
    stdout.print(table, highlight=False)


def _existing_journal(state_dir: Path, run_id: str) -> Path:
    from promote.engine.workflow import journal_path

    path = journal_path(state_dir, run_id)
    if not path.exists():
        raise UnknownRun(f"no run `{run_id}` under {state_dir}")
    return path


def summarise(event: Mapping[str, Any]) -> str:
    """One line about an event, from its data."""
    data: Mapping[str, Any] = event.get("data") or {}
    kind = str(event["kind"])
    if kind.endswith(".result"):
        item = data.get("item") or {}
        outcome = data.get("outcome") or {}
        return f"{item.get('name') or item.get('kind', '')}: {outcome.get('summary', '')}"
    summary = _SUMMARIES.get(kind)
    return summary(data) if summary else ""


def _phase_summary(data: Mapping[str, Any]) -> str:
    reason = data.get("reason")
    return f"{data.get('phase')}" + (f" — {reason}" if reason else "")


def _person_summary(data: Mapping[str, Any]) -> str:
    detail = data.get("reason") or data.get("comment")
    return f"{data.get('person')}" + (f": {detail}" if detail else "")


def _started_summary(data: Mapping[str, Any]) -> str:
    spec = data.get("spec") or {}
    return f"into {spec.get('environment')}, by {spec.get('started_by')}"


def _requested_summary(data: Mapping[str, Any]) -> str:
    wanted = data.get("requirements") or []
    return ", ".join(f"{r.get('count')} of {r.get('title') or r.get('role')}" for r in wanted)


_SUMMARIES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "run.started": _started_summary,
    "run.finished": _phase_summary,
    "project.phase": _phase_summary,
    "approval.requested": _requested_summary,
    "approval.given": _person_summary,
    "approval.rejected": _person_summary,
    "approval.refused": _person_summary,
}


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
