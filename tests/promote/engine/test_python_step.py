"""The python step kind: entry points called in process with a StepContext, their answers
(a result, a refusal, a broken infrastructure) and the limits around them."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from promote.engine.steps import Outcome, StepErrored, Target
from promote.engine.steps.python_step import (
    ITEM_LIMIT,
    LOG_LINES,
    TEXT_LIMIT,
    StepContext,
    json_safe,
    run_python,
)
from promote.model.steps import PythonStep

HERE = "tests.promote.engine.test_python_step"
SECRET = "s3cr3t-t0ken-value"
RELEASE = threading.Event()  # lets the entry that hangs finish once its test is over


class Colour(StrEnum):
    RED = "red"


@dataclass(frozen=True)
class Report:
    tables: tuple[str, ...]
    colour: Colour
    where: Path


class Described:
    def describe(self) -> str:
        return "create create-table dynamodb:table/products-sit: missing"


# --- entry points the tests name --------------------------------------------------------


def echo(context: StepContext, **args: Any) -> dict[str, Any]:
    context.log("first line\nsecond line")
    return {
        "env": context.env,
        "account_id": context.account_id,
        "region": context.region,
        "session_region": context.session.region_name,
        "variables": dict(context.variables),
        "workdir": context.workdir,
        "args": args,
    }


def report(context: StepContext) -> Report:
    return Report(("products-sit", "orders-sit"), Colour.RED, Path("/srv/x"))


def refuse(context: StepContext, change: str = "delete-table") -> None:
    context.log(f"planned {change}")
    raise RuntimeError(f"refusing destructive change {change}")


def aws_denies(context: StepContext) -> None:
    raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not you"}}, "PutItem")


def network_down(context: StepContext) -> None:
    raise EndpointConnectionError(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com")


def disk_full(context: StepContext) -> None:
    raise OSError(28, "No space left on device")


class StackError(Exception):
    pass


def wrapped_aws_error(context: StepContext) -> None:
    try:
        aws_denies(context)
    except ClientError as err:
        raise StackError("apply failed (2 change(s) applied before it)") from err


def chatty(context: StepContext, lines: int) -> int:
    for number in range(lines):
        context.log(f"line {number}")
    return lines


def hangs(context: StepContext) -> str:
    context.log("waiting")
    RELEASE.wait(10)
    return "late"


def leaks(context: StepContext) -> str:
    context.log(f"token is {context.variables['token']}")
    return f"used {context.variables['token']}"


def leaks_in_error(context: StepContext) -> None:
    raise OSError(f"cannot write {context.variables['token']}")


def exits(context: StepContext) -> None:
    raise SystemExit(3)


NOT_CALLABLE = 42


# --- helpers ----------------------------------------------------------------------------


@pytest.fixture
def target(tmp_path: Path) -> Target:
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="eu-west-1"
    )
    return Target(
        env="sit",
        account_id="815856636111",
        region="eu-west-1",
        session=session,
        variables={"env": "sit", "dr_region": "", "token": SECRET},
        secrets=frozenset({SECRET}),
        workdir=tmp_path,
    )


def python(entry: str, **fields: Any) -> PythonStep:
    return PythonStep.model_validate({"kind": "python", "entry": f"{HERE}:{entry}", **fields})


def run(target: Target, entry: str, **fields: Any) -> Outcome:
    return run_python(python(entry, **fields), target, target.region)


# --- tests ------------------------------------------------------------------------------


def test_the_entry_gets_the_context_and_the_args(target: Target, tmp_path: Path) -> None:
    outcome = run_python(
        python("echo", args={"table": "products", "limit": 3}), target, "af-south-1"
    )
    assert outcome.passed
    assert outcome.summary == f"`{HERE}:echo` succeeded"
    result = outcome.evidence["result"]
    assert result["env"] == "sit" and result["account_id"] == "815856636111"
    assert result["region"] == "af-south-1"  # the step's region
    assert result["session_region"] == "eu-west-1"  # the target's session, as signed in
    assert result["workdir"] == str(tmp_path)
    assert result["args"] == {"table": "products", "limit": 3}
    assert outcome.evidence["log"] == ["first line", "second line"]
    assert outcome.evidence["args"] == {"table": "products", "limit": 3}


def test_results_are_made_json_safe(target: Target) -> None:
    outcome = run(target, "report")
    assert outcome.evidence["result"] == {
        "tables": ["products-sit", "orders-sit"],
        "colour": "red",
        "where": "/srv/x",
    }
    described = json_safe([Described(), {3: {"b", "a"}}])
    assert described == [
        "create create-table dynamodb:table/products-sit: missing",
        {"3": ["a", "b"]},
    ]


def test_large_results_are_cut(target: Target) -> None:
    long = json_safe(list(range(ITEM_LIMIT + 5)))
    assert len(long) == ITEM_LIMIT + 1 and long[-1] == "… 5 more"
    assert len(json_safe("x" * (TEXT_LIMIT * 2))) == TEXT_LIMIT + 1
    many = json_safe({f"k{i}": i for i in range(ITEM_LIMIT + 1)})
    assert many["…"] == "1 more"
    nested: Any = "deep"
    for _ in range(50):
        nested = [nested]
    assert "deep" in str(json_safe(nested))  # bounded depth, no RecursionError


def test_the_log_keeps_the_last_lines(target: Target) -> None:
    outcome = run(target, "chatty", args={"lines": LOG_LINES + 50})
    log = outcome.evidence["log"]
    assert len(log) == LOG_LINES and log[0] == "line 50" and log[-1] == f"line {LOG_LINES + 49}"


def test_an_exception_is_the_entry_saying_no(target: Target) -> None:
    outcome = run(target, "refuse", args={"change": "replace-table"})
    assert not outcome.passed
    assert outcome.summary == (
        f"`{HERE}:refuse`: RuntimeError: refusing destructive change replace-table"
    )
    assert outcome.evidence["error"] == "RuntimeError"
    assert outcome.evidence["log"] == ["planned replace-table"]
    assert not run(target, "exits").passed


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("aws_denies", "ClientError: AccessDenied not you"),
        ("network_down", "EndpointConnectionError: Could not connect"),
        ("disk_full", "No space left on device"),
        ("wrapped_aws_error", "ClientError: AccessDenied not you"),
    ],
)
def test_infrastructure_errors_are_step_errored(target: Target, entry: str, message: str) -> None:
    with pytest.raises(StepErrored, match=message) as raised:
        run(target, entry)
    assert raised.value.code == "PRM030"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("promote_no_such_module.steps:apply", "cannot import promote_no_such_module.steps"),
        (f"{HERE}:missing", f"{HERE} has no attribute missing"),
        (f"{HERE}:Described.missing", "has no attribute Described.missing"),
        (f"{HERE}:NOT_CALLABLE", "NOT_CALLABLE is a int, not callable"),
    ],
)
def test_an_entry_that_cannot_be_loaded_is_step_errored(
    target: Target, entry: str, message: str
) -> None:
    step = PythonStep.model_validate({"kind": "python", "entry": entry})
    with pytest.raises(StepErrored, match=message):
        run_python(step, target, target.region)


def test_a_slow_entry_times_out_as_errored(target: Target) -> None:
    try:
        with pytest.raises(StepErrored, match=r"timed out after 0\.05 s and may still be running"):
            run(target, "hangs", timeout="50ms")
    finally:
        RELEASE.set()


def test_secrets_never_reach_the_outcome_or_the_error(target: Target) -> None:
    outcome = run(target, "leaks")
    assert SECRET not in str(outcome)
    assert outcome.evidence["result"] == "used ***"
    assert outcome.evidence["log"] == ["token is ***"]
    with pytest.raises(StepErrored) as raised:
        run(target, "leaks_in_error")
    assert SECRET not in str(raised.value) and "***" in str(raised.value)
