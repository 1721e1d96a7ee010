"""Gates and policies: approvals, traffic shifting, rollback triggers, alarms, success, soak."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from promote.model.base import Duration, EnvironmentScoped, MetricCondition, StrictModel


def _role_shorthand(value: Any) -> Any:
    return {"role": value} if isinstance(value, str) else value


class ApprovalRequirement(StrictModel):
    """``count`` distinct people holding ``role`` must approve (N of M)."""

    role: str
    count: int = Field(default=1, ge=1)


Approval = Annotated[ApprovalRequirement, BeforeValidator(_role_shorthand)]


class CanaryStep(StrictModel):
    weight: int = Field(ge=0, le=100)  # percent of traffic on the new version
    bake: Duration | None = None


def _percent(value: Any) -> Any:
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return float(value.strip()[:-1]) / 100
        except ValueError:
            raise ValueError(f"not a percentage: {value!r}") from None
    return value


Fraction = Annotated[float, BeforeValidator(_percent), Field(ge=0, le=1)]


class CanaryAnalysis(StrictModel):
    """How the engine judges each canary step while it bakes (promote.analysis): the
    project's rollback triggers and a sequential comparison with the stable version, about
    every ``interval``. ``inconclusive``: what a bake that ends without enough evidence does
    (extend it once then wait for a person, wait for a person at once, or fail)."""

    enabled: bool = True
    alpha: float = Field(default=0.01, gt=0, lt=0.5)
    interval: Duration = timedelta(seconds=1)
    # Latencies of a step's first seconds are not judged: a new version's cold starts.
    warmup: Duration = timedelta(seconds=10)
    min_samples: int = Field(default=50, ge=1)
    compare: bool = True
    inconclusive: Literal["extend_then_pause", "pause", "fail"] = "extend_then_pause"
    # For bake sizing in validate and plan: the traffic the service sees (requests a second),
    # the baseline error rate, and the canary error rate the bake must be able to catch
    # (by default the `error_rate >` rollback trigger's threshold).
    expected_rps: float | None = Field(default=None, gt=0)
    baseline_error_rate: Fraction = 0.001
    detect_error_rate: Fraction | None = None


class TrafficPolicy(StrictModel):
    """How traffic moves to a new version: ``canary`` steps, ``linear``, or ``all_at_once``."""

    strategy: Literal["canary", "linear", "all_at_once"] = "canary"
    steps: list[CanaryStep] = Field(default_factory=list)
    step_weight: int | None = Field(default=None, ge=1, le=100)  # linear
    interval: Duration | None = None  # linear
    analysis: CanaryAnalysis = Field(default_factory=CanaryAnalysis)

    @model_validator(mode="after")
    def _shape(self) -> TrafficPolicy:
        if self.strategy == "canary" and not self.steps:
            raise ValueError("a canary policy needs `steps`, e.g. [{weight: 10, bake: 15m}, ...]")
        if self.strategy == "linear" and (self.step_weight is None or self.interval is None):
            raise ValueError("a linear policy needs `step_weight` and `interval`")
        return self


def _exactly_one(model: StrictModel, *fields: str) -> None:
    given = [f for f in fields if getattr(model, f) is not None]
    if len(given) != 1:
        raise ValueError(f"give exactly one of {', '.join(f'`{f}`' for f in fields)}")


class RollbackTrigger(EnvironmentScoped):
    """``when`` a metric condition holds over ``window`` the release is rolled back; ``manual``
    triggers ("customer escalation") are recorded for people to act on."""

    when: MetricCondition | None = None
    manual: str | None = None
    window: Duration | None = None
    min_samples: int | None = Field(default=None, ge=1)
    scope: str | None = None  # e.g. "reads" or "writes"
    immediate: bool = False

    @model_validator(mode="after")
    def _kind(self) -> RollbackTrigger:
        _exactly_one(self, "when", "manual")
        return self


class Alarm(EnvironmentScoped):
    name: str
    when: MetricCondition
    scope: str | None = None  # e.g. "reads" or "writes"
    action: str | None = None


class SuccessCriterion(StrictModel):
    when: MetricCondition | None = None
    manual: str | None = None
    role: str | None = None  # who signs a manual criterion off
    scope: str | None = None  # e.g. "reads" or "writes"
    window: Duration | None = None

    @model_validator(mode="after")
    def _kind(self) -> SuccessCriterion:
        _exactly_one(self, "when", "manual")
        return self


class Soak(StrictModel):
    """N checkpoints spread over a duration; each evaluates the go/no-go criteria (on the
    traffic since the previous checkpoint), that every function is active, and that no alarm
    is in ALARM but the ``known_alarms``. ``manual`` items are signed off once it is over."""

    duration: Duration
    checkpoints: int = Field(ge=1)
    criteria: list[MetricCondition] = Field(default_factory=list)
    manual: list[str] = Field(default_factory=list)
    known_alarms: list[str] = Field(default_factory=list)
    alpha: float = Field(default=0.01, gt=0, lt=0.5)
    min_samples: int = Field(default=50, ge=1)


class PromotionPolicy(StrictModel):
    """Another way into ``environment`` than the promotion path: a release may enter it once
    it has succeeded in ``after`` (which need not be the environment before it on the
    path) and, with ``soak``, passed a soak there. ``promote run ENV --policy NAME`` uses it;
    the runbooks' "Immediate PROD" plan is one (PROD right after a passed SIT soak)."""

    environment: str
    after: str
    soak: bool = False
    description: str | None = None
