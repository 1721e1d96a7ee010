"""The :class:`~promote.analysis.observations.MetricSource` of AWS (and of the sandbox, whose
emulator answers the same statistics): per-second buckets read with CloudWatch GetMetricData.

Every metric is read with ``Period=1`` (high resolution: CloudWatch keeps per-second data
for 3 hours) in one GetMetricData call per observation (a call takes 500 queries; more than
about 120 latency thresholds take several), its pages followed, oldest second first.

With the service's own EMF metrics (``subject.namespace``), under ``subject.dimensions`` plus
``ExecutedVersion`` (the version) and ``operation`` (``read`` or ``write``):

=========================  ======================================  ==========================
Bucket                     metric                                  statistic
=========================  ======================================  ==========================
``requests``               ``Requests``                            ``Sum``
``errors``                 ``Errors``                              ``Sum``
``slow[t]``                ``Latency`` (ms)                        ``TC(<t in ms - 0.001>:)``
``latency_p95``            ``Latency`` (ms), in seconds            ``p95``
=========================  ======================================  ==========================

Scope ``reads`` reads ``operation=read``, ``writes`` reads ``write``, and ``all`` sums both
(:func:`~promote.analysis.observations.merge_scopes`; its p95 is the larger of the two).
CloudWatch's trimmed count excludes its lower bound (``TC(0.005:0.030)`` counts
``0.005 < v <= 0.030``), so ``TC(1000:)`` would count latencies *above* 1 s; the bound a
microsecond below the threshold counts those of at least 1 s, as the judges mean.

Without them (``namespace`` None), Lambda's own metrics per executed version stand in, in
``AWS/Lambda`` under ``FunctionName``, ``Resource`` (``function:alias``) and
``ExecutedVersion``: ``Invocations`` for requests, ``Errors`` (the function's errors, not its
5xx answers), ``Duration`` for latency. Lambda cannot tell reads from writes: only scope
``all`` has data then, the others are empty series.

Throttles are Lambda's (``Throttles``, ``Sum``): per version under ``ExecutedVersion``, and
under the alias alone. A throttled call may never have been given a version: what the
alias counts beyond its versions is added to both (a throttle may have denied either), and
to every scope (Lambda cannot tell a throttled request's method either), so a judge never
reads "no throttles" where there were some.

AWS failures raise :class:`MetricsUnavailable`; too little data is not a failure.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from promote.analysis.observations import (
    Bucket,
    Observation,
    Query,
    Scope,
    Series,
    Subject,
    merge_scopes,
)
from promote.errors import PromoteError

if TYPE_CHECKING:
    import boto3

LAMBDA: Final = "AWS/Lambda"
QUERIES_PER_CALL: Final = 500  # GetMetricData's limit
# The trimmed count's lower bound is exclusive: a microsecond below a threshold counts the
# latencies at or above it.
BELOW_MS: Final = 0.001
READ, WRITE = "read", "write"  # the services' operation dimension


class MetricsUnavailable(PromoteError):
    """CloudWatch could not be read (an API error, the network, a query it refused)."""

    code = "PRM050"


class _Field(StrEnum):
    """What a query measures."""

    REQUESTS = "requests"
    ERRORS = "errors"
    P95 = "p95"
    SLOW = "slow"  # at a threshold
    THROTTLES = "throttles"  # of one version
    ALIAS_THROTTLES = "alias_throttles"  # of the alias, attributed or not


@dataclass(frozen=True)
class _Ask:
    """What one GetMetricData query is for."""

    id: str
    version: str  # empty for the alias' throttles
    operation: str | None  # read, write; None: Lambda's metrics (all requests)
    field: _Field
    threshold: float = 0.0  # seconds, for SLOW


Answers = dict[str, dict[float, float]]  # query id -> epoch second -> value


class CloudWatchMetrics:
    """Reads a subject's versions from CloudWatch in the subject's account and region, with
    ``client`` (a boto3 CloudWatch client there)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    @classmethod
    def from_session(cls, session: boto3.Session, region: str | None = None) -> CloudWatchMetrics:
        """From the engine's session of the target account (its region unless ``region``)."""
        return cls(session.client("cloudwatch", region_name=region or session.region_name))

    def observe(self, subject: Subject, start: float, end: float, query: Query) -> Observation:
        versions = list(dict.fromkeys(v for v in (subject.canary, subject.baseline) if v))
        first, last = math.floor(start), math.ceil(end)
        if last <= first or not versions:
            return Observation(start, end, canary={}, baseline={})
        asks = _asks(subject, versions, query)
        answers = self._fetch(subject, asks, first, last)
        seconds = range(first, last)
        series = {
            version: _scopes(subject, version, asks, answers, query, seconds)
            for version in versions
        }
        baseline = series.get(subject.baseline, {}) if subject.baseline else {}
        return Observation(start, end, canary=series[subject.canary], baseline=baseline)

    def _fetch(self, subject: Subject, asks: Sequence[_Ask], first: int, last: int) -> Answers:
        answers: Answers = defaultdict(dict)
        for start in range(0, len(asks), QUERIES_PER_CALL):
            chunk = asks[start : start + QUERIES_PER_CALL]
            queries = [_metric_query(subject, ask) for ask in chunk]
            for result in self._results(queries, first, last):
                found = answers[result["Id"]]
                for moment, value in zip(result["Timestamps"], result["Values"], strict=True):
                    found[moment.timestamp()] = float(value)
        return answers

    def _results(
        self, queries: list[dict[str, Any]], first: int, last: int
    ) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": datetime.fromtimestamp(first, UTC),
            "EndTime": datetime.fromtimestamp(last, UTC),
            "ScanBy": "TimestampAscending",
        }
        while True:
            try:
                answer = self._client.get_metric_data(**request)
            except (ClientError, BotoCoreError) as error:
                raise MetricsUnavailable(f"CloudWatch GetMetricData failed: {error}") from error
            for result in answer.get("MetricDataResults", []):
                if result.get("StatusCode") in ("Forbidden", "InternalError"):
                    messages = "; ".join(m.get("Value", "") for m in result.get("Messages", []))
                    raise MetricsUnavailable(
                        f"CloudWatch answered {result['StatusCode']} for {result['Label']!r}: "
                        f"{messages or 'no detail'}"
                    )
                yield result
            token = answer.get("NextToken")
            if not token:
                return
            request["NextToken"] = token


# --- what to ask ------------------------------------------------------------------------------


def _asks(subject: Subject, versions: Sequence[str], query: Query) -> list[_Ask]:
    fields = [(_Field.REQUESTS, 0.0), (_Field.ERRORS, 0.0), (_Field.P95, 0.0)]
    fields += [(_Field.SLOW, t) for t in sorted(query.latency_thresholds)]
    wanted: list[tuple[str, str | None, _Field, float]] = []
    for version in versions:
        wanted += [
            (version, operation, name, threshold)
            for operation in _operations(subject, query)
            for name, threshold in fields
        ]
        wanted.append((version, None, _Field.THROTTLES, 0.0))
    wanted.append(("", None, _Field.ALIAS_THROTTLES, 0.0))
    return [_Ask(f"q{n}", *what) for n, what in enumerate(wanted)]


def _operations(subject: Subject, query: Query) -> list[str | None]:
    if subject.namespace is None:
        return [None] if Scope.ALL in query.scopes else []
    wanted = set(query.scopes)
    reads = bool(wanted & {Scope.ALL, Scope.READS})
    writes = bool(wanted & {Scope.ALL, Scope.WRITES})
    return [op for op, needed in ((READ, reads), (WRITE, writes)) if needed]


def _metric_query(subject: Subject, ask: _Ask) -> dict[str, Any]:
    namespace, name, dimensions = _metric(subject, ask)
    if ask.field is _Field.SLOW:
        stat = f"TC({_number(ask.threshold * 1000 - BELOW_MS)}:)"
    else:
        stat = "p95" if ask.field is _Field.P95 else "Sum"
    return {
        "Id": ask.id,
        "MetricStat": {
            "Metric": {
                "Namespace": namespace,
                "MetricName": name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
            },
            "Period": 1,
            "Stat": stat,
        },
        "Label": f"{ask.version or 'alias'} {ask.operation or 'all'} {ask.field} {stat}",
        "ReturnData": True,
    }


def _metric(subject: Subject, ask: _Ask) -> tuple[str, str, dict[str, str]]:
    """The namespace, metric name and dimensions ``ask`` reads."""
    alias = {"FunctionName": subject.function, "Resource": f"{subject.function}:{subject.alias}"}
    if ask.field is _Field.ALIAS_THROTTLES:
        return LAMBDA, "Throttles", alias
    lambda_version = {**alias, "ExecutedVersion": ask.version}
    if ask.field is _Field.THROTTLES:
        return LAMBDA, "Throttles", lambda_version
    if ask.operation is None:  # Lambda's metrics stand in for the service's
        name = {_Field.REQUESTS: "Invocations", _Field.ERRORS: "Errors"}.get(ask.field, "Duration")
        return LAMBDA, name, lambda_version
    assert subject.namespace is not None  # _operations gives operations only with one
    dimensions = {
        **subject.dimensions,
        "ExecutedVersion": ask.version,
        "operation": ask.operation,
    }
    name = {_Field.REQUESTS: "Requests", _Field.ERRORS: "Errors"}.get(ask.field, "Latency")
    return subject.namespace, name, dimensions


def _number(value: float) -> str:
    """A bound as CloudWatch reads it: plain decimals, no exponent."""
    return f"{value:.6f}".rstrip("0").rstrip(".")


# --- what came back ---------------------------------------------------------------------------


def _scopes(
    subject: Subject,
    version: str,
    asks: Sequence[_Ask],
    answers: Answers,
    query: Query,
    seconds: range,
) -> dict[Scope, Series]:
    mine = [ask for ask in asks if ask.version == version and ask.field is not _Field.THROTTLES]
    by_operation = {
        operation: _series(version, [a for a in mine if a.operation == operation], answers)
        for operation in _operations(subject, query)
    }
    throttles = _throttles(version, asks, answers)
    scoped: dict[Scope, Series] = {}
    for scope in query.scopes:
        if subject.namespace is None:
            found = by_operation.get(None) if scope is Scope.ALL else None
        elif scope is Scope.ALL:
            found = merge_scopes([by_operation[READ], by_operation[WRITE]], version)
        else:
            found = by_operation[READ if scope is Scope.READS else WRITE]
        if found is None:
            scoped[scope] = Series(version)
        else:
            scoped[scope] = _within(_with_throttles(found, throttles), seconds)
    return scoped


def _series(version: str, asks: Sequence[_Ask], answers: Answers) -> Series:
    """One version's buckets in one operation (or all, from Lambda)."""
    fields: dict[float, dict[_Field, float]] = defaultdict(dict)
    slow: dict[float, dict[float, int]] = defaultdict(dict)
    for ask in asks:
        for second, value in answers.get(ask.id, {}).items():
            if ask.field is _Field.SLOW:
                slow[second][ask.threshold] = round(value)
            else:
                fields[second][ask.field] = value
    buckets = []
    for second in sorted(fields.keys() | slow.keys()):
        values = fields.get(second, {})
        p95 = values.get(_Field.P95)
        buckets.append(
            Bucket(
                second,
                requests=round(values.get(_Field.REQUESTS, 0)),
                errors=round(values.get(_Field.ERRORS, 0)),
                slow=slow.get(second, {}),
                latency_p95=None if p95 is None else p95 / 1000,
            )
        )
    return Series(version, tuple(buckets))


def _throttles(version: str, asks: Sequence[_Ask], answers: Answers) -> dict[float, int]:
    """The version's throttles per second, with those the alias could not attribute."""
    own: dict[float, float] = {}
    attributed: dict[float, float] = defaultdict(float)  # to any version asked
    alias: dict[float, float] = {}
    for ask in asks:
        found = answers.get(ask.id, {})
        if ask.field is _Field.THROTTLES:
            for second, value in found.items():
                attributed[second] += value
            if ask.version == version:
                own = found
        elif ask.field is _Field.ALIAS_THROTTLES:
            alias = found
    unknown = {s: max(0.0, n - attributed[s]) for s, n in alias.items()}
    seconds = own.keys() | unknown.keys()
    return {s: round(own.get(s, 0) + unknown.get(s, 0)) for s in seconds}


def _with_throttles(series: Series, throttles: Mapping[float, int]) -> Series:
    by_second = {bucket.start: bucket for bucket in series.buckets}
    for second, count in throttles.items():
        if count:
            bucket = by_second.get(second) or Bucket(second)
            by_second[second] = replace(bucket, throttles=count)
    return Series(series.version, tuple(by_second[s] for s in sorted(by_second)))


def _within(series: Series, seconds: range) -> Series:
    kept = tuple(b for b in series.buckets if seconds.start <= b.start < seconds.stop)
    return Series(series.version, kept)
