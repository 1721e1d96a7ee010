"""The port the durable engine calls inside its checkpointed steps: checks, step kinds and
smoke tests against one target account. See :mod:`promote.engine.steps.port` for the types."""

from promote.engine.steps.checks import run_check
from promote.engine.steps.kinds import (
    apply_terraform,
    run_smoke_test,
    run_step,
    shift_alias,
    shift_traffic,
)
from promote.engine.steps.port import Outcome, StepErrored, Target, UnsupportedKind

__all__ = [
    "Outcome",
    "StepErrored",
    "Target",
    "UnsupportedKind",
    "apply_terraform",
    "run_check",
    "run_smoke_test",
    "run_step",
    "shift_alias",
    "shift_traffic",
]
