"""CloudWatch histograms, percentiles, trimmed counts and percentile ranks in the sandbox
(promote.sandbox.moto_percentiles), through boto3 as a canary analysis reads them."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from promote.sandbox import Sandbox
from promote.sandbox.invocation import account_session

ACCOUNT, REGION = "815856636111", "eu-west-1"  # Tebogo-sit
AT = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)


@pytest.fixture
def cloudwatch(sandbox: Sandbox) -> Any:
    return account_session(sandbox.endpoint, ACCOUNT, REGION).client(
        "cloudwatch", endpoint_url=sandbox.endpoint
    )


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def datum(name: str, dims: dict[str, str], second: int = 0, **values: Any) -> dict[str, Any]:
    return {
        "MetricName": name,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
        "Timestamp": AT + timedelta(seconds=second),
        "Unit": "Milliseconds",
        "StorageResolution": 1,
        **values,
    }


def stats(
    cloudwatch: Any,
    namespace: str,
    name: str,
    dims: dict[str, str],
    *wanted: str,
    scan: str = "TimestampAscending",
) -> dict[str, list[float]]:
    """{stat: values} of GetMetricData with Period=1 over [AT, AT + 10 s)."""
    queries = [
        {
            "Id": f"q{n}",
            "MetricStat": {
                "Metric": {
                    "Namespace": namespace,
                    "MetricName": name,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                },
                "Period": 1,
                "Stat": stat,
            },
        }
        for n, stat in enumerate(wanted)
    ]
    answer = cloudwatch.get_metric_data(
        MetricDataQueries=queries, StartTime=AT, EndTime=AT + timedelta(seconds=10), ScanBy=scan
    )
    return {stat: r["Values"] for stat, r in zip(wanted, answer["MetricDataResults"], strict=True)}


def stored(namespace: str) -> list[Any]:
    from moto.cloudwatch.models import cloudwatch_backends

    return [d for d in cloudwatch_backends[ACCOUNT][REGION].metric_data if d.namespace == namespace]


def test_a_histogram_is_one_datum_and_answers_the_basic_statistics(cloudwatch: Any) -> None:
    namespace, dims = unique("ns"), {"v": "1"}
    histogram = datum("Latency", dims, Values=[10.0, 20.0, 1000.0], Counts=[50.0, 40.0, 10.0])
    cloudwatch.put_metric_data(Namespace=namespace, MetricData=[histogram])

    assert len(stored(namespace)) == 1  # moto alone would store 100
    basic = ("Sum", "SampleCount", "Average", "Minimum", "Maximum")
    assert stats(cloudwatch, namespace, "Latency", dims, *basic) == {
        "Sum": [11300.0],
        "SampleCount": [100.0],
        "Average": [113.0],
        "Minimum": [10.0],
        "Maximum": [1000.0],
    }


def test_percentiles_are_nearest_rank_over_histograms_and_single_values(cloudwatch: Any) -> None:
    namespace, dims = unique("ns"), {"v": "1"}
    cloudwatch.put_metric_data(
        Namespace=namespace,
        MetricData=[
            datum("Latency", dims, Values=[float(v) for v in range(1, 91)]),  # 1..90, once each
            *(datum("Latency", dims, Value=float(v)) for v in range(91, 101)),
            datum("Latency", dims, second=1, Values=[5.0], Counts=[3.0]),
        ],
    )
    found = stats(cloudwatch, namespace, "Latency", dims, "p50", "p95", "p99.5", "p100", "p0")
    assert found == {
        "p50": [50.0, 5.0],
        "p95": [95.0, 5.0],
        "p99.5": [100.0, 5.0],
        "p100": [100.0, 5.0],
        "p0": [1.0, 5.0],
    }


def test_trimmed_counts_exclude_the_lower_bound_and_include_the_upper(cloudwatch: Any) -> None:
    """As CloudWatch documents TC(0.005:0.030): between 0.005 (exclusive) and 0.030
    (inclusive); PR likewise, as a percentage."""
    namespace, dims = unique("ns"), {"v": "1"}
    values = [100.0, 999.9, 1000.0, 1000.1, 2000.0]
    cloudwatch.put_metric_data(
        Namespace=namespace, MetricData=[datum("Latency", dims, Values=values)]
    )
    found = stats(
        cloudwatch,
        namespace,
        "Latency",
        dims,
        *("TC(1000:)", "TC(999.999:)", "TC(:1000)", "TC(999.9:1000.1)", "TC(:)"),
        *("PR(:1000)", "PR(1000:)", "TS(1000:)", "TM(:1000)"),
    )
    assert found == {
        "TC(1000:)": [2.0],  # 1000.1 and 2000: 1000 itself is not above the bound
        "TC(999.999:)": [3.0],  # a hair below 1000: "at least 1000"
        "TC(:1000)": [3.0],
        "TC(999.9:1000.1)": [2.0],
        "TC(:)": [5.0],
        "PR(:1000)": [60.0],
        "PR(1000:)": [40.0],
        "TS(1000:)": [3000.1],
        "TM(:1000)": [pytest.approx(699.9667, abs=1e-3)],
    }


def test_statistic_sets_count_for_percentiles_only_when_cloudwatch_can_use_them(
    cloudwatch: Any,
) -> None:
    namespace, dims = unique("ns"), {"v": "1"}
    same = {"Sum": 40.0, "SampleCount": 4.0, "Minimum": 10.0, "Maximum": 10.0}
    mixed = {"Sum": 30.0, "SampleCount": 2.0, "Minimum": 5.0, "Maximum": 25.0}
    cloudwatch.put_metric_data(
        Namespace=namespace,
        MetricData=[
            datum("Latency", dims, StatisticValues=same),  # four values of 10
            datum("Latency", dims, StatisticValues=mixed),  # two values, unknown which
            datum("Latency", dims, Values=[100.0]),
        ],
    )
    found = stats(cloudwatch, namespace, "Latency", dims, "Sum", "SampleCount", "TC(:)", "p50")
    assert found == {"Sum": [170.0], "SampleCount": [7.0], "TC(:)": [5.0], "p50": [10.0]}


def test_a_query_matches_its_namespace_and_exactly_its_dimensions(cloudwatch: Any) -> None:
    one, other = unique("ns"), unique("ns")
    version = {"FunctionName": "f", "ExecutedVersion": "1"}
    cloudwatch.put_metric_data(
        Namespace=one,
        MetricData=[
            datum("Requests", version, Value=1.0),
            datum("Requests", {"FunctionName": "f"}, Value=10.0),
            datum("Requests", {}, Value=100.0),
        ],
    )
    cloudwatch.put_metric_data(Namespace=other, MetricData=[datum("Requests", version, Value=5.0)])
    assert stats(cloudwatch, one, "Requests", version, "Sum") == {"Sum": [1.0]}
    assert stats(cloudwatch, other, "Requests", version, "Sum") == {"Sum": [5.0]}
    assert stats(cloudwatch, one, "Requests", {"FunctionName": "f"}, "Sum") == {"Sum": [10.0]}
    assert stats(cloudwatch, one, "Requests", {}, "Sum") == {"Sum": [100.0]}


def test_periods_in_either_order(cloudwatch: Any) -> None:
    namespace, dims = unique("ns"), {"v": "1"}
    cloudwatch.put_metric_data(
        Namespace=namespace,
        MetricData=[datum("Latency", dims, second=s, Values=[float(s)]) for s in (3, 0, 7)],
    )
    assert stats(cloudwatch, namespace, "Latency", dims, "p50") == {"p50": [0.0, 3.0, 7.0]}
    descending = stats(cloudwatch, namespace, "Latency", dims, "p50", scan="TimestampDescending")
    assert descending == {"p50": [7.0, 3.0, 0.0]}


def test_an_expression_reads_a_percentile_query(cloudwatch: Any) -> None:
    """moto's metric math resolves a query's id (and nothing more): it gets our values."""
    namespace, dims = unique("ns"), {"v": "1"}
    cloudwatch.put_metric_data(
        Namespace=namespace, MetricData=[datum("Latency", dims, Values=[10.0, 20.0])]
    )
    metric = {
        "Namespace": namespace,
        "MetricName": "Latency",
        "Dimensions": [{"Name": "v", "Value": "1"}],
    }
    slow = {"Metric": metric, "Period": 1, "Stat": "TC(15:)"}
    answer = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {"Id": "slow", "MetricStat": slow, "ReturnData": False},
            {"Id": "shown", "Expression": "slow"},
        ],
        StartTime=AT,
        EndTime=AT + timedelta(seconds=10),
    )
    [shown] = answer["MetricDataResults"]
    assert (shown["Id"], shown["Values"]) == ("shown", [1.0])


def test_get_metric_statistics_answers_extended_statistics(cloudwatch: Any) -> None:
    namespace, dims = unique("ns"), {"v": "1"}
    cloudwatch.put_metric_data(
        Namespace=namespace,
        MetricData=[datum("Latency", dims, Values=[10.0, 20.0, 30.0, 40.0], Counts=[1, 1, 1, 97])],
    )
    [point] = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName="Latency",
        Dimensions=[{"Name": "v", "Value": "1"}],
        StartTime=AT,
        EndTime=AT + timedelta(seconds=10),
        Period=1,
        Statistics=["SampleCount"],
        ExtendedStatistics=["p50", "TC(:20)"],
    )["Datapoints"]
    assert point["SampleCount"] == 100
    assert point["ExtendedStatistics"] == {"p50": 40.0, "TC(:20)": 2.0}


def code(error: pytest.ExceptionInfo[ClientError]) -> str:
    answer: Any = error.value.response
    return str(answer["Error"]["Code"])


def test_what_cloudwatch_refuses_is_refused(cloudwatch: Any) -> None:
    namespace, dims = unique("ns"), {"v": "1"}
    with pytest.raises(ClientError) as too_many:
        cloudwatch.put_metric_data(
            Namespace=namespace,
            MetricData=[datum("Latency", dims, Values=[float(v) for v in range(151)])],
        )
    assert code(too_many) == "InvalidParameterValue"
    with pytest.raises(ClientError) as unknown:  # a trimmed mean of percentages: not here
        stats(cloudwatch, namespace, "Latency", dims, "tm90")
    assert code(unknown) == "InvalidParameterValue"


def test_a_minute_is_quick_to_read_after_an_hour_of_traffic(cloudwatch: Any) -> None:
    """An hour of one function's telemetry, as telemetry sends it (a datum per series and
    second): 40 series. Reading one minute of four of them costs what that minute holds."""
    from moto.cloudwatch.models import cloudwatch_backends

    namespace, backend = unique("ns"), cloudwatch_backends[ACCOUNT][REGION]
    start = AT - timedelta(seconds=3590)  # its last ten seconds are the ten read
    for second in range(3600):
        backend.put_metric_data(
            namespace,
            [
                {
                    "MetricName": name,
                    "Dimensions": [{"Name": "v", "Value": str(v)}],
                    "Timestamp": start + timedelta(seconds=second),
                    "Values": [1.0, 2.0, 3.0],
                    "Counts": [50.0, 30.0, 20.0],
                }
                for name in ("Requests", "Errors", "Latency", "Throttles")
                for v in range(10)
            ],
        )
    stats(cloudwatch, namespace, "Latency", {"v": "0"}, "Sum")  # the index catches up once
    began = time.perf_counter()
    found = stats(cloudwatch, namespace, "Latency", {"v": "1"}, "Sum", "p95", "TC(1:)", "PR(:2)")
    elapsed = time.perf_counter() - began
    assert found == {
        "Sum": [170.0] * 10,
        "p95": [3.0] * 10,
        "TC(1:)": [50.0] * 10,
        "PR(:2)": [80.0] * 10,
    }
    assert elapsed < 0.5, f"GetMetricData took {elapsed:.2f}s"
