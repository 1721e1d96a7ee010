"""Diagnostics: what validation found, where, and how bad it is. Pure data."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

YamlPath = tuple[str | int, ...]


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Diagnostic:
    """One finding. ``file`` and ``path`` say where; line and column are filled in by the loader,
    which alone knows the text of the file."""

    code: str
    severity: Severity
    message: str
    file: str
    path: YamlPath = ()
    line: int | None = None
    column: int | None = None
    # Point at the key itself rather than its value (unknown keys, duplicate names).
    at_key: bool = False

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    @property
    def yaml_path(self) -> str:
        return format_path(self.path)

    def located(self, line: int, column: int) -> Diagnostic:
        return replace(self, line=line, column=column)

    def escalated(self) -> Diagnostic:
        return replace(self, severity=Severity.ERROR)

    def format(self) -> str:
        """``file:line:col: CODE severity: message (at yaml.path)``."""
        where = f"{self.file}:{self.line or 1}:{self.column or 1}"
        suffix = f" (at {self.yaml_path})" if self.path else ""
        return f"{where}: {self.code} {self.severity.value}: {self.message}{suffix}"

    def as_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "file": self.file,
            "line": self.line or 1,
            "column": self.column or 1,
            "path": self.yaml_path,
        }


def format_path(path: YamlPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def sort_key(d: Diagnostic) -> tuple[str, int, int, str]:
    return (d.file, d.line or 0, d.column or 0, d.code)


def count(diagnostics: Iterable[Diagnostic]) -> tuple[int, int]:
    """(errors, warnings)."""
    errors = warnings = 0
    for d in diagnostics:
        if d.is_error:
            errors += 1
        else:
            warnings += 1
    return errors, warnings
