"""The one exception tree of promote. Every error carries a stable code.

::

    PromoteError                 PRM000  base; the CLI catches only this
    ├── UsageError               PRM001  the command was asked for something impossible
    │   └── UnknownEnvironment   PRM002
    ├── EstateInvalid            PRM010  the estate has error diagnostics (exit 2)
    └── InternalError            PRM099  a bug: an invariant of promote itself broke

The CLI prints ``CODE message`` on one line and exits non-zero; ``--debug`` re-raises.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from promote.diagnostics import Diagnostic


class PromoteError(Exception):
    code = "PRM000"
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self.code} {self.message}"


class UsageError(PromoteError):
    code = "PRM001"


class UnknownEnvironment(UsageError):
    code = "PRM002"


class EstateInvalid(PromoteError):
    """The estate did not load or validate; the diagnostics say where and why."""

    code = "PRM010"
    exit_code = 2

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = tuple(diagnostics)
        errors = sum(1 for d in self.diagnostics if d.is_error)
        super().__init__(f"the estate is invalid: {errors} error(s)")


class InternalError(PromoteError):
    code = "PRM099"
