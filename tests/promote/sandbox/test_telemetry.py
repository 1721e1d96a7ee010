"""Telemetry writes Lambda's metrics, EMF metrics and logs into the emulated account, where
GetMetricData and GetLogEvents read them back."""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from promote.sandbox import Sandbox
from promote.sandbox.invocation import (
    FunctionRef,
    Invocation,
    InvocationStatus,
    account_session,
)
from promote.sandbox.telemetry import Telemetry

from .conftest import free_port
from .functions import deploy, point_alias, session_for

ACCOUNT, REGION = "815856636111", "eu-west-1"  # Tebogo-sit
OK, FAILED = InvocationStatus.OK, InvocationStatus.FUNCTION_ERROR


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def invocation(
    name: str,
    *,
    qualifier: str | None = "live",
    version: str = "1",
    status: InvocationStatus = OK,
    at: float,
    duration: float = 10.0,
    logs: tuple[str, ...] = (),
) -> Invocation:
    return Invocation(
        function=FunctionRef(ACCOUNT, REGION, name, qualifier),
        executed_version=version,
        status=status,
        payload=None,
        request_id=str(uuid.uuid4()),
        started_at=at,
        duration_ms=duration,
        logs=logs,
    )


def a_second_ago() -> float:
    return float(int(time.time()) - 1)


class Metrics:
    """GetMetricData with Period=1 around ``at``, as a canary analysis would ask."""

    def __init__(self, sandbox: Sandbox, at: float) -> None:
        session = account_session(sandbox.endpoint, ACCOUNT, REGION)
        self.client = session.client("cloudwatch", endpoint_url=sandbox.endpoint)
        self.start = datetime.fromtimestamp(at, UTC) - timedelta(seconds=5)

    def values(
        self, name: str, stat: str, dimensions: dict[str, str], namespace: str = "AWS/Lambda"
    ) -> list[float]:
        query = {
            "Id": "q",
            "MetricStat": {
                "Metric": {
                    "Namespace": namespace,
                    "MetricName": name,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                },
                "Period": 1,
                "Stat": stat,
            },
        }
        answer = self.client.get_metric_data(
            MetricDataQueries=[query],
            StartTime=self.start,
            EndTime=self.start + timedelta(seconds=15),
            ScanBy="TimestampAscending",
        )
        values: list[float] = answer["MetricDataResults"][0]["Values"]
        return values


def test_lambda_metrics_per_version_behind_an_alias(sandbox: Sandbox) -> None:
    name, at = unique("orders"), a_second_ago()
    telemetry = Telemetry(sandbox.endpoint)
    for _ in range(6):
        telemetry(invocation(name, version="1", at=at, duration=10))
    for status in (OK, FAILED, InvocationStatus.TIMED_OUT, OK):
        telemetry(invocation(name, version="2", status=status, at=at, duration=30))
    telemetry(invocation(name, version="2", status=InvocationStatus.THROTTLED, at=at, duration=0))
    telemetry.stop()  # never started: stop still sends what is queued

    metrics = Metrics(sandbox, at)
    v1 = {"FunctionName": name, "Resource": f"{name}:live", "ExecutedVersion": "1"}
    v2 = {**v1, "ExecutedVersion": "2"}
    assert metrics.values("Invocations", "Sum", v1) == [6]
    assert metrics.values("Invocations", "Sum", v2) == [4]  # the throttle never ran
    assert metrics.values("Errors", "Sum", v2) == [2]  # a function error and a timeout
    assert metrics.values("Errors", "Average", v2) == [0.5]
    assert metrics.values("Errors", "Average", v1) == [0]  # zero errors is data, not silence
    assert metrics.values("Duration", "Average", v2) == [30]
    assert metrics.values("Duration", "Maximum", {"FunctionName": name}) == [30]
    assert metrics.values("Throttles", "Sum", v2) == [1]
    assert metrics.values("Invocations", "SampleCount", {"FunctionName": name}) == [10]
    assert metrics.values("Invocations", "Sum", {"FunctionName": name, "Resource": f"{name}:live"})
    assert metrics.values("Throttles", "Sum", {"FunctionName": name}) == [1]


def test_versions_and_unqualified_calls_have_no_executed_version(sandbox: Sandbox) -> None:
    name, at = unique("orders"), a_second_ago()
    telemetry = Telemetry(sandbox.endpoint)
    telemetry(invocation(name, qualifier="3", version="3", at=at))
    telemetry(invocation(name, qualifier=None, version="$LATEST", at=at))
    telemetry.flush()

    metrics = Metrics(sandbox, at)
    assert metrics.values("Invocations", "Sum", {"FunctionName": name}) == [2]
    by_version = {"FunctionName": name, "Resource": f"{name}:3"}
    assert metrics.values("Invocations", "Sum", by_version) == [1]
    assert metrics.values("Invocations", "Sum", {**by_version, "ExecutedVersion": "3"}) == []


def test_a_busy_second_is_a_few_datums(sandbox: Sandbox) -> None:
    """300 invocations a second, three seconds: every one is counted, yet the emulator holds
    one datum per series and second (moto scans them all on every query)."""
    from moto.cloudwatch.models import cloudwatch_backends

    name, at = unique("busy"), a_second_ago() - 3
    telemetry = Telemetry(sandbox.endpoint)
    for second in range(3):
        for i in range(300):
            telemetry(invocation(name, version=str(1 + i % 2), at=at + second + i / 300))
    telemetry.stop()

    metrics = Metrics(sandbox, at)
    assert metrics.values("Invocations", "Sum", {"FunctionName": name}) == [300, 300, 300]
    v2 = {"FunctionName": name, "Resource": f"{name}:live", "ExecutedVersion": "2"}
    assert metrics.values("Invocations", "Sum", v2) == [150, 150, 150]
    stored = [
        datum
        for datum in cloudwatch_backends[ACCOUNT][REGION].metric_data
        if any(d.value == name for d in datum.dimensions)
    ]
    # 4 metrics x (plain + resource + 2 versions) x 3 seconds
    assert len(stored) == 4 * 4 * 3


def test_durations_travel_as_distributions_and_percentiles_come_back(sandbox: Sandbox) -> None:
    """Each version's second is one datum of Values and Counts: p95 and trimmed counts of
    Duration per executed version are CloudWatch's, not an average's."""
    from moto.cloudwatch.models import cloudwatch_backends

    name, at = unique("p95"), a_second_ago()
    telemetry = Telemetry(sandbox.endpoint)
    for ms in range(1, 101):
        telemetry(invocation(name, version="1", at=at, duration=float(ms)))
        telemetry(invocation(name, version="2", at=at, duration=float(ms + 100)))
    telemetry.flush()

    metrics = Metrics(sandbox, at)
    v1 = {"FunctionName": name, "Resource": f"{name}:live", "ExecutedVersion": "1"}
    v2 = {**v1, "ExecutedVersion": "2"}
    assert metrics.values("Duration", "p95", v1) == [95]
    assert metrics.values("Duration", "p95", v2) == [195]
    assert metrics.values("Duration", "TC(150:)", v2) == [50]  # 151..200 ms
    assert metrics.values("Duration", "Sum", v1) == [5050]
    assert metrics.values("Errors", "Sum", v1) == [0]
    [duration] = [
        datum
        for datum in cloudwatch_backends[ACCOUNT][REGION].metric_data
        if datum.name == "Duration"
        and {(d.name, d.value) for d in datum.dimensions} == set(v1.items())
    ]
    assert [value for value, _ in duration.pairs] == [float(ms) for ms in range(1, 101)]
    errors = [d for d in cloudwatch_backends[ACCOUNT][REGION].metric_data if d.name == "Errors"]
    assert all(len(d.pairs) == 1 for d in errors if any(x.value == name for x in d.dimensions))


def test_more_than_150_distinct_values_take_several_datums(sandbox: Sandbox) -> None:
    from moto.cloudwatch.models import cloudwatch_backends

    name, at = unique("wide"), a_second_ago()
    telemetry = Telemetry(sandbox.endpoint)
    for ms in range(100, 500):  # 400 distinct durations, 3 significant digits each
        telemetry(invocation(name, qualifier=None, version="$LATEST", at=at, duration=float(ms)))
    telemetry.flush()

    metrics = Metrics(sandbox, at)
    plain = {"FunctionName": name}
    assert metrics.values("Duration", "SampleCount", plain) == [400]
    assert metrics.values("Duration", "p50", plain) == [299]
    assert metrics.values("Duration", "TC(:199)", plain) == [100]
    sizes = [
        len(datum.pairs)
        for datum in cloudwatch_backends[ACCOUNT][REGION].metric_data
        if datum.name == "Duration"
        and [(d.name, d.value) for d in datum.dimensions] == [("FunctionName", name)]
    ]
    assert sorted(sizes) == [100, 150, 150]


def test_durations_are_kept_to_three_significant_digits(sandbox: Sandbox) -> None:
    name, at = unique("round"), a_second_ago()
    telemetry = Telemetry(sandbox.endpoint)
    for ms in (12.3456, 1234.5678, 0.012345):
        telemetry(invocation(name, qualifier=None, version="$LATEST", at=at, duration=ms))
    telemetry.flush()

    metrics = Metrics(sandbox, at)
    plain = {"FunctionName": name}
    assert metrics.values("Duration", "Minimum", plain) == [0.0123]
    assert metrics.values("Duration", "p50", plain) == [12.3]
    assert metrics.values("Duration", "Maximum", plain) == [1230]


def powertools_line(namespace: str, service: str) -> str:
    return json.dumps(
        {
            "_aws": {
                "Timestamp": int(a_second_ago() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": namespace,
                        "Dimensions": [["service"]],
                        "Metrics": [
                            {"Name": "OrderPlaced", "Unit": "Count", "StorageResolution": 1}
                        ],
                    }
                ],
            },
            "service": service,
            "OrderPlaced": [1.0, 2.0],
        }
    )


def test_emf_lines_become_metrics_in_the_functions_account(sandbox: Sandbox) -> None:
    name, service, at = unique("orders"), unique("svc"), a_second_ago()
    lines = ("not a metric", powertools_line("BBWS", service), "{broken")
    telemetry = Telemetry(sandbox.endpoint)
    telemetry(invocation(name, at=at, logs=lines))
    telemetry(invocation(name, at=at, logs=lines[1:2]))
    telemetry.flush()

    metrics = Metrics(sandbox, at)
    dims = {"service": service}
    assert metrics.values("OrderPlaced", "Sum", dims, namespace="BBWS") == [6]
    assert metrics.values("OrderPlaced", "SampleCount", dims, namespace="BBWS") == [4]
    assert metrics.values("OrderPlaced", "Average", dims, namespace="BBWS") == [1.5]


def log_streams(sandbox: Sandbox, name: str) -> dict[str, list[str]]:
    logs = account_session(sandbox.endpoint, ACCOUNT, REGION).client(
        "logs", endpoint_url=sandbox.endpoint
    )
    group = f"/aws/lambda/{name}"
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    return {
        stream["logStreamName"]: [
            event["message"]
            for event in logs.get_log_events(
                logGroupName=group, logStreamName=stream["logStreamName"], startFromHead=True
            )["events"]
        ]
        for stream in streams
    }


def framed(request: str, *lines: str) -> tuple[str, ...]:
    """Lines as the runtime hands them over: framed as Lambda frames them."""
    return (
        f"START RequestId: {request} Version: 1",
        *lines,
        f"END RequestId: {request}",
        f"REPORT RequestId: {request}\tDuration: 12.30 ms\tBilled Duration: 13 ms",
    )


def test_logs_go_to_the_functions_group_one_stream_per_version(sandbox: Sandbox) -> None:
    name, at = unique("orders"), a_second_ago()
    telemetry = Telemetry(sandbox.endpoint)
    first = framed("r1", "hello", "", "world")
    telemetry(invocation(name, version="1", at=at, logs=first))
    telemetry(invocation(name, version="2", at=at, logs=framed("r2", "on two")))
    telemetry(invocation(name, version="2", at=at, status=InvocationStatus.THROTTLED))
    telemetry.flush()
    telemetry(invocation(name, version="1", at=at + 1, logs=framed("r3", "again")))
    telemetry.flush()

    streams = log_streams(sandbox, name)
    day = datetime.now(UTC).strftime("%Y/%m/%d")
    [(v1, v1_lines)] = [(s, lines) for s, lines in streams.items() if "[1]" in s]
    [v2_lines] = [lines for s, lines in streams.items() if "[2]" in s]
    assert v1.startswith(f"{day}/[1]") and len(v1) == len(f"{day}/[1]") + 32
    # An empty line becomes a space: CloudWatch Logs refuses empty messages.
    assert v1_lines == [*first[:2], " ", *first[3:], *framed("r3", "again")]
    assert v2_lines == list(framed("r2", "on two"))  # the throttled call wrote nothing


def test_the_worker_flushes_on_its_own(sandbox: Sandbox) -> None:
    name, at = unique("orders"), a_second_ago()
    telemetry = Telemetry(sandbox.endpoint, flush_interval=0.05)
    telemetry.start()
    try:
        telemetry(invocation(name, at=at))
        metrics = Metrics(sandbox, at)
        deadline = time.monotonic() + 5
        while not metrics.values("Invocations", "Sum", {"FunctionName": name}):
            assert time.monotonic() < deadline, "the worker never sent the metrics"
            time.sleep(0.05)
    finally:
        telemetry.stop()


def test_an_unreachable_emulator_is_logged_never_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # the dead endpoint refuses at once
    telemetry = Telemetry(f"http://127.0.0.1:{free_port()}", flush_interval=0.05)
    telemetry.start()
    with caplog.at_level(logging.WARNING, logger="promote.sandbox.telemetry"):
        telemetry(invocation("orders", at=a_second_ago(), logs=("x",)))
        telemetry.stop()
    assert "dropped" in caplog.text


POWERTOOLS_FUNCTION = """
from aws_lambda_powertools import Metrics

metrics = Metrics(namespace="SandboxTest", service="{service}")


@metrics.log_metrics
def handler(event, context):
    metrics.add_metric(name="Hits", unit="Count", value=1)
    print("handled", event["n"])
    if event["n"] % 3 == 0:
        raise ValueError("every third call fails")
    return {{"version": context.function_version}}
"""


def test_the_runtime_feeds_telemetry_end_to_end(aws_env: Sandbox, tmp_path: Path) -> None:
    """A Powertools function behind a weighted alias, run by the real runtime with telemetry
    listening: Lambda's metrics per executed version, its EMF metrics and its logs arrive."""
    from promote.sandbox.runtime import LambdaRuntime

    name, service = unique("emf"), unique("svc")
    session = session_for(aws_env)
    source = POWERTOOLS_FUNCTION.format(service=service)
    one = deploy(session, name, source)
    two = deploy(session, name, source + "\n# two\n")
    point_alias(session, name, one, weights={two: 0.5})
    telemetry = Telemetry(aws_env.endpoint)
    telemetry.start()
    at = time.time()
    with LambdaRuntime(aws_env.endpoint, tmp_path, listeners=[telemetry]) as runtime:
        calls = [
            runtime.invoke(FunctionRef(ACCOUNT, REGION, name, "live"), {"n": n})
            for n in range(1, 13)
        ]
    telemetry.stop()

    ran = {call.executed_version for call in calls}
    metrics = Metrics(aws_env, at)
    per_version = {
        version: sum(
            metrics.values(
                "Invocations",
                "Sum",
                {"FunctionName": name, "Resource": f"{name}:live", "ExecutedVersion": version},
            )
        )
        for version in ran
    }
    assert sum(per_version.values()) == 12
    assert per_version == {v: sum(c.executed_version == v for c in calls) for v in ran}
    assert sum(metrics.values("Errors", "Sum", {"FunctionName": name})) == 4
    hits = metrics.values("Hits", "Sum", {"service": service}, namespace="SandboxTest")
    assert sum(hits) == 12
    lines = [line for stream in log_streams(aws_env, name).values() for line in stream]
    assert sum(line.startswith("REPORT RequestId:") for line in lines) == 12
    assert "handled 5" in lines
