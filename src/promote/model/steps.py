"""Deploy, verification and rollback steps. ``kind:`` selects the step kind.

The engine holds a registry keyed by the same names; this module only describes them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator

from promote.model.base import Duration, EnvironmentScoped, StrictModel, Summarised
from promote.model.checks import Check

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class StepBase(Summarised, EnvironmentScoped):
    name: str | None = None
    region: str | None = None  # default: the environment's region
    timeout: Duration | None = None
    # Why this step cannot run in `promote sandbox` (e.g. terraform that needs a provider);
    # a sandbox run records it as skipped with this reason.
    not_in_sandbox: str | None = None


class LambdaDeploy(StepBase):
    """Update the code from the release artifact, publish a version, create or shift the alias.

    The release is the project's ``artifact``, built once and promoted unchanged. A function
    that does not exist yet (a new environment, the sandbox) is created when ``role`` is given,
    with ``handler``, ``runtime``, ``memory``, ``function_timeout`` and ``environment``.
    """

    target_field: ClassVar[str] = "function"
    kind: Literal["lambda.deploy"]
    function: str
    alias: str = "live"
    handler: str | None = None
    runtime: str = "python3.12"
    role: str | None = None
    memory: int = Field(default=256, ge=128, le=10240)
    function_timeout: Duration = timedelta(seconds=10)
    environment: dict[str, str] = Field(default_factory=dict)
    # Lambda@Edge: the function must be created in us-east-1.
    edge: bool = False
    # "all": the alias moves to the new version at once. "none": publish only; the project's
    # canary policy moves the traffic (the engine sets this when a policy applies).
    traffic: Literal["all", "none"] = "all"


class LambdaAlias(StepBase):
    """Point an alias at a version: the runbooks' instant rollback."""

    target_field: ClassVar[str] = "function"
    kind: Literal["lambda.alias"]
    function: str
    alias: str = "live"
    version: str = "${previous_version}"


class PythonStep(StepBase):
    target_field: ClassVar[str] = "entry"
    kind: Literal["python"]
    entry: str  # "package.module:function"
    args: dict[str, Any] = Field(default_factory=dict)

    @field_validator("entry")
    @classmethod
    def _entry_point(cls, value: str) -> str:
        module, sep, func = value.partition(":")
        if not sep or not module or not func:
            raise ValueError(f"entry must be `module:function`, got {value!r}")
        return value


class ShellStep(StepBase):
    """A command run with the environment's profile and region. ``$${X}`` is a literal ``${X}``."""

    target_field: ClassVar[str] = "command"
    kind: Literal["shell"]
    command: str
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)


class TerraformStep(StepBase):
    target_field: ClassVar[str] = "dir"
    kind: Literal["terraform"]
    dir: str
    workspace: str = "${env}"
    vars: dict[str, str] = Field(default_factory=dict)
    # A plan with deletes or replaces needs this extra approval before apply.
    destructive_approval: list[str] = Field(default_factory=list)


class CacheRule(StrictModel):
    pattern: str  # a glob on the object key
    cache_control: str


class S3Sync(StepBase):
    target_field: ClassVar[str] = "bucket"
    kind: Literal["s3.sync"]
    source: str
    bucket: str
    prefix: str = ""
    delete: bool = False
    cache_control: list[CacheRule] = Field(default_factory=list)


class CloudFrontInvalidate(StepBase):
    target_field: ClassVar[str] = "distribution"
    kind: Literal["cloudfront.invalidate"]
    distribution: str  # an id, or the alias the distribution serves
    paths: list[str] = Field(default_factory=lambda: ["/*"])


class Expectation(StrictModel):
    status: list[int] = Field(default_factory=lambda: [200])
    json_fields: dict[str, Any] = Field(default_factory=dict, alias="json")
    headers: dict[str, str] = Field(default_factory=dict)
    body_contains: str | None = None

    @field_validator("status", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, int) else value


class HttpRequest(StrictModel):
    method: str = "GET"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    body: str | None = None
    # Multipart form fields; a value starting with @ names a file, as in `curl -F`.
    form: dict[str, str] = Field(default_factory=dict)
    expect: Expectation = Field(default_factory=Expectation)
    # Values for later steps: name -> dotted path into the JSON reply, e.g. `id` or `data.id`.
    capture: dict[str, str] = Field(default_factory=dict)
    latency_budget: Duration | None = None

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        if value.upper() not in HTTP_METHODS:
            raise ValueError(f"unknown HTTP method {value!r}: use one of {', '.join(HTTP_METHODS)}")
        return value.upper()


class SmokeTest(HttpRequest, EnvironmentScoped):
    """One of the runbooks' curl smoke tests."""

    name: str


class HttpStep(HttpRequest, StepBase):
    target_field: ClassVar[str] = "url"
    kind: Literal["http"]


class CheckStep(StepBase):
    kind: Literal["check"]
    that: Check

    def summary(self) -> str:
        inner = self.that.summary()
        return f"{self.name} ({inner})" if self.name else f"check {inner}"


class ManualStep(StepBase):
    """Something only a person can do; the run waits until someone with the role confirms."""

    target_field: ClassVar[str] = "instructions"
    kind: Literal["manual"]
    instructions: str
    role: str | None = None


Step = Annotated[
    LambdaDeploy
    | LambdaAlias
    | PythonStep
    | ShellStep
    | TerraformStep
    | S3Sync
    | CloudFrontInvalidate
    | HttpStep
    | CheckStep
    | ManualStep,
    Field(discriminator="kind"),
]
