"""What Lambda's platform writes about each invocation, written into the emulated accounts.

:class:`Telemetry` listens to finished invocations and, from a background thread, puts into
the function's own account and region:

- the function's metrics: Invocations, Errors, Throttles and Duration in ``AWS/Lambda``,
  under ``{FunctionName}``, ``{FunctionName, Resource}`` when invoked with a qualifier, and
  ``{FunctionName, Resource, ExecutedVersion}`` when that qualifier is an alias, as Lambda
  does (so a canary can compare the versions behind a weighted alias);
- the EMF metrics in the function's log lines (see :mod:`promote.sandbox.emf`);
- the log lines (which the runtime frames with START, END and REPORT, as Lambda does), in
  ``/aws/lambda/<name>``, one stream per executed version.

Metrics are high resolution (GetMetricData with ``Period=1`` works) and sent per second and
series as a distribution: PutMetricData ``Values`` with their ``Counts``, each value once, at
most 150 to a datum (more make more datums, each in a call of its own). So 300 invocations a
second cost a few calls a second, the emulator stores a few datums rather than thousands
(see :mod:`promote.sandbox.moto_percentiles`), and percentiles, trimmed counts (``TC``) and
percentile ranks (``PR``) can still be asked of them. Values in units of time are rounded to
3 significant digits (0.5% at most: 12.3 ms, 1.23 s), which keeps the distinct values few
under load; counts (Invocations, Errors: 0 or 1) are at most two values. Other values are
sent as they are.

Telemetry is best effort, as the invoker must never feel it: a failed call is logged and its
data dropped.
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from botocore.config import Config

from promote.sandbox import emf
from promote.sandbox.invocation import Invocation, InvocationStatus, account_session

log = logging.getLogger(__name__)

LAMBDA_NAMESPACE = "AWS/Lambda"
# PutMetricData takes 1,000 datums and 1 MB a call, and 150 values a datum. 500 datums and
# 10,000 values (each with its count: under 1 MB in any of the API's encodings) stay under.
METRICS_PER_CALL, VALUES_PER_CALL, VALUES_PER_DATUM = 500, 10_000, 150
SIGNIFICANT_DIGITS = 3  # of values in units of time
_TIME_UNITS = frozenset({"Seconds", "Milliseconds", "Microseconds"})
# PutLogEvents takes 10,000 events and 1,048,576 bytes a call, counting 26 bytes an event.
EVENTS_PER_CALL, BYTES_PER_CALL, EVENT_OVERHEAD = 10_000, 1_048_576, 26
MAX_MESSAGE_BYTES = 256 * 1024 - EVENT_OVERHEAD
QUEUE_LIMIT = 100_000  # invocations waiting; beyond it telemetry drops rather than grows
_ERRORS = {
    InvocationStatus.FUNCTION_ERROR,
    InvocationStatus.RUNTIME_ERROR,
    InvocationStatus.TIMED_OUT,
}

# The emulator is local: fail fast rather than stall the queue behind retries.
_CLIENT_CONFIG = Config(
    connect_timeout=2, read_timeout=30, retries={"mode": "standard", "max_attempts": 2}
)

Place = tuple[str, str]  # (account id, region)
Dimensions = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class _Series:
    """One metric series in one second: the unit of aggregation."""

    namespace: str
    name: str
    unit: str
    dimensions: Dimensions
    second: int
    resolution: int


# One series' values in one second: value -> how many times it occurred.
_Counts = dict[float, int]


@dataclass
class _Outbox:
    """What one flush sends to one account and region."""

    metrics: dict[_Series, _Counts] = field(default_factory=lambda: defaultdict(dict))
    # (function name, executed version, the worker's stream or "") -> [(epoch ms, message)]
    logs: dict[tuple[str, str, str], list[tuple[int, str]]] = field(
        default_factory=lambda: defaultdict(list)
    )


class Telemetry:
    """An :class:`~promote.sandbox.invocation.InvocationListener` writing metrics and logs into
    the emulator at ``endpoint``. :meth:`start` it before invocations, :meth:`stop` it before
    the emulator: stop sends what is still queued."""

    def __init__(self, endpoint: str, *, flush_interval: float = 0.25) -> None:
        self._endpoint = endpoint
        self._flush_interval = flush_interval
        self._queue: queue.Queue[Invocation] = queue.Queue(maxsize=QUEUE_LIMIT)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._flush_lock = threading.Lock()  # one flush at a time: the worker's or a caller's
        self._clients: dict[tuple[str, str, str], Any] = {}
        # (account, region, function name, executed version) -> its log stream
        self._streams: dict[tuple[str, str, str, str], str] = {}
        self._ready_groups: set[tuple[str, str, str]] = set()
        self.dropped = 0  # invocations not queued because the queue was full

    def __call__(self, invocation: Invocation) -> None:
        try:
            self._queue.put_nowait(invocation)
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("telemetry queue full: %d invocations dropped", self.dropped)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="promote-telemetry", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the worker, then send what is still queued."""
        if self._thread is not None:
            self._stopping.set()
            self._thread.join()
            self._thread = None
        self.flush()

    def flush(self) -> None:
        """Send every invocation queued so far; returns once sent (or dropped on error)."""
        with self._flush_lock:
            try:
                outboxes = _collect(self._drain())
                for place, outbox in outboxes.items():
                    self._send(place, outbox)
            except Exception:  # the worker must survive anything, and callers never see it
                log.exception("telemetry flush failed; its data is dropped")

    def _run(self) -> None:
        while not self._stopping.wait(self._flush_interval):
            self.flush()

    def _drain(self) -> list[Invocation]:
        drained: list[Invocation] = []
        while True:
            try:
                drained.append(self._queue.get_nowait())
            except queue.Empty:
                return drained

    def _send(self, place: Place, outbox: _Outbox) -> None:
        # Each account's failure stays its own: the other accounts still get their data.
        try:
            self._put_metrics(place, outbox.metrics)
        except Exception:
            log.warning("telemetry: metrics for %s dropped", place, exc_info=True)
        for (name, version, stream), events in outbox.logs.items():
            try:
                self._put_logs(place, name, version, stream, events)
            except Exception:
                log.warning("telemetry: logs of %s in %s dropped", name, place, exc_info=True)

    def _client(self, place: Place, service: Literal["cloudwatch", "logs"]) -> Any:
        key = (*place, service)
        if key not in self._clients:
            session = account_session(self._endpoint, *place)
            self._clients[key] = session.client(
                service, endpoint_url=self._endpoint, config=_CLIENT_CONFIG
            )
        return self._clients[key]

    def _put_metrics(self, place: Place, metrics: dict[_Series, _Counts]) -> None:
        cloudwatch = self._client(place, "cloudwatch")
        for namespace, batch in _metric_batches(metrics):
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=batch)

    def _put_logs(
        self, place: Place, name: str, version: str, given: str, events: list[tuple[int, str]]
    ) -> None:
        """Into the worker's own stream (``given``) when the runtime named one, as Lambda
        writes each execution environment's; else one stream per version."""
        group = f"/aws/lambda/{name}"
        stream = self._stream(place, group, name, version, given)
        logs = self._client(place, "logs")
        for batch in _log_batches(sorted(events, key=lambda event: event[0])):
            try:
                logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=batch)
            except logs.exceptions.ResourceNotFoundException:
                # Someone deleted the group or stream: make them again, once.
                self._ready_groups.discard((*place, group))
                self._streams.pop((*place, name, given or version), None)
                stream = self._stream(place, group, name, version, given)
                logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=batch)

    def _stream(self, place: Place, group: str, name: str, version: str, given: str) -> str:
        """The stream, created (with its group) when first used."""
        key = (*place, name, given or version)
        if key in self._streams:
            return self._streams[key]
        logs = self._client(place, "logs")
        if (*place, group) not in self._ready_groups:
            with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
                logs.create_log_group(logGroupName=group)
            self._ready_groups.add((*place, group))
        # As Lambda names them: the day the worker started, its version, an id.
        day = datetime.now(UTC).strftime("%Y/%m/%d")
        stream = given or f"{day}/[{version}]{uuid.uuid4().hex}"
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
        self._streams[key] = stream
        return stream


def _collect(invocations: Sequence[Invocation]) -> dict[Place, _Outbox]:
    outboxes: dict[Place, _Outbox] = defaultdict(_Outbox)
    for invocation in invocations:
        function = invocation.function
        outbox = outboxes[(function.account_id, function.region)]
        _add_lambda_metrics(outbox, invocation)
        for datum in emf.parse_lines(invocation.logs):
            series = _Series(
                datum.namespace,
                datum.name,
                datum.unit,
                tuple(sorted(datum.dimensions.items())),
                int(datum.timestamp),
                datum.storage_resolution,
            )
            for value in datum.values:
                _add(outbox.metrics[series], series.unit, value)
        if invocation.logs:  # a throttled call never ran, and printed nothing
            version = invocation.executed_version or "$LATEST"
            key = (function.name, version, invocation.log_stream or "")
            outbox.logs[key].extend(_log_events(invocation))
    return outboxes


def _add_lambda_metrics(outbox: _Outbox, invocation: Invocation) -> None:
    second = int(invocation.started_at)
    for dimensions in _lambda_dimensions(invocation):
        for name, unit, value in _lambda_values(invocation):
            series = _Series(LAMBDA_NAMESPACE, name, unit, dimensions, second, emf.HIGH_RESOLUTION)
            _add(outbox.metrics[series], unit, value)


def _lambda_values(invocation: Invocation) -> list[tuple[str, str, float]]:
    """Lambda's per-invocation values. A throttled request never ran: it is only a throttle.
    The others count a zero throttle, so "no throttles" is data rather than silence."""
    if invocation.status is InvocationStatus.THROTTLED:
        return [("Throttles", "Count", 1.0)]
    return [
        ("Invocations", "Count", 1.0),
        ("Errors", "Count", 1.0 if invocation.status in _ERRORS else 0.0),
        ("Throttles", "Count", 0.0),
        ("Duration", "Milliseconds", invocation.duration_ms),
    ]


def _lambda_dimensions(invocation: Invocation) -> list[Dimensions]:
    function = invocation.function
    plain: Dimensions = (("FunctionName", function.name),)
    if not function.qualifier:
        return [plain]
    resource = (*plain, ("Resource", f"{function.name}:{function.qualifier}"))
    if not _is_alias(function.qualifier) or not invocation.executed_version:
        return [plain, resource]
    return [plain, resource, (*resource, ("ExecutedVersion", invocation.executed_version))]


def _is_alias(qualifier: str) -> bool:
    return not qualifier.isdigit() and qualifier != "$LATEST"


def _add(counts: _Counts, unit: str, value: float) -> None:
    """Count ``value`` once; a time rounded, so that a busy second has few distinct ones."""
    if unit in _TIME_UNITS and value:
        value = round(value, SIGNIFICANT_DIGITS - 1 - math.floor(math.log10(abs(value))))
    counts[value] = counts.get(value, 0) + 1


def _metric_batches(metrics: dict[_Series, _Counts]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """The datums of ``metrics`` as (namespace, datums) calls within PutMetricData's limits.
    A series with more values than a datum takes has its further datums in further calls:
    CloudWatch takes 150 values per metric in one call."""
    rounds: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    for series, counts in metrics.items():
        for number, datum in enumerate(_metric_datums(series, counts)):
            rounds[(number, series.namespace)].append(datum)
    for (_, namespace), datums in sorted(rounds.items(), key=lambda item: item[0]):
        batch: list[dict[str, Any]] = []
        values = 0
        for datum in datums:
            size = len(datum["Values"])
            if batch and (len(batch) >= METRICS_PER_CALL or values + size > VALUES_PER_CALL):
                yield namespace, batch
                batch, values = [], 0
            batch.append(datum)
            values += size
        if batch:
            yield namespace, batch


def _metric_datums(series: _Series, counts: _Counts) -> list[dict[str, Any]]:
    """One datum per 150 distinct values, smallest values first."""
    ordered = sorted(counts.items())
    return [
        {
            "MetricName": series.name,
            "Dimensions": [{"Name": name, "Value": value} for name, value in series.dimensions],
            "Timestamp": datetime.fromtimestamp(series.second, UTC),
            "Unit": series.unit,
            "StorageResolution": series.resolution,
            "Values": [value for value, _ in chunk],
            "Counts": [float(count) for _, count in chunk],
        }
        for chunk in (
            ordered[start : start + VALUES_PER_DATUM]
            for start in range(0, len(ordered), VALUES_PER_DATUM)
        )
    ]


def _log_events(invocation: Invocation) -> list[tuple[int, str]]:
    """The invocation's lines as they are: the runtime has framed them with START, END and
    REPORT already. Lines carry no time of their own, so all take the start's, which also
    keeps each invocation's lines together when calls overlap in one stream."""
    start = int(invocation.started_at * 1000)
    return [(start, _truncate(line)) for line in invocation.logs]


def _truncate(line: str) -> str:
    data = line.encode()
    if len(data) <= MAX_MESSAGE_BYTES:
        return line or " "  # CloudWatch Logs refuses empty messages
    return data[:MAX_MESSAGE_BYTES].decode(errors="ignore")


def _log_batches(events: list[tuple[int, str]]) -> Iterator[list[dict[str, Any]]]:
    """``events`` (in time order) in batches within PutLogEvents' limits."""
    batch: list[dict[str, Any]] = []
    size = 0
    for timestamp, message in events:
        cost = len(message.encode()) + EVENT_OVERHEAD
        if batch and (len(batch) >= EVENTS_PER_CALL or size + cost > BYTES_PER_CALL):
            yield batch
            batch, size = [], 0
        batch.append({"timestamp": timestamp, "message": message})
        size += cost
    if batch:
        yield batch
