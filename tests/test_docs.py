"""Docs stay in step with the code: every diagnostic code and every command is documented."""

from __future__ import annotations

import re
from pathlib import Path

from promote.cli import app
from promote.rules import RULES

DOCS = Path(__file__).resolve().parents[1] / "docs"
SRC = Path(__file__).resolve().parents[1] / "src" / "promote"


def test_every_rule_code_is_documented_with_its_name() -> None:
    text = (DOCS / "validation.md").read_text()
    for rule in RULES.values():
        assert f"| {rule.code} | `{rule.name}` | {rule.severity.value} |" in text, rule.code


def test_every_loader_and_schema_code_is_documented() -> None:
    text = (DOCS / "validation.md").read_text()
    used = set()
    for path in (SRC / "loader").glob("*.py"):
        used.update(re.findall(r'"([LS]\d{3})"', path.read_text()))
    assert used, "the loader defines its codes as string constants"
    for code in sorted(used):
        assert f"| {code} |" in text, code


def test_every_command_has_a_reference_section() -> None:
    text = (DOCS / "cli.md").read_text()
    for command in app.registered_commands:
        name = command.name or (command.callback.__name__ if command.callback else "")
        assert f"## promote {name}" in text, name
