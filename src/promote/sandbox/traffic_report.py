"""What a traffic run sent and got back: per request outcomes, counts by status class and
latency percentiles, overall, by request kind and by executed version."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Outcome:
    """One request: a status and version, or the name of the error that stopped it."""

    kind: str
    status: int | None
    version: str | None
    latency: float  # seconds from when it was due, so waiting in the backlog counts
    done: float  # the clock when it finished
    error: str | None


def _percentile(ordered: list[float], p: float) -> float | None:
    """Nearest-rank percentile of sorted values, in milliseconds; None without values."""
    if not ordered:
        return None
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return round(ordered[rank - 1] * 1000, 3)


@dataclass(frozen=True)
class Stats:
    """Counts by status class, and latency percentiles (ms) of the requests answered."""

    sent: int
    ok: int  # 2xx and 3xx
    client_errors: int  # 4xx
    server_errors: int  # 5xx
    connection_errors: int  # no response: refused, reset, timed out, TLS
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None

    @classmethod
    def of(cls, outcomes: list[Outcome]) -> Stats:
        statuses = [o.status for o in outcomes if o.status is not None]
        answered = sorted(o.latency for o in outcomes if o.status is not None)
        return cls(
            sent=len(outcomes),
            ok=sum(s < 400 for s in statuses),
            client_errors=sum(400 <= s < 500 for s in statuses),
            server_errors=sum(s >= 500 for s in statuses),
            connection_errors=len(outcomes) - len(statuses),
            p50_ms=_percentile(answered, 50),
            p95_ms=_percentile(answered, 95),
            p99_ms=_percentile(answered, 99),
        )

    def as_dict(self) -> dict[str, Any]:
        errors = (self.client_errors, self.server_errors, self.connection_errors)
        return {
            "sent": self.sent,
            "ok": self.ok,
            "errors": dict(zip(("4xx", "5xx", "connection"), errors, strict=True)),
            "latency_ms": {"p50": self.p50_ms, "p95": self.p95_ms, "p99": self.p99_ms},
        }


def _grouped(outcomes: list[Outcome], key: Callable[[Outcome], str | None]) -> dict[str, Stats]:
    groups: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        name = key(outcome)
        if name is not None:
            groups.setdefault(name, []).append(outcome)
    return {name: Stats.of(groups[name]) for name in sorted(groups)}


@dataclass(frozen=True)
class TrafficReport:
    """What a run sent and got back: overall, by kind, and by executed version."""

    target_rps: float
    elapsed: float  # the schedule's duration, or longer when the drain ran past it
    scheduled: int
    dropped: int  # due while the backlog was full: the generator could not keep up
    unfinished: int  # queued or in flight when the drain timed out
    overall: Stats
    by_kind: dict[str, Stats]
    by_version: dict[str, Stats]
    connection_errors: dict[str, int]  # by error name, e.g. ConnectionRefusedError

    @classmethod
    def of(
        cls,
        outcomes: list[Outcome],
        *,
        target_rps: float,
        elapsed: float,
        scheduled: int,
        dropped: int,
    ) -> TrafficReport:
        errors = [o.error for o in outcomes if o.error is not None]
        return cls(
            target_rps=target_rps,
            elapsed=elapsed,
            scheduled=scheduled,
            dropped=dropped,
            unfinished=scheduled - dropped - len(outcomes),
            overall=Stats.of(outcomes),
            by_kind=_grouped(outcomes, lambda o: o.kind),
            by_version=_grouped(outcomes, lambda o: o.version),
            connection_errors={e: errors.count(e) for e in sorted(set(errors))},
        )

    @property
    def throughput_rps(self) -> float:
        """Requests answered or failed per second of the run."""
        return self.overall.sent / self.elapsed if self.elapsed > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "target_rps": self.target_rps,
            "throughput_rps": round(self.throughput_rps, 3),
            "elapsed_s": round(self.elapsed, 3),
            "scheduled": self.scheduled,
            "dropped": self.dropped,
            "unfinished": self.unfinished,
            **self.overall.as_dict(),
            "by_kind": {k: s.as_dict() for k, s in self.by_kind.items()},
            "by_version": {v: s.as_dict() for v, s in self.by_version.items()},
            "connection_errors": dict(self.connection_errors),
        }

    def render_text(self) -> str:
        o = self.overall
        lines = [
            f"{o.sent} requests in {self.elapsed:.2f}s: {self.throughput_rps:.1f} req/s"
            f" (target {self.target_rps:g}); {self.dropped} dropped, {self.unfinished} unfinished",
            f"{'':<14}{'sent':>7}{'ok':>7}{'4xx':>6}{'5xx':>6}{'conn':>6}"
            f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}",
            _row("all", o),
            *(_row(kind, s) for kind, s in self.by_kind.items()),
            *(_row(f"version {v}", s) for v, s in self.by_version.items()),
        ]
        lines += [f"connection errors: {n} x {e}" for e, n in self.connection_errors.items()]
        if self.dropped:
            lines.append("requests were dropped: raise --concurrency or lower --rps")
        return "\n".join(lines)


def _row(name: str, s: Stats) -> str:
    def ms(value: float | None) -> str:
        return f"{value:>9.1f}" if value is not None else f"{'-':>9}"

    return (
        f"{name:<14}{s.sent:>7}{s.ok:>7}{s.client_errors:>6}{s.server_errors:>6}"
        f"{s.connection_errors:>6}{ms(s.p50_ms)}{ms(s.p95_ms)}{ms(s.p99_ms)}"
    )
