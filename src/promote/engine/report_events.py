"""Reads a run's journal events, and folds one project's events into its ProjectReport. Pure.

:class:`ProjectLog` takes a project's events in journal order: each kind that has a table
goes into it (checks, approvals, steps, smoke tests, canary, rollback, ledger), and every
event, unknown kinds included, into the project's timeline with a line of text.
:func:`promote.engine.report.build_report` gives it the events and finishes the run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from promote.engine.phases import ProjectPhase
from promote.engine.report_model import (
    ApprovalRequest,
    Artifact,
    CanaryStep,
    Decided,
    Decision,
    ItemResult,
    LedgerUpdate,
    ProjectReport,
    Requirement,
    Result,
    SmokeResult,
    TimelineEntry,
)
from promote.engine.report_times import moment as _moment
from promote.engine.report_times import seconds_between as _seconds
from promote.engine.status import RunStatus

# Fields that name what an unnamed step or check acts on, in the order worth showing.
_TARGET_FIELDS = ("command", "function", "bucket", "url", "dir", "entry", "distribution", "table")
_GENERIC_TEXT_LIMIT = 200


# -- reading events ---------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    time: str
    at: datetime | None
    kind: str
    project: str | None
    data: Mapping[str, Any]


def parse_events(content: bytes) -> list[dict[str, Any]]:
    """The events of a journal file's bytes, skipping lines that are not JSON objects.

    ``Journal.events()`` raises on such a line; a report of a damaged journal should still
    show what can be read, and its header says where the damage is."""
    events: list[dict[str, Any]] = []
    for line in content.split(b"\n"):
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def parse_event(raw: Mapping[str, Any]) -> Event:
    data = raw.get("data")
    project = raw.get("project")
    kind = str(raw.get("kind") or "unknown")
    if project is None and kind == "ledger.updated" and isinstance(data, Mapping):
        project = data.get("project")  # a ledger entry names its project in its data
    time = str(raw.get("time") or "")
    return Event(
        time,
        _moment(time),
        kind,
        str(project) if project is not None else None,
        data if isinstance(data, Mapping) else {},
    )


# -- one project's events ---------------------------------------------------------------


class ProjectLog:
    """Collects one project's events in order, and the time of the last one for durations."""

    def __init__(self, name: str, layer: int | None, run_start: datetime | None) -> None:
        self.report = ProjectReport(name, layer, ProjectPhase.PENDING.value, None, None, None, None)
        self.run_start = run_start
        self.first: Event | None = None
        self.last: Event | None = None
        self.requested_at: datetime | None = None
        self.shift: Mapping[str, Any] = {}  # the last canary alias shift, for its versions
        self.phase: tuple[str, str | None] | None = None  # the last project.phase seen

    def add(self, event: Event) -> None:
        handler = _HANDLERS.get(event.kind)
        if handler is None:
            handler = _other_result if event.kind.endswith(".result") else generic_text
        text = handler(self, event)
        offset = _seconds(self.run_start, event.at)
        self.report.timeline.append(TimelineEntry(event.time, offset, event.kind, text))
        self.first = self.first or event
        self.last = event

    def since_previous(self, event: Event) -> float | None:
        return _seconds(self.last.at if self.last else None, event.at)

    def finish(self, status: RunStatus | None) -> ProjectReport:
        report = self.report
        report.phase, report.reason = self._final_phase(status)
        if self.first and self.last:
            report.started, report.finished = self.first.time, self.last.time
            report.duration_seconds = _seconds(self.first.at, self.last.at)
        return report

    def _final_phase(self, status: RunStatus | None) -> tuple[str, str | None]:
        # The fold is what `promote status` shows (an aborted run aborts its unfinished
        # projects); the last phase event stands in when the journal is too damaged to fold.
        entry = status.projects.get(self.report.name) if status else None
        if entry is not None:
            return entry.phase.value, entry.reason
        return self.phase or (ProjectPhase.PENDING.value, None)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _result(data: Mapping[str, Any]) -> Result:
    if data.get("errored"):
        return "errored"
    return "passed" if _outcome(data).get("passed") else "failed"


def _outcome(data: Mapping[str, Any]) -> Mapping[str, Any]:
    outcome = data.get("outcome")
    return outcome if isinstance(outcome, Mapping) else {}


def _item(data: Mapping[str, Any]) -> Mapping[str, Any]:
    item = data.get("item")
    return item if isinstance(item, Mapping) else {}


def item_name(item: Mapping[str, Any], action: str | None = None) -> str:
    """An item's name, or its kind and what it acts on when it has none."""
    if item.get("name"):
        return str(item["name"])
    kind = str(item.get("kind") or item.get("check") or action or "item")
    target = next((item[f] for f in _TARGET_FIELDS if item.get(f)), None)
    return f"{kind} {target}" if target else kind


def _item_result(log: ProjectLog, event: Event, action: str | None = None) -> ItemResult:
    item, evidence = _item(event.data), _outcome(event.data).get("evidence")
    plan = None
    if item.get("kind") == "terraform" and isinstance(evidence, Mapping) and action is None:
        plan = {k: evidence.get(k) for k in ("changes", "destructive", "counts")}
    kind = item.get("kind") or item.get("check") or action
    return ItemResult(
        name=item_name(item, action),
        kind=_text(kind),
        result=_result(event.data),
        summary=str(_outcome(event.data).get("summary") or ""),
        time=event.time,
        duration_seconds=log.since_previous(event),
        plan=plan,
    )


def _results_into(attribute: str, label: str) -> Callable[[ProjectLog, Event], str]:
    def handle(log: ProjectLog, event: Event) -> str:
        result = _item_result(log, event)
        getattr(log.report, attribute).append(result)
        return f"{label} {result.name} {result.result}: {result.summary}"

    return handle


def _skipped(log: ProjectLog, event: Event) -> str:
    name = item_name(_item(event.data))
    reason = str(event.data.get("reason") or "")
    kind = _text(_item(event.data).get("kind"))
    duration = log.since_previous(event)
    log.report.steps.append(ItemResult(name, kind, "skipped", reason, event.time, duration))
    return f"step {name} skipped: {reason}"


def _smoke(log: ProjectLog, event: Event) -> str:
    item = _item(event.data)
    evidence = _outcome(event.data).get("evidence")
    seen = evidence if isinstance(evidence, Mapping) else {}
    status, latency = seen.get("status"), seen.get("latency_ms")
    result = SmokeResult(
        name=item_name(item),
        # The evidence has the URL as sent, its variables filled; the item has the template.
        method=str(seen.get("method") or item.get("method") or "GET"),
        url=str(seen.get("url") or item.get("url") or ""),
        status=status if isinstance(status, int) else None,
        latency_ms=float(latency) if isinstance(latency, int | float) else None,
        result=_result(event.data),
        summary=str(_outcome(event.data).get("summary") or ""),
        time=event.time,
        duration_seconds=log.since_previous(event),
    )
    log.report.smoke_tests.append(result)
    return f"smoke test {result.name} {result.result}: {result.summary}"


def _phase(log: ProjectLog, event: Event) -> str:
    phase, reason = str(event.data.get("phase")), _text(event.data.get("reason"))
    log.phase = (phase, reason)
    return f"phase {phase}" + (f": {reason}" if reason else "")


def _request(log: ProjectLog) -> ApprovalRequest:
    # A decision belongs to the latest request; one without a request (a damaged journal)
    # gets an empty one, so it is still shown.
    if not log.report.approvals:
        log.report.approvals.append(ApprovalRequest("approval", ""))
    return log.report.approvals[-1]


def _requested(log: ProjectLog, event: Event) -> str:
    what = str(event.data.get("what") or "approval")
    request = ApprovalRequest(what, event.time)
    log.report.approvals.append(request)
    log.requested_at = event.at
    needs = event.data.get("requirements")
    for raw in needs if isinstance(needs, list) else []:
        if not isinstance(raw, Mapping):
            continue
        request.requirements.append(
            Requirement(
                _text(raw.get("role")),
                int(raw.get("count") or 1),
                str(raw.get("title") or raw.get("role") or "anyone"),
                _text(raw.get("item")),
            )
        )
    wanted = ", ".join(f"{r.count} of {r.title}" for r in request.requirements)
    return f"{what} requested: {wanted}"


def _decision(decided: Decided) -> Callable[[ProjectLog, Event], str]:
    def handle(log: ProjectLog, event: Event) -> str:
        data = event.data
        message = data.get("message")  # a refused message of unknown decision keeps it whole
        person = data.get("person") or (
            message.get("person") if isinstance(message, Mapping) else None
        )
        decision = Decision(
            decided,
            _text(person),
            event.time,
            _text(data.get("comment")),
            _text(data.get("reason")),
            _seconds(log.requested_at, event.at),
        )
        _request(log).decisions.append(decision)
        note = decision.comment or decision.reason
        return f"{decided} by {decision.person}" + (f": {note}" if note else "")

    return handle


def _canary(log: ProjectLog, event: Event) -> str:
    data = event.data
    # The engine records the alias shift as its own result just before the stage; its
    # versions stand in when the stage's event does not name them.
    step = CanaryStep(
        data.get("weight"),
        data.get("bake_seconds"),
        data.get("version", log.shift.get("version")),
        data.get("previous_version", log.shift.get("previous")),
        event.time,
    )
    log.report.canary.append(step)
    on = f" on version {step.version}" if step.version is not None else ""
    return f"canary: {step.weight}% of traffic{on}, bake {step.bake_seconds} s"


def _artifact(log: ProjectLog, event: Event) -> str:
    data = event.data
    found = Artifact(
        _text(data.get("label")), _text(data.get("kind")), _text(data.get("sha256")), event.time
    )
    log.report.artifacts.append(found)
    return f"artifact {found.label} ({found.kind}) sha256 {found.sha256}"


def _ledger(log: ProjectLog, event: Event) -> str:
    data = event.data
    artifact = data.get("artifact")
    release = artifact if isinstance(artifact, Mapping) else {}
    entry = LedgerUpdate(
        _text(data.get("environment")),
        data.get("version", release.get("label")),
        _text(data.get("sha256", release.get("sha256"))),
        _text(data.get("status")),
        event.time,
    )
    log.report.ledger.append(entry)
    return f"ledger: {entry.environment} now at {entry.version} ({entry.status or 'updated'})"


def _manual_rollback(log: ProjectLog, event: Event) -> str:
    item = _item(event.data)
    name = item_name(item)
    summary = str(item.get("instructions") or "left to people")
    duration = log.since_previous(event)
    log.report.rollback.append(ItemResult(name, "manual", "manual", summary, event.time, duration))
    return f"rollback step {name} left to people: {summary}"


def _other_result(log: ProjectLog, event: Event) -> str:
    """A result of an action this report has no table for (a terraform apply, a canary
    alias shift): listed with the deploy steps, which it is part of."""
    action = event.kind.removesuffix(".result")
    result = _item_result(log, event, action)
    if action == "canary":
        log.shift = _item(event.data)
    log.report.steps.append(result)
    label = result.name if result.name.startswith(action) else f"{action} {result.name}"
    return f"{label} {result.result}: {result.summary}"


def generic_text(log: ProjectLog | None, event: Event) -> str:
    """Any other kind: its data, compact and cut short, so new kinds still show up."""
    text = json.dumps(event.data, sort_keys=True, ensure_ascii=False, default=str)
    if len(text) > _GENERIC_TEXT_LIMIT:
        text = text[: _GENERIC_TEXT_LIMIT - 1] + "…"
    return f"{event.kind} {text}"


_HANDLERS: dict[str, Callable[[ProjectLog, Event], str]] = {
    "project.phase": _phase,
    "approval.requested": _requested,
    "approval.given": _decision("approved"),
    "approval.rejected": _decision("rejected"),
    "approval.refused": _decision("refused"),
    "check.result": _results_into("checks", "check"),
    "step.result": _results_into("steps", "step"),
    "rollback.result": _results_into("rollback", "rollback step"),
    "smoke.result": _smoke,
    "step.skipped": _skipped,
    "canary.step": _canary,
    "artifact": _artifact,
    "ledger.updated": _ledger,
    "rollback.manual": _manual_rollback,
}
