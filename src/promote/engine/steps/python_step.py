"""The ``python`` step kind: call ``package.module:function`` in process.

The entry point is called as ``function(context, **step.args)`` with a :class:`StepContext`.
What it raises decides the outcome: an AWS or OS error (or an exception raised *from* one)
means the infrastructure broke, and is StepErrored; any other exception is the entry saying
no (a refused destructive change, a failed validation), and is a failed Outcome. What it
returns is recorded, made JSON-safe, in the evidence.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from promote.engine.steps.port import (
    Outcome,
    StepErrored,
    Target,
    failed,
    passed,
    redact,
    redacted,
)
from promote.model.steps import PythonStep

PYTHON_TIMEOUT = timedelta(minutes=30)
LOG_LINES = 200  # the last lines an entry logged, kept in the evidence
ITEM_LIMIT = 200  # items of a list or mapping kept in the result
TEXT_LIMIT = 4096  # characters of one string kept in the result
RESULT_LIMIT = 64 * 1024  # characters of the whole result, as JSON
DEPTH_LIMIT = 12
INFRASTRUCTURE = (ClientError, BotoCoreError, OSError, StepErrored)


@dataclass(frozen=True)
class StepContext:
    """What a python step's entry point is given: the target it acts on, signed in."""

    env: str
    account_id: str
    region: str
    session: boto3.Session
    variables: Mapping[str, str]
    workdir: Path | None = None
    _lines: deque[str] = field(
        default_factory=lambda: deque(maxlen=LOG_LINES), repr=False, compare=False
    )

    def log(self, message: str) -> None:
        """Keep ``message`` (each of its lines) in the step's evidence."""
        for line in str(message).splitlines() or [""]:
            self._lines.append(line)

    @property
    def lines(self) -> list[str]:
        return list(self._lines)


def run_python(step: PythonStep, target: Target, region: str) -> Outcome:
    """Run the (template-filled) step. Raises StepErrored when the entry cannot be loaded or
    the infrastructure failed under it. The outcome and the error carry no secret."""
    function = _load(step.entry)
    context = StepContext(
        target.env, target.account_id, region, target.session, target.variables, target.workdir
    )
    seconds = (step.timeout or PYTHON_TIMEOUT).total_seconds()
    done, box = _start(function, context, step.args)
    # On timeout the worker thread cannot be killed: the entry may go on running in the
    # background (a daemon thread, so it does not keep the process alive).
    finished = done.wait(seconds)
    evidence: dict[str, Any] = {"entry": step.entry, "args": step.args, "log": context.lines}
    if not finished:
        # Errored, not Failed: nothing judged the release, and the entry may still be acting
        # (a thread cannot be stopped), even while a rollback runs.
        raise StepErrored(
            redact(
                f"`{step.entry}` timed out after {seconds:g} s and may still be running",
                target.secrets,
            )
        )
    if "error" in box:
        outcome = _raised(step.entry, box["error"], evidence, target.secrets)
    else:
        evidence["result"] = _bounded(json_safe(box.get("result")))
        outcome = passed(f"`{step.entry}` succeeded", **evidence)
    return redacted(outcome, target.secrets)


def _load(entry: str) -> Callable[..., Any]:
    module_name, _, attribute = entry.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or the module raised while being imported
        raise StepErrored(
            f"`{entry}`: cannot import {module_name}: {type(exc).__name__}: {exc}"
        ) from exc
    for name in attribute.split("."):
        try:
            found = getattr(found, name)
        except AttributeError:
            raise StepErrored(f"`{entry}`: {module_name} has no attribute {attribute}") from None
    if not callable(found):
        raise StepErrored(f"`{entry}`: {attribute} is a {type(found).__name__}, not callable")
    return cast(Callable[..., Any], found)


def _start(
    function: Callable[..., Any], context: StepContext, args: Mapping[str, Any]
) -> tuple[threading.Event, dict[str, Any]]:
    """Call the entry in a worker thread; the event is set once ``box`` holds its result."""
    done, box = threading.Event(), dict[str, Any]()

    def work() -> None:
        try:
            box["result"] = function(context, **args)
        except BaseException as exc:  # an entry's SystemExit is its answer too
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=work, name=f"promote-python-{context.env}", daemon=True).start()
    return done, box


def _raised(
    entry: str, error: BaseException, evidence: dict[str, Any], secrets: frozenset[str]
) -> Outcome:
    cause = _infrastructure_cause(error)
    if cause is not None:
        raise StepErrored(redact(f"`{entry}`: {_describe(cause)}", secrets)) from error
    return failed(f"`{entry}`: {_describe(error)}", **evidence, error=type(error).__name__)


def _infrastructure_cause(error: BaseException) -> BaseException | None:
    """The AWS or OS error that ``error`` is, or was raised from (``raise ... from``)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, INFRASTRUCTURE):
            return current
        seen.add(id(current))
        current = current.__cause__
    return None


def _describe(error: BaseException) -> str:
    if isinstance(error, ClientError):
        detail = error.response.get("Error", {})
        return f"ClientError: {detail.get('Code', 'Unknown')} {detail.get('Message', '')}".strip()
    if isinstance(error, StepErrored):
        return error.message
    return f"{type(error).__name__}: {error}"


def json_safe(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON data: dataclasses as dicts, sequences and mappings item by item,
    objects with ``describe()`` as what it returns, anything else as its ``str()``."""
    if isinstance(value, str):
        return value if len(value) <= TEXT_LIMIT else value[:TEXT_LIMIT] + "…"
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth >= DEPTH_LIMIT:
        return json_safe(str(value), depth)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping | list | tuple | set | frozenset):
        return _collection(value, depth + 1)
    describe = getattr(value, "describe", None)
    return json_safe(describe() if callable(describe) else str(value), depth + 1)


def _collection(value: Any, depth: int) -> Any:
    """A mapping or sequence, its first ITEM_LIMIT items kept (sets sorted)."""
    if isinstance(value, Mapping):
        pairs = list(value.items())
        kept = {str(k): json_safe(v, depth) for k, v in pairs[:ITEM_LIMIT]}
        if len(pairs) > ITEM_LIMIT:
            kept["…"] = f"{len(pairs) - ITEM_LIMIT} more"
        return kept
    items = sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
    listed = [json_safe(v, depth) for v in items[:ITEM_LIMIT]]
    return listed + ([f"… {len(items) - ITEM_LIMIT} more"] if len(items) > ITEM_LIMIT else [])


def _bounded(result: Any) -> Any:
    """The result, or its JSON text cut to RESULT_LIMIT when it is larger than that."""
    text = json.dumps(result, default=str)
    return result if len(text) <= RESULT_LIMIT else text[:RESULT_LIMIT] + "… (truncated)"
