"""The types the engine and the step kinds share, their errors, and the two helpers every
kind needs: filling templates from the target's scope, and redacting secrets.

::

    PromoteError                 PRM000
    ├── StepErrored              PRM030  a step could not act: AWS or the network failed
    └── UnsupportedKind          PRM031  this port does not run that kind (the engine does)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel

from promote.errors import PromoteError
from promote.interpolation import interpolate

REDACTED = "***"
# Header values that are credentials whatever their content.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})

M = TypeVar("M", bound=BaseModel)


class StepErrored(PromoteError):
    """Infrastructure failed (an AWS API, the network): the engine records Errored, not the
    Failed of a gate that answered no."""

    code = "PRM030"


class UnsupportedKind(PromoteError):
    """The kind is answered elsewhere (approvals, the ledger) or not by this port."""

    code = "PRM031"


@dataclass(frozen=True)
class Target:
    """Where a project is promoted: one environment's account, already signed in."""

    env: str
    account_id: str
    region: str
    session: boto3.Session
    variables: Mapping[str, str]
    secrets: frozenset[str] = frozenset()
    # The sandbox: connect https requests here (like curl --connect-to), trusting this CA,
    # and plain http ones to plain_http_connect. With http_connect set, no request goes to
    # the real host.
    http_connect: tuple[str, int] | None = None
    ca_file: Path | None = None
    plain_http_connect: tuple[str, int] | None = None
    # Relative paths of steps (a shell step's cwd, a sync source, a terraform dir) are
    # relative to this: the checkout the project is promoted from. None: the process's cwd.
    workdir: Path | None = None
    # The release being promoted ({project, sha256, label, size, kind}) and how to read its
    # zip by sha256, for lambda.deploy.
    artifact: Mapping[str, Any] | None = None
    read_artifact: Callable[[str], bytes] | None = None
    # Where a run keeps files between its steps (terraform's saved plans).
    scratch: Path | None = None

    def path(self, relative: str) -> Path:
        path = Path(relative)
        return path if path.is_absolute() or self.workdir is None else self.workdir / path


@dataclass(frozen=True)
class Outcome:
    passed: bool
    summary: str
    evidence: dict[str, Any]
    outputs: dict[str, str] = field(default_factory=dict)


def fill(model: M, variables: Mapping[str, str]) -> M:
    """``model`` with every ``${name}`` in its strings replaced.

    Raises UndefinedVariable. Re-validating the filled data keeps the model's own rules.
    """
    data = _fill_data(model.model_dump(by_alias=True), variables)
    return type(model).model_validate(data)


def _fill_data(data: Any, variables: Mapping[str, str]) -> Any:
    if isinstance(data, str):
        return interpolate(data, variables)
    if isinstance(data, dict):
        return {key: _fill_data(value, variables) for key, value in data.items()}
    if isinstance(data, list):
        return [_fill_data(value, variables) for value in data]
    return data


def redact(data: Any, secrets: frozenset[str]) -> Any:
    """``data`` with every secret value, and credential headers, replaced by ``***``."""
    if isinstance(data, str):
        for secret in sorted(filter(None, secrets), key=len, reverse=True):
            data = data.replace(secret, REDACTED)
        return data
    if isinstance(data, dict):
        return {
            key: REDACTED
            if isinstance(key, str) and key.lower() in SECRET_HEADERS
            else redact(value, secrets)
            for key, value in data.items()
        }
    if isinstance(data, list | tuple):
        return [redact(value, secrets) for value in data]
    return data


def redacted(outcome: Outcome, secrets: frozenset[str]) -> Outcome:
    """The outcome as it may be recorded: no secret in its summary, evidence or outputs."""
    return Outcome(
        passed=outcome.passed,
        summary=redact(outcome.summary, secrets),
        evidence=redact(outcome.evidence, secrets),
        outputs=redact(outcome.outputs, secrets),
    )


@contextmanager
def infrastructure(label: str) -> Iterator[None]:
    """AWS errors become StepErrored (raised from the original): the step could not act."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise StepErrored(
            f"{label}: {error.get('Code', 'Unknown')} {error.get('Message', '')}"
        ) from exc
    except BotoCoreError as exc:
        raise StepErrored(f"{label}: {exc}") from exc


def failed(summary: str, **evidence: Any) -> Outcome:
    return Outcome(passed=False, summary=summary, evidence=evidence)


def passed(summary: str, **evidence: Any) -> Outcome:
    return Outcome(passed=True, summary=summary, evidence=evidence)
