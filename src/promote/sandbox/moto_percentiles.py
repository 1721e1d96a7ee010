"""CloudWatch percentiles, trimmed counts and percentile ranks, which moto 5.2 lacks, and a
GetMetricData fast enough to be asked every second of an hour-long sandbox.

With :func:`serve_percentiles`, moto's CloudWatch answers as CloudWatch does:

* a PutMetricData datum with ``Values``/``Counts`` is kept as *one* histogram datum (moto
  stores one datum per value and count: thousands a second under load); a datum may carry
  at most 150 values. Sum, Average, Minimum, Maximum and SampleCount count each value
  ``count`` times;
* GetMetricData (``MetricStat``) and GetMetricStatistics (``ExtendedStatistics``) answer
  ``pNN`` / ``pNN.NN`` (nearest rank: the smallest value that NN% of the values do not
  exceed), ``TC(a:b)`` (how many values lie in the range), ``PR(a:b)``
  (their percentage), ``TS(a:b)`` and ``TM(a:b)`` (their sum, their mean). As CloudWatch
  documents them, the lower bound is *exclusive* and the upper one *inclusive*: ``TC(0.5:1)``
  counts ``0.5 < v <= 1``; either may be left out (``TC(1000:)``). Percentage bounds
  (``TC(10%:90%)``, ``tc90``) and the other statistics are refused (InvalidParameterValue);
* the values are those of histograms and single values. A ``StatisticValues`` datum counts
  only when CloudWatch can use it too: ``SampleCount`` 1, or ``Minimum`` equal to
  ``Maximum`` (every value the same); others are left out of these statistics, as
  CloudWatch "needs raw data points". Percentiles of a period holding a negative value are
  absent, as in CloudWatch;
* a MetricStat matches the metric with exactly the dimensions asked (none: the metric
  without dimensions) in its namespace; moto drops the namespace when dimensions are given,
  and without dimensions matches every series of that name. (GetMetricStatistics keeps
  moto's matching.)

Speed: moto scans every stored datum on each GetMetricData call, then the window's datums
again for each query and each period. Here datums are indexed per metric and dimension set,
sorted by time, and a query bisects its window once: a minute at ``Period=1`` costs what
that minute holds, however long the sandbox ran. The index follows moto's list of datums
(it catches up on each query, and is rebuilt when the list is replaced, as moto's reset
does). Expressions are moto's: metric math that names a query's id gets that query's
values, Metrics Insights runs moto's code (which now knows these statistics too).

Installing is process-wide and idempotent; it works on the in-process server.
"""

from __future__ import annotations

import bisect
import re
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from moto.cloudwatch.exceptions import InvalidParameterValue, ValidationError
from moto.cloudwatch.metric_data_expression_parser import parse_expression
from moto.cloudwatch.models import (
    CloudWatchBackend,
    MetricAggregatedDatum,
    MetricDatum,
    MetricDatumBase,
    Statistics,
)
from moto.cloudwatch.responses import CloudWatchResponse

MAX_VALUES: Final = 150  # per datum, as CloudWatch takes them
BASIC: Final = frozenset({"Sum", "Average", "Minimum", "Maximum", "SampleCount"})
_MARK: Final = "_promote_serves_percentiles"
_INDEX: Final = "_promote_metric_index"  # on each backend; moto's reset clears its __dict__
_PERCENTILE: Final = re.compile(r"[pP](\d+(?:\.\d+)?)")
_RANGED: Final = re.compile(r"(TC|PR|TS|TM)\(([^:()]*):([^:()]*)\)", re.IGNORECASE)
_NUMBER: Final = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")
_lock = threading.RLock()
_moto: dict[str, Callable[..., Any]] = {}  # the methods replaced, by "Class.method"

Pairs = list[tuple[float, float]]  # (value, count)
DimensionKey = frozenset[tuple[str, str]]


def serve_percentiles() -> None:
    """Give moto's CloudWatch histograms, percentiles, TC and PR, and an indexed
    GetMetricData."""
    with _lock:
        if getattr(CloudWatchBackend, _MARK, False):
            return
        for cls, name, method in (
            (CloudWatchBackend, "put_metric_data", _put_metric_data),
            (CloudWatchBackend, "get_metric_data", _get_metric_data),
            (Statistics, "get_statistics_for_type", _statistic_of),
            (CloudWatchResponse, "get_metric_statistics", _get_metric_statistics),
        ):
            _moto[f"{cls.__name__}.{name}"] = getattr(cls, name)
            setattr(cls, name, method)
        setattr(CloudWatchBackend, _MARK, True)


class HistogramDatum(MetricAggregatedDatum):
    """A ``Values``/``Counts`` datum. moto's own statistics read it as the statistic set it
    also is; the distribution statistics read its values."""

    def __init__(
        self,
        namespace: str,
        name: str,
        pairs: Pairs,
        dimensions: list[dict[str, str]],
        timestamp: datetime | None,
        unit: Any = None,
    ) -> None:
        values = [value for value, _ in pairs]
        super().__init__(
            namespace=namespace,
            name=name,
            min_stat=min(values),
            max_stat=max(values),
            sample_count=sum(count for _, count in pairs),
            sum_stat=sum(value * count for value, count in pairs),
            dimensions=dimensions,
            timestamp=timestamp,
            unit=unit,
        )
        self.pairs = pairs


# --- PutMetricData ----------------------------------------------------------------------------


def _put_metric_data(self: Any, namespace: str, metric_data: list[dict[str, Any]]) -> None:
    for number, metric in enumerate(metric_data, start=1):
        self._validate_parameters_put_metric_data(metric, number)
        if len(metric.get("Values") or ()) > MAX_VALUES:
            raise InvalidParameterValue(
                f"The collection MetricData.member.{number}.Values must not have more "
                f"than {MAX_VALUES} items."
            )
    others = [metric for metric in metric_data if not metric.get("Values")]
    if others:
        _moto["CloudWatchBackend.put_metric_data"](self, namespace, others)
    for metric in metric_data:
        if not metric.get("Values"):
            continue
        values = [float(value) for value in metric["Values"]]
        counts = [float(count) for count in metric.get("Counts") or [1.0] * len(values)]
        pairs = [(value, count) for value, count in zip(values, counts, strict=True) if count]
        if not pairs:
            continue  # every count zero: nothing happened
        self.metric_data.append(
            HistogramDatum(
                namespace,
                metric["MetricName"],
                pairs,
                metric.get("Dimensions") or [],
                metric.get("Timestamp"),
                metric.get("Unit"),
            )
        )


# --- statistics -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Range:
    kind: str  # TC, PR, TS or TM
    low: float | None  # exclusive
    high: float | None  # inclusive

    def holds(self, value: float) -> bool:
        return (self.low is None or value > self.low) and (self.high is None or value <= self.high)


def check_statistic(stat: str) -> None:
    """Raise InvalidParameterValue for a statistic this CloudWatch cannot answer."""
    if stat not in BASIC:
        _parse(stat)


def _parse(stat: str) -> float | _Range:
    """A percentile (0-100) or a range statistic."""
    percentile = _PERCENTILE.fullmatch(stat)
    if percentile and float(percentile.group(1)) <= 100:
        return float(percentile.group(1))
    ranged = _RANGED.fullmatch(stat)
    if ranged:
        low, high = (_bound(text, stat) for text in ranged.group(2, 3))
        if low is None or high is None or low < high:
            return _Range(ranged.group(1).upper(), low, high)
    raise InvalidParameterValue(
        f"The statistic {stat} is not supported by the sandbox: use Sum, Average, Minimum, "
        "Maximum, SampleCount, pNN.NN, or TC, PR, TS, TM with absolute bounds (a:b)."
    )


def _bound(text: str, stat: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    if not _NUMBER.fullmatch(text):
        raise InvalidParameterValue(f"The statistic {stat} has a bound that is not a number.")
    return float(text)


def distribution(datums: Iterable[MetricDatumBase]) -> Pairs:
    """The (value, count) pairs the distribution statistics read, sorted by value."""
    pairs: Pairs = []
    for datum in datums:
        if isinstance(datum, HistogramDatum):
            pairs.extend(datum.pairs)
        elif isinstance(datum, MetricAggregatedDatum):
            # CloudWatch reads a statistic set only when it says what each value was.
            if datum.sample_count == 1:
                pairs.append((float(datum.sum), 1.0))
            elif datum.min == datum.max and datum.sample_count > 0:
                pairs.append((float(datum.min), float(datum.sample_count)))
        elif isinstance(datum, MetricDatum):
            pairs.append((float(datum.value), 1.0))
    pairs.sort()
    return pairs


def extended_statistic(stat: str, datums: Sequence[MetricDatumBase]) -> float | None:
    """``stat`` (a percentile or range statistic) over ``datums``; None when it has no value
    there (no value it can read, or, for a percentile, a negative one)."""
    parsed = _parse(stat)
    pairs = distribution(datums)
    total = sum(count for _, count in pairs)
    if not total:
        return None
    if isinstance(parsed, float):
        return None if pairs[0][0] < 0 else _percentile(pairs, total, parsed)
    return _ranged(parsed, pairs, total)


def _ranged(statistic: _Range, pairs: Pairs, total: float) -> float | None:
    inside = [(value, count) for value, count in pairs if statistic.holds(value)]
    count = sum(c for _, c in inside)
    trimmed_sum = sum(value * c for value, c in inside)
    if statistic.kind == "TC":
        return count
    if statistic.kind == "PR":
        return 100.0 * count / total
    if statistic.kind == "TS":
        return trimmed_sum
    return trimmed_sum / count if count else None  # TM


def _percentile(pairs: Pairs, total: float, percent: float) -> float:
    # Nearest rank: the first value whose cumulative count reaches p% of all of them.
    rank = max(percent / 100 * total, min(1.0, total))
    seen = 0.0
    for value, count in pairs:
        seen += count
        if seen >= rank - 1e-9 * total:
            return value
    return pairs[-1][0]


def _statistic_of(self: Statistics, stat: str) -> Any:
    """moto's Statistics (metric math, GetMetricStatistics), knowing the extended ones."""
    if stat in BASIC:
        return _moto["Statistics.get_statistics_for_type"](self, stat)
    return extended_statistic(stat, self.metric_data)


def _statistic(stat: str, datums: list[MetricDatumBase], at: datetime) -> float | None:
    if stat in BASIC:
        stats = Statistics([stat], at)
        stats.metric_data = datums
        value = _moto["Statistics.get_statistics_for_type"](stats, stat)
        return None if value is None else float(value)
    return extended_statistic(stat, datums)


# --- the index --------------------------------------------------------------------------------


@dataclass
class _Series:
    """One metric's datums under one dimension set, in time order."""

    times: list[float] = field(default_factory=list)  # epoch seconds
    datums: list[MetricDatumBase] = field(default_factory=list)

    def add(self, datum: MetricDatumBase) -> None:
        at = _epoch(datum.timestamp)
        where = bisect.bisect_right(self.times, at)
        self.times.insert(where, at)
        self.datums.insert(where, datum)

    def window(self, start: float, end: float) -> list[MetricDatumBase]:
        low = bisect.bisect_left(self.times, start)
        high = bisect.bisect_left(self.times, end)
        return self.datums[low:high]


@dataclass
class _Index:
    source: list[MetricDatumBase]  # the backend's list of datums this mirrors
    upto: int = 0
    series: dict[tuple[str, str, DimensionKey], _Series] = field(
        default_factory=lambda: defaultdict(_Series)
    )

    def catch_up(self) -> None:
        count = len(self.source)
        for datum in self.source[self.upto : count]:
            self.series[_key(datum.namespace, datum.name, _dimension_key(datum))].add(datum)
        self.upto = count


def _index(backend: Any) -> _Index:
    index: _Index | None = backend.__dict__.get(_INDEX)
    if index is None or index.source is not backend.metric_data or index.upto > len(index.source):
        index = backend.__dict__[_INDEX] = _Index(backend.metric_data)
    index.catch_up()
    return index


def _key(namespace: str, name: str, dimensions: DimensionKey) -> tuple[str, str, DimensionKey]:
    return (namespace, name, dimensions)


def _dimension_key(datum: MetricDatumBase) -> DimensionKey:
    return frozenset((str(d.name), str(d.value)) for d in datum.dimensions)


def _epoch(moment: datetime) -> float:
    # moto keeps request timestamps aware and its own (utcnow) naive, both UTC.
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


# --- GetMetricData ----------------------------------------------------------------------------


def _get_metric_data(
    self: Any,
    queries: list[dict[str, Any]],
    start_time: datetime,
    end_time: datetime,
    scan_by: str = "TimestampAscending",
) -> list[dict[str, Any]]:
    start_time = start_time.replace(microsecond=0)
    end_time = end_time.replace(microsecond=0)
    if start_time > end_time:
        raise ValidationError("The parameter EndTime must be greater than StartTime.")
    if start_time == end_time:
        raise ValidationError("The parameter StartTime must not equal parameter EndTime.")
    stat_queries = [query for query in queries if "MetricStat" in query]
    for query in stat_queries:
        check_statistic(query["MetricStat"]["Stat"])
    provided = _Provided(self)
    with _lock:  # one catch-up at a time; the windows are copied out under it
        index = _index(self)
        windows = [_window(index, provided, q, start_time, end_time) for q in stat_queries]
    results = [
        _result(query, datums, start_time, end_time, scan_by)
        for query, datums in zip(stat_queries, windows, strict=True)
    ]
    done = zip(stat_queries, results, strict=True)
    answer = [result for query, result in done if query.get("ReturnData", True)]
    for query in queries:
        expression = query.get("Expression")
        if expression is not None and not expression.startswith("SELECT"):
            values, timestamps = parse_expression(expression, results)
            answer.append(
                _answer(query["Id"], query.get("Label") or query["Id"], values, timestamps)
            )
    insights = [q for q in queries if str(q.get("Expression", "")).startswith("SELECT")]
    if insights:
        original = _moto["CloudWatchBackend.get_metric_data"]
        answer.extend(original(self, insights, start_time, end_time, scan_by))
    return answer


class _Provided:
    """What moto's metric providers compute (S3's daily storage metrics, in ``AWS/S3``):
    asked once per call, and only when a query reads an ``AWS/`` namespace."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend
        self._datums: list[MetricDatumBase] | None = None

    def datums(self) -> list[MetricDatumBase]:
        if self._datums is None:
            self._datums = list(self._backend.aws_metric_data)
        return self._datums


def _window(
    index: _Index, provided: _Provided, query: dict[str, Any], start: datetime, end: datetime
) -> list[MetricDatumBase]:
    """The query's datums in [start, end): its exact series, and what moto's metric
    providers (S3's daily storage metrics) compute for that namespace."""
    metric = query["MetricStat"]["Metric"]
    dimensions = frozenset((d["Name"], d["Value"]) for d in metric.get("Dimensions") or [])
    key = _key(metric["Namespace"], metric["MetricName"], dimensions)
    low, high = _epoch(start), _epoch(end)
    series = index.series.get(key)
    datums = series.window(low, high) if series else []
    if metric["Namespace"].startswith("AWS/"):
        datums += [
            datum
            for datum in provided.datums()
            if _key(datum.namespace, datum.name, _dimension_key(datum)) == key
            and low <= _epoch(datum.timestamp) < high
        ]
    unit = query["MetricStat"].get("Unit")
    return [datum for datum in datums if datum.unit == unit] if unit else datums


def _result(
    query: dict[str, Any],
    datums: list[MetricDatumBase],
    start: datetime,
    end: datetime,
    scan_by: str,
) -> dict[str, Any]:
    stat_query = query["MetricStat"]
    stat, period = stat_query["Stat"], int(stat_query["Period"])
    origin = _epoch(start)
    periods: dict[int, list[MetricDatumBase]] = defaultdict(list)
    for datum in datums:
        periods[int((_epoch(datum.timestamp) - origin) // period)].append(datum)
    values: list[float] = []
    timestamps: list[datetime] = []
    for number in sorted(periods):
        at = start + timedelta(seconds=number * period)
        value = _statistic(stat, periods[number], at)
        if value is not None:
            values.append(value)
            timestamps.append(at)
    if scan_by == "TimestampDescending":
        values.reverse()
        timestamps.reverse()
    label = query.get("Label") or f"{stat_query['Metric']['MetricName']} {stat}"
    return _answer(query["Id"], label, values, timestamps)


def _answer(
    query_id: str, label: str, values: list[Any], timestamps: list[datetime]
) -> dict[str, Any]:
    return {
        "id": query_id,
        "label": label,
        "values": values,
        "timestamps": timestamps,
        "status_code": "Complete",
    }


# --- GetMetricStatistics ----------------------------------------------------------------------


def _get_metric_statistics(self: Any) -> Any:
    extended: list[str] = self._get_param("ExtendedStatistics") or []
    for stat in extended:
        check_statistic(stat)
    answer = _moto["CloudWatchResponse.get_metric_statistics"](self)
    if extended:
        for point in answer.result["Datapoints"]:
            found = {stat: extended_statistic(stat, point.metric_data) for stat in extended}
            point.extended_statistics = {k: v for k, v in found.items() if v is not None}
    return answer
