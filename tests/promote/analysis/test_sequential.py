"""The sequential tests' guarantees, by simulation: false alarms at most alpha however often
the test is looked at, and detection within the expected number of events."""

from __future__ import annotations

import random
import statistics

import pytest

from promote.analysis.sequential import ProportionTest, RelativeRiskTest, events_to_detect
from promote.analysis.synthetic import binomial, poisson

ALPHA = 0.01


def _healthy_run(rng: random.Random, seconds: int, rps: float, share: float, p: float) -> bool:
    """One healthy canary (both versions fail at ``p``), tested every second: did it ever
    reject?"""
    test = RelativeRiskTest()
    for _ in range(seconds):
        canary, baseline = poisson(rng, rps * share), poisson(rng, rps * (1 - share))
        test.update(canary, baseline, binomial(rng, canary, p), binomial(rng, baseline, p))
        if test.rejects(ALPHA):
            return True
    return False


@pytest.mark.parametrize(
    ("p", "share"),
    [(0.02, 0.1), (0.001, 0.1), (0.05, 0.5)],
    ids=["2%-errors-10%-step", "0.1%-errors-10%-step", "5%-errors-50%-step"],
)
def test_relative_risk_false_alarms_stay_below_alpha_over_10000_healthy_canaries(
    p: float, share: float
) -> None:
    rng = random.Random(f"healthy-{p}-{share}")
    alarms = sum(_healthy_run(rng, 60, 100, share, p) for _ in range(10_000))
    # The guarantee is <= alpha; 10,000 draws put the observed rate within ~0.3% of it.
    assert alarms / 10_000 <= ALPHA, alarms


def test_proportion_false_alarms_stay_below_alpha_at_the_threshold_itself() -> None:
    rng = random.Random("proportion-null")
    alarms = 0
    for _ in range(10_000):
        test = ProportionTest(0.05)
        for _ in range(60):
            trials = poisson(rng, 10)
            test.update(trials, binomial(rng, trials, 0.05))
            if test.rejects(ALPHA):
                alarms += 1
                break
    assert alarms / 10_000 <= ALPHA, alarms


def _seconds_to_detect(rng: random.Random, p_canary: float, p_baseline: float) -> int:
    test = RelativeRiskTest()
    for second in range(1, 600):
        canary, baseline = poisson(rng, 10), poisson(rng, 90)
        test.update(
            canary, baseline, binomial(rng, canary, p_canary), binomial(rng, baseline, p_baseline)
        )
        if test.rejects(ALPHA):
            return second
    return 600


def test_power_the_runbook_trigger_is_caught_in_seconds_at_100_requests_a_second() -> None:
    # The runbooks' "error rate > 5%" against a 0.1% baseline, 10% canary of 100 req/s: the
    # test needs about three canary errors, six seconds at 0.5 errors a second.
    rng = random.Random("power")
    times = sorted(_seconds_to_detect(rng, 0.05, 0.001) for _ in range(2_000))
    assert statistics.median(times) <= 8, statistics.median(times)
    assert times[int(0.95 * len(times))] <= 15, times[int(0.95 * len(times))]


def test_power_a_small_regression_is_caught_eventually_but_not_instantly() -> None:
    rng = random.Random("small")
    times = [_seconds_to_detect(rng, 0.01, 0.002) for _ in range(300)]
    assert statistics.median(times) < 600
    assert min(times) > 3


def test_three_errors_is_the_floor_for_a_10_percent_step_at_alpha_001() -> None:
    assert events_to_detect(0.1, ALPHA) == 3
    test = RelativeRiskTest()
    test.update(10, 90, 2, 0)
    assert not test.rejects(ALPHA)
    test.update(10, 90, 1, 0)
    assert test.rejects(ALPHA)


def test_one_version_alone_or_no_events_carries_no_evidence() -> None:
    test = RelativeRiskTest()
    test.update(100, 0, 50, 0)  # only the canary had traffic
    test.update(0, 0, 0, 0)
    test.update(10, 90, 0, 0)
    assert test.log_bayes_factor == 0.0


def test_errors_on_the_baseline_count_against_a_regression() -> None:
    worse, same = RelativeRiskTest(), RelativeRiskTest()
    worse.update(10, 90, 3, 0)
    same.update(10, 90, 3, 27)  # the same rate on both
    assert worse.rejects(ALPHA)
    assert not same.rejects(ALPHA)
    assert same.log_bayes_factor < 0


def test_proportion_test_rejects_clearly_bad_and_refuses_bad_nulls() -> None:
    test = ProportionTest(0.05)
    test.update(3, 3)  # three slow requests out of three
    assert test.rejects(ALPHA)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        ProportionTest(0.0)
