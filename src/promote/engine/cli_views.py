"""The engine's read-only commands (``status``, ``logs``, ``verify``, ``report``), the
options every engine command shares, and how runs are shown. They read journals, the ledger
and the system database, so they work from any terminal while a run waits.
"""

from __future__ import annotations

import json
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
from promote.engine.plan import ProjectSpec, RunSpec
from promote.engine.status import RunStatus
from promote.errors import EstateInvalid
from promote.model import Estate

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


class ReportFormat(StrEnum):
    MD = "md"
    HTML = "html"
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


def status(
    run_id: Annotated[
        str | None,
        typer.Argument(help="A run's id; without it, what is deployed where, and the runs."),
    ] = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
    database_url: DatabaseUrl = None,
    estate_dir: Annotated[
        Path | None,
        typer.Option("--estate", help="Order the matrix by this estate's promotion_path."),
    ] = None,
    output: FormatOpt = Format.TEXT,
) -> int:
    """Show run RUN: its phase, each project's phase and reason, and what it waits for.

    Without RUN: the ledger as a matrix of projects by environments (the release, when,
    and which run), then the runs under --state-dir, newest first.
    """
    _json_errors(output is Format.JSON)
    with _control(state_dir, database_url) as control:
        if run_id is not None:
            _show(control.status(run_id), output)
            return 0
        runs = [control.status(r) for r in _run_ids(state_dir)]
    _show_matrix(state_dir, estate_dir, runs, output)
    return 0


def report(
    run_id: RunId,
    state_dir: StateDir = DEFAULT_STATE_DIR,
    output_format: Annotated[
        ReportFormat,
        typer.Option("--format", "-f", help="md (the runbooks' deployment log), html, json."),
    ] = ReportFormat.MD,
    output_file: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write here instead of standard output."),
    ] = None,
) -> int:
    """Write run RUN's deployment log: checks, approvals, steps, smoke tests, canary,
    rollback, timings and the journal's verification. HTML has a timeline chart.

    A journal that fails its hash chain is still reported (the header says where it
    broke), and the command then exits 1 with PRM043."""
    from promote.engine.report import build_report, parse_events, render

    path = _existing_journal(state_dir, run_id)
    verification = verify_journal(path)
    built = build_report(parse_events(path.read_bytes()), verification)
    text = render(built, output_format.value)
    if output_file is None:
        sys.stdout.write(text)  # not through rich: Markdown's [..] is not markup
    else:
        output_file.write_text(text, encoding="utf-8")
        stdout.print(f"report written to {output_file}", highlight=False)
    if not verification.ok:
        raise JournalBroken(
            f"journal broken at event {verification.bad_seq}: {verification.reason}"
        )
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


@contextmanager
def _control(state_dir: Path, database_url: str | None) -> Iterator[RunControl]:
    from promote.engine.runs import RunControl

    control = RunControl(state_dir, database_url)
    try:
        yield control
    finally:
        control.close()


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
        label = (
            item.get("name") or item.get("kind") or item.get("check") or item.get("function") or ""
        )
        return f"{label}: {outcome.get('summary', '')}"
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


def _item_summary(data: Mapping[str, Any]) -> str:
    item = data.get("item") or {}
    label = item.get("name") or item.get("kind") or ""
    return f"{label}" + (f": {data['reason']}" if data.get("reason") else "")


def _release_summary(data: Mapping[str, Any]) -> str:
    release = data.get("artifact", data)
    where = f" in {data['environment']}" if data.get("environment") else ""
    return f"{release.get('label', '')} ({release.get('kind', '')}){where}"


_SUMMARIES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "artifact": _release_summary,
    "ledger.updated": _release_summary,
    "step.skipped": _item_summary,
    "rollback.manual": _item_summary,
    "canary.step": lambda d: f"{d.get('weight')}% for {d.get('bake_seconds', 0):g} s",
    "criteria.unjudged": lambda d: "; ".join(d.get("criteria", [])),
    # Lambdas: the verdict line is defined with the progress lines, below.
    "analysis.verdict": lambda d: _verdict_line(d),
    "criteria.judged": lambda d: _verdict_line(d),
    "soak.checkpoint": lambda d: _verdict_line(d),
    "soak.verdict": lambda d: str(d.get("decision", "")),
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


def _show_matrix(
    state_dir: Path, estate_dir: Path | None, runs: list[RunStatus], output: Format
) -> None:
    from promote.engine.ledger import Ledger, matrix

    current = Ledger(state_dir).current()
    environments = _environments(estate_dir, [env for env, _ in current])
    projects = sorted({project for _, project in current})
    if output is Format.JSON:
        deployed = {f"{env}/{project}": d.to_json() for (env, project), d in current.items()}
        _print_json({"deployed": deployed, "runs": [_status_data(s) for s in runs]})
        return
    if current:
        table = Table("project", *environments, box=None, show_lines=True)
        for row in matrix(current, environments, projects):
            table.add_row(*row)
        stdout.print(table, highlight=False)
    else:
        stdout.print(f"nothing deployed yet under {state_dir}", highlight=False)
    _show_runs(runs, output, state_dir)


def _environments(estate_dir: Path | None, seen: list[str]) -> list[str]:
    order = list(dict.fromkeys(seen))
    if estate_dir is not None:
        path = list(_valid_estate(estate_dir).spec.promotion_path)
        order = [e for e in path if e in order] + [e for e in order if e not in path]
    return order


def show_dry_run(spec: RunSpec, output: Format) -> None:
    """What a run would do, per layer and project; JSON: the run spec itself."""
    if output is Format.JSON:
        _print_json(spec.to_json())
        return
    stdout.print(
        f"dry run: promoting into {spec.environment} ({spec.account_id}, {spec.region}) "
        f"would do this; nothing was started",
        highlight=False,
    )
    for number, layer in enumerate(spec.layers, start=1):
        stdout.print(f"layer {number}: {', '.join(layer)}", highlight=False)
        for name in layer:
            stdout.print(_project_line(spec, spec.projects[name]), highlight=False, soft_wrap=True)


def _project_line(spec: RunSpec, p: ProjectSpec) -> str:
    if p.skip:
        return f"  {p.name}: skipped ({p.skip})"
    release = p.artifact or {}
    parts = [f"release {release.get('label', '-')}"]
    parts.append(f"{len(p.checks)} checks")
    approvals = [r.title for r in p.requirements if r.item is None]
    attested = len(p.requirements) - len(approvals)
    if approvals:
        parts.append("approvals: " + ", ".join(approvals))
    if attested:
        parts.append(f"{attested} items to attest")
    steps = [
        str(s.get("name") or s.get("kind"))
        + (" (not in the sandbox)" if spec.sandbox and s.get("not_in_sandbox") else "")
        for s in p.steps
    ]
    parts.append("steps: " + (", ".join(steps) or "none"))
    parts.append(f"{len(p.smoke_tests)} smoke tests")
    if p.canary:
        parts.append("canary " + " -> ".join(f"{c['weight']}%" for c in p.canary))
    if p.sign_offs:
        parts.append(f"{len(p.sign_offs)} sign-offs")
    return f"  {p.name}: " + "; ".join(parts)


def _follow(control: RunControl, run_id: str, text: bool, where: str = "") -> RunStatus:
    """Polls the run until it is final, printing each project phase change. Changes come
    from the journal rather than from the status, so none is missed between two polls."""
    printed = 0
    while True:
        # The status first: once it is final, the events read next include the last one.
        current = control.status(run_id)
        events = control.journal(run_id).events()
        for event in events[printed:] if text else ():
            line = _progress_line(run_id, event, where)
            if line:
                stdout.print(line, highlight=False, soft_wrap=True)
        printed = len(events)
        if current.phase.is_final:
            return current
        time.sleep(POLL_SECONDS)


def _progress_line(run_id: str, event: Mapping[str, Any], where: str) -> str | None:
    """A line for a phase change, a finished check, step or smoke test, or a canary step."""
    project, kind = event.get("project"), str(event["kind"])
    data: Mapping[str, Any] = event.get("data") or {}
    if not project:
        return None
    if kind == "project.phase":
        phase = ProjectPhase(data["phase"])
        return _change_line(run_id, project, phase, data.get("reason"), where)
    if kind.endswith(".result"):
        outcome = data.get("outcome") or {}
        mark = "ok" if outcome.get("passed") else ("ERRORED" if data.get("errored") else "FAILED")
        return f"  {project}: {kind.removesuffix('.result')} {mark}: {summarise(event)}"
    if kind == "canary.step":
        return f"  {project}: canary at {data['weight']}%, baking {data['bake_seconds']:g} s"
    line = _ANALYSIS_LINES.get(kind)
    return f"  {project}: {line(data)}" if line else None


def _verdict_line(data: Mapping[str, Any]) -> str:
    verdict = str(data.get("verdict", "")).upper()
    judgements = data.get("judgements") or []
    failed = [j for j in judgements if j.get("verdict") == "fail"]
    shown = failed or [j for j in judgements if j.get("verdict") == "inconclusive"]
    why = "; ".join(f"{j['judge']}: {j['reason']}" for j in shown[:3])
    return f"{verdict}" + (f" ({why})" if why else "")


_ANALYSIS_LINES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "analysis.verdict": lambda d: f"analysis of the {d.get('weight')}% step: {_verdict_line(d)}",
    "analysis.extended": lambda d: (
        f"{d.get('weight')}% step inconclusive: bake extended by {d.get('seconds', 0):g} s"
    ),
    "analysis.errored": lambda d: f"metrics unreadable: {d.get('reason')}",
    "criteria.judged": lambda d: f"success criteria: {_verdict_line(d)}",
    "soak.started": lambda d: (
        f"soak: {d.get('checkpoints')} checkpoints over "
        f"{d.get('seconds', 0):g} s (time scale {d.get('time_scale', 1):g})"
    ),
    "soak.checkpoint": lambda d: (
        f"soak checkpoint {d.get('checkpoint')}/{d.get('of')}: {_verdict_line(d)}"
    ),
    "soak.verdict": lambda d: (
        f"soak {d.get('decision')}" + (f": {d['reason']}" if d.get("reason") else "")
    ),
}
