"""The deployment log of a run, as the runbooks ask for it: ``promote report RUN``. Pure.

:func:`build_report` folds a run's journal events and the journal's verification into a
:class:`Report`; :func:`render` writes it as Markdown (the runbooks' "Deployment Log"
tables, :mod:`promote.engine.report_md`), one self-contained HTML page
(:mod:`promote.engine.report_html`, with a timeline chart) or JSON. Nothing here reads
files: the caller passes the events and the :class:`~promote.engine.journal.VerifyResult`.
Secrets were redacted before they reached the journal; the report shows what the journal
holds and never more.

The data model is :mod:`promote.engine.report_model`'s; :mod:`promote.engine.report_events`
reads the events and folds each project's, and this module puts the run together.

Durations come from event times: a check, step, smoke test or rollback step lasted from
the previous event of its project to its own result event.

JSON (``render(report, "json")``) is the Report's fields, in this order, with these keys:

- ``version``: 1, the layout of this document.
- ``run``: ``run_id``, ``environment``, ``account_id``, ``region``, ``started_by``,
  ``started``, ``finished`` (ISO times; ``finished`` is null while the run goes on),
  ``duration_seconds``, ``phase``, ``reason`` (why it ended, e.g. who aborted it), and
  ``verification``: ``intact``, ``events``, ``broken_at`` (the first event that does not
  verify, counting from 1), ``reason``, ``last_hash`` (the ``hash`` of the last event).
- ``projects``, in layer order, each: ``name``, ``layer`` (from 1), ``phase``, ``reason``,
  ``started``, ``finished``, ``duration_seconds``;
  ``artifacts``: [{``label``, ``kind``, ``sha256``, ``time``}];
  ``checks``, ``steps``, ``rollback``: [{``name``, ``kind``, ``result`` (passed, failed,
  errored, skipped, or manual: a rollback step left to people), ``summary``, ``time``,
  ``duration_seconds``, ``plan``}], where ``plan`` is null but for a terraform plan step:
  {``changes``: [{``address``, ``actions``}], ``destructive``: [addresses], ``counts``};
  ``steps`` also holds the results of other actions (``terraform.apply``, ``canary``);
  ``approvals``: one per wait for people, [{``what`` (approval, confirmation,
  destructive change, sign-off), ``requested``, ``requirements``: [{``role``, ``count``,
  ``title``, ``item``}], ``decisions``: [{``decision`` (approved, rejected or refused),
  ``person``, ``time``, ``comment``, ``reason``, ``waited_seconds``}]}];
  ``smoke_tests``: [{``name``, ``method``, ``url``, ``status``, ``latency_ms``,
  ``result``, ``summary``, ``time``, ``duration_seconds``}];
  ``canary``: [{``weight``, ``bake_seconds``, ``version``, ``previous_version``, ``time``}];
  ``ledger``: [{``environment``, ``version``, ``sha256``, ``status``, ``time``}];
  ``timeline``: [{``time``, ``offset_seconds`` (since the run started), ``kind``,
  ``text``}], every event of the project, unknown kinds included;
  ``analysis``: null, or the project's canary analysis, soak and metric success criteria:
  its samples, verdicts, decisions and thresholds, as :mod:`promote.engine.report_analysis`
  lays them out.
- ``run_events``: the timeline entries of events of no project (``run.started``,
  ``run.finished``, and any other).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal

from promote.engine.journal import VerifyResult
from promote.engine.phases import RunPhase
from promote.engine.report_analysis import summarise
from promote.engine.report_events import (
    Event,
    ProjectLog,
    generic_text,
    item_name,
    parse_event,
    parse_events,
)
from promote.engine.report_html import render_html
from promote.engine.report_md import render_markdown

# The data model, defined here once, is still importable from here (see __all__).
from promote.engine.report_model import (
    FORMAT_VERSION,
    ApprovalRequest,
    Artifact,
    CanaryStep,
    Decided,
    Decision,
    ItemResult,
    LedgerUpdate,
    ProjectReport,
    Report,
    Requirement,
    Result,
    RunHeader,
    SmokeResult,
    TimelineEntry,
    Verification,
)
from promote.engine.report_times import seconds_between as _seconds
from promote.engine.status import RunStatus, fold

__all__ = [
    "FORMAT_VERSION",
    "ApprovalRequest",
    "Artifact",
    "CanaryStep",
    "Decided",
    "Decision",
    "Format",
    "ItemResult",
    "LedgerUpdate",
    "ProjectReport",
    "Report",
    "Requirement",
    "Result",
    "RunHeader",
    "SmokeResult",
    "TimelineEntry",
    "Verification",
    "build_report",
    "item_name",
    "parse_events",
    "render",
]

Format = Literal["md", "html", "json"]


# -- the whole run ----------------------------------------------------------------------


def build_report(events: Iterable[Mapping[str, Any]], verification: VerifyResult) -> Report:
    """The report of a run from its journal's events, in journal order."""
    raw = list(events)
    parsed = [parse_event(e) for e in raw]
    spec = _spec(parsed)
    started = next((e for e in parsed if e.kind == "run.started"), parsed[0] if parsed else None)
    run_start = started.at if started else None
    run_id = str(spec.get("run_id") or next((e["run_id"] for e in raw if e.get("run_id")), ""))
    logs = _project_logs(spec, run_start)
    run_events: list[TimelineEntry] = []
    for event in parsed:
        if event.project is None:
            run_events.append(_run_entry(event, run_start))
            continue
        if event.project not in logs:
            logs[event.project] = ProjectLog(event.project, None, run_start)
        logs[event.project].add(event)
    status = _fold(run_id, raw)
    header = _header(run_id, spec, parsed, started, status, _verification(verification, raw))
    projects = [log.finish(status) for log in logs.values()]
    analyses = summarise(raw)
    for project in projects:
        project.analysis = analyses.get(project.name)
    return Report(FORMAT_VERSION, header, projects, run_events)


def _spec(events: list[Event]) -> Mapping[str, Any]:
    for event in events:
        spec = event.data.get("spec") if event.kind == "run.started" else None
        if isinstance(spec, Mapping):
            return spec
    return {}


def _project_logs(spec: Mapping[str, Any], run_start: datetime | None) -> dict[str, ProjectLog]:
    # Dicts keep insertion order: projects of the spec's layers first, in layer order, then
    # any other project the journal names, in the order it first appears.
    logs: dict[str, ProjectLog] = {}
    for number, layer in enumerate(spec.get("layers") or [], start=1):
        for name in layer:
            logs[str(name)] = ProjectLog(str(name), number, run_start)
    return logs


def _fold(run_id: str, events: list[Mapping[str, Any]]) -> RunStatus | None:
    try:
        return fold(run_id, events)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None  # a damaged journal: the report falls back on the events themselves


def _run_entry(event: Event, run_start: datetime | None) -> TimelineEntry:
    if event.kind == "run.started":
        spec = event.data.get("spec") or {}
        text = f"run started by {spec.get('started_by')} in {spec.get('environment')}"
    elif event.kind == "run.finished":
        reason = event.data.get("reason")
        text = f"run finished: {event.data.get('phase')}" + (f" ({reason})" if reason else "")
    else:
        text = generic_text(None, event)
    return TimelineEntry(event.time, _seconds(run_start, event.at), event.kind, text)


def _header(
    run_id: str,
    spec: Mapping[str, Any],
    events: list[Event],
    started: Event | None,
    status: RunStatus | None,
    verification: Verification,
) -> RunHeader:
    # The first run.finished is the one that ended the run; a step in flight when it was
    # aborted may still append after it, as the fold knows.
    finished = next((e for e in events if e.kind == "run.finished"), None)
    end = finished or (events[-1] if events else None)
    phase = status.phase.value if status else RunPhase.RUNNING.value
    if finished and not status:
        phase = str(finished.data.get("phase"))
    return RunHeader(
        run_id=run_id,
        environment=_text(spec.get("environment")),
        account_id=_text(spec.get("account_id")),
        region=_text(spec.get("region")),
        started_by=_text(spec.get("started_by")),
        started=started.time if started else None,
        finished=finished.time if finished else None,
        duration_seconds=_seconds(started.at if started else None, end.at if end else None),
        phase=phase,
        reason=_text(finished.data.get("reason")) if finished else None,
        verification=verification,
    )


def _verification(result: VerifyResult, events: list[Mapping[str, Any]]) -> Verification:
    last_hash = _text(events[-1].get("hash")) if events else None
    return Verification(result.ok, result.events, result.bad_seq, result.reason, last_hash)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


# -- rendering --------------------------------------------------------------------------


def render(report: Report, fmt: Format) -> str:
    """The report as Markdown, one self-contained HTML page, or JSON."""
    if fmt == "json":
        return json.dumps(asdict(report), indent=2, ensure_ascii=False) + "\n"
    if fmt == "md":
        return render_markdown(report)
    if fmt == "html":
        return render_html(report)
    raise ValueError(f"unknown report format {fmt!r}: use md, html or json")
