"""The judges: pure functions from an observation to judgements.

Two families:

- **Rules**, from the estate: rollback triggers ("error_rate > 5%": bad when it holds) and
  go criteria ("error_rate < 0.1%": bad when it does not), each over a sliding window with a
  minimum sample count. A rule Fails only when a sequential test shows the bad side beyond
  its error rate, Passes when there are enough samples and the estimate is on the good side,
  and is Inconclusive otherwise: too little data is never a Pass.
- **Comparisons** of the canary against the baseline (the stable version) on errors and on
  requests slower than each latency threshold the rules use, with
  :class:`~promote.analysis.sequential.RelativeRiskTest`. The family's ``alpha`` is split:
  half for errors, half shared by the latency comparisons, so one evaluation schedule, however
  dense, keeps the family's false-alarm rate at ``alpha`` per canary step.

Metrics a version's requests cannot tell (cache hit ratio, DLQ depth, S3 rates...) are not
judged here; :func:`unjudged` names them so the engine can record that.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from promote.analysis.observations import Bucket, Observation, Query, Scope, Series
from promote.analysis.sequential import ProportionTest, RelativeRiskTest
from promote.analysis.verdicts import Judgement, Verdict
from promote.model.base import Condition, Metric, parse_condition

DEFAULT_MIN_SAMPLES = 50
PERCENTILES = {Metric.LATENCY_P50: 50, Metric.LATENCY_P95: 95, Metric.LATENCY_P99: 99}
JUDGED = frozenset({Metric.ERROR_RATE, *PERCENTILES, Metric.THROTTLES, Metric.THROTTLES_PER_MINUTE})


@dataclass(frozen=True)
class Rule:
    """A metric condition to judge. ``trigger``: the condition says bad (a rollback
    trigger); otherwise it says good (a success or go/no-go criterion)."""

    condition: Condition
    scope: Scope = Scope.ALL
    trigger: bool = True
    window: float | None = None  # seconds back from the observation's end; None: all of it
    min_samples: int | None = None

    @property
    def label(self) -> str:
        scope = f" ({self.scope.value})" if self.scope is not Scope.ALL else ""
        return f"{self.condition.text}{scope}"

    @property
    def judged(self) -> bool:
        return self.condition.metric in JUDGED

    @property
    def latency_threshold(self) -> float | None:
        metric = self.condition.metric
        return self.condition.threshold if metric in PERCENTILES else None

    def to_json(self) -> dict[str, Any]:
        return {
            "condition": self.condition.text,
            "scope": self.scope.value,
            "trigger": self.trigger,
            "window": self.window,
            "min_samples": self.min_samples,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Rule:
        condition = Condition.model_validate(parse_condition(data["condition"]))
        return cls(
            condition,
            Scope(data.get("scope", "all")),
            bool(data.get("trigger", True)),
            data.get("window"),
            data.get("min_samples"),
        )

    def query(self) -> Query:
        threshold = self.latency_threshold
        return Query(frozenset({self.scope}), frozenset({threshold} if threshold else set()))


@dataclass(frozen=True)
class Settings:
    alpha: float = 0.01
    min_samples: int = DEFAULT_MIN_SAMPLES
    compare: bool = True  # canary-vs-baseline comparisons besides the rules
    # Seconds after the start whose latencies are not judged: a new version's first requests
    # pay its cold starts and lazy initialisation (errors are judged from the first second).
    warmup: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def query_for(rules: Sequence[Rule], settings: Settings) -> Query:
    base = Query(frozenset({Scope.ALL}), frozenset())
    return Query.union([base, *(r.query() for r in rules if r.judged)])


def unjudged(rules: Iterable[Rule]) -> list[str]:
    return [r.label for r in rules if not r.judged]


def judge(observation: Observation, rules: Sequence[Rule], settings: Settings) -> list[Judgement]:
    """Every judged rule on the canary, then (with a baseline) the comparisons."""
    judgements = [judge_rule(r, observation, settings) for r in rules if r.judged]
    if settings.compare and observation.baseline:
        judgements += compare(observation, rules, settings)
    return judgements


# Rules.


def judge_rule(rule: Rule, observation: Observation, settings: Settings) -> Judgement:
    series = observation.canary_series(rule.scope)
    if rule.window is not None:
        series = series.since(observation.end - rule.window)
    if rule.latency_threshold is not None and settings.warmup:
        series = series.since(observation.start + settings.warmup)
    minimum = rule.min_samples or settings.min_samples
    metric = rule.condition.metric
    if metric in (Metric.THROTTLES, Metric.THROTTLES_PER_MINUTE):
        return _judge_count(rule, series, observation, minimum)
    if metric is Metric.ERROR_RATE:
        return _judge_proportion(rule, series, series.errors, rule.condition.threshold, settings)
    # latency_pNN op T: "pNN > T" is "more than (100 - NN)% of requests take T or more".
    share = 1 - PERCENTILES[metric] / 100
    slow = series.slower_than(rule.condition.threshold)
    return _judge_proportion(rule, series, slow, rule.condition.threshold, settings, boundary=share)


def _bad_above(rule: Rule) -> bool:
    """Whether the bad side is above the threshold."""
    above = rule.condition.op in (">", ">=")
    return above if rule.trigger else not above


def _judge_proportion(
    rule: Rule,
    series: Series,
    events: int,
    threshold: float,
    settings: Settings,
    *,
    boundary: float | None = None,
) -> Judgement:
    """``events`` of ``series.requests`` against ``threshold`` (a proportion). For latency
    rules ``boundary`` is the exceedance share that the percentile threshold means."""
    requests = series.requests
    minimum = rule.min_samples or settings.min_samples
    p0 = boundary if boundary is not None else threshold
    above = _bad_above(rule)
    # Test the bad side as "a proportion above p0": the complement when bad is below.
    bad_events, bad_p0 = (events, p0) if above else (requests - events, 1 - p0)
    observed = events / requests if requests else math.nan
    inputs = {"requests": float(requests), "events": float(events), "p0": p0}
    measure = "error rate" if boundary is None else f"share of requests >= {threshold:g}s"
    if bad_p0 <= 0:  # "> 0%": a single bad event is the whole evidence
        verdict = Verdict.FAIL if bad_events > 0 else _enough(requests, minimum)
        reason = f"{bad_events} event(s) where none may be"
        return Judgement(
            rule.label, verdict, reason, measure, observed, p0, {"canary": requests}, inputs
        )
    if bad_p0 >= 1:
        return Judgement(
            rule.label,
            _enough(requests, minimum),
            "cannot be bad",
            measure,
            observed,
            p0,
            {"canary": requests},
            inputs,
        )
    test = ProportionTest(bad_p0)
    for bucket_requests, bucket_events in _per_bucket(series, rule.latency_threshold, above):
        test.update(bucket_requests, bucket_events)
    inputs["log_bayes_factor"] = test.log_bayes_factor
    if test.rejects(settings.alpha):
        verdict, why = (
            Verdict.FAIL,
            f"{observed:.4g} is beyond {p0:g}"
            f" (log BF {test.log_bayes_factor:.2f} >= {math.log(1 / settings.alpha):.2f})",
        )
    elif requests < minimum:
        verdict, why = Verdict.INCONCLUSIVE, f"{requests} of the {minimum} requests needed"
    elif (observed > p0) == above and observed != p0:
        verdict, why = (
            Verdict.INCONCLUSIVE,
            f"{observed:.4g} is on the bad side of {p0:g}, not yet beyond doubt",
        )
    else:
        verdict, why = Verdict.PASS, f"{observed:.4g} over {requests} requests is within {p0:g}"
    return Judgement(rule.label, verdict, why, measure, observed, p0, {"canary": requests}, inputs)


def _per_bucket(series: Series, threshold: float | None, above: bool) -> Iterable[tuple[int, int]]:
    """Each second's requests and bad events: errors, or requests at least ``threshold``
    long; their complements when the bad side is below."""
    for bucket in series.buckets:
        events = bucket.errors if threshold is None else bucket.slower_than(threshold)
        yield bucket.requests, (events if above else bucket.requests - events)


def _enough(requests: int, minimum: int) -> Verdict:
    return Verdict.PASS if requests >= minimum else Verdict.INCONCLUSIVE


def _judge_count(rule: Rule, series: Series, observation: Observation, minimum: int) -> Judgement:
    throttles = series.throttles
    value = float(throttles)
    if rule.condition.metric is Metric.THROTTLES_PER_MINUTE:
        span = rule.window or max(observation.end - observation.start, 1.0)
        value = throttles / (span / 60)
    holds = _holds(rule.condition, value)
    bad = holds if rule.trigger else not holds
    requests = series.requests
    inputs = {"throttles": float(throttles), "requests": float(requests)}
    if bad:
        verdict, why = Verdict.FAIL, f"{value:g} breaks `{rule.label}`"
    elif requests < minimum:
        verdict, why = Verdict.INCONCLUSIVE, f"{requests} of the {minimum} requests needed"
    else:
        verdict, why = Verdict.PASS, f"{value:g} over {requests} requests"
    measure = rule.condition.metric.value
    return Judgement(
        rule.label,
        verdict,
        why,
        measure,
        value,
        rule.condition.threshold,
        {"canary": requests},
        inputs,
    )


def _holds(condition: Condition, value: float) -> bool:
    threshold = condition.threshold
    return {
        ">": value > threshold,
        ">=": value >= threshold,
        "<": value < threshold,
        "<=": value <= threshold,
        "==": value == threshold,
    }[condition.op]


# Comparisons.


def compare(observation: Observation, rules: Sequence[Rule], settings: Settings) -> list[Judgement]:
    latency = sorted(
        {(r.scope, t) for r in rules if r.judged and (t := r.latency_threshold) is not None},
        key=lambda item: (item[0].value, item[1]),
    )
    errors_alpha = settings.alpha / 2 if latency else settings.alpha
    judgements = [_compare(observation, Scope.ALL, None, errors_alpha, settings)]
    for scope, threshold in latency:
        alpha = settings.alpha / 2 / len(latency)
        judgements.append(_compare(observation, scope, threshold, alpha, settings))
    return judgements


def _compare(
    observation: Observation,
    scope: Scope,
    threshold: float | None,
    alpha: float,
    settings: Settings,
) -> Judgement:
    canary, baseline = observation.canary_series(scope), observation.baseline_series(scope)
    if threshold is not None and settings.warmup:
        since = observation.start + settings.warmup
        canary, baseline = canary.since(since), baseline.since(since)
    test = RelativeRiskTest()
    for mine, theirs in _aligned(canary, baseline):
        if threshold is None:
            test.update(mine.requests, theirs.requests, mine.errors, theirs.errors)
        else:
            test.update(
                mine.requests,
                theirs.requests,
                mine.slower_than(threshold),
                theirs.slower_than(threshold),
            )
    what = "errors" if threshold is None else f"requests >= {threshold:g}s"
    where = f" ({scope.value})" if scope is not Scope.ALL else ""
    label = f"{what}{where}: canary vs baseline"
    samples = {"canary": test.canary_requests, "baseline": test.baseline_requests}
    inputs = {
        "canary_events": float(test.canary_events),
        "baseline_events": float(test.baseline_events),
        "canary_requests": float(test.canary_requests),
        "baseline_requests": float(test.baseline_requests),
        "alpha": alpha,
    }
    bound = math.log(1 / alpha)
    statistic = test.log_bayes_factor
    rates = (
        f"{_rate(test.canary_events, test.canary_requests)} vs "
        f"{_rate(test.baseline_events, test.baseline_requests)}"
    )
    if test.rejects(alpha):
        verdict, why = (
            Verdict.FAIL,
            f"canary worse: {rates} (log BF {statistic:.2f} >= {bound:.2f})",
        )
    elif (
        test.canary_requests < settings.min_samples or test.baseline_requests < settings.min_samples
    ):
        verdict, why = (
            Verdict.INCONCLUSIVE,
            f"{test.canary_requests} canary and {test.baseline_requests} baseline requests;"
            f" {settings.min_samples} each needed",
        )
    else:
        verdict, why = Verdict.PASS, f"no evidence the canary is worse: {rates}"
    return Judgement(label, verdict, why, "log Bayes factor", statistic, bound, samples, inputs)


def _rate(events: int, requests: int) -> str:
    return f"{events}/{requests}" if requests else "0/0"


def _aligned(canary: Series, baseline: Series) -> Iterable[tuple[Bucket, Bucket]]:
    theirs = {b.start: b for b in baseline.buckets}
    for mine in canary.buckets:
        yield mine, theirs.get(mine.start, Bucket(mine.start))
