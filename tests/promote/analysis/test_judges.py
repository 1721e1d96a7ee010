"""The judges as pure functions: verdicts, their evidence, and never a Pass on thin data."""

from __future__ import annotations

import math

import pytest

from promote.analysis.evaluate import CachedSource, Request, evaluate
from promote.analysis.judges import Rule, Settings, judge, judge_rule
from promote.analysis.observations import Bucket, Observation, Query, Scope, Series, Subject
from promote.analysis.synthetic import Profile, SyntheticMetrics
from promote.analysis.verdicts import Verdict, combine
from promote.model.base import Condition, parse_condition

SETTINGS = Settings(alpha=0.01, min_samples=50)


def rule(text: str, scope: str = "all", *, trigger: bool = True, **extra: object) -> Rule:
    condition = Condition.model_validate(parse_condition(text))
    return Rule(condition, Scope(scope), trigger, **extra)  # type: ignore[arg-type]


def seconds(n: int, requests: int, errors: int = 0, **extra: object) -> tuple[Bucket, ...]:
    return tuple(Bucket(float(s), requests, errors, **extra) for s in range(n))  # type: ignore[arg-type]


def observed(canary: tuple[Bucket, ...], baseline: tuple[Bucket, ...] = ()) -> Observation:
    return Observation(
        0.0,
        float(max(len(canary), len(baseline))),
        {Scope.ALL: Series("2", canary)},
        {Scope.ALL: Series("1", baseline)} if baseline else {},
    )


@pytest.mark.parametrize(
    "text", ["error_rate > 5%", "latency_p95 > 1s", "throttles_per_minute > 10"]
)
def test_no_data_is_inconclusive_never_pass(text: str) -> None:
    for observation in (observed(()), observed(seconds(3, 5))):  # none, and 15 requests
        judgement = judge_rule(rule(text), observation, SETTINGS)
        assert judgement.verdict is Verdict.INCONCLUSIVE, judgement
    assert combine([]) is Verdict.PASS  # no judges at all: a timed bake


def test_a_clear_breach_fails_with_its_evidence() -> None:
    judgement = judge_rule(rule("error_rate > 5%"), observed(seconds(10, 10, errors=2)), SETTINGS)
    assert judgement.verdict is Verdict.FAIL
    assert judgement.statistic == pytest.approx(0.2)
    assert judgement.threshold == pytest.approx(0.05)
    assert judgement.samples == {"canary": 100}
    assert judgement.inputs["log_bayes_factor"] >= math.log(100)


def test_noise_near_the_threshold_is_inconclusive_not_fail() -> None:
    clean = judge_rule(rule("error_rate > 5%"), observed(seconds(10, 10)), SETTINGS)
    assert clean.verdict is Verdict.PASS
    # 6% observed against a 5% trigger on 100 requests: on the bad side, not beyond doubt.
    buckets = tuple(Bucket(float(s), 10, 1 if s < 6 else 0) for s in range(10))
    judgement = judge_rule(rule("error_rate > 5%"), observed(buckets), SETTINGS)
    assert judgement.verdict is Verdict.INCONCLUSIVE
    assert "not yet beyond doubt" in judgement.reason


def test_a_latency_percentile_is_judged_by_the_share_of_slow_requests() -> None:
    slow = tuple(Bucket(float(s), 10, 0, slow={1.0: 10}) for s in range(5))
    fast = tuple(Bucket(float(s), 10, 0, slow={1.0: 0}) for s in range(10))
    assert judge_rule(rule("latency_p95 > 1s"), observed(slow), SETTINGS).verdict is Verdict.FAIL
    assert judge_rule(rule("latency_p95 > 1s"), observed(fast), SETTINGS).verdict is Verdict.PASS


def test_go_criteria_fail_on_the_other_side() -> None:
    criterion = rule("error_rate < 1%", trigger=False)
    bad = observed(seconds(10, 20, errors=4))  # 20%
    good = observed(seconds(10, 20, errors=0))
    assert judge_rule(criterion, bad, SETTINGS).verdict is Verdict.FAIL
    assert judge_rule(criterion, good, SETTINGS).verdict is Verdict.PASS
    zero = rule("throttles == 0", trigger=False)
    throttled = observed(seconds(10, 20, throttles=1))
    assert judge_rule(zero, throttled, SETTINGS).verdict is Verdict.FAIL
    assert judge_rule(zero, good, SETTINGS).verdict is Verdict.PASS


def test_a_window_judges_only_its_last_seconds() -> None:
    early_errors = tuple(Bucket(float(s), 10, 5 if s < 30 else 0) for s in range(60))
    windowed = rule("error_rate > 5%", window=30.0)
    assert judge_rule(windowed, observed(early_errors), SETTINGS).verdict is Verdict.PASS
    assert (
        judge_rule(rule("error_rate > 5%"), observed(early_errors), SETTINGS).verdict
        is Verdict.FAIL
    )


def test_the_comparison_needs_samples_on_both_sides() -> None:
    thin = judge(observed(seconds(3, 5), seconds(3, 45)), [], SETTINGS)
    assert [j.verdict for j in thin] == [Verdict.INCONCLUSIVE]
    enough = judge(observed(seconds(10, 10), seconds(10, 90)), [], SETTINGS)
    assert [(j.judge, j.verdict) for j in enough] == [("errors: canary vs baseline", Verdict.PASS)]


def test_latency_comparisons_share_half_of_alpha() -> None:
    rules = [rule("latency_p95 > 1s", "reads"), rule("latency_p95 > 3s", "writes")]
    reads = Series("2", seconds(10, 10, slow={1.0: 0}))
    observation = Observation(
        0.0, 10.0, {Scope.ALL: Series("2", seconds(10, 10)), Scope.READS: reads},
        {Scope.ALL: Series("1", seconds(10, 90))},
    )  # fmt: skip
    alphas = {j.judge: j.inputs.get("alpha") for j in judge(observation, rules, SETTINGS)}
    assert alphas["errors: canary vs baseline"] == pytest.approx(0.005)
    assert alphas["requests >= 1s (reads): canary vs baseline"] == pytest.approx(0.0025)
    assert alphas["requests >= 3s (writes): canary vs baseline"] == pytest.approx(0.0025)


def test_metrics_no_version_can_tell_are_named_unjudged() -> None:
    rules = [rule("error_rate > 5%"), rule("cache_hit_ratio < 70%"), rule("dlq_depth > 0")]
    source = SyntheticMetrics({"2": Profile(rps=20)})
    subject = Subject("f", "live", "2")
    evaluation = evaluate(source, Request([subject], 0.0, 10.0, rules, SETTINGS))
    assert evaluation.unjudged == ["cache_hit_ratio < 70%", "dlq_depth > 0"]
    assert [j.judge for j in evaluation.judgements] == ["error_rate > 5%"]


def test_an_instant_is_never_asked_of_the_source() -> None:
    source = SyntheticMetrics({"2": Profile(rps=20)})
    evaluation = evaluate(source, Request([Subject("f", "live", "2")], 5.0, 5.0, [], SETTINGS))
    assert source.calls == [] and evaluation.verdict is Verdict.PASS


def test_the_cache_asks_only_for_unsettled_seconds_and_answers_the_same() -> None:
    inner = SyntheticMetrics({"2": Profile(rps=20, error_rate=0.1), "1": Profile(rps=180)}, seed=3)
    cached = CachedSource(inner, settle=5.0)
    subject = Subject("f", "live", "2", "1")
    query = Query(frozenset({Scope.ALL}), frozenset({1.0}))
    for end in (30.0, 31.0, 40.0):
        assert cached.observe(subject, 0.0, end, query) == inner.observe(subject, 0.0, end, query)
    # The second and third asked from the settled point (25 s, then 26 s) on.
    assert [start for start, _ in inner.calls[::2]] == [0.0, 25.0, 26.0]


def test_latencies_of_the_warmup_are_not_judged_but_errors_are() -> None:
    cold = tuple(
        Bucket(float(s), 10, 10 if s < 5 else 0, slow={1.0: 10 if s < 5 else 0}) for s in range(30)
    )
    warm = Settings(alpha=0.01, min_samples=50, warmup=10.0)
    assert judge_rule(rule("latency_p95 > 1s"), observed(cold), SETTINGS).verdict is Verdict.FAIL
    assert judge_rule(rule("latency_p95 > 1s"), observed(cold), warm).verdict is Verdict.PASS
    assert judge_rule(rule("error_rate > 5%"), observed(cold), warm).verdict is Verdict.FAIL
