"""The engine's commands that act: ``run``, ``worker``, ``approve``, ``reject``, ``abort``
and ``rollback``, registered on the main app by :mod:`promote.cli` with the read-only ones of
:mod:`promote.engine.cli_views`.

``promote run`` is the worker for the run it starts: it shows the run's progress and exits
with its final phase (0 Succeeded, 3 Failed, 4 Errored, 5 Aborted). The other commands go
through :class:`~promote.engine.runs.RunControl` and the journal, so they work from another
terminal while the run waits. DBOS and boto3 are imported only by the commands that need
them, so that ``promote validate`` starts as fast as before.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from promote.engine.cli_views import (
    _AWS_OVERRIDES,
    DEFAULT_SANDBOX_DIR,
    DEFAULT_STATE_DIR,
    POLL_SECONDS,
    CommentOpt,
    DatabaseUrl,
    Format,
    FormatOpt,
    PersonOpt,
    ProjectOpt,
    RunId,
    StateDir,
    _control,
    _follow,
    _json_errors,
    _run_ids,
    _show,
    _valid_estate,
    logs,
    report,
    show_dry_run,
    status,
    stdout,
    verify,
)
from promote.engine.plan import DEFAULT_PER_ACCOUNT
from promote.engine.ports import Executor
from promote.engine.status import RunStatus
from promote.errors import UsageError
from promote.model import Estate
from promote.sandbox.server import Running, config_paths, running

if TYPE_CHECKING:
    from promote.engine.runs import Engine, RunControl

# The seam between the CLI and the accounts: tests replace it with a fake executor.
ExecutorFactory = Callable[[Estate, "Running | None", "Context"], Executor]


@dataclass(frozen=True)
class Context:
    """What a worker knows beyond the estate: secret inputs (kept in memory only), where
    step paths are relative to, and its state directory (artifacts, plans)."""

    inputs: dict[str, str]
    estate_dir: Path
    state_dir: Path


def aws_executor(estate: Estate, sandbox: Running | None, context: Context) -> Executor:
    from promote.engine.aws import AwsExecutor

    common: dict[str, Any] = {
        "secrets": context.inputs.values(),
        "inputs": context.inputs,
        "workdir": context.estate_dir,
        "state_dir": context.state_dir,
    }
    if sandbox is None:
        return AwsExecutor(estate, **common)
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
        # The sandbox is the environments' identity provider: the functions it deploys
        # trust its issuers.
        overrides={
            env: {
                "jwt_issuer": url,
                "jwks_url": f"{url}/.well-known/jwks.json",
                # Python steps that call the sandbox over https (a JWKS) trust its CA.
                "ca_bundle": str(sandbox.ca_file),
            }
            for env, url in sandbox.issuers.items()
        },
        **common,
    )


make_executor: ExecutorFactory = aws_executor

Directory = Annotated[
    Path, typer.Argument(help="The estate folder (holds estate.yaml and projects/).")
]
SandboxOpt = Annotated[
    bool, typer.Option("--sandbox", help="Promote into the running `promote sandbox`.")
]
SandboxDir = Annotated[
    Path, typer.Option("--sandbox-state-dir", help="The sandbox's state directory.")
]
SecretOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--secret",
        help="NAME=VARIABLE: the estate's input NAME is read from the environment variable "
        "VARIABLE (e.g. --secret token=SIT_TOKEN). Held in memory only: never in the run "
        "spec, the journal or the logs. Give it again to `promote worker` after a crash.",
    ),
]
PerAccountOpt = Annotated[
    int,
    typer.Option(
        "--per-account", min=1, help="At most this many projects act in one account at once."
    ),
]
ExecutorIdOpt = Annotated[
    str | None,
    typer.Option(
        "--executor-id",
        envvar="PROMOTE_EXECUTOR_ID",
        help="This worker's id in a shared database (default: one naming this process). "
        "Live workers on one postgresql:// database need ids of their own; a restarted worker "
        "keeps its id to resume its runs.",
    ),
]
StartedBy = Annotated[
    str | None, typer.Option("--started-by", help="Who starts the run; default your login.")
]


@dataclass
class _Worker:
    estate: Estate
    state_dir: Path
    database_url: str | None
    executor: Executor
    secrets: list[str]  # the secret inputs' values, for the journal's redactor

    def engine(
        self,
        per_account: int,
        executor_id: str | None,
        recover: list[str] | None = None,
        take_over: bool = False,
    ) -> Engine:
        """This process as a DBOS worker: it resumes its id's unfinished runs, and with
        ``take_over`` those of this host's workers that are gone (`promote worker` only:
        `promote run` holds the secrets of its own run, not of the runs it would resume)."""
        from promote.engine.runs import Engine

        return Engine(
            self.state_dir,
            self.database_url,
            executor=self.executor,
            secrets=self.secrets,
            per_account=per_account,
            executor_id=executor_id,
            recover=recover or (),
            take_over=take_over,
        )

    @property
    def where(self) -> str:
        return "" if self.state_dir == DEFAULT_STATE_DIR else f" --state-dir {self.state_dir}"


def _worker(
    directory: Path,
    sandbox: bool,
    sandbox_state_dir: Path,
    state_dir: Path,
    database_url: str | None,
    secrets: list[str] | None,
) -> _Worker:
    estate = _valid_estate(directory)
    target = _use_sandbox(sandbox_state_dir) if sandbox else None
    if target is not None and state_dir == DEFAULT_STATE_DIR and database_url is None:
        # Runs in the sandbox keep a database of their own: an engine resumes every
        # unfinished run of its database with its own executor, and a sandbox run must
        # never be resumed against the real accounts, nor a real one against the sandbox.
        state_dir = sandbox_state_dir / "engine"
    context = Context(_inputs(estate, secrets or []), directory.resolve(), state_dir)
    executor = make_executor(estate, target, context)
    return _Worker(estate, state_dir, database_url, executor, list(context.inputs.values()))


def _inputs(estate: Estate, given: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in given:
        name, sep, variable = item.partition("=")
        if not sep or not name or not variable:
            raise UsageError(f"--secret {item!r}: write NAME=VARIABLE, e.g. token=SIT_TOKEN")
        if name not in estate.spec.inputs:
            known = ", ".join(sorted(estate.spec.inputs)) or "none"
            raise UsageError(f"--secret {name}: the estate declares no such input ({known})")
        value = os.environ.get(variable)
        if not value:
            raise UsageError(f"--secret {name}={variable}: ${variable} is not set or is empty")
        values[name] = value
    return values


def run(
    environment: Annotated[str, typer.Argument(help="The environment to promote into.")],
    directory: Directory = Path("."),
    projects: Annotated[
        str | None,
        typer.Option("--projects", help="Comma-separated projects; default all of them."),
    ] = None,
    sandbox: SandboxOpt = False,
    sandbox_state_dir: SandboxDir = DEFAULT_SANDBOX_DIR,
    state_dir: StateDir = DEFAULT_STATE_DIR,
    database_url: DatabaseUrl = None,
    started_by: StartedBy = None,
    secret: SecretOpt = None,
    time_scale: Annotated[
        float,
        typer.Option(
            "--time-scale",
            min=0.0,
            help="Multiply bake times by this (0.001 turns 15m into 0.9 s, for demos). "
            "Printed and journaled.",
        ),
    ] = 1.0,
    per_account: PerAccountOpt = DEFAULT_PER_ACCOUNT,
    executor_id: ExecutorIdOpt = None,
    policy: Annotated[
        str | None,
        typer.Option(
            "--policy",
            help="Enter ENVIRONMENT by one of the estate's promotion_policies instead of the "
            "path. A policy with soak: true needs a passed soak in the ledger, which soaks "
            "record (the analysis issue; not built yet).",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Show what the run would do (releases, gates, steps) and start nothing. "
            "It still checks the promotion path, and builds a first environment's artifacts.",
        ),
    ] = False,
    output: FormatOpt = Format.TEXT,
) -> int:
    """Promote the estate into ENVIRONMENT and follow the run until it ends.

    Projects run in dependency order, independent ones in parallel. Each release must have
    succeeded in the environment before ENVIRONMENT on promotion_path (PRM044 otherwise).
    Prints each project's progress and what it waits for, then a summary. Approve from
    another terminal with `promote approve RUN --project P --as PERSON`. Exit code:
    0 Succeeded, 3 Failed, 4 Errored, 5 Aborted.
    """
    _json_errors(output is Format.JSON)
    worker = _worker(directory, sandbox, sandbox_state_dir, state_dir, database_url, secret)
    worker.estate.environment(environment)  # an unknown environment is refused first
    chosen = [p.strip() for p in projects.split(",") if p.strip()] if projects else None
    if dry_run:
        from promote.engine.runs import prepare_run

        spec = prepare_run(
            worker.estate,
            environment,
            worker.state_dir,
            chosen,
            started_by,
            estate_dir=directory.resolve(),
            time_scale=time_scale,
            sandbox=sandbox,
            policy=policy,
        )
        show_dry_run(spec, output)
        return 0
    text = output is Format.TEXT
    with worker.engine(per_account, executor_id) as engine:
        run_id = engine.start_run(
            worker.estate,
            environment,
            chosen,
            started_by,
            estate_dir=directory.resolve(),
            time_scale=time_scale,
            sandbox=sandbox,
            policy=policy,
        )
        if text:
            stdout.print(f"run {run_id} started (runs under {worker.state_dir})", highlight=False)
            # Always said: a compressed soak must never pass for a real one.
            scaled = "real time" if time_scale == 1.0 else "bakes and soaks compressed"
            stdout.print(f"time scale {time_scale:g} ({scaled}; --time-scale)")
        status = _follow_or_stop(engine.control, run_id, text, worker)
    return _conclude(status, output)


def worker(
    directory: Directory = Path("."),
    sandbox: SandboxOpt = False,
    sandbox_state_dir: SandboxDir = DEFAULT_SANDBOX_DIR,
    state_dir: StateDir = DEFAULT_STATE_DIR,
    database_url: DatabaseUrl = None,
    secret: SecretOpt = None,
    per_account: PerAccountOpt = DEFAULT_PER_ACCOUNT,
    executor_id: ExecutorIdOpt = None,
    recover: Annotated[
        list[str] | None,
        typer.Option(
            "--recover",
            help="Also take over the unfinished runs of this worker id (one that is gone "
            "for good). Repeatable.",
        ),
    ] = None,
    until_idle: Annotated[
        bool,
        typer.Option("--until-idle", help="Exit once no run is left unfinished."),
    ] = False,
) -> int:
    """Serve runs: resume the unfinished runs of this worker id (after a crash or `kill -9`)
    and take queued projects, until Ctrl-C (or, with --until-idle, until no run is left).
    Several workers may share a postgresql:// --database-url, each with its own
    --executor-id and the same --state-dir."""
    found = _worker(directory, sandbox, sandbox_state_dir, state_dir, database_url, secret)
    with found.engine(per_account, executor_id, recover, take_over=True) as engine:
        stdout.print(f"worker on {engine.control.database_url}", highlight=False)
        try:
            while not (until_idle and not _unfinished(engine.control, found.state_dir)):
                time.sleep(POLL_SECONDS * 5)
        except KeyboardInterrupt:
            stdout.print("worker stopping: unfinished runs stay pending", highlight=False)
    return 0


def rollback(
    run_id: RunId,
    directory: Directory = Path("."),
    sandbox: SandboxOpt = False,
    sandbox_state_dir: SandboxDir = DEFAULT_SANDBOX_DIR,
    state_dir: StateDir = DEFAULT_STATE_DIR,
    database_url: DatabaseUrl = None,
    started_by: StartedBy = None,
    secret: SecretOpt = None,
    per_account: PerAccountOpt = DEFAULT_PER_ACCOUNT,
    executor_id: ExecutorIdOpt = None,
    output: FormatOpt = Format.TEXT,
) -> int:
    """Roll run RUN back: every project it promoted runs its rollback steps, last layer
    first, and the ledger gets the releases that were there before. A new run; exit codes
    as for `promote run`."""
    _json_errors(output is Format.JSON)
    found = _worker(directory, sandbox, sandbox_state_dir, state_dir, database_url, secret)
    text = output is Format.TEXT
    with found.engine(per_account, executor_id) as engine:
        new_id = engine.start_rollback(run_id, started_by)
        if text:
            stdout.print(f"run {new_id} rolls back {run_id}", highlight=False)
        status = _follow_or_stop(engine.control, new_id, text, found)
    return _conclude(status, output)


def _conclude(status: RunStatus | None, output: Format) -> int:
    """The run's summary and its exit code; 130 when following was interrupted."""
    if status is None:
        return 130
    _show(status, output)
    return status.phase.exit_code


def _follow_or_stop(
    control: RunControl, run_id: str, text: bool, worker: _Worker
) -> RunStatus | None:
    try:
        return _follow(control, run_id, text, worker.where)
    except KeyboardInterrupt:
        # The engine stops the run at its next step; it stays pending, not lost.
        stdout.print(
            f"interrupted: run {run_id} stays pending; `promote worker` on "
            f"{worker.state_dir} resumes it",
            highlight=False,
        )
        return None


def _unfinished(control: RunControl, state_dir: Path) -> bool:
    return any(not control.status(r).phase.is_final for r in _run_ids(state_dir))


def approve(
    run_id: RunId,
    project: ProjectOpt,
    person: PersonOpt,
    comment: CommentOpt = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
    database_url: DatabaseUrl = None,
) -> int:
    """Approve PROJECT in run RUN as PERSON (refused with PRM042 if PERSON may not)."""
    return _decide("approve", run_id, project, person, comment, state_dir, database_url)


def reject(
    run_id: RunId,
    project: ProjectOpt,
    person: PersonOpt,
    comment: CommentOpt = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
    database_url: DatabaseUrl = None,
) -> int:
    """Reject PROJECT in run RUN as PERSON: the project Fails and its dependents are skipped."""
    return _decide("reject", run_id, project, person, comment, state_dir, database_url)


def _decide(
    decision: str,
    run_id: str,
    project: str,
    person: str,
    comment: str | None,
    state_dir: Path,
    database_url: str | None,
) -> int:
    with _control(state_dir, database_url) as control:
        getattr(control, decision)(run_id, project, person, comment)
    stdout.print(f"{person} {decision}s {project} in {run_id}", highlight=False)
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


COMMANDS: tuple[Callable[..., int], ...] = (
    run,
    approve,
    reject,
    abort,
    rollback,
    status,
    logs,
    report,
    verify,
    worker,
)


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
