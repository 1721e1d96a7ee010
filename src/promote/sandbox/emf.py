"""CloudWatch Embedded Metric Format: the metric datums in a function's log lines.

Pure. A line is EMF when it is a JSON object with an ``_aws`` key, as Powertools' ``Metrics``
prints it::

    {"_aws": {"Timestamp": 1700000000000,
              "CloudWatchMetrics": [{"Namespace": "BBWS",
                                     "Dimensions": [["service"]],
                                     "Metrics": [{"Name": "OrderPlaced", "Unit": "Count",
                                                  "StorageResolution": 1}]}]},
     "service": "orders", "OrderPlaced": [1.0, 2.0]}

Each directive yields one datum per metric and dimension set. CloudWatch drops what it cannot
ingest rather than failing the log line, so do we: a malformed line, directive or metric is
skipped, and :func:`parse_line` never raises.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

# CloudWatch's StandardUnit values; anything else is stored as "None", as the EMF spec says.
UNITS = frozenset(
    {
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    }
)
HIGH_RESOLUTION, STANDARD_RESOLUTION = 1, 60
# The EMF spec's limits: beyond them CloudWatch rejects the metric.
MAX_DIMENSIONS, MAX_VALUES = 30, 100


@dataclass(frozen=True)
class MetricDatum:
    """One metric of one EMF line, under one of its dimension sets."""

    namespace: str
    name: str
    unit: str
    values: tuple[float, ...]
    dimensions: Mapping[str, str]
    timestamp: float  # epoch seconds
    storage_resolution: int = STANDARD_RESOLUTION


def parse_lines(lines: Iterable[str]) -> list[MetricDatum]:
    """Every datum in ``lines``, in order; lines that are not EMF are skipped."""
    return [datum for line in lines for datum in parse_line(line)]


def parse_line(line: str) -> list[MetricDatum]:
    """The datums of one log line: none when it is not valid EMF."""
    text = line.strip()
    if not text.startswith("{"):
        return []  # cheap: most lines are not JSON at all
    try:
        root = json.loads(text)
    except ValueError:
        return []
    if not isinstance(root, dict):
        return []
    meta = root.get("_aws")
    if not isinstance(meta, dict):
        return []
    timestamp = meta.get("Timestamp")
    directives = meta.get("CloudWatchMetrics")
    if not _is_number(timestamp) or not isinstance(directives, list):
        return []
    seconds = float(timestamp) / 1000
    return [
        datum
        for directive in directives
        if isinstance(directive, dict)
        for datum in _directive(directive, root, seconds)
    ]


def _directive(
    directive: dict[str, Any], root: dict[str, Any], seconds: float
) -> list[MetricDatum]:
    namespace = directive.get("Namespace")
    metrics = directive.get("Metrics")
    if not isinstance(namespace, str) or not namespace or not isinstance(metrics, list):
        return []
    dimension_sets = _dimension_sets(directive.get("Dimensions", [[]]), root)
    if dimension_sets is None:
        return []
    datums: list[MetricDatum] = []
    for metric in metrics:
        found = _metric(metric, root)
        if found is None:
            continue
        name, unit, values, resolution = found
        datums.extend(
            MetricDatum(namespace, name, unit, values, dimensions, seconds, resolution)
            for dimensions in dimension_sets
        )
    return datums


def _dimension_sets(raw: Any, root: dict[str, Any]) -> list[dict[str, str]] | None:
    """Each set's names with their values from the root; None when any set is invalid
    (CloudWatch rejects the whole directive then)."""
    if not isinstance(raw, list):
        return None
    sets: list[dict[str, str]] = []
    for names in raw:
        if not isinstance(names, list) or len(names) > MAX_DIMENSIONS:
            return None
        values = {name: root.get(name) for name in names if isinstance(name, str)}
        if len(values) != len(names) or not all(isinstance(v, str) for v in values.values()):
            return None
        sets.append({name: str(value) for name, value in values.items()})
    return sets or [{}]


def _metric(metric: Any, root: dict[str, Any]) -> tuple[str, str, tuple[float, ...], int] | None:
    """A metric definition's name, unit, values and resolution; None when unusable."""
    if not isinstance(metric, dict):
        return None
    name = metric.get("Name")
    if not isinstance(name, str) or not name:
        return None
    values = _values(root.get(name))
    if not values:
        return None
    unit = metric.get("Unit", "None")
    resolution = metric.get("StorageResolution", STANDARD_RESOLUTION)
    if resolution not in (HIGH_RESOLUTION, STANDARD_RESOLUTION):
        return None
    known = isinstance(unit, str) and unit in UNITS
    return name, unit if known else "None", values, int(resolution)


def _values(raw: Any) -> tuple[float, ...]:
    items = raw if isinstance(raw, list) else [raw]
    if len(items) > MAX_VALUES or not all(_is_number(item) for item in items):
        return ()
    return tuple(float(item) for item in items)


def _is_number(value: object) -> TypeGuard[float]:
    # bool is an int in Python, never a metric value in JSON; NaN and infinities are rejected.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
