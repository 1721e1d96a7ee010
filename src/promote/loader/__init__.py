"""Load an estate folder: ``estate.yaml`` plus ``projects/*.yaml``.

This is the I/O edge of the model. It never raises for bad input: every problem becomes a
diagnostic with a file, a line and a column.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from promote.diagnostics import Diagnostic, Severity, sort_key
from promote.loader.schema_errors import diagnostics_from
from promote.loader.yaml_source import SourceFile
from promote.model import ESTATE_FILE, Estate, EstateSpec, Project

PROJECTS_DIR = "projects"
CODE_MISSING_FILE = "L002"
CODE_UNREADABLE = "L005"
CODE_NO_PROJECTS = "L006"

M = TypeVar("M", bound=BaseModel)


@dataclass
class LoadResult:
    estate: Estate | None
    diagnostics: list[Diagnostic]
    sources: dict[str, SourceFile] = field(default_factory=dict)

    def locate(self, diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
        """Fill in line and column from the files, and sort by place."""
        located = [self._locate(d) for d in diagnostics]
        return sorted(located, key=sort_key)

    def _locate(self, diagnostic: Diagnostic) -> Diagnostic:
        if diagnostic.line is not None:
            return diagnostic
        source = self.sources.get(diagnostic.file)
        if source is None:
            return diagnostic.located(1, 1)
        return diagnostic.located(*source.position(diagnostic.path, diagnostic.at_key))


def display_name(path: Path) -> str:
    """A path relative to the working directory when it is inside it, as people typed it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)
    return str(path) if relative.startswith("..") else relative


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many objects that all stay alive.

    Parsing and validating thousands of files allocates millions of objects, none of them
    garbage; without this, the collector rescans them over and over (3x slower in
    bench/plan_scale.py). Reference counting still frees everything as usual.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_estate(directory: Path) -> LoadResult:
    with paused_gc():
        return _load_estate(directory)


def _load_estate(directory: Path) -> LoadResult:
    result = LoadResult(estate=None, diagnostics=[])
    spec_path = directory / ESTATE_FILE
    if not directory.is_dir():
        result.diagnostics.append(_missing(directory, "estate folder not found"))
        return result
    spec = _load_model(spec_path, EstateSpec, result)
    projects = [
        project.with_origin(display_name(path))
        for path in _project_files(directory, result)
        if (project := _load_model(path, Project, result)) is not None
    ]
    if spec is not None and not any(d.is_error for d in result.diagnostics):
        result.estate = Estate(
            spec=spec, projects=tuple(projects), spec_file=display_name(spec_path)
        )
    return result


def _project_files(directory: Path, result: LoadResult) -> list[Path]:
    folder = directory / PROJECTS_DIR
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]) if folder.is_dir() else []
    if not files:
        result.diagnostics.append(
            Diagnostic(
                CODE_NO_PROJECTS,
                Severity.WARNING,
                f"no projects: add one YAML file per project under {PROJECTS_DIR}/",
                display_name(folder),
                line=1,
                column=1,
            )
        )
    return files


def _load_model(path: Path, model: type[M], result: LoadResult) -> M | None:
    source = _read(path, result)
    if source is None:
        return None
    problem = source.parse()
    if problem is not None:
        result.diagnostics.append(problem)
        return None
    try:
        return model.model_validate(source.data)
    except ValidationError as exc:
        result.diagnostics.extend(diagnostics_from(exc, model, source.name))
        return None


def _read(path: Path, result: LoadResult) -> SourceFile | None:
    name = display_name(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        result.diagnostics.append(_missing(path, f"file not found: {path.name}"))
        return None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        result.diagnostics.append(
            Diagnostic(
                CODE_UNREADABLE,
                Severity.ERROR,
                f"cannot read file: {reason}",
                name,
                line=1,
                column=1,
            )
        )
        return None
    source = SourceFile(name, text)
    result.sources[name] = source
    return source


def _missing(path: Path, message: str) -> Diagnostic:
    return Diagnostic(
        CODE_MISSING_FILE, Severity.ERROR, message, display_name(path), line=1, column=1
    )
