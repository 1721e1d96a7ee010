"""Bake sizing: how long a canary step must last to catch a regression. Pure.

The error comparison (:class:`~promote.analysis.sequential.RelativeRiskTest`) rejects once
its log Bayes factor passes ``log(1/alpha)``. With a canary error rate ``p1`` against a
baseline ``p0`` at traffic share ``w``, each error lands on the canary with probability
``theta = w p1 / (w p1 + (1 - w) p0)``, and each error adds on average
``KL(theta || w)`` to the log likelihood ratio of the matching alternative. The mixture costs
at most ``log(len(RATIOS))`` more. So about ``n = (log(1/alpha) + log(len(RATIOS))) / KL``
errors are needed; they arrive as a Poisson process of rate ``rps (w p1 + (1 - w) p0)``, and
the bake must last until ``n`` of them have arrived with probability ``power``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from promote.analysis.sequential import RATIOS, events_to_detect

DEFAULT_POWER = 0.9


@dataclass(frozen=True)
class BakeNeed:
    seconds: float  # the shortest bake with the given power; math.inf when none is enough
    events: int  # errors the test needs to see
    event_rate: float  # errors a second, canary and baseline together

    @property
    def possible(self) -> bool:
        return math.isfinite(self.seconds)


def minimum_bake(
    rps: float,
    weight: float,
    detect: float,
    baseline: float,
    alpha: float,
    power: float = DEFAULT_POWER,
) -> BakeNeed:
    """The bake a step sending ``weight`` percent of ``rps`` to the canary needs to detect a
    canary error rate of ``detect`` against a baseline's ``baseline`` at ``alpha``."""
    share = weight / 100
    if not 0 < share < 1 or rps <= 0 or detect <= baseline:
        return BakeNeed(math.inf, 0, 0.0)
    if baseline <= 0:
        events = events_to_detect(share, alpha)
    else:
        theta = share * detect / (share * detect + (1 - share) * baseline)
        divergence = _kl(theta, share)
        events = math.ceil((math.log(1 / alpha) + math.log(len(RATIOS))) / divergence)
    rate = rps * (share * detect + (1 - share) * baseline)
    if events <= 0 or rate <= 0:
        return BakeNeed(math.inf, events, rate)
    return BakeNeed(_poisson_time(events, rate, power), events, rate)


def _kl(p: float, q: float) -> float:
    """KL(Bernoulli(p) || Bernoulli(q))."""
    total = p * math.log(p / q) if p > 0 else 0.0
    return total + ((1 - p) * math.log((1 - p) / (1 - q)) if p < 1 else 0.0)


def _poisson_time(events: int, rate: float, power: float) -> float:
    """The time by which a Poisson process of ``rate`` has produced ``events`` events with
    probability ``power`` (the Gamma quantile, by bisection)."""
    low, high = 0.0, events / rate
    while _at_least(events, rate * high) < power:
        high *= 2
    for _ in range(100):
        middle = (low + high) / 2
        if _at_least(events, rate * middle) < power:
            low = middle
        else:
            high = middle
    return high


def _at_least(events: int, mean: float) -> float:
    """P(Poisson(mean) >= events)."""
    term = math.exp(-mean)
    below = 0.0
    for k in range(events):
        below += term
        term *= mean / (k + 1)
    return 1 - below


def describe(weight: float, rps: float, detect: float, alpha: float, need: BakeNeed) -> str:
    target = f"a {detect * 100:g}% error rate at alpha = {alpha:g}"
    if not need.possible:
        return f"{weight:g}% step at {rps:g} req/s can never detect {target}"
    return (
        f"{weight:g}% step at {rps:g} req/s needs >= {_human(need.seconds)} to detect {target}"
        f" ({need.events} errors)"
    )


def _human(seconds: float) -> str:
    if seconds < 120:
        return f"{math.ceil(seconds)} s"
    if seconds < 7200:
        return f"{math.ceil(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
