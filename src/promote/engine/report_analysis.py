"""What the report shows of a run's statistical analysis: canary steps, criteria, soaks. Pure.

:func:`summarise` folds a run's journal events into a :class:`ProjectAnalysis` for each
project that has analysis events (``analysis.*``, ``criteria.judged``, ``soak.*``): the
samples as series per function and version, the verdicts with their judgements, each canary
step's decision, the thresholds of the run spec's rules, and the soak's checkpoints and
GO/NO-GO. The data model is :mod:`promote.engine.report_analysis_model`'s.
:mod:`promote.engine.report_md` makes tables of it, and :mod:`promote.engine.report_html`
charts of error rate and p95 latency over time as well
(:mod:`promote.engine.report_chart_data`, :mod:`promote.engine.report_svg_analysis`).

JSON: each project's ``analysis`` in ``promote report --format json`` is null, or:

- ``thresholds``: the rules of the project's canary analysis, [{``rule`` (its label, e.g.
  "latency_p95 > 1s (reads)"), ``metric``, ``op``, ``threshold`` (error rates as fractions,
  latencies in seconds), ``scope``, ``trigger`` (false for a criterion that says good)}].
- ``steps``: one per canary step, in order: ``step`` (its index, from 0), ``weight``,
  ``bake_seconds``, ``time`` (when the traffic shifted), ``offset_seconds`` (since the run
  started, as everywhere here); ``series``: [{``function``, ``role`` (canary or baseline),
  ``version``, ``points``: [{``at`` (epoch seconds: the end of the window evaluated),
  ``offset_seconds``, ``verdict`` (that evaluation's), ``requests``, ``error_rate`` (a
  fraction), ``p95`` (seconds)}]}], a point's numbers being of its last 10 seconds;
  ``verdicts``: [{``time``, ``offset_seconds``, ``verdict`` (pass, fail, inconclusive),
  ``action`` (passed, rolled back, failed, extended, held: waiting for a person),
  ``extended`` (the bake had been extended), ``reason``, ``judgements``: [{``judge``,
  ``verdict``, ``reason``, ``measure``, ``statistic``, ``threshold``, ``samples``
  (requests judged, by role: ``canary``, ``baseline``), ``inputs`` (the judge's own
  numbers, by name)}], ``unjudged`` (labels of rules no judge here can measure)}];
  ``extensions``: [{``time``, ``seconds``}];
  ``decision``: the last verdict's {``time``, ``offset_seconds``, ``verdict``, ``action``},
  or null.
- ``criteria``: the metric success criteria's verdict (as in ``verdicts``), or null.
- ``soak``: null, or {``started``, ``planned`` (how many checkpoints), ``seconds``,
  ``ends_at`` (epoch seconds), ``thresholds``, ``series`` (the new version's, as in
  ``steps``), ``checkpoints``: [{``checkpoint``, ``of``, ``due`` (epoch seconds), ``time``,
  ``offset_seconds``, ``verdict``, ``judgements``, ``unjudged``, ``checks``: [{``passed``,
  ``summary``}]}], ``decision`` (GO, NO-GO, or null while it lasts), ``reason``}.
- ``errors``: evaluations that could not read the metrics, [{``time``, ``during``,
  ``reason``}].

Numbers that are not finite (a rate of no requests) are null.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

# The model, the times and the chart data, defined here once, are still importable from here.
from promote.engine.report_analysis_model import (
    AnalysedStep,
    Check,
    Checkpoint,
    Decision,
    Errored,
    Extension,
    Judgement,
    Point,
    ProjectAnalysis,
    Series,
    Soak,
    Threshold,
    Verdict,
    decision_label,
    find_series,
)
from promote.engine.report_chart_data import CHARTED, Marker, canary_markers, merged, soak_markers
from promote.engine.report_times import iso, moment, seconds_between
from promote.model.base import parse_condition

__all__ = [
    "CHARTED",
    "KINDS",
    "AnalysedStep",
    "Check",
    "Checkpoint",
    "Decision",
    "Errored",
    "Extension",
    "Judgement",
    "Marker",
    "Point",
    "ProjectAnalysis",
    "Series",
    "Soak",
    "Threshold",
    "Verdict",
    "canary_markers",
    "decision_label",
    "iso",
    "merged",
    "moment",
    "seconds_between",
    "soak_markers",
    "summarise",
    "thresholds",
]

KINDS = frozenset(
    {"analysis.sample", "analysis.verdict", "analysis.extended", "analysis.errored",
     "criteria.judged", "soak.started", "soak.checkpoint", "soak.verdict"}
)  # fmt: skip


def summarise(events: Iterable[Mapping[str, Any]]) -> dict[str, ProjectAnalysis]:
    """Per project with analysis events, in the order they first appear, its analysis."""
    raw = list(events)
    started = next((e for e in raw if e.get("kind") == "run.started"), raw[0] if raw else {})
    spec = _mapping(_mapping(started.get("data")).get("spec"))
    start = moment(str(started.get("time") or ""))
    folds: dict[str, _Fold] = {}
    for event in raw:
        project, kind = event.get("project"), str(event.get("kind"))
        if project is None or not (kind in KINDS or kind.startswith("canary.")):
            continue
        name = str(project)
        if name not in folds:
            specs = _mapping(_mapping(spec.get("projects")).get(name))
            folds[name] = _Fold(specs, start.timestamp() if start else None)
        folds[name].add(kind, str(event.get("time") or ""), _mapping(event.get("data")))
    return {name: fold.result() for name, fold in folds.items() if fold.relevant}


def thresholds(rules: Any) -> list[Threshold]:
    """The rules of a run spec's analysis (or soak) with their thresholds; error rates as
    fractions and latencies in seconds, as :func:`~promote.model.base.parse_condition`
    reads a condition's text. A rule that does not parse is left out."""
    found = []
    for rule in rules if isinstance(rules, list) else []:
        rule = _mapping(rule)
        try:
            parsed = parse_condition(str(rule.get("condition")))
        except ValueError:
            continue
        scope = str(rule.get("scope") or "all")
        label = str(parsed["text"]) + (f" ({scope})" if scope != "all" else "")
        metric, op, limit = str(parsed["metric"]), str(parsed["op"]), float(parsed["threshold"])
        found.append(Threshold(label, metric, op, limit, scope, bool(rule.get("trigger", True))))
    return found


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def _count(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _judgements(raw: Any) -> list[Judgement]:
    found = []
    for judged in raw if isinstance(raw, list) else []:
        judged = _mapping(judged)
        counts = _mapping(judged.get("samples"))
        samples = {str(k): n for k in _roles(counts) if (n := _count(counts[k])) is not None}
        inputs = {str(k): _number(v) if isinstance(v, float) else v
                  for k, v in _mapping(judged.get("inputs")).items()}  # fmt: skip
        found.append(
            Judgement(
                str(judged.get("judge") or ""),
                str(judged.get("verdict") or ""),
                str(judged.get("reason") or ""),
                str(judged.get("measure") or ""),
                _number(judged.get("statistic")),
                _number(judged.get("threshold")),
                samples,
                inputs,
            )
        )
    return found


def _roles(found: Mapping[str, Any]) -> list[str]:
    """The canary's first, then the baseline's, then any other role's."""
    return sorted(found, key=lambda role: (role != "canary", role != "baseline", str(role)))


def _labels(raw: Any) -> list[str]:
    return [str(label) for label in raw] if isinstance(raw, list) else []


class _Fold:
    """One project's analysis events, in journal order."""

    def __init__(self, spec: Mapping[str, Any], start: float | None) -> None:
        analysis, soak = _mapping(spec.get("analysis")), _mapping(spec.get("soak"))
        self.analysis = ProjectAnalysis(thresholds(analysis.get("rules")))
        self.soak_rules = thresholds(soak.get("rules"))
        self.held = "failed" if analysis.get("inconclusive") == "fail" else "held"
        self.start = start
        self.steps: dict[int, AnalysedStep] = {}
        self.shifts = 0  # canary.step events so far: the next one's index
        self.shifted_back: set[int] = set()  # steps whose traffic went back to the stable version
        self.relevant = False

    def offset(self, epoch: float | None) -> float | None:
        return None if epoch is None or self.start is None else round(epoch - self.start, 3)

    def offset_of(self, time: str) -> float | None:
        at = moment(time)
        return self.offset(at.timestamp()) if at else None

    def step(self, index: Any) -> AnalysedStep:
        number = _count(index) or 0
        if number not in self.steps:
            self.steps[number] = AnalysedStep(number)
        return self.steps[number]

    def soak(self) -> Soak:
        if self.analysis.soak is None:
            self.analysis.soak = Soak(thresholds=self.soak_rules)
        return self.analysis.soak

    def add(self, kind: str, time: str, data: Mapping[str, Any]) -> None:
        self.relevant = self.relevant or kind in KINDS
        if kind.startswith("canary."):
            self.canary_event(kind, time, data)
        elif kind == "analysis.sample":
            self.sample(data)
        elif kind == "analysis.verdict":
            step = self.step(data.get("step"))
            step.weight = data.get("weight", step.weight)
            step.verdicts.append(self.verdict(time, data, step.step))
        elif kind == "analysis.extended":
            step = self.step(data.get("step"))
            step.extensions.append(Extension(time, _number(data.get("seconds"))))
            if step.verdicts and step.verdicts[-1].verdict == "inconclusive":
                step.verdicts[-1].action = "extended"
        elif kind == "analysis.errored":
            self.analysis.errors.append(Errored(time, _during(data), str(data.get("reason"))))
        elif kind == "criteria.judged":
            self.analysis.criteria = self.verdict(time, data, None)
        elif kind.startswith("soak."):
            self.soak_event(kind, time, data)

    def canary_event(self, kind: str, time: str, data: Mapping[str, Any]) -> None:
        if kind == "canary.step":
            step = self.step(self.shifts)
            self.shifts += 1
            step.weight, step.bake_seconds = data.get("weight"), data.get("bake_seconds")
            step.time, step.offset_seconds = time, self.offset_of(time)
        elif kind == "canary.result" and self.shifts and _weight(data) == 0:
            # Traffic back on the stable version: a failed step's shift back, before or
            # after its verdict is recorded.
            self.back(self.shifts - 1)

    def back(self, index: int) -> None:
        self.shifted_back.add(index)
        verdicts = self.steps[index].verdicts
        if verdicts and verdicts[-1].verdict == "fail":
            verdicts[-1].action = "rolled back"

    def verdict(self, time: str, data: Mapping[str, Any], step: int | None) -> Verdict:
        verdict = str(data.get("verdict") or "inconclusive")
        action = {"pass": "passed", "fail": "failed"}.get(verdict, self.held)
        if verdict == "fail" and step in self.shifted_back:
            action = "rolled back"
        return Verdict(
            time,
            self.offset_of(time),
            verdict,
            action,
            bool(data.get("extended")),
            _text(data.get("reason")),
            _judgements(data.get("judgements")),
            _labels(data.get("unjudged")),
        )

    def sample(self, data: Mapping[str, Any]) -> None:
        at = _number(data.get("at"))
        if at is None or data.get("criteria"):
            return  # the success criteria's one evaluation is in their verdict
        if "checkpoint" in data:
            series = self.soak().series
        else:
            step = self.step(data.get("step"))
            step.weight = data.get("weight", step.weight)
            series = step.series
        verdict = _text(data.get("verdict"))
        for function, roles in _mapping(data.get("versions")).items():
            for role in _roles(_mapping(roles)):
                seen = _mapping(_mapping(roles)[role])
                version = _text(seen.get("version"))
                point = Point(
                    at,
                    self.offset(at),
                    verdict,
                    _count(seen.get("requests")),
                    _number(seen.get("error_rate")),
                    _number(seen.get("p95")),
                )
                find_series(series, str(function), str(role), version).points.append(point)

    def soak_event(self, kind: str, time: str, data: Mapping[str, Any]) -> None:
        soak = self.soak()
        if kind == "soak.started":
            soak.started, soak.planned = time, data.get("checkpoints")
            soak.seconds, soak.ends_at = _number(data.get("seconds")), _number(data.get("ends_at"))
        elif kind == "soak.checkpoint":
            checks = [
                Check(bool(c.get("passed")), str(c.get("summary") or ""))
                for c in map(_mapping, data.get("checks") or [])
            ]
            soak.checkpoints.append(
                Checkpoint(
                    data.get("checkpoint"),
                    data.get("of"),
                    _number(data.get("due")),
                    time,
                    self.offset_of(time),
                    str(data.get("verdict") or "inconclusive"),
                    _judgements(data.get("judgements")),
                    _labels(data.get("unjudged")),
                    checks,
                )
            )
        elif kind == "soak.verdict":
            soak.decision, soak.reason = _text(data.get("decision")), _text(data.get("reason"))

    def result(self) -> ProjectAnalysis:
        for index in sorted(self.steps):
            step = self.steps[index]
            if step.verdicts:
                last = step.verdicts[-1]
                step.decision = Decision(last.time, last.offset_seconds, last.verdict, last.action)
            self.analysis.steps.append(step)
        return self.analysis


def _weight(data: Mapping[str, Any]) -> Any:
    return _mapping(data.get("item")).get("weight")


def _during(data: Mapping[str, Any]) -> str:
    if "step" in data:
        return f"canary step {data.get('weight')}%"
    if "checkpoint" in data:
        return f"soak checkpoint {data.get('checkpoint')}/{data.get('of')}"
    return "success criteria" if data.get("criteria") else "analysis"
