"""One evaluation: observe every subject, judge, combine. Pure given the source.

The engine runs one evaluation a second while a canary step bakes (and one per soak
checkpoint). A project may deploy several functions; each is a subject, judged on its own,
and any subject's Fail fails the step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from promote.analysis.judges import Rule, Settings, judge, query_for, unjudged
from promote.analysis.observations import (
    Bucket,
    MetricSource,
    Observation,
    Query,
    Scope,
    Series,
    Subject,
)
from promote.analysis.verdicts import Judgement, Verdict, combine

CHART_WINDOW = 10.0  # seconds: the rates a chart point shows


@dataclass(frozen=True)
class Request:
    subjects: Sequence[Subject]
    start: float
    end: float
    rules: Sequence[Rule]
    settings: Settings = field(default_factory=Settings)

    def to_json(self) -> dict[str, Any]:
        return {
            "subjects": [_subject_json(s) for s in self.subjects],
            "start": self.start,
            "end": self.end,
            "rules": [r.to_json() for r in self.rules],
            "settings": self.settings.to_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Request:
        return cls(
            [Subject(**s) for s in data["subjects"]],
            float(data["start"]),
            float(data["end"]),
            [Rule.from_json(r) for r in data["rules"]],
            Settings(**data.get("settings", {})),
        )


@dataclass(frozen=True)
class Evaluation:
    verdict: Verdict
    judgements: list[Judgement]
    unjudged: list[str]
    # For charts: per subject, per role (canary/baseline), the last CHART_WINDOW seconds.
    sample: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "judgements": [j.to_json() for j in self.judgements],
            "unjudged": self.unjudged,
            "sample": self.sample,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Evaluation:
        return cls(
            Verdict(data["verdict"]),
            [Judgement.from_json(j) for j in data["judgements"]],
            list(data["unjudged"]),
            dict(data.get("sample", {})),
        )

    @property
    def failed(self) -> list[Judgement]:
        return [j for j in self.judgements if j.verdict is Verdict.FAIL]


def evaluate(source: MetricSource, request: Request) -> Evaluation:
    query = query_for(request.rules, request.settings)
    judgements: list[Judgement] = []
    sample: dict[str, dict[str, dict[str, Any]]] = {}
    many = len(request.subjects) > 1
    for subject in request.subjects:
        if request.end <= request.start:  # an instant (a zero time scale) holds no traffic
            observation = Observation(request.start, request.end, {}, {})
        else:
            observation = source.observe(subject, request.start, request.end, query)
        for one in judge(observation, request.rules, request.settings):
            judgements.append(_named(one, subject.function) if many else one)
        sample[subject.function] = chart_point(observation)
    return Evaluation(combine(judgements), judgements, unjudged(request.rules), sample)


def _named(judgement: Judgement, function: str) -> Judgement:
    return Judgement(
        f"{function}: {judgement.judge}",
        judgement.verdict,
        judgement.reason,
        judgement.measure,
        judgement.statistic,
        judgement.threshold,
        judgement.samples,
        judgement.inputs,
    )


def chart_point(observation: Observation) -> dict[str, dict[str, Any]]:
    """Each version's error rate and p95 over the observation's last seconds."""
    since = observation.end - CHART_WINDOW
    point: dict[str, dict[str, Any]] = {}
    for role, series in (
        ("canary", observation.canary_series(Scope.ALL)),
        ("baseline", observation.baseline_series(Scope.ALL)),
    ):
        if not series.version:
            continue
        recent = series.since(since)
        p95s = [b.latency_p95 for b in recent.buckets if b.latency_p95 is not None]
        point[role] = {
            "version": series.version,
            "requests": recent.requests,
            "error_rate": recent.errors / recent.requests if recent.requests else None,
            "p95": max(p95s) if p95s else None,
        }
    return point


def _subject_json(subject: Subject) -> dict[str, Any]:
    return {
        "function": subject.function,
        "alias": subject.alias,
        "canary": subject.canary,
        "baseline": subject.baseline,
        "namespace": subject.namespace,
        "dimensions": dict(subject.dimensions),
    }


class CachedSource:
    """Remembers the seconds a source has answered once they are ``settle`` seconds old
    (late data has arrived by then), so an evaluation a second asks only for the last few
    seconds rather than the whole bake. In memory: a restarted worker asks again."""

    def __init__(self, source: MetricSource, settle: float = 5.0) -> None:
        self._source = source
        self._settle = settle
        self._cache: dict[tuple[str, str, str, str, Query], tuple[float, Observation]] = {}

    def observe(self, subject: Subject, start: float, end: float, query: Query) -> Observation:
        key = (subject.function, subject.alias, subject.canary, subject.baseline, query)
        cached = self._cache.get(key)
        if cached is None or cached[1].start != start:
            fresh = self._source.observe(subject, start, end, query)
        else:
            settled, old = cached
            newer = self._source.observe(subject, settled, end, query)
            fresh = _join(old, newer, settled)
        settled_until = max(start, math.floor(end - self._settle))
        kept = _before(fresh, settled_until)
        self._cache[key] = (settled_until, kept)
        return fresh


def _before(observation: Observation, until: float) -> Observation:
    def cut(series: Mapping[Scope, Series]) -> dict[Scope, Series]:
        return {
            scope: Series(s.version, tuple(b for b in s.buckets if b.start < until))
            for scope, s in series.items()
        }

    return Observation(observation.start, until, cut(observation.canary), cut(observation.baseline))


def _join(old: Observation, new: Observation, at: float) -> Observation:
    def merged(a: Mapping[Scope, Series], b: Mapping[Scope, Series]) -> dict[Scope, Series]:
        scopes = set(a) | set(b)
        joined: dict[Scope, Series] = {}
        for scope in scopes:
            first, second = a.get(scope), b.get(scope)
            version = (second or first or Series("")).version
            buckets: tuple[Bucket, ...] = tuple(first.buckets if first else ()) + tuple(
                x for x in (second.buckets if second else ()) if x.start >= at
            )
            joined[scope] = Series(version, buckets)
        return joined

    return Observation(
        old.start, new.end, merged(old.canary, new.canary), merged(old.baseline, new.baseline)
    )
