"""Building blocks of the estate model: a strict base model, durations and metric conditions.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import functools
import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer

from promote.suggest import did_you_mean

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


class StrictModel(BaseModel):
    """Unknown keys are errors (the loader suggests the closest known key); values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def parse_duration(value: Any) -> Any:
    """``90``, ``"500ms"``, ``"15m"``, ``"1h30m"``, ``"48h"`` -> timedelta. Others pass through."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 15m, got a boolean")
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    if not isinstance(value, str):
        return value
    return _parse_duration_text(value)


@functools.lru_cache(maxsize=1024)
def _parse_duration_text(value: str) -> timedelta:
    # Cached: estates repeat a handful of durations ("15m", "30m") thousands of times.
    text = value.strip().replace(" ", "")
    if not text or _DURATION_PART.sub("", text):
        raise ValueError(f"invalid duration {value!r}: write e.g. 30s, 15m, 1h30m or 48h")
    seconds = sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds == 0 and delta.total_seconds() > 0:
        return f"{int(delta.total_seconds() * 1000)}ms"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]


class MetricUnit(StrEnum):
    RATIO = "ratio"  # written with %, stored as a fraction
    SECONDS = "seconds"  # written with ms, s or m
    COUNT = "count"  # a plain number


class Metric(StrEnum):
    """The metrics the runbooks watch. Each has one unit, so `error_rate > 2s` is an error."""

    ERROR_RATE = "error_rate"
    LATENCY_P50 = "latency_p50"
    LATENCY_P95 = "latency_p95"
    LATENCY_P99 = "latency_p99"
    THROTTLES = "throttles"
    THROTTLES_PER_MINUTE = "throttles_per_minute"
    DLQ_DEPTH = "dlq_depth"
    DYNAMODB_THROTTLES = "dynamodb_throttles"
    HTTP_4XX_RATE = "http_4xx_rate"
    HTTP_5XX_RATE = "http_5xx_rate"
    S3_4XX_RATE = "s3_4xx_rate"
    S3_5XX_RATE = "s3_5xx_rate"
    CACHE_HIT_RATIO = "cache_hit_ratio"
    DELIVERY_SUCCESS_RATE = "delivery_success_rate"
    ORIGIN_LATENCY_P95 = "origin_latency_p95"
    EDGE_ERROR_RATE = "edge_error_rate"
    EDGE_LATENCY_P95 = "edge_latency_p95"
    PAGE_LOAD_P95 = "page_load_p95"
    DATA_TRANSFER_TB_PER_DAY = "data_transfer_tb_per_day"

    @property
    def unit(self) -> MetricUnit:
        if self.name.endswith(("_RATE", "_RATIO")):
            return MetricUnit.RATIO
        if "LATENCY" in self.name or self.name.endswith("_P95"):
            return MetricUnit.SECONDS
        return MetricUnit.COUNT


_CONDITION = re.compile(
    r"^\s*(?P<metric>[a-z0-9_]+)\s*(?P<op><=|>=|<|>|==)\s*"
    r"(?P<number>-?\d+(?:\.\d+)?)\s*(?P<unit>%|ms|s|m)?\s*$"
)
_OPERATORS = {"<", "<=", ">", ">=", "=="}


class Condition(StrictModel):
    """``metric op threshold``, e.g. ``error_rate > 5%`` or ``latency_p95 > 2s``.

    The threshold is stored in the metric's canonical unit: a fraction for rates,
    seconds for latencies, a plain number for counts.
    """

    metric: Metric
    op: str
    threshold: float
    text: str

    def __str__(self) -> str:
        return self.text


def parse_condition(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    match = _CONDITION.match(value)
    if not match:
        raise ValueError(
            f"invalid condition {value!r}: write `metric op value`, e.g. `error_rate > 5%`"
        )
    name, op, number, unit = match.group("metric", "op", "number", "unit")
    try:
        metric = Metric(name)
    except ValueError:
        raise ValueError(
            f"unknown metric `{name}`{did_you_mean(name, [m.value for m in Metric])}"
        ) from None
    threshold = _threshold(metric, float(number), unit, value)
    return {"metric": metric, "op": op, "threshold": threshold, "text": value.strip()}


def _threshold(metric: Metric, number: float, unit: str | None, text: str) -> float:
    expected = metric.unit
    if expected is MetricUnit.RATIO:
        if unit != "%":
            raise ValueError(f"`{metric.value}` is a rate: write the threshold with % ({text!r})")
        return number / 100
    if expected is MetricUnit.SECONDS:
        if unit not in {"ms", "s", "m"}:
            raise ValueError(f"`{metric.value}` is a latency: give a unit, ms, s or m ({text!r})")
        return number * _UNIT_SECONDS[unit]
    if unit is not None:
        raise ValueError(f"`{metric.value}` is a count: write a plain number ({text!r})")
    return number


MetricCondition = Annotated[Condition, BeforeValidator(parse_condition)]


class Summarised(StrictModel):
    """One-line summaries for plans: ``name (kind target)``. Subclasses say which field holds
    their kind (``check`` or ``kind``) and which names what they act on."""

    kind_field: ClassVar[str] = "kind"
    target_field: ClassVar[str] = ""

    def summary(self) -> str:
        kind = str(getattr(self, self.kind_field, ""))
        target = str(getattr(self, self.target_field, "")) if self.target_field else ""
        label = f"{kind} {target}".strip()
        name = getattr(self, "name", None)
        return f"{name} ({label})" if name else label


class EnvironmentScoped(StrictModel):
    """Anything that can be limited to some environments with ``environments: [sit, prod]``."""

    environments: list[str] | None = None

    def applies_to(self, environment: str) -> bool:
        return self.environments is None or environment in self.environments
