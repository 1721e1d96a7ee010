"""What the judges read: per-second buckets of what each version did, and the port that
supplies them. Pure.

A bucket counts one version's requests in one second of one *scope* (``all``, ``reads`` or
``writes``): how many there were, how many failed, how many were throttled, and how many
took at least each latency threshold the judges ask about. Judging a p95 threshold needs
only that count ("p95 > 1 s" is "more than 5% of requests took 1 s or more"), which
CloudWatch answers exactly (``TC(999.999:)``: its lower bound is exclusive) and which sums
across seconds, unlike a percentile. ``latency_p95`` is kept for charts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class Scope(StrEnum):
    ALL = "all"
    READS = "reads"  # GET, HEAD and OPTIONS
    WRITES = "writes"  # POST, PUT, PATCH, DELETE

    @classmethod
    def of(cls, text: str | None) -> Scope:
        return cls(text) if text else cls.ALL


@dataclass(frozen=True)
class Bucket:
    """What one version did in the second starting at ``start`` (epoch seconds)."""

    start: float
    requests: int = 0
    errors: int = 0  # failed requests (5xx answers and function errors)
    throttles: int = 0
    # latency threshold in seconds -> requests that took at least that long
    slow: Mapping[float, int] = field(default_factory=dict)
    latency_p95: float | None = None  # seconds; for charts, never summed

    def slower_than(self, threshold: float) -> int:
        return self.slow.get(threshold, 0)


@dataclass(frozen=True)
class Series:
    """One version's buckets in one scope, oldest first."""

    version: str
    buckets: tuple[Bucket, ...] = ()

    def since(self, start: float) -> Series:
        return Series(self.version, tuple(b for b in self.buckets if b.start >= start))

    @property
    def requests(self) -> int:
        return sum(b.requests for b in self.buckets)

    @property
    def errors(self) -> int:
        return sum(b.errors for b in self.buckets)

    @property
    def throttles(self) -> int:
        return sum(b.throttles for b in self.buckets)

    def slower_than(self, threshold: float) -> int:
        return sum(b.slower_than(threshold) for b in self.buckets)


@dataclass(frozen=True)
class Observation:
    """The canary's and the baseline's series per scope, from ``start`` to ``end`` (epoch
    seconds). A soak observes one version: its baseline is empty."""

    start: float
    end: float
    canary: Mapping[Scope, Series]
    baseline: Mapping[Scope, Series] = field(default_factory=dict)

    def canary_series(self, scope: Scope) -> Series:
        return self.canary.get(scope) or Series("")

    def baseline_series(self, scope: Scope) -> Series:
        return self.baseline.get(scope) or Series("")


@dataclass(frozen=True)
class Subject:
    """Whose metrics to read: one Lambda function's two versions behind an alias.

    ``baseline`` is empty for a soak (one version). ``namespace`` and ``dimensions`` name the
    service's own EMF metrics (``Requests``, ``Errors``, ``Latency`` in milliseconds, with an
    ``ExecutedVersion`` and an ``operation`` = read|write dimension besides these)."""

    function: str
    alias: str
    canary: str
    baseline: str = ""
    namespace: str | None = None
    dimensions: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Query:
    """What the judges need measured: the scopes, and the latency thresholds (seconds)
    whose exceedances to count."""

    scopes: frozenset[Scope] = frozenset({Scope.ALL})
    latency_thresholds: frozenset[float] = frozenset()

    @classmethod
    def union(cls, queries: Iterable[Query]) -> Query:
        scopes: set[Scope] = set()
        thresholds: set[float] = set()
        for query in queries:
            scopes |= query.scopes
            thresholds |= query.latency_thresholds
        return cls(frozenset(scopes or {Scope.ALL}), frozenset(thresholds))


class MetricSource(Protocol):
    """Reads what a subject's versions did between ``start`` and ``end`` (epoch seconds).
    Buckets missing from the answer are seconds without traffic. Raises on infrastructure
    failure; too little data is not a failure (the judges call it Inconclusive)."""

    def observe(self, subject: Subject, start: float, end: float, query: Query) -> Observation: ...


def merge_scopes(series: Sequence[Series], version: str) -> Series:
    """Sum several scopes' buckets second by second (``reads`` + ``writes`` = ``all``)."""
    by_second: dict[float, list[Bucket]] = {}
    for one in series:
        for bucket in one.buckets:
            by_second.setdefault(bucket.start, []).append(bucket)
    merged = []
    for start in sorted(by_second):
        group = by_second[start]
        thresholds = {t for b in group for t in b.slow}
        merged.append(
            Bucket(
                start,
                requests=sum(b.requests for b in group),
                errors=sum(b.errors for b in group),
                throttles=sum(b.throttles for b in group),
                slow={t: sum(b.slower_than(t) for b in group) for t in thresholds},
                latency_p95=max((b.latency_p95 for b in group if b.latency_p95), default=None),
            )
        )
    return Series(version, tuple(merged))
