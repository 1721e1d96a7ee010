"""Entry points for promote's ``python`` steps: the foundation stacks, applied in one call.

The estate names them, e.g.::

    - kind: python
      entry: bbws.promote_steps:apply_dynamodb_schemas
      args: {allow_destructive: false}

promote calls each as ``entry(context, **args)`` with its step context. This package does not
import promote: the context is used by duck typing (:class:`PromoteContext`). A refused
destructive change raises ``DestructiveChangeRefused``, which promote records as a failed
step; an AWS error under the stack is recorded as errored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import boto3

from bbws.schemas import dynamodb, s3
from bbws.schemas.common import Change, Target

_TRUE = frozenset({"true", "yes", "1", "on"})
_FALSE = frozenset({"false", "no", "0", "off", ""})


class PromoteContext(Protocol):
    """What these entry points use of promote's StepContext."""

    @property
    def env(self) -> str: ...
    @property
    def account_id(self) -> str: ...
    @property
    def region(self) -> str: ...
    @property
    def session(self) -> boto3.session.Session: ...
    @property
    def variables(self) -> Mapping[str, str]: ...
    def log(self, message: str) -> None: ...


def apply_dynamodb_schemas(
    context: PromoteContext, allow_destructive: bool | str = False
) -> list[str]:
    """Plan and apply the BBWS tables in the context's environment; the changes made."""
    return _apply(context, dynamodb.apply_all, "dynamodb_schemas", allow_destructive)


def apply_s3_schemas(context: PromoteContext, allow_destructive: bool | str = False) -> list[str]:
    """Plan and apply the BBWS buckets, OAI, replication role and templates; the changes made."""
    return _apply(context, s3.apply_all, "s3_schemas", allow_destructive)


def target_of(context: PromoteContext) -> Target:
    """The stacks' target for promote's context (``dr_region`` from the estate's variables)."""
    return Target(
        env=context.env,
        region=context.region,
        account_id=context.account_id,
        dr_region=context.variables.get("dr_region") or None,
    )


_ApplyAll = Callable[..., Sequence[Change]]


def _apply(
    context: PromoteContext, apply_all: _ApplyAll, stack: str, allow_destructive: bool | str
) -> list[str]:
    target = target_of(context)
    allowed = _flag(allow_destructive)
    context.log(
        f"{stack}: applying to {target.env} ({target.account_id or 'any account'}, "
        f"{target.region}, DR {target.dr_region or 'none'}); destructive changes "
        f"{'allowed' if allowed else 'refused'}"
    )
    changes = apply_all(target, allow_destructive=allowed, session=context.session)
    described = [change.describe() for change in changes]
    for line in described:
        context.log(line)
    context.log(
        f"{stack}: {len(described)} change(s) applied" if described else f"{stack}: no change"
    )
    return described


def _flag(value: bool | str) -> bool:
    """A boolean argument, also when a template made it a string (``${allow}`` -> "false")."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError(f"allow_destructive must be true or false, got {value!r}")
