"""The deployment log of a run, as the runbooks ask for it: ``promote report RUN``. Pure.

:func:`build_report` folds a run's journal events and the journal's verification into a
:class:`Report`; :func:`render` writes it as Markdown (the runbooks' "Deployment Log"
tables, :mod:`promote.engine.report_md`), one self-contained HTML page
(:mod:`promote.engine.report_html`, with a timeline chart) or JSON. Nothing here reads
files: the caller passes the events and the :class:`~promote.engine.journal.VerifyResult`.
Secrets were redacted before they reached the journal; the report shows what the journal
holds and never more.

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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from promote.engine.journal import VerifyResult
from promote.engine.phases import ProjectPhase, RunPhase
from promote.engine.report_analysis import ProjectAnalysis, summarise
from promote.engine.report_analysis import moment as _moment
from promote.engine.report_analysis import seconds_between as _seconds
from promote.engine.status import RunStatus, fold

FORMAT_VERSION = 1
Format = Literal["md", "html", "json"]
# "manual": a rollback step left to people, recorded but not run.
Result = Literal["passed", "failed", "errored", "skipped", "manual"]
Decided = Literal["approved", "rejected", "refused"]
# Fields that name what an unnamed step or check acts on, in the order worth showing.
_TARGET_FIELDS = ("command", "function", "bucket", "url", "dir", "entry", "distribution", "table")
_GENERIC_TEXT_LIMIT = 200


@dataclass(frozen=True)
class Verification:
    intact: bool
    events: int
    broken_at: int | None
    reason: str | None
    last_hash: str | None


@dataclass(frozen=True)
class RunHeader:
    run_id: str
    environment: str | None
    account_id: str | None
    region: str | None
    started_by: str | None
    started: str | None
    finished: str | None
    duration_seconds: float | None
    phase: str
    reason: str | None
    verification: Verification


@dataclass(frozen=True)
class ItemResult:
    """A precondition check, a deploy step, a rollback step or a skipped step."""

    name: str
    kind: str | None
    result: Result
    summary: str
    time: str
    duration_seconds: float | None
    plan: dict[str, Any] | None = None


@dataclass(frozen=True)
class SmokeResult:
    name: str
    method: str
    url: str
    status: int | None
    latency_ms: float | None
    result: Result
    summary: str
    time: str
    duration_seconds: float | None


@dataclass(frozen=True)
class Requirement:
    role: str | None
    count: int
    title: str
    item: str | None


@dataclass(frozen=True)
class Decision:
    decision: Decided
    person: str | None
    time: str
    comment: str | None
    reason: str | None  # why promote refused it
    waited_seconds: float | None  # since the request


@dataclass
class ApprovalRequest:
    """One wait for people: the approvals before deploying, a manual step's confirmation,
    a destructive terraform plan's approval, or a sign-off; with the decisions it got."""

    what: str
    requested: str
    requirements: list[Requirement] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)


@dataclass(frozen=True)
class CanaryStep:
    weight: Any
    bake_seconds: Any
    version: Any
    previous_version: Any
    time: str


@dataclass(frozen=True)
class Artifact:
    label: str | None
    kind: str | None
    sha256: str | None
    time: str


@dataclass(frozen=True)
class LedgerUpdate:
    environment: str | None
    version: Any  # the entry's version, else its artifact's label
    sha256: str | None
    status: str | None
    time: str


@dataclass(frozen=True)
class TimelineEntry:
    time: str
    offset_seconds: float | None
    kind: str
    text: str


@dataclass
class ProjectReport:
    name: str
    layer: int | None
    phase: str
    reason: str | None
    started: str | None
    finished: str | None
    duration_seconds: float | None
    artifacts: list[Artifact] = field(default_factory=list)
    checks: list[ItemResult] = field(default_factory=list)
    approvals: list[ApprovalRequest] = field(default_factory=list)
    steps: list[ItemResult] = field(default_factory=list)
    smoke_tests: list[SmokeResult] = field(default_factory=list)
    canary: list[CanaryStep] = field(default_factory=list)
    rollback: list[ItemResult] = field(default_factory=list)
    ledger: list[LedgerUpdate] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)
    analysis: ProjectAnalysis | None = None


@dataclass
class Report:
    version: int
    run: RunHeader
    projects: list[ProjectReport]
    run_events: list[TimelineEntry]


# -- reading events ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Event:
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


def _parse(raw: Mapping[str, Any]) -> _Event:
    data = raw.get("data")
    project = raw.get("project")
    kind = str(raw.get("kind") or "unknown")
    if project is None and kind == "ledger.updated" and isinstance(data, Mapping):
        project = data.get("project")  # a ledger entry names its project in its data
    time = str(raw.get("time") or "")
    return _Event(
        time,
        _moment(time),
        kind,
        str(project) if project is not None else None,
        data if isinstance(data, Mapping) else {},
    )


# -- one project's events ---------------------------------------------------------------


class _ProjectLog:
    """Collects one project's events in order, and the time of the last one for durations."""

    def __init__(self, name: str, layer: int | None, run_start: datetime | None) -> None:
        self.report = ProjectReport(name, layer, ProjectPhase.PENDING.value, None, None, None, None)
        self.run_start = run_start
        self.first: _Event | None = None
        self.last: _Event | None = None
        self.requested_at: datetime | None = None
        self.shift: Mapping[str, Any] = {}  # the last canary alias shift, for its versions
        self.phase: tuple[str, str | None] | None = None  # the last project.phase seen

    def add(self, event: _Event) -> None:
        handler = _HANDLERS.get(event.kind)
        if handler is None:
            handler = _other_result if event.kind.endswith(".result") else _generic
        text = handler(self, event)
        offset = _seconds(self.run_start, event.at)
        self.report.timeline.append(TimelineEntry(event.time, offset, event.kind, text))
        self.first = self.first or event
        self.last = event

    def since_previous(self, event: _Event) -> float | None:
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


def _item_result(log: _ProjectLog, event: _Event, action: str | None = None) -> ItemResult:
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


def _results_into(attribute: str, label: str) -> Callable[[_ProjectLog, _Event], str]:
    def handle(log: _ProjectLog, event: _Event) -> str:
        result = _item_result(log, event)
        getattr(log.report, attribute).append(result)
        return f"{label} {result.name} {result.result}: {result.summary}"

    return handle


def _skipped(log: _ProjectLog, event: _Event) -> str:
    name = item_name(_item(event.data))
    reason = str(event.data.get("reason") or "")
    kind = _text(_item(event.data).get("kind"))
    duration = log.since_previous(event)
    log.report.steps.append(ItemResult(name, kind, "skipped", reason, event.time, duration))
    return f"step {name} skipped: {reason}"


def _smoke(log: _ProjectLog, event: _Event) -> str:
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


def _phase(log: _ProjectLog, event: _Event) -> str:
    phase, reason = str(event.data.get("phase")), _text(event.data.get("reason"))
    log.phase = (phase, reason)
    return f"phase {phase}" + (f": {reason}" if reason else "")


def _request(log: _ProjectLog) -> ApprovalRequest:
    # A decision belongs to the latest request; one without a request (a damaged journal)
    # gets an empty one, so it is still shown.
    if not log.report.approvals:
        log.report.approvals.append(ApprovalRequest("approval", ""))
    return log.report.approvals[-1]


def _requested(log: _ProjectLog, event: _Event) -> str:
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


def _decision(decided: Decided) -> Callable[[_ProjectLog, _Event], str]:
    def handle(log: _ProjectLog, event: _Event) -> str:
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


def _canary(log: _ProjectLog, event: _Event) -> str:
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


def _artifact(log: _ProjectLog, event: _Event) -> str:
    data = event.data
    found = Artifact(
        _text(data.get("label")), _text(data.get("kind")), _text(data.get("sha256")), event.time
    )
    log.report.artifacts.append(found)
    return f"artifact {found.label} ({found.kind}) sha256 {found.sha256}"


def _ledger(log: _ProjectLog, event: _Event) -> str:
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


def _manual_rollback(log: _ProjectLog, event: _Event) -> str:
    item = _item(event.data)
    name = item_name(item)
    summary = str(item.get("instructions") or "left to people")
    duration = log.since_previous(event)
    log.report.rollback.append(ItemResult(name, "manual", "manual", summary, event.time, duration))
    return f"rollback step {name} left to people: {summary}"


def _other_result(log: _ProjectLog, event: _Event) -> str:
    """A result of an action this report has no table for (a terraform apply, a canary
    alias shift): listed with the deploy steps, which it is part of."""
    action = event.kind.removesuffix(".result")
    result = _item_result(log, event, action)
    if action == "canary":
        log.shift = _item(event.data)
    log.report.steps.append(result)
    label = result.name if result.name.startswith(action) else f"{action} {result.name}"
    return f"{label} {result.result}: {result.summary}"


def _generic(log: _ProjectLog | None, event: _Event) -> str:
    """Any other kind: its data, compact and cut short, so new kinds still show up."""
    text = json.dumps(event.data, sort_keys=True, ensure_ascii=False, default=str)
    if len(text) > _GENERIC_TEXT_LIMIT:
        text = text[: _GENERIC_TEXT_LIMIT - 1] + "…"
    return f"{event.kind} {text}"


_HANDLERS: dict[str, Callable[[_ProjectLog, _Event], str]] = {
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


# -- the whole run ----------------------------------------------------------------------


def build_report(events: Iterable[Mapping[str, Any]], verification: VerifyResult) -> Report:
    """The report of a run from its journal's events, in journal order."""
    raw = list(events)
    parsed = [_parse(e) for e in raw]
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
            logs[event.project] = _ProjectLog(event.project, None, run_start)
        logs[event.project].add(event)
    status = _fold(run_id, raw)
    header = _header(run_id, spec, parsed, started, status, _verification(verification, raw))
    projects = [log.finish(status) for log in logs.values()]
    analyses = summarise(raw)
    for project in projects:
        project.analysis = analyses.get(project.name)
    return Report(FORMAT_VERSION, header, projects, run_events)


def _spec(events: list[_Event]) -> Mapping[str, Any]:
    for event in events:
        spec = event.data.get("spec") if event.kind == "run.started" else None
        if isinstance(spec, Mapping):
            return spec
    return {}


def _project_logs(spec: Mapping[str, Any], run_start: datetime | None) -> dict[str, _ProjectLog]:
    # Dicts keep insertion order: projects of the spec's layers first, in layer order, then
    # any other project the journal names, in the order it first appears.
    logs: dict[str, _ProjectLog] = {}
    for number, layer in enumerate(spec.get("layers") or [], start=1):
        for name in layer:
            logs[str(name)] = _ProjectLog(str(name), number, run_start)
    return logs


def _fold(run_id: str, events: list[Mapping[str, Any]]) -> RunStatus | None:
    try:
        return fold(run_id, events)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None  # a damaged journal: the report falls back on the events themselves


def _run_entry(event: _Event, run_start: datetime | None) -> TimelineEntry:
    if event.kind == "run.started":
        spec = event.data.get("spec") or {}
        text = f"run started by {spec.get('started_by')} in {spec.get('environment')}"
    elif event.kind == "run.finished":
        reason = event.data.get("reason")
        text = f"run finished: {event.data.get('phase')}" + (f" ({reason})" if reason else "")
    else:
        text = _generic(None, event)
    return TimelineEntry(event.time, _seconds(run_start, event.at), event.kind, text)


def _header(
    run_id: str,
    spec: Mapping[str, Any],
    events: list[_Event],
    started: _Event | None,
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


# -- rendering --------------------------------------------------------------------------


def render(report: Report, fmt: Format) -> str:
    """The report as Markdown, one self-contained HTML page, or JSON."""
    if fmt == "json":
        return json.dumps(asdict(report), indent=2, ensure_ascii=False) + "\n"
    # Imported here: the Markdown and HTML modules build on the dataclasses of this one.
    if fmt == "md":
        from promote.engine.report_md import render_markdown

        return render_markdown(report)
    if fmt == "html":
        from promote.engine.report_html import render_html

        return render_html(report)
    raise ValueError(f"unknown report format {fmt!r}: use md, html or json")
