"""A project: one deployable unit of the estate (a service, a stack, a site)."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, PrivateAttr

from promote.model.base import Duration, StrictModel
from promote.model.checks import Check
from promote.model.policies import (
    Alarm,
    Approval,
    RollbackTrigger,
    Soak,
    SuccessCriterion,
    TrafficPolicy,
)
from promote.model.steps import SmokeTest, Step


class ProjectKind(StrEnum):
    LAMBDA_API = "lambda-api"
    DYNAMODB_TABLES = "dynamodb-tables"
    S3_BUCKETS = "s3-buckets"
    STATIC_SITE = "static-site"
    ECS_PLATFORM = "ecs-platform"
    GENERIC = "generic"


def _dependency_shorthand(value: Any) -> Any:
    return {"project": value} if isinstance(value, str) else value


class Dependency(StrictModel):
    project: str
    reason: str | None = None


DependsOn = Annotated[Dependency, BeforeValidator(_dependency_shorthand)]


class ApiRoute(StrictModel):
    """Where a lambda-api is served: ``https://{api_domain}{base_path}/...`` reaches the
    function's alias (API Gateway's custom-domain base path mapping, as a REST proxy). The
    sandbox's gateway routes by it; templates may use the project's variables."""

    base_path: str = Field(pattern=r"^/[^\s?#]*[^/\s?#]$")
    function: str
    alias: str = "live"


class ArtifactSource(StrictModel):
    """How a release is built once and promoted unchanged: a deterministic zip of the files
    under ``source`` (relative to the estate's directory) that match ``include`` and not
    ``exclude`` (globs on the path below ``source``)."""

    source: str
    include: list[str] = Field(default_factory=lambda: ["**/*"])
    exclude: list[str] = Field(default_factory=lambda: ["**/__pycache__/**", "**/*.pyc"])


class ServiceMetrics(StrictModel):
    """Where the service's own per-version request metrics are (EMF): ``Requests``,
    ``Errors`` and ``Latency`` (ms) in ``namespace``, with these ``dimensions`` plus
    ``ExecutedVersion`` and ``operation`` (read or write). Without it the analysis reads
    Lambda's own per-version metrics (Invocations, Errors, Duration)."""

    namespace: str
    dimensions: dict[str, str] = Field(default_factory=dict)


class Project(StrictModel):
    name: str
    kind: ProjectKind
    wave: str
    depends_on: list[DependsOn] = Field(default_factory=list)
    repository: str | None = None
    description: str | None = None
    estimate: Duration = timedelta(minutes=15)
    # Per-project variables; they may use the environment's (${env}, ${api_domain}, ...).
    vars: dict[str, str] = Field(default_factory=dict)

    approvals: dict[str, list[Approval]] = Field(default_factory=dict)
    preconditions: list[Check] = Field(default_factory=list)
    steps: list[Step] = Field(default_factory=list)
    smoke_tests: list[SmokeTest] = Field(default_factory=list)
    canary: dict[str, TrafficPolicy] = Field(default_factory=dict)
    rollback_triggers: list[RollbackTrigger] = Field(default_factory=list)
    alarms: list[Alarm] = Field(default_factory=list)
    success_criteria: dict[str, list[SuccessCriterion]] = Field(default_factory=dict)
    soak: dict[str, Soak] = Field(default_factory=dict)
    rollback: list[Step] = Field(default_factory=list)
    api: ApiRoute | None = None
    metrics: ServiceMetrics | None = None
    artifact: ArtifactSource | None = None
    # Why the project cannot be promoted in `promote sandbox`; sandbox runs skip it.
    not_in_sandbox: str | None = None

    # The file the project was read from, for diagnostics. Not part of the YAML.
    _origin: str = PrivateAttr(default="<memory>")

    @property
    def origin(self) -> str:
        return self._origin

    def with_origin(self, origin: str) -> Project:
        self._origin = origin
        return self

    @cached_property
    def dependency_names(self) -> list[str]:
        # Cached: rules and planning ask for it tens of thousands of times on large estates.
        return [d.project for d in self.depends_on]
