"""Validation rules: each has a stable code, a severity and a pure check over the estate.

``validate(estate)`` runs them all. The codes are documented in docs/validation.md, and a test
keeps that page and this registry in step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from promote.diagnostics import Diagnostic, Severity
from promote.model import Estate
from promote.rules.context import Finding, RuleContext

Check = Callable[[RuleContext], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    severity: Severity
    summary: str
    check: Check


RULES: dict[str, Rule] = {}


def rule(code: str, name: str, severity: Severity, summary: str) -> Callable[[Check], Check]:
    def register(check: Check) -> Check:
        if code in RULES:
            raise RuntimeError(f"rule code {code} registered twice")
        RULES[code] = Rule(code, name, severity, summary, check)
        return check

    return register


def validate(
    estate: Estate, strict: bool = False, context: RuleContext | None = None
) -> list[Diagnostic]:
    """Every finding of every rule. ``strict`` turns warnings into errors. A ``context`` made
    for the same estate may be passed to share its indexes with planning."""
    context = context or RuleContext(estate)
    found: list[Diagnostic] = []
    for item in RULES.values():
        severity = Severity.ERROR if strict else item.severity
        found.extend(
            Diagnostic(item.code, severity, f.message, f.file, f.path, at_key=f.at_key)
            for f in item.check(context)
        )
    return found


# Registration happens on import; keep these after the registry exists.
from promote.rules import environments, gates, structure  # noqa: E402

__all__ = ["RULES", "Rule", "environments", "gates", "rule", "structure", "validate"]
