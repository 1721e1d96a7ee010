"""The contract shared by the foundation stacks: targets, changes and their errors.

Error tree (stable codes, so the engine can report them)::

    StackError                      BBWS-STACK
    ├── DestructiveChangeRefused    BBWS-DESTRUCTIVE
    └── TargetError                 BBWS-TARGET
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import boto3


class ChangeKind(StrEnum):
    """How risky a change is. Destructive means data or a safety property can be lost."""

    CREATE = "create"
    UPDATE = "update"  # in place, nothing is lost
    DESTRUCTIVE = "destructive"  # replace, delete, or weaken a safety property


@dataclass(frozen=True)
class Change:
    """One difference between the desired definition and the live account."""

    kind: ChangeKind
    resource: str  # e.g. "dynamodb:table/products-sit", "s3:bucket/bbws-logs-sit"
    action: str  # a short verb phrase, e.g. "create-table", "disable-pitr"
    reason: str  # one line a reviewer can act on; for destructive ones, what is lost
    desired: Mapping[str, Any] = field(default_factory=dict)
    current: Mapping[str, Any] = field(default_factory=dict)

    @property
    def destructive(self) -> bool:
        return self.kind is ChangeKind.DESTRUCTIVE

    def describe(self) -> str:
        return f"{self.kind.value} {self.action} {self.resource}: {self.reason}"


@dataclass(frozen=True)
class Target:
    """One environment's account and region, as the estate describes it."""

    env: str  # dev | sit | prod
    region: str
    account_id: str = ""
    dr_region: str | None = None

    def session(self, session: boto3.session.Session | None = None) -> boto3.session.Session:
        return session or boto3.session.Session(region_name=self.region)


def check_account(session: boto3.session.Session, target: Target) -> None:
    """Applying PROD's definition with DEV's credentials (or the reverse) must fail loudly."""
    if not target.account_id:
        return
    sts = session.client("sts", region_name=target.region)
    live = sts.get_caller_identity()["Account"]
    if live != target.account_id:
        raise TargetError(
            f"credentials are for account {live} but {target.env} is {target.account_id}: "
            "refusing to touch the wrong account"
        )


def verified_session(
    target: Target, session: boto3.session.Session | None = None
) -> boto3.session.Session:
    """The session to use, once it is known to reach the target's account."""
    chosen = target.session(session)
    check_account(chosen, target)
    return chosen


def refuse_destructive(changes: Sequence[Change], allow_destructive: bool) -> None:
    """Raise before any call if a destructive change was not explicitly allowed."""
    destructive = [c for c in changes if c.destructive]
    if destructive and not allow_destructive:
        raise DestructiveChangeRefused(destructive)


class StackError(Exception):
    """Base of every error a foundation stack raises."""

    code = "BBWS-STACK"

    def __str__(self) -> str:
        return f"{self.code}: {super().__str__()}"


class TargetError(StackError):
    code = "BBWS-TARGET"


class DestructiveChangeRefused(StackError):
    """apply() was given destructive changes without explicit permission."""

    code = "BBWS-DESTRUCTIVE"

    def __init__(self, changes: Sequence[Change]) -> None:
        self.changes = tuple(changes)
        listed = "; ".join(c.describe() for c in self.changes)
        super().__init__(
            f"refusing {len(self.changes)} destructive change(s) without allow_destructive=True: "
            f"{listed}"
        )
