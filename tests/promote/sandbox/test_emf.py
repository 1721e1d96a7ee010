"""EMF parsing, against what Powertools' Metrics really prints."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricResolution, MetricUnit

from promote.sandbox.emf import MetricDatum, parse_line, parse_lines


def powertools_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    metrics = Metrics(namespace="BBWS", service="orders")
    metrics.add_dimension(name="Env", value="sit")
    metrics.add_metric(name="OrderPlaced", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="OrderPlaced", unit=MetricUnit.Count, value=2)
    metrics.add_metric(
        name="Latency", unit=MetricUnit.Milliseconds, value=12.5, resolution=MetricResolution.High
    )
    metrics.add_metadata(key="orderId", value="abc")
    metrics.flush_metrics()
    metrics.add_metric(name="Other", unit=MetricUnit.Count, value=3)
    metrics.flush_metrics()
    metrics.clear_metrics()
    return capsys.readouterr().out.splitlines()


def test_reads_what_powertools_prints(capsys: pytest.CaptureFixture[str]) -> None:
    lines = powertools_lines(capsys)
    datums = parse_lines(["START RequestId: 1", *lines, "plain text"])

    by_name = {d.name: d for d in datums}
    assert set(by_name) == {"OrderPlaced", "Latency", "Other"}
    placed = by_name["OrderPlaced"]
    assert placed.namespace == "BBWS"
    assert placed.unit == "Count"
    assert placed.values == (1.0, 2.0)
    assert placed.dimensions == {"Env": "sit", "service": "orders"}
    assert placed.storage_resolution == 60
    assert by_name["Latency"].storage_resolution == 1
    assert by_name["Latency"].unit == "Milliseconds"
    assert by_name["Other"].dimensions == {"service": "orders"}
    stamp = json.loads(lines[0])["_aws"]["Timestamp"]
    assert placed.timestamp == stamp / 1000


def emf(**overrides: Any) -> dict[str, Any]:
    line: dict[str, Any] = {
        "_aws": {
            "Timestamp": 1_700_000_000_500,
            "CloudWatchMetrics": [
                {
                    "Namespace": "NS",
                    "Dimensions": [["a"], ["a", "b"]],
                    "Metrics": [{"Name": "M", "Unit": "Count"}],
                }
            ],
        },
        "a": "1",
        "b": "2",
        "M": 5,
    }
    line.update(overrides)
    return line


def test_each_dimension_set_is_its_own_datum_and_scalars_are_values() -> None:
    datums = parse_line(json.dumps(emf()))
    assert datums == [
        MetricDatum("NS", "M", "Count", (5.0,), {"a": "1"}, 1_700_000_000.5),
        MetricDatum("NS", "M", "Count", (5.0,), {"a": "1", "b": "2"}, 1_700_000_000.5),
    ]


def test_no_dimensions_and_unknown_units_are_allowed() -> None:
    line = emf()
    line["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = []
    line["_aws"]["CloudWatchMetrics"][0]["Metrics"] = [{"Name": "M", "Unit": "Widgets"}]
    [datum] = parse_line(json.dumps(line))
    assert datum.dimensions == {}
    assert datum.unit == "None"


def broken(case: str) -> str:
    line = emf()
    directive = line["_aws"]["CloudWatchMetrics"][0]
    mutations: dict[str, Any] = {
        "not json": lambda: "{nope",
        "array": lambda: "[1, 2]",
        "no _aws": lambda: json.dumps({"M": 1}),
        "no timestamp": lambda: line["_aws"].pop("Timestamp"),
        "string timestamp": lambda: line["_aws"].update(Timestamp="now"),
        "no namespace": lambda: directive.pop("Namespace"),
        "missing dimension value": lambda: line.pop("b"),
        "numeric dimension value": lambda: line.update(a=1),
        "dimensions not lists": lambda: directive.update(Dimensions=["a"]),
        "missing value": lambda: line.pop("M"),
        "text value": lambda: line.update(M="5"),
        "bool value": lambda: line.update(M=True),
        "nan value": lambda: line.update(M=float("nan")),
        "too many values": lambda: line.update(M=list(range(101))),
        "bad resolution": lambda: directive["Metrics"][0].update(StorageResolution=5),
        "metric not an object": lambda: directive.update(Metrics=["M"]),
        "unhashable unit": lambda: directive["Metrics"][0].update(Unit=["Count"]),
    }
    replaced = mutations[case]()
    return replaced if isinstance(replaced, str) else json.dumps(line)


@pytest.mark.parametrize(
    "case",
    [
        "not json",
        "array",
        "no _aws",
        "no timestamp",
        "string timestamp",
        "no namespace",
        "missing dimension value",
        "numeric dimension value",
        "dimensions not lists",
        "missing value",
        "text value",
        "bool value",
        "nan value",
        "too many values",
        "bad resolution",
        "metric not an object",
    ],
)
def test_malformed_lines_yield_nothing(case: str) -> None:
    assert parse_line(broken(case)) == []


def test_an_unusable_unit_falls_back_to_none() -> None:
    assert {d.unit for d in parse_line(broken("unhashable unit"))} == {"None"}


def test_one_bad_metric_does_not_hide_the_others() -> None:
    line = emf(N=[1, 2])
    line["_aws"]["CloudWatchMetrics"][0]["Metrics"].append({"Name": "N"})
    line["_aws"]["CloudWatchMetrics"][0]["Metrics"].insert(0, {"Name": "Missing"})
    names = [d.name for d in parse_line(json.dumps(line))]
    assert names == ["M", "M", "N", "N"]
