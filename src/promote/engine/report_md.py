"""The deployment log as Markdown, and the tables it shares with the HTML page.

The runbooks' "Deployment Log": an attribute table for the run, then per project its
attributes and a table per kind of thing that happened (preconditions, approvals, deploy
steps, terraform plan, smoke tests, canary, its analysis and soak, rollback, timeline).
:func:`project_sections` and the other table builders are what
:mod:`promote.engine.report_html` shows too, so the two never disagree. The data model is
:mod:`promote.engine.report_model`'s, and :mod:`promote.engine.report_analysis_model`'s for the
analysis.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

from promote.engine.report_analysis_model import (
    AnalysedStep,
    Judgement,
    ProjectAnalysis,
    Soak,
    Verdict,
    decision_label,
)
from promote.engine.report_model import (
    ApprovalRequest,
    CanaryStep,
    ItemResult,
    ProjectReport,
    Report,
    RunHeader,
    SmokeResult,
    TimelineEntry,
    Verification,
)
from promote.engine.report_times import iso, moment, seconds_between

RESULT_MARKS = {"passed": "✅", "failed": "❌", "errored": "⚠️", "skipped": "⏭️", "manual": "👤"}
VERDICT_MARKS = {"pass": "✅", "fail": "❌", "inconclusive": "❔"}
# The titles of the analysis sections, which the HTML page puts charts in.
ANALYSIS, CRITERIA, SOAK = "Canary analysis", "Success criteria (metrics)", "Soak"


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h {whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d {whole % 86400 // 3600}h"


def full_time(iso: str | None) -> str:
    at = moment(iso or "")
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if at else iso or "–"


class Clock:
    """Event times as a reader of the log wants them: the time of day, and the date too
    when the run spans more than one day (an approval may wait overnight)."""

    def __init__(self, run: RunHeader) -> None:
        start = moment(run.started or "")
        span = run.duration_seconds or 0
        self.with_date = start is None or (start + timedelta(seconds=span)).date() != start.date()

    def __call__(self, iso: str | None) -> str:
        at = moment(iso or "")
        shown = "%Y-%m-%d %H:%M:%S" if self.with_date else "%H:%M:%S"
        return at.astimezone(UTC).strftime(shown) if at else iso or "–"


def result_text(result: str) -> str:
    return f"{RESULT_MARKS.get(result, '')} {result}".strip()


def offset_text(seconds: float | None) -> str:
    return "–" if seconds is None else "+" + duration_text(seconds)


def verification_text(verification: Verification) -> str:
    if verification.intact:
        return f"✅ intact: {verification.events} events, hash chain verified"
    where = f"event {verification.broken_at}" if verification.broken_at else "the start"
    return f"❌ BROKEN at {where} of {verification.events}: {verification.reason}"


# -- what the log shows, in both Markdown and HTML ----------------------------------------


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[Any]]


@dataclass(frozen=True)
class Section:
    title: str
    intro: str | None
    table: Table | None


def header_rows(run: RunHeader) -> list[tuple[str, Any]]:
    return [
        ("Run", run.run_id),
        ("Environment", run.environment),
        ("AWS account", run.account_id),
        ("Region", run.region),
        ("Started by", run.started_by),
        ("Started", full_time(run.started)),
        ("Finished", full_time(run.finished) if run.finished else "not finished"),
        ("Duration", duration_text(run.duration_seconds)),
        ("Result", run.phase + (f" ({run.reason})" if run.reason else "")),
        ("Journal", verification_text(run.verification)),
        ("Last hash", run.verification.last_hash),
    ]


def overview_table(report: Report) -> Table:
    rows = [
        [p.name, p.layer, p.phase, p.reason, duration_text(p.duration_seconds)]
        for p in report.projects
    ]
    return Table(["Project", "Layer", "Phase", "Reason", "Duration"], rows)


def project_rows(project: ProjectReport, clock: Clock) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = [
        ("Phase", project.phase),
        ("Reason", project.reason),
        ("Layer", project.layer),
        ("Started", clock(project.started)),
        ("Finished", clock(project.finished)),
        ("Duration", duration_text(project.duration_seconds)),
    ]
    rows += [("Artifact", f"{a.label} ({a.kind}), sha256 {a.sha256}") for a in project.artifacts]
    rows += [
        ("Ledger", f"{e.environment}: {e.version}" + (f" ({e.status})" if e.status else ""))
        for e in project.ledger
    ]
    return rows


def project_sections(project: ProjectReport, clock: Clock) -> list[Section]:
    """The project's tables, in the order things happen; empty ones are left out."""
    sections = [
        Section("Preconditions", None, _item_table(project.checks, clock)),
        *(_approvals_section(request, clock) for request in project.approvals),
        Section("Deploy steps", None, _item_table(project.steps, clock)),
        Section("Terraform plan", None, _plan_table(project.steps)),
        Section("Smoke tests", None, _smoke_table(project.smoke_tests, clock)),
        Section("Canary", None, _canary_table(project.canary, clock)),
        *analysis_sections(project.analysis, clock),
        Section("Rollback", None, _item_table(project.rollback, clock)),
        Section("Timeline", None, timeline_table(project.timeline, clock)),
    ]
    return [s for s in sections if s.intro or s.table]


def _item_table(items: list[ItemResult], clock: Clock) -> Table | None:
    rows = [
        [
            n,
            i.name,
            i.kind,
            result_text(i.result),
            i.summary,
            clock(i.time),
            duration_text(i.duration_seconds),
        ]
        for n, i in enumerate(items, start=1)
    ]
    headers = ["#", "Name", "Kind", "Result", "Summary", "Time", "Duration"]
    return Table(headers, rows) if rows else None


def _plan_table(steps: list[ItemResult]) -> Table | None:
    rows = [row for s in steps if s.plan is not None for row in _plan_rows(s.name, s.plan)]
    return Table(["Step", "Resource", "Actions", "Destroys"], rows) if rows else None


def _plan_rows(step: str, plan: Mapping[str, Any]) -> list[list[Any]]:
    # Terraform's step kind lists {address, actions} and the addresses it deletes; any
    # other shape is shown as it is.
    changes, doomed = plan.get("changes"), plan.get("destructive")
    if not changes:
        return [[step, "no changes", None, "yes" if doomed else "no"]]
    if not isinstance(changes, list):
        return [[step, changes, None, "yes" if doomed else "no"]]
    doomed_set = set(doomed) if isinstance(doomed, list) else set()
    return [
        [
            step,
            c.get("address"),
            ", ".join(str(a) for a in c.get("actions") or []),
            "yes" if c.get("address") in doomed_set else "no",
        ]
        if isinstance(c, Mapping)
        else [step, c, None, None]
        for c in changes
    ]


def _approvals_section(approvals: ApprovalRequest, clock: Clock) -> Section:
    wanted = "; ".join(
        f"{r.count} of {r.title}" + (f" (role {r.role})" if r.role else "")
        for r in approvals.requirements
    )
    intro = f"Required: {wanted or 'none'}; requested at {clock(approvals.requested)}."
    rows = [
        [
            clock(d.time),
            d.person,
            d.decision,
            d.comment or d.reason,
            duration_text(d.waited_seconds),
        ]
        for d in approvals.decisions
    ]
    headers = ["Time", "Person", "Decision", "Comment or reason", "Waited"]
    title = "Approvals" if approvals.what == "approval" else f"Approvals: {approvals.what}"
    return Section(title, intro, Table(headers, rows) if rows else None)


def _smoke_table(tests: list[SmokeResult], clock: Clock) -> Table | None:
    rows = [
        [
            n,
            t.name,
            t.method,
            t.url,
            t.status,
            f"{t.latency_ms:g} ms" if t.latency_ms is not None else None,
            result_text(t.result),
            t.summary,
            clock(t.time),
        ]
        for n, t in enumerate(tests, start=1)
    ]
    headers = ["#", "Test", "Method", "URL", "Status", "Latency", "Result", "Summary", "Time"]
    return Table(headers, rows) if rows else None


def _canary_table(steps: list[CanaryStep], clock: Clock) -> Table | None:
    rows = [
        [clock(s.time), f"{s.weight}%", f"{s.bake_seconds} s", s.version, s.previous_version]
        for s in steps
    ]
    headers = ["Time", "Weight", "Bake", "Version", "Previous version"]
    return Table(headers, rows) if rows else None


# -- the analysis of canary steps, success criteria and soaks -----------------------------


def analysis_sections(analysis: ProjectAnalysis | None, clock: Clock) -> list[Section]:
    """A canary analysis's summary and verdicts, metric criteria's verdict, a soak's
    checkpoints, and evaluations that could not read the metrics."""
    if analysis is None:
        return []
    sections = []
    if any(step.series or step.verdicts for step in analysis.steps):
        rows = [
            row
            for step in analysis.steps
            for verdict in step.verdicts
            for row in _verdict_rows(f"{step.weight}%", verdict, clock)
        ]
        table = Table(_VERDICT_HEADERS, rows) if rows else None
        sections.append(Section(ANALYSIS, analysis_summary(analysis), table))
    if analysis.criteria is not None:
        criteria = analysis.criteria
        intro = decision_label(criteria.verdict, criteria.action) + _unjudged([criteria])
        rows = _verdict_rows("criteria", criteria, clock)
        sections.append(Section(CRITERIA, intro, Table(_VERDICT_HEADERS, rows)))
    if analysis.soak is not None:
        soak = analysis.soak
        sections.append(Section(SOAK, soak_summary(soak), _checkpoint_table(soak, clock)))
    if analysis.errors:
        rows = [[clock(e.time), e.during, e.reason] for e in analysis.errors]
        sections.append(Section("Analysis errors", None, Table(["Time", "During", "Reason"], rows)))
    return sections


def analysis_summary(analysis: ProjectAnalysis) -> str:
    """One line: each step's decision and when, e.g. "10%: pass after 15m 00s; 50%: fail at
    12.0 s (errors: canary vs baseline, log BF 5.10 >= 4.61), rolled back"."""
    steps = "; ".join(text for step in analysis.steps if (text := _step_summary(step)))
    rules = ", ".join(t.rule for t in analysis.thresholds)
    verdicts = [v for step in analysis.steps for v in step.verdicts]
    return (
        (steps or "no verdict yet")
        + "."
        + (f" Rules: {rules}." if rules else "")
        + _unjudged(verdicts)
    )


def _step_summary(step: AnalysedStep) -> str | None:
    decision = step.decision
    if decision is None:
        samples = max((len(s.points) for s in step.series), default=0)
        return f"{step.weight}%: {samples} samples, no verdict" if samples else None
    when = duration_text(seconds_between(moment(step.time or ""), moment(decision.time)))
    if decision.verdict == "pass":
        return f"{step.weight}%: pass after {when}"
    if decision.verdict == "fail":
        failed = [j for j in step.verdicts[-1].judgements if j.verdict == "fail"]
        why = "".join(f" ({j.judge}, {versus(j)})" for j in failed[:1])
        then = ", rolled back" if decision.action == "rolled back" else ""
        return f"{step.weight}%: fail at {when}{why}{then}"
    return f"{step.weight}%: {decision_label(decision.verdict, decision.action)} after {when}"


def _unjudged(verdicts: list[Verdict]) -> str:
    labels = dict.fromkeys(label for v in verdicts for label in v.unjudged)
    return f" Not judged by the analysis: {', '.join(labels)}." if labels else ""


def versus(judgement: Judgement) -> str:
    """A judgement's statistic against its threshold, as its measure reads."""
    measure, statistic, threshold = judgement.measure, judgement.statistic, judgement.threshold
    if statistic is None or threshold is None:
        return f"{measure}: none vs {'none' if threshold is None else f'{threshold:.4g}'}"
    if measure == "log Bayes factor":
        rejects = ">=" if judgement.verdict == "fail" else "<"
        return f"log BF {statistic:.2f} {rejects} {threshold:.2f}"
    if measure == "error rate" or measure.startswith("share of"):
        return f"{measure} {statistic * 100:.3g}% vs {threshold * 100:.3g}%"
    return f"{measure} {statistic:.4g} vs {threshold:.4g}"


_VERDICT_HEADERS = [
    "Step", "Time", "Decision", "Judge", "Verdict", "Statistic vs threshold", "Samples", "Reason"
]  # fmt: skip


def _verdict_rows(where: str, verdict: Verdict, clock: Clock) -> list[list[Any]]:
    first = [where, clock(verdict.time), decision_label(verdict.verdict, verdict.action)]
    if not verdict.judgements:
        return [[*first, None, None, None, None, verdict.reason]]
    return [
        [*first, j.judge, verdict_text(j.verdict), versus(j), _samples(j), j.reason]
        for j in verdict.judgements
    ]


def verdict_text(verdict: str) -> str:
    return f"{VERDICT_MARKS.get(verdict, '')} {verdict}".strip()


def _samples(judgement: Judgement) -> str:
    return ", ".join(f"{role} {count}" for role, count in judgement.samples.items())


def soak_summary(soak: Soak) -> str:
    decision = soak.decision or "no decision yet"
    planned = f"{soak.planned} checkpoints over {duration_text(soak.seconds)}"
    criteria = ", ".join(t.rule for t in soak.thresholds)
    return (
        decision
        + (f": {soak.reason}" if soak.reason else "")
        + f" ({planned})."
        + (f" Criteria: {criteria}." if criteria else "")
    )


def _checkpoint_table(soak: Soak, clock: Clock) -> Table | None:
    rows = [
        [
            f"{c.checkpoint}/{c.of}",
            clock(iso(c.due)),
            clock(c.time),
            verdict_text(c.verdict),
            "; ".join(f"{j.judge}: {j.verdict} ({j.reason})" for j in c.judgements),
            "; ".join(f"{'✅' if k.passed else '❌'} {k.summary}" for k in c.checks),
        ]
        for c in soak.checkpoints
    ]
    headers = ["Checkpoint", "Due", "Recorded", "Verdict", "Judgements", "Checks"]
    return Table(headers, rows) if rows else None


def timeline_table(entries: list[TimelineEntry], clock: Clock) -> Table | None:
    rows = [[clock(e.time), offset_text(e.offset_seconds), e.text] for e in entries]
    return Table(["Time", "Since start", "Event"], rows) if rows else None


# -- Markdown ---------------------------------------------------------------------------


def render_markdown(report: Report) -> str:
    """The runbooks' Deployment Log: an attribute table, then tables per project."""
    clock = Clock(report.run)
    lines = [f"# Deployment Log: {_md(report.run.run_id)}", ""]
    lines += _md_attributes(header_rows(report.run))
    lines += ["## Projects", "", *_md_table(overview_table(report))]
    for number, project in enumerate(report.projects, start=1):
        lines += [f"## {number}. {_md(project.name)}: {_md(project.phase)}", ""]
        lines += _md_attributes(project_rows(project, clock))
        for section in project_sections(project, clock):
            lines += [f"### {section.title}", ""]
            lines += [_md(section.intro), ""] if section.intro else []
            lines += _md_table(section.table) if section.table else []
    events = timeline_table(report.run_events, clock)
    if events:
        lines += ["## Run events", "", *_md_table(events)]
    return "\n".join(lines).rstrip() + "\n"


def _md(value: Any) -> str:
    """Text for Markdown: one line, with the characters that would end a table cell or
    start raw HTML escaped (so a step named `<script>` stays text)."""
    text = " ".join(str("–" if value is None or value == "" else value).split())
    for char in ("\\", "|", "<", ">"):
        text = text.replace(char, "\\" + char)
    return text


def _md_table(table: Table) -> list[str]:
    lines = ["| " + " | ".join(table.headers) + " |", "|" + "---|" * len(table.headers)]
    lines += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in table.rows]
    return [*lines, ""]


def _md_attributes(rows: list[tuple[str, Any]]) -> list[str]:
    lines = ["| Attribute | Value |", "|-----------|-------|"]
    lines += [f"| **{name}** | {_md(value)} |" for name, value in rows]
    return [*lines, ""]
