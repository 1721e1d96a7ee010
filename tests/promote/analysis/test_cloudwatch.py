"""CloudWatchMetrics reads per-version buckets: the queries it asks (against a fake client),
and end to end in the sandbox, a BBWS service behind a weighted alias whose canary has its
faults turned on."""

from __future__ import annotations

import json
import math
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config

from promote.analysis.cloudwatch import CloudWatchMetrics, MetricsUnavailable
from promote.analysis.observations import Query, Scope, Subject
from promote.cli import check_estate
from promote.sandbox import Sandbox
from tests.bbws.services.support import rest_event
from tests.promote.sandbox.conftest import AWS_VARIABLES, BBWS, data_plane
from tests.promote.sandbox.functions import deploy, point_alias

SIT, REGION = "815856636111", "eu-west-1"
ALL = frozenset(Scope)


# --- against a fake client ------------------------------------------------------------------


class FakeCloudWatch:
    """Answers GetMetricData from ``data``: (metric name, ExecutedVersion or None, stat) ->
    {epoch second: value}, in pages of ``page`` results; records what it was asked."""

    def __init__(self, data: dict[tuple[str, str | None, str], dict[int, float]], page: int = 7):
        self.data = data
        self.page = page
        self.requests: list[dict[str, Any]] = []

    def get_metric_data(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        offset = int(request.get("NextToken", 0))
        results = []
        for query in request["MetricDataQueries"][offset : offset + self.page]:
            stat = query["MetricStat"]
            dims = {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]}
            key = (stat["Metric"]["MetricName"], dims.get("ExecutedVersion"), stat["Stat"])
            found = self.data.get(key, {})
            results.append(
                {
                    "Id": query["Id"],
                    "Label": query["Label"],
                    "Timestamps": [datetime.fromtimestamp(s, UTC) for s in found],
                    "Values": list(found.values()),
                    "StatusCode": "Complete",
                }
            )
        answer: dict[str, Any] = {"MetricDataResults": results}
        if offset + self.page < len(request["MetricDataQueries"]):
            answer["NextToken"] = str(offset + self.page)
        return answer

    def queries(self) -> list[dict[str, Any]]:
        return [q for r in self.requests if "NextToken" not in r for q in r["MetricDataQueries"]]


SUBJECT = Subject(
    function="orders",
    alias="live",
    canary="2",
    baseline="1",
    namespace="BBWS",
    dimensions={"service": "orders"},
)


def test_the_queries_name_each_versions_metrics_and_statistics() -> None:
    fake = FakeCloudWatch({})
    query = Query(frozenset({Scope.WRITES}), frozenset({1.0, 0.25}))
    CloudWatchMetrics(fake).observe(SUBJECT, 100.0, 160.0, query)

    request = fake.requests[0]
    assert (request["StartTime"].timestamp(), request["EndTime"].timestamp()) == (100, 160)
    assert request["ScanBy"] == "TimestampAscending"
    asked = {
        (
            q["MetricStat"]["Metric"]["Namespace"],
            q["MetricStat"]["Metric"]["MetricName"],
            json.dumps(
                {d["Name"]: d["Value"] for d in q["MetricStat"]["Metric"]["Dimensions"]},
                sort_keys=True,
            ),
            q["MetricStat"]["Stat"],
            q["MetricStat"]["Period"],
        )
        for q in fake.queries()
    }
    emf = json.dumps(
        {"service": "orders", "ExecutedVersion": "2", "operation": "write"}, sort_keys=True
    )
    alias = {"FunctionName": "orders", "Resource": "orders:live"}
    assert {
        ("BBWS", "Requests", emf, "Sum", 1),
        ("BBWS", "Errors", emf, "Sum", 1),
        ("BBWS", "Latency", emf, "p95", 1),
        ("BBWS", "Latency", emf, "TC(999.999:)", 1),  # at least 1 s: the bound is exclusive
        ("BBWS", "Latency", emf, "TC(249.999:)", 1),
        (
            "AWS/Lambda",
            "Throttles",
            json.dumps({**alias, "ExecutedVersion": "2"}, sort_keys=True),
            "Sum",
            1,
        ),
        ("AWS/Lambda", "Throttles", json.dumps(alias, sort_keys=True), "Sum", 1),
    } <= asked
    assert not any('"read"' in dims for _, _, dims, _, _ in asked)  # only writes were asked
    assert len(asked) == 2 * 5 + 2 + 1


def test_buckets_per_second_scopes_summed_and_pages_followed() -> None:
    fake = FakeCloudWatch(
        {
            ("Requests", "2", "Sum"): {100: 4, 101: 2},
            ("Errors", "2", "Sum"): {100: 1, 101: 0},
            ("Latency", "2", "TC(999.999:)"): {100: 1, 101: 0},
            ("Latency", "2", "p95"): {100: 1200.0, 101: 80.0},
            ("Requests", "1", "Sum"): {101: 10},
            ("Throttles", "2", "Sum"): {102: 3},
            ("Throttles", None, "Sum"): {102: 3, 103: 2},  # 2 never given a version
        },
        page=3,
    )
    query = Query(ALL, frozenset({1.0}))
    seen = CloudWatchMetrics(fake).observe(SUBJECT, 100.0, 110.0, query)

    canary = seen.canary_series(Scope.ALL)
    # reads and writes each answer the same fake data: all is twice each
    assert [(b.start, b.requests, b.errors, b.throttles) for b in canary.buckets] == [
        (100, 8, 2, 0),
        (101, 4, 0, 0),
        (102, 0, 0, 3),
        (103, 0, 0, 2),
    ]
    assert canary.buckets[0].slower_than(1.0) == 2 and canary.buckets[0].latency_p95 == 1.2
    assert seen.canary_series(Scope.READS).requests == 6
    assert seen.canary_series(Scope.READS).throttles == 5  # a throttle may have been a read
    baseline = seen.baseline_series(Scope.ALL)
    assert [(b.start, b.requests, b.throttles) for b in baseline.buckets] == [
        (101, 20, 0),
        (103, 0, 2),  # the alias' unattributed throttle goes to both versions
    ]
    assert len(fake.requests) > 1  # the pages were followed


def test_without_a_namespace_lambdas_own_metrics_stand_in() -> None:
    fake = FakeCloudWatch(
        {
            ("Invocations", "2", "Sum"): {100: 5},
            ("Errors", "2", "Sum"): {100: 1},
            ("Duration", "2", "TC(499.999:)"): {100: 2},
        }
    )
    subject = Subject(function="orders", alias="live", canary="2")
    seen = CloudWatchMetrics(fake).observe(subject, 100.0, 101.0, Query(ALL, frozenset({0.5})))

    [bucket] = seen.canary_series(Scope.ALL).buckets
    assert (bucket.requests, bucket.errors, bucket.slower_than(0.5)) == (5, 1, 2)
    assert seen.canary_series(Scope.READS).buckets == ()  # Lambda cannot tell reads apart
    assert seen.baseline == {}
    metrics = {q["MetricStat"]["Metric"]["MetricName"] for q in fake.queries()}
    assert metrics == {"Invocations", "Errors", "Duration", "Throttles"}


def test_aws_failures_raise_metrics_unavailable() -> None:
    from botocore.exceptions import ClientError

    class Refusing:
        def get_metric_data(self, **request: Any) -> dict[str, Any]:
            error = {"Error": {"Code": "AccessDenied", "Message": "no"}}
            raise ClientError(error, "GetMetricData")  # type: ignore[arg-type]

    with pytest.raises(MetricsUnavailable, match="AccessDenied"):
        CloudWatchMetrics(Refusing()).observe(SUBJECT, 100.0, 110.0, Query())


# --- end to end in the sandbox ---------------------------------------------------------------

WIDGETS = """
from bbws.services.app import build_handler, make_app

app = make_app("widgets")


@app.get("/widgets")
def list_widgets() -> dict:
    return {"widgets": []}


@app.post("/widgets")
def create_widget() -> tuple[dict, int]:
    return {"id": "w1"}, 201


handler = build_handler(app)
"""


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """The BBWS estate's sandbox with its data plane, boto3 pointed at its profiles."""
    estate, _, _ = check_estate(BBWS)
    assert estate is not None
    with (
        data_plane(estate, tmp_path_factory.mktemp("cloudwatch") / "state") as running,
        pytest.MonkeyPatch.context() as patch,
    ):
        for variable in AWS_VARIABLES:
            patch.delenv(variable, raising=False)
        patch.setenv("AWS_CONFIG_FILE", str(running.state_dir / "config"))
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(running.state_dir / "credentials"))
        yield running


def sit() -> boto3.Session:
    return boto3.Session(profile_name="Tebogo-sit")


def environment(sandbox: Sandbox, **faults: str) -> dict[str, str]:
    issuers = sandbox.services.issuers
    return {
        "BBWS_ENV": "sit",
        "BBWS_DOMAIN": "sit.kimmyai.io",
        "JWKS_URL": issuers.jwks_url("sit"),
        "JWT_ISSUER": issuers.issuer("sit"),
        "BBWS_CURSOR_KEY": "sandbox-cursor-key-0123456789abcdef-0123",
        **faults,
    }


def test_observe_counts_what_each_version_behind_the_alias_did(sandbox: Sandbox) -> None:
    """v1 is healthy; v2 (the canary, half the traffic) fails every request after a 120 ms
    delay. What the callers saw is what the observation says, per version and scope."""
    session = sit()
    name = f"widgets-{uuid.uuid4().hex[:8]}"
    stable = deploy(session, name, WIDGETS, environment=environment(sandbox), timeout=10)
    faults = {"BBWS_FAULT_ERROR_RATE": "1", "BBWS_FAULT_LATENCY_MS": "120"}
    canary = deploy(session, name, WIDGETS, environment=environment(sandbox, **faults), timeout=10)
    point_alias(session, name, stable, weights={canary: 0.5})
    token = sandbox.services.issuers.mint("sit", tenant="t1", groups=["admin"])
    client = session.client("lambda")

    def call(method: str, qualifier: str = "live") -> Any:
        body = {"name": "lamp"} if method == "POST" else None
        event = rest_event(
            method, "/widgets", headers={"Authorization": f"Bearer {token}"}, body=body
        )
        return client.invoke(FunctionName=name, Qualifier=qualifier, Payload=json.dumps(event))

    # Warm each version (its worker's imports, its first JWKS fetch) outside the window.
    for version in (stable, canary):
        call("GET", version)
    time.sleep(math.ceil(time.time()) - time.time())
    start = time.time()
    seen: Counter[tuple[str, str, int]] = Counter()
    for n in range(24):
        method = "POST" if n % 3 == 0 else "GET"
        answer = call(method)
        payload = json.loads(answer["Payload"].read())
        assert "statusCode" in payload, payload
        status = payload["statusCode"]
        seen[answer["ExecutedVersion"], method, status] += 1
    end = time.time() + 1
    sandbox.services.telemetry.flush()

    def count(version: str, methods: tuple[str, ...] = ("GET", "POST"), status: int = 0) -> int:
        return sum(
            n
            for (v, m, s), n in seen.items()
            if v == version and m in methods and (not status or s == status)
        )

    assert count(canary) and count(stable), seen  # both versions served
    assert count(canary, status=500) == count(canary)  # every canary request failed
    assert count(stable, status=500) == 0

    metrics = CloudWatchMetrics(session.client("cloudwatch"))
    subject = Subject(name, "live", canary, stable, "BBWS", {"service": "widgets"})
    seen_by_cw = metrics.observe(subject, start, end, Query(ALL, frozenset({0.1})))

    for version, series in ((canary, seen_by_cw.canary), (stable, seen_by_cw.baseline)):
        for scope, methods in (
            (Scope.ALL, ("GET", "POST")),
            (Scope.READS, ("GET",)),
            (Scope.WRITES, ("POST",)),
        ):
            assert series[scope].requests == count(version, methods), (version, scope)
            assert series[scope].throttles == 0
    canary_all, stable_all = (
        seen_by_cw.canary_series(Scope.ALL),
        seen_by_cw.baseline_series(Scope.ALL),
    )
    assert canary_all.errors == count(canary) and stable_all.errors == 0
    assert canary_all.slower_than(0.1) == count(canary)  # the injected 120 ms
    assert stable_all.slower_than(0.1) == 0
    assert all(b.latency_p95 and b.latency_p95 >= 0.12 for b in canary_all.buckets)
    assert all(math.floor(start) <= b.start < end for b in canary_all.buckets)

    # Lambda's own metrics: the same requests; a 500 answer is not a function error.
    lambda_only = Subject(name, "live", canary, stable)
    by_lambda = metrics.observe(lambda_only, start, end, Query(ALL, frozenset({0.1})))
    assert by_lambda.canary_series(Scope.ALL).requests == count(canary)
    assert by_lambda.baseline_series(Scope.ALL).requests == count(stable)
    assert by_lambda.canary_series(Scope.ALL).errors == 0
    assert by_lambda.canary_series(Scope.ALL).slower_than(0.1) == count(canary)
    assert by_lambda.canary_series(Scope.WRITES).buckets == ()


def test_throttles_reach_the_versions_that_were_denied(sandbox: Sandbox) -> None:
    session = sit()
    name = f"throttled-{uuid.uuid4().hex[:8]}"
    source = "def handler(event, context):\n    return {}\n"
    one = deploy(session, name, source)
    two = deploy(session, name, source + "# two\n")
    point_alias(session, name, one, weights={two: 0.5})
    # No retries: each call is one throttle.
    client = session.client("lambda", config=Config(retries={"total_max_attempts": 1}))
    client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)

    start = time.time()
    for _ in range(6):
        with pytest.raises(client.exceptions.TooManyRequestsException):
            client.invoke(FunctionName=name, Qualifier="live", Payload=b"{}")
    end = time.time() + 1
    sandbox.services.telemetry.flush()

    metrics = CloudWatchMetrics.from_session(session)  # as the engine has its sessions
    seen = metrics.observe(Subject(name, "live", two, one), start, end, Query())
    canary, baseline = seen.canary_series(Scope.ALL), seen.baseline_series(Scope.ALL)
    assert canary.throttles + baseline.throttles == 6
    assert canary.requests == baseline.requests == 0
