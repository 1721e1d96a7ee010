"""Anytime-valid sequential tests: mixture likelihood ratios. Pure.

Both tests keep, for each alternative in a fixed grid, the log likelihood ratio of
everything seen so far against the null, and report the grid's average (a mixture over
alternatives, with equal weights). Under the null that average is a nonnegative martingale
with mean 1, so by Ville's inequality it ever reaches ``1/alpha`` with probability at most
``alpha``: the false-alarm rate holds however often the test is looked at, which is what
lets the engine judge every second instead of once per bake.

- :class:`RelativeRiskTest` compares two versions' event counts (errors, or requests slower
  than a threshold). Treating events as Poisson with rates proportional to each version's
  requests, an event in a second falls on the canary with probability ``pi`` (the canary's
  share of that second's requests) under the null of equal rates, and with
  ``rho*pi / (rho*pi + 1 - pi)`` if the canary's rate is ``rho`` times the baseline's. This
  conditional test needs no estimate of the baseline rate. (Per-request Bernoulli events
  make the count hypergeometric, which is smaller in convex order than the binomial, so the
  ratio is then a supermartingale: still valid, slightly conservative.)
- :class:`ProportionTest` tests one version's proportion against a fixed ``p0``
  ("error rate > 5%", or "p95 > 1 s", which is "more than 5% of requests take 1 s or more"),
  with alternatives on an odds-ratio grid above ``p0``. For any true ``p <= p0`` each factor
  has mean at most 1, so the composite null is covered too.

With ``pi = 0.1`` and a baseline without errors, three canary errors and none on the
baseline reach ``1/alpha = 100``; two can never (``(1/pi)^2 = 100`` is the most two can give,
and only with all weight on an infinite ratio): three events is the floor at this alpha.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

# Relative risks (and odds ratios) the mixture weighs equally: from a 50% rise to 100x.
RATIOS: Final[tuple[float, ...]] = (1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0)


def _log_mean_exp(values: Sequence[float]) -> float:
    top = max(values)
    if top == -math.inf:
        return -math.inf
    return top + math.log(sum(math.exp(v - top) for v in values) / len(values))


@dataclass
class RelativeRiskTest:
    """Is the canary's event rate per request higher than the baseline's?"""

    ratios: tuple[float, ...] = RATIOS
    log_lr: list[float] = field(default_factory=list)
    canary_events: int = 0
    baseline_events: int = 0
    canary_requests: int = 0
    baseline_requests: int = 0

    def __post_init__(self) -> None:
        if not self.log_lr:
            self.log_lr = [0.0] * len(self.ratios)

    def update(
        self, canary_requests: int, baseline_requests: int, canary_events: int, baseline_events: int
    ) -> None:
        """Add one interval (a second): each version's requests and events in it."""
        self.canary_requests += canary_requests
        self.baseline_requests += baseline_requests
        self.canary_events += canary_events
        self.baseline_events += baseline_events
        total = canary_requests + baseline_requests
        if total <= 0 or canary_requests <= 0 or baseline_requests <= 0:
            return  # one version alone carries no comparison
        if canary_events + baseline_events == 0:
            return
        pi = canary_requests / total
        for i, ratio in enumerate(self.ratios):
            theta = ratio * pi / (ratio * pi + 1 - pi)
            self.log_lr[i] += canary_events * math.log(theta / pi) + baseline_events * math.log(
                (1 - theta) / (1 - pi)
            )

    @property
    def log_bayes_factor(self) -> float:
        return _log_mean_exp(self.log_lr)

    def rejects(self, alpha: float) -> bool:
        return self.log_bayes_factor >= math.log(1 / alpha)


@dataclass
class ProportionTest:
    """Is one version's proportion (of errors, or of slow requests) above ``p0``?"""

    p0: float
    ratios: tuple[float, ...] = RATIOS
    log_lr: list[float] = field(default_factory=list)
    trials: int = 0
    events: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.p0 < 1:
            raise ValueError(f"a null proportion must be strictly between 0 and 1, not {self.p0}")
        if not self.log_lr:
            self.log_lr = [0.0] * len(self.ratios)
        odds = self.p0 / (1 - self.p0)
        self._alternatives = [odds * r / (1 + odds * r) for r in self.ratios]

    def update(self, trials: int, events: int) -> None:
        if trials <= 0:
            return
        self.trials += trials
        self.events += events
        p0 = self.p0
        for i, p1 in enumerate(self._alternatives):
            self.log_lr[i] += events * math.log(p1 / p0) + (trials - events) * math.log(
                (1 - p1) / (1 - p0)
            )

    @property
    def log_bayes_factor(self) -> float:
        return _log_mean_exp(self.log_lr)

    def rejects(self, alpha: float) -> bool:
        return self.log_bayes_factor >= math.log(1 / alpha)


def events_to_detect(share: float, alpha: float, ratios: tuple[float, ...] = RATIOS) -> int:
    """The fewest canary events (with none on the baseline) that make
    :class:`RelativeRiskTest` reject at ``alpha`` when the canary has ``share`` of the
    traffic; 0 when no number of events can (a share of 1 compares nothing)."""
    if not 0 < share < 1:
        return 0
    per_event = [math.log(r / (r * share + 1 - share)) for r in ratios]  # log(theta / pi)
    for events in range(1, 10_000):
        if _log_mean_exp([events * g for g in per_event]) >= math.log(1 / alpha):
            return events
    return 0
