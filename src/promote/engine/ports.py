"""The engine's port to the step kinds: what it needs from whoever runs checks and steps.

The engine never touches AWS itself. It hands each check, step and smoke test to an
``Executor``; ``promote.engine.steps`` will provide the real one, and tests a fake.
Outcomes travel through DBOS checkpoints and the journal, so they are plain JSON data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from promote.analysis.observations import MetricSource
from promote.model import Check, SmokeTest, Step


@dataclass(frozen=True)
class Target:
    """Where a project is being promoted, and the variables its templates may use (the
    environment's, the project's, and values captured by earlier steps and smoke tests)."""

    run_id: str
    project: str
    environment: str
    account_id: str
    region: str
    variables: dict[str, str] = field(default_factory=dict)
    # The release being promoted: {project, sha256, label, size, kind} (see artifacts.py).
    artifact: dict[str, Any] | None = None


@dataclass(frozen=True)
class StepOutcome:
    passed: bool
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)  # raw results, for the journal
    outputs: dict[str, str] = field(default_factory=dict)  # captured values for later steps

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StepOutcome:
        return cls(**data)


class Executor(Protocol):
    """Runs one check, deploy step or smoke test. Each call must be idempotent: after a
    crash the engine may repeat a call whose completion it did not get to checkpoint.
    A raised exception means the machinery broke (the project Errors); a gate that says no
    returns ``passed=False`` (the project Fails)."""

    def check(self, target: Target, check: Check) -> StepOutcome: ...

    def step(self, target: Target, step: Step) -> StepOutcome: ...

    def smoke_test(self, target: Target, test: SmokeTest) -> StepOutcome: ...

    def shift(self, target: Target, alias: AliasShift) -> StepOutcome:
        """Move a Lambda alias to ``weight`` percent on the new version (a canary step)."""
        ...

    def terraform_apply(self, target: Target, step: Step, plan_file: str) -> StepOutcome:
        """Apply the plan that ``step`` (a terraform step) saved; ``step`` itself plans."""
        ...

    def metrics(self, target: Target) -> MetricSource:
        """Where the canary analysis and the soak read the target account's metrics."""
        ...


@dataclass(frozen=True)
class AliasShift:
    function: str
    alias: str
    version: str
    previous: str
    weight: int  # percent on ``version``; the rest stays on ``previous``

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
