"""A synthetic metric source: versions with a given traffic, error rate and latency, for
unit tests, simulations and ``promote plan``-style what-ifs. Pure and deterministic: each
second of each version is drawn from its own seeded generator, so asking twice (as the
engine does after a restart) gives the same buckets.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from promote.analysis.observations import Bucket, Observation, Query, Scope, Series, Subject


@dataclass(frozen=True)
class Profile:
    """What one version does: ``rps`` requests a second (Poisson), each failing with
    ``error_rate``, with log-normal latency of ``median`` seconds and shape ``sigma``; a
    share ``writes`` of them are writes."""

    rps: float
    error_rate: float = 0.0
    median: float = 0.05
    sigma: float = 0.5
    writes: float = 0.2
    throttle_rate: float = 0.0

    def exceedance(self, threshold: float) -> float:
        """P(latency >= threshold)."""
        if threshold <= 0:
            return 1.0
        z = (math.log(threshold) - math.log(self.median)) / self.sigma
        return 0.5 * math.erfc(z / math.sqrt(2))

    def quantile(self, q: float) -> float:
        return self.median * math.exp(self.sigma * _normal_quantile(q))


@dataclass
class SyntheticMetrics:
    """A :class:`~promote.analysis.observations.MetricSource` whose versions follow
    ``profiles`` (keyed by version); a version without one follows ``default``, or has no
    traffic without a default."""

    profiles: Mapping[str, Profile]
    seed: int = 0
    default: Profile | None = None
    calls: list[tuple[float, float]] = field(default_factory=list)

    def observe(self, subject: Subject, start: float, end: float, query: Query) -> Observation:
        self.calls.append((start, end))
        canary = self._series(subject.canary, start, end, query)
        baseline = self._series(subject.baseline, start, end, query) if subject.baseline else {}
        return Observation(start, end, canary, baseline)

    def _series(self, version: str, start: float, end: float, query: Query) -> dict[Scope, Series]:
        profile = self.profiles.get(version, self.default)
        seconds = range(math.floor(start), math.ceil(end))
        by_scope: dict[Scope, list[Bucket]] = {scope: [] for scope in query.scopes}
        if profile is not None:
            for second in seconds:
                reads, writes = self._second(version, second, profile, query)
                for scope in query.scopes:
                    by_scope[scope].append(_pick(scope, reads, writes, second))
        return {scope: Series(version, tuple(b)) for scope, b in by_scope.items()}

    def _second(
        self, version: str, second: int, profile: Profile, query: Query
    ) -> tuple[Bucket, Bucket]:
        rng = random.Random(f"{self.seed}:{version}:{second}")
        requests = poisson(rng, profile.rps)
        writes = binomial(rng, requests, profile.writes)
        return (
            _bucket(rng, second, requests - writes, profile, query),
            _bucket(rng, second, writes, profile, query),
        )


def _bucket(
    rng: random.Random, second: int, requests: int, profile: Profile, query: Query
) -> Bucket:
    slow = {t: binomial(rng, requests, profile.exceedance(t)) for t in query.latency_thresholds}
    return Bucket(
        float(second),
        requests=requests,
        errors=binomial(rng, requests, profile.error_rate),
        throttles=binomial(rng, requests, profile.throttle_rate),
        slow=slow,
        latency_p95=profile.quantile(0.95) if requests else None,
    )


def _pick(scope: Scope, reads: Bucket, writes: Bucket, second: int) -> Bucket:
    if scope is Scope.READS:
        return reads
    if scope is Scope.WRITES:
        return writes
    thresholds = set(reads.slow) | set(writes.slow)
    return Bucket(
        float(second),
        requests=reads.requests + writes.requests,
        errors=reads.errors + writes.errors,
        throttles=reads.throttles + writes.throttles,
        slow={t: reads.slower_than(t) + writes.slower_than(t) for t in thresholds},
        latency_p95=reads.latency_p95 or writes.latency_p95,
    )


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw: Knuth's product method for small means, a rounded normal for large."""
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, product, count = math.exp(-mean), rng.random(), 0
    while product > limit:
        product *= rng.random()
        count += 1
    return count


def binomial(rng: random.Random, trials: int, p: float) -> int:
    """A binomial draw in time proportional to its result (geometric skips), so rare events
    over many trials stay cheap."""
    if trials <= 0 or p <= 0:
        return 0
    if p >= 1:
        return trials
    if p > 0.5:
        return trials - binomial(rng, trials, 1 - p)
    log_q = math.log1p(-p)
    position, count = 0, 0
    while True:
        position += int(math.log(1 - rng.random()) / log_q) + 1
        if position > trials:
            return count
        count += 1


def _normal_quantile(q: float) -> float:
    """The standard normal's quantile, by bisection on erfc (plenty for charts)."""
    low, high = -10.0, 10.0
    for _ in range(80):
        middle = (low + high) / 2
        if 0.5 * math.erfc(-middle / math.sqrt(2)) < q:
            low = middle
        else:
            high = middle
    return (low + high) / 2
