"""The report of a run's canary analysis, success criteria and soak: the summary of the
journal's analysis events, its charts and tables; from events written by hand, and from a
real run whose bad canary is rolled back."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree

from promote.analysis.synthetic import Profile
from promote.engine import report_analysis
from promote.engine.journal import Journal, verify
from promote.engine.report import build_report, render
from promote.engine.report_analysis import ProjectAnalysis, summarise
from promote.engine.report_svg_analysis import canary_charts, soak_charts
from promote.engine.workflow import journal_path

from . import Make, build
from .test_analysis import orders, released, traffic
from .test_report import INTACT, Events, Page, row, section, spec

EPOCH = datetime(2025, 3, 4, 10, tzinfo=UTC).timestamp()  # Events' 10:00:00
SVG = "{http://www.w3.org/2000/svg}"
RULES = [
    {"condition": "error_rate > 5%", "scope": "all", "trigger": True},
    {"condition": "latency_p95 > 1s", "scope": "reads", "trigger": True},
    {"condition": "latency_p95 > 1s", "scope": "writes", "trigger": True},
    {"condition": "dlq_depth > 0", "scope": "all", "trigger": True},
]
SOAK_RULES = [{"condition": "error_rate < 0.1%", "trigger": False}]


def run_spec(**projects: dict[str, Any]) -> dict[str, Any]:
    return {**spec(list(projects)), "projects": projects}


def analysed(**extra: Any) -> dict[str, Any]:
    """A project spec's analysis, as the run spec holds it."""
    settings = {"alpha": 0.01, "min_samples": 50, "compare": True}
    analysis = {"rules": RULES, "settings": settings, "interval": 1.0}
    return {"analysis": {**analysis, "inconclusive": "extend_then_pause", **extra}}


def versions(canary_errors: float | None, p95: float, *, function: str = "f") -> dict[str, Any]:
    return {
        function: {
            "canary": {"version": "7", "requests": 100, "error_rate": canary_errors, "p95": p95},
            "baseline": {"version": "6", "requests": 900, "error_rate": 0.001, "p95": 0.2},
        }
    }


def judgement(judge: str, verdict: str, statistic: float, threshold: float, **extra: Any) -> Any:
    return {
        "judge": judge,
        "verdict": verdict,
        "reason": extra.pop("reason", f"{judge} {verdict}"),
        "measure": extra.pop("measure", "log Bayes factor"),
        "statistic": statistic,
        "threshold": threshold,
        "samples": extra.pop("samples", {"baseline": 900, "canary": 100}),
        "inputs": {"alpha": 0.005, **extra},
    }


def shift(log: Events, at: float, weight: int, project: str = "web") -> None:
    item = {"function": "f", "alias": "live", "version": "7", "previous": "6", "weight": weight}
    outcome = {"passed": True, "summary": f"shift f to {weight} ok", "evidence": {}}
    log.add(at, "canary.result", project, item=item, outcome=outcome, errored=False)


def canary_log(function: str = "f") -> Events:
    """A 10% step that passes after its 30 s bake, then a 50% step whose errors fail it 12 s
    in: the traffic goes back to version 6 before the verdict is recorded."""
    log = Events()
    log.add(0, "run.started", spec=run_spec(web=analysed()))
    log.add(1, "project.phase", "web", phase="Running", reason=None)
    shift(log, 10, 10)
    log.add(10, "canary.step", "web", weight=10, bake_seconds=30)
    for second in range(11, 41, 3):
        sample = versions(0.002, 0.3, function=function)
        log.add(second, "analysis.sample", "web", step=0, weight=10, at=EPOCH + second,
                verdict="pass", versions=sample)  # fmt: skip
    passed = [judgement("errors: canary vs baseline", "pass", -1.2, 5.3)]
    log.add(40, "analysis.verdict", "web", step=0, weight=10, verdict="pass",
            judgements=passed, unjudged=["dlq_depth > 0"], extended=False)  # fmt: skip
    shift(log, 40.5, 50)
    log.add(40.5, "canary.step", "web", weight=50, bake_seconds=30)
    for second, errors in [(42, 0.01), (45, 0.04), (48, None), (52, 0.09)]:
        sample = versions(errors, 1.4, function=function)
        log.add(second, "analysis.sample", "web", step=1, weight=50, at=EPOCH + second,
                verdict="fail" if second == 52 else "inconclusive", versions=sample)  # fmt: skip
    shift(log, 52.3, 0)
    failed = [
        judgement("error_rate > 5%", "inconclusive", 0.09, 0.05, measure="error rate",
                  samples={"canary": 100}),
        judgement("errors: canary vs baseline", "fail", 7.1, 5.3,
                  reason="canary worse: 9/100 vs 1/900 (log BF 7.10 >= 5.30)"),
        judgement("requests >= 1s (reads): canary vs baseline", "pass", math.nan, 5.99),
    ]  # fmt: skip
    log.add(52.5, "analysis.verdict", "web", step=1, weight=50, verdict="fail",
            judgements=failed, unjudged=["dlq_depth > 0"])  # fmt: skip
    log.add(53, "project.phase", "web", phase="RolledBack", reason="canary at 50% failed")
    log.add(54, "run.finished", None, phase="Failed")
    return log


def web(events: list[dict[str, Any]]) -> ProjectAnalysis:
    analysis = summarise(events)["web"]
    assert analysis is not None
    return analysis


def svg(text: str) -> ElementTree.Element:
    """A chart, parsed as XML: well-formed, or this fails."""
    return ElementTree.fromstring(text)


def groups(chart: ElementTree.Element, cls: str) -> list[ElementTree.Element]:
    return [g for g in chart.iter(f"{SVG}g") if g.get("class") == cls]


def texts(element: ElementTree.Element) -> list[str]:
    return [t.text or "" for t in element.iter(f"{SVG}text")]


# -- the summary -----------------------------------------------------------------------------


def test_the_summary_has_each_steps_series_verdicts_and_decision() -> None:
    analysis = web(canary_log().events)

    assert [(t.rule, t.metric, t.threshold) for t in analysis.thresholds] == [
        ("error_rate > 5%", "error_rate", 0.05),
        ("latency_p95 > 1s (reads)", "latency_p95", 1.0),
        ("latency_p95 > 1s (writes)", "latency_p95", 1.0),
        ("dlq_depth > 0", "dlq_depth", 0.0),
    ]
    first, second = analysis.steps
    assert (first.step, first.weight, first.bake_seconds) == (0, 10, 30)
    assert (first.time, first.offset_seconds) == ("2025-03-04T10:00:10.000+00:00", 10)
    assert [(s.function, s.role, s.version) for s in first.series] == [
        ("f", "canary", "7"),
        ("f", "baseline", "6"),
    ]
    assert len(first.series[0].points) == 10
    assert first.series[0].points[0].at == EPOCH + 11
    assert first.series[0].points[0].offset_seconds == 11
    assert [p.error_rate for p in second.series[0].points] == [0.01, 0.04, None, 0.09]
    assert first.decision is not None and second.decision is not None
    assert (first.decision.verdict, first.decision.action) == ("pass", "passed")
    # The traffic went back before the verdict was recorded: a rollback all the same.
    assert (second.decision.verdict, second.decision.action) == ("fail", "rolled back")
    assert second.decision.time == "2025-03-04T10:00:52.500+00:00"
    [verdict] = second.verdicts
    assert [j.verdict for j in verdict.judgements] == ["inconclusive", "fail", "pass"]
    assert verdict.judgements[2].statistic is None  # NaN is no number for JSON
    assert verdict.judgements[1].samples == {"canary": 100, "baseline": 900}  # canary first
    assert verdict.unjudged == ["dlq_depth > 0"]


def test_an_extended_bake_and_a_step_held_for_a_person() -> None:
    log = Events()
    log.add(0, "run.started", spec=run_spec(web=analysed()))
    log.add(1, "canary.step", "web", weight=10, bake_seconds=5)
    log.add(6, "analysis.verdict", "web", step=0, weight=10, verdict="inconclusive",
            judgements=[], unjudged=[], reason="the metrics could not be read")  # fmt: skip
    log.add(6, "analysis.extended", "web", step=0, weight=10, seconds=5)
    log.add(11, "analysis.errored", "web", step=0, weight=10, reason="ThrottlingException")
    log.add(11, "analysis.verdict", "web", step=0, weight=10, verdict="inconclusive",
            judgements=[], unjudged=[], extended=True)  # fmt: skip

    [step] = web(log.events).steps

    assert [(v.verdict, v.action, v.extended) for v in step.verdicts] == [
        ("inconclusive", "extended", False),
        ("inconclusive", "held", True),
    ]
    assert [(e.seconds, e.time[11:19]) for e in step.extensions] == [(5, "10:00:06")]
    assert step.series == []  # no samples: no chart, but the verdicts are reported
    assert [(e.during, e.reason) for e in web(log.events).errors] == [
        ("canary step 10%", "ThrottlingException")
    ]
    markdown = render(build_report(log.events, INTACT), "md")
    analysis = section(markdown, "web", "Canary analysis")
    assert "10%: inconclusive: held after 10.0 s." in analysis
    assert row(analysis, "10%", "10:00:06", "inconclusive: extended")
    assert "the metrics could not be read" in analysis
    errors = section(markdown, "web", "Analysis errors")
    assert row(errors, "canary step 10%", "ThrottlingException")


def test_a_project_without_analysis_events_has_none() -> None:
    log = Events()
    log.add(0, "run.started", spec=run_spec(web={}))
    shift(log, 1, 100)
    log.add(1, "canary.step", "web", weight=100, bake_seconds=0)

    report = build_report(log.events, INTACT)

    assert summarise(log.events) == {}
    assert report.projects[0].analysis is None
    assert json.loads(render(report, "json"))["projects"][0]["analysis"] is None
    assert "analysis-chart" not in render(report, "html")
    assert "### Canary analysis" not in render(report, "md")


def test_the_json_report_holds_the_analysis_with_its_documented_keys() -> None:
    text = render(build_report(canary_log().events + soak_log().events[1:], INTACT), "json")

    assert "NaN" not in text
    analysis = json.loads(text)["projects"][0]["analysis"]
    second = analysis["steps"][1]
    assert second["decision"] == {
        "time": "2025-03-04T10:00:52.500+00:00",
        "offset_seconds": 52.5,
        "verdict": "fail",
        "action": "rolled back",
    }
    assert analysis["thresholds"][0] == {
        "rule": "error_rate > 5%",
        "metric": "error_rate",
        "op": ">",
        "threshold": 0.05,
        "scope": "all",
        "trigger": True,
    }
    canary = second["series"][0]
    assert (canary["role"], canary["version"], canary["points"][-1]["error_rate"]) == (
        "canary",
        "7",
        0.09,
    )
    assert analysis["soak"]["decision"] == "NO-GO"
    doc = report_analysis.__doc__ or ""
    for key in sorted(_keys(analysis)):
        assert f"``{key}``" in doc, key


# -- the charts ------------------------------------------------------------------------------


def test_the_charts_have_a_line_per_version_the_thresholds_and_the_decisions() -> None:
    errors, latency = (svg(chart) for chart in canary_charts(web(canary_log().events), "web"))

    assert (errors.get("data-measure"), latency.get("data-measure")) == ("error_rate", "p95")
    assert errors.get("role") == "img"
    title = errors.find(f"{SVG}title")
    assert title is not None and title.text == "Error rate of the canary analysis of web"
    lines = groups(errors, "series")
    assert [(g.get("data-role"), g.get("data-version")) for g in lines] == [
        ("canary", "7"),
        ("baseline", "6"),
    ]
    assert [texts_of_title(g) for g in lines] == ["canary (version 7)", "baseline (version 6)"]
    # The canary's sample without requests breaks its line in two.
    assert len(lines[0].findall(f"{SVG}polyline")) == 2
    assert len(lines[1].findall(f"{SVG}polyline")) == 1
    [threshold] = groups(errors, "threshold")
    assert texts(threshold) == ["error_rate > 5%"]
    line = threshold.find(f"{SVG}line")
    assert line is not None and line.get("stroke-dasharray")
    # Reads and writes share their latency threshold's line.
    [slow] = groups(latency, "threshold")
    assert texts(slow) == ["latency_p95 > 1s (reads); latency_p95 > 1s (writes)"]
    assert [texts(g) for g in groups(errors, "step-marker")] == [["10%"], ["50%"]]
    decisions = groups(errors, "decision")
    assert [(g.get("data-verdict"), texts(g)) for g in decisions] == [
        ("pass", ["pass"]),
        ("fail", ["fail: rolled back"]),
    ]
    description = errors.find(f"{SVG}desc")
    assert description is not None and "50%: fail: rolled back" in (description.text or "")


def texts_of_title(element: ElementTree.Element) -> str:
    title = element.find(f"{SVG}title")
    return title.text or "" if title is not None else ""


def test_the_threshold_line_is_where_its_value_is_on_the_axis() -> None:
    errors = svg(canary_charts(web(canary_log().events), "web")[0])
    ticks = {t.text: float(t.get("y") or 0) - 4 for t in errors.iter(f"{SVG}text")
             if (t.text or "").endswith("%") and t.get("text-anchor") == "end"}  # fmt: skip
    [threshold] = groups(errors, "threshold")
    line = threshold.find(f"{SVG}line")
    assert line is not None
    # 0% and 10% are ticks of an axis up to 10% (9% at most, and 5% a threshold).
    zero, ten = ticks["0%"], ticks["10%"]
    assert float(line.get("y1") or 0) == round(zero + (ten - zero) * 0.5, 1)


def test_charts_are_deterministic_and_escape_what_the_journal_holds() -> None:
    events = canary_log(function="<b>f</b>").events

    first = canary_charts(web(events), "<i>web</i>")
    assert first == canary_charts(web(events), "<i>web</i>")
    for chart in first:
        assert "<b>" not in chart and "<i>" not in chart
        parsed = svg(chart)  # well-formed
        assert groups(parsed, "series")[0].get("data-function") == "<b>f</b>"
    page = render(build_report(events, INTACT), "html")
    assert "<b>f</b>" not in page
    Page.parse(page)


# -- tables ---------------------------------------------------------------------------------


def test_markdown_and_html_have_the_verdict_table_and_a_one_line_summary() -> None:
    report = build_report(canary_log().events, INTACT)
    markdown = render(report, "md")

    analysis = section(markdown, "web", "Canary analysis")
    assert (
        "10%: pass after 30.0 s; 50%: fail at 12.0 s (errors: canary vs baseline, log BF 7.10"
        " \\>= 5.30), rolled back. Rules: error_rate \\> 5%, latency_p95 \\> 1s (reads),"
        " latency_p95 \\> 1s (writes), dlq_depth \\> 0. Not judged by the analysis:"
        " dlq_depth \\> 0." in analysis
    )
    failed = row(analysis, "50%", "fail: rolled back", "errors: canary vs baseline", "❌ fail")
    assert "| log BF 7.10 \\>= 5.30 | canary 100, baseline 900 |" in failed
    rate = row(analysis, "50%", "error_rate \\> 5%")
    assert "| ❔ inconclusive | error rate 9% vs 5% | canary 100 |" in rate
    assert row(analysis, "10%", "10:00:40", "pass", "✅ pass", "log BF -1.20 \\< 5.30")
    html = render(report, "html")
    page = Page.parse(html)
    assert page.counts["svg"] == 3  # the run's timeline and the two analysis charts
    assert page.classes.count("decision") == 4  # pass and fail, on either chart
    assert "10%: pass after 30.0 s; 50%: fail at 12.0 s" in html
    assert "<td>fail: rolled back</td><td>errors: canary vs baseline</td>" in html


def soak_log() -> Events:
    """A soak of two checkpoints: the first passes, the second's alarm makes it NO-GO."""
    log = Events()
    soak = {"duration": 60, "checkpoints": 2, "rules": SOAK_RULES, "settings": {}}
    log.add(0, "run.started", spec=run_spec(web={**analysed(), "soak": soak}))
    log.add(60, "soak.started", "web", checkpoints=2, seconds=60.0, time_scale=1.0,
            ends_at=EPOCH + 120)  # fmt: skip
    canary = {"f": {"canary": {"version": "7", "requests": 50, "error_rate": 0.0, "p95": 0.3}}}
    for second in (70, 80, 90, 100, 110, 120):
        log.add(second, "analysis.sample", "web", checkpoint=1 + second // 91, of=2,
                at=EPOCH + second, verdict="pass", versions=canary)  # fmt: skip
    within = "0 over 300 requests is within 0.001"
    criterion = judgement("error_rate < 0.1%", "pass", 0.0, 0.001, measure="error rate",
                          samples={"canary": 300}, reason=within)  # fmt: skip
    active = {"passed": True, "summary": "f is Active", "evidence": {}, "outputs": {}}
    alarm = {"passed": False, "summary": "alarm orders-5xx fires", "evidence": {}, "outputs": {}}
    for number, checks, verdict in [(1, [active], "pass"), (2, [active, alarm], "fail")]:
        log.add(60 + 30 * number, "soak.checkpoint", "web", checkpoint=number, of=2,
                due=EPOCH + 60 + 30 * number, verdict=verdict, judgements=[criterion],
                unjudged=[], checks=checks)  # fmt: skip
    log.add(121, "soak.verdict", "web", decision="NO-GO",
            reason="soak checkpoint 2/2: alarm orders-5xx fires")  # fmt: skip
    return log


def test_a_soak_has_its_checkpoints_decision_and_charts() -> None:
    report = build_report(soak_log().events, INTACT)
    analysis = report.projects[0].analysis

    assert analysis is not None and analysis.steps == []
    soak = analysis.soak
    assert soak is not None
    assert (soak.planned, soak.seconds, soak.decision) == (2, 60.0, "NO-GO")
    assert [(c.checkpoint, c.verdict) for c in soak.checkpoints] == [(1, "pass"), (2, "fail")]
    assert [t.threshold for t in soak.thresholds] == [0.001]
    assert [(s.role, len(s.points)) for s in soak.series] == [("canary", 6)]
    markdown = render(report, "md")
    table = section(markdown, "web", "Soak")
    assert "NO-GO: soak checkpoint 2/2: alarm orders-5xx fires (2 checkpoints over 1m 00s)." in (
        table
    )
    assert "Criteria: error_rate \\< 0.1%." in table
    first = row(table, "1/2", "10:01:30", "✅ pass")
    assert "error_rate \\< 0.1%: pass (0 over 300 requests is within 0.001) | ✅ f is Active |" in (
        first
    )
    assert "❌ alarm orders-5xx fires" in row(table, "2/2", "❌ fail")
    errors, _ = (svg(chart) for chart in soak_charts(analysis, "web"))
    assert [g.get("data-role") for g in groups(errors, "series")] == ["canary"]
    assert [texts(g) for g in groups(errors, "threshold")] == [["error_rate < 0.1%"]]
    assert [(g.get("data-verdict"), texts(g)) for g in groups(errors, "decision")] == [
        ("pass", ["1/2 pass"]),
        ("fail", ["2/2 fail"]),
    ]
    assert "soak start" in "".join(texts(errors))
    assert canary_charts(analysis, "web") == []
    page = Page.parse(render(report, "html"))
    assert page.counts["svg"] == 3


# -- a real run ------------------------------------------------------------------------------


def test_a_rolled_back_canarys_report_charts_its_versions_and_the_failed_decision(
    make: Make,
) -> None:
    engine, _ = make(
        outputs={"orders-deploy": released("f")},
        metrics=traffic(Profile(rps=100, error_rate=0.05)),
    )
    run_id = engine.start_run(build([orders()]), "sit", started_by="ann")
    assert engine.wait(run_id, timeout=60).phase.value == "Failed"
    path = journal_path(engine.state_dir, run_id)

    report = build_report(Journal(path).events(), verify(path))

    analysis = report.projects[0].analysis
    assert analysis is not None
    [step, *_] = analysis.steps
    assert step.decision is not None
    assert (step.weight, step.decision.verdict, step.decision.action) == (10, "fail", "rolled back")
    assert {(s.role, s.version) for s in step.series} == {("canary", "2"), ("baseline", "1")}
    html = render(report, "html")
    page = Page.parse(html)
    assert page.counts["svg"] == 3
    charts = re.findall(r'<svg [^>]*class="analysis-chart".*?</svg>', html, re.DOTALL)
    assert len(charts) == 2
    errors = svg(charts[0])
    assert {g.get("data-version") for g in groups(errors, "series")} == {"1", "2"}
    assert texts(groups(errors, "threshold")[0]) == ["error_rate > 5%"]
    assert [g.get("data-verdict") for g in groups(errors, "decision")] == ["fail"]
    assert "fail: rolled back" in texts(groups(errors, "decision")[0])
    markdown = render(report, "md")
    assert re.search(r"10%: fail at [\d.]+ m?s \(errors: canary vs baseline, log BF", markdown)
    assert row(section(markdown, "orders", "Canary analysis"), "errors: canary vs baseline")
    data = json.loads(render(report, "json"))
    decision = data["projects"][0]["analysis"]["steps"][0]["decision"]
    assert (decision["verdict"], decision["action"]) == ("fail", "rolled back")


def _keys(value: Any, inside: str | None = None) -> set[str]:
    """The keys of a JSON document, but those of a judge's own inputs."""
    if isinstance(value, dict):
        found = set(value) if inside != "inputs" else set()
        return found | {k for key, v in value.items() for k in _keys(v, key)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v, inside)}
    return set()
