"""Workers forked from the fork server behave as workers started from scratch: their own
environment, randomness and exit statuses, and a function's own copy of a library wins."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from promote.sandbox import Sandbox
from promote.sandbox.invocation import FunctionRef, InvocationStatus
from promote.sandbox.runtime import LambdaRuntime

from .functions import ROLE, deploy, make_zip, session_for

SIT, REGION = "815856636111", "eu-west-1"

PROBE = """
    import os
    import random
    import sys
    import time

    def handler(event, context):
        time.sleep(event.get("sleep", 0))
        if event.get("exit"):
            sys.exit(event["exit"])
        import pydantic
        return {
            "pid": os.getpid(),
            "random": random.random(),
            "boto3_loaded": "boto3" in sys.modules,
            "pydantic": getattr(pydantic, "VERSION", None),
            "environment": dict(os.environ),
            "cwd": os.getcwd(),
        }
"""


def ref(name: str) -> FunctionRef:
    return FunctionRef(SIT, REGION, name, None)


@pytest.fixture
def session(aws_env: Sandbox) -> boto3.Session:
    return session_for(aws_env)


def runtime_for(sandbox: Sandbox, tmp_path: Path, *, fork: bool) -> LambdaRuntime:
    return LambdaRuntime(
        sandbox.endpoint,
        tmp_path,
        max_workers_per_version=2,
        rng=random.Random(7),
        fork_workers=fork,
    )


@pytest.fixture
def forked(sandbox: Sandbox, tmp_path: Path) -> Iterator[LambdaRuntime]:
    with runtime_for(sandbox, tmp_path, fork=True) as running:
        yield running


def test_a_forked_worker_starts_with_the_runtime_libraries_loaded(
    sandbox: Sandbox, session: boto3.Session, tmp_path: Path
) -> None:
    deploy(session, "fs-probe", PROBE, environment={"GREETING": "dumela"})

    with runtime_for(sandbox, tmp_path, fork=True) as runtime:
        forked = runtime.invoke(ref("fs-probe"), {}).payload
    with runtime_for(sandbox, tmp_path, fork=False) as runtime:
        scratch = runtime.invoke(ref("fs-probe"), {}).payload

    assert forked["boto3_loaded"] and not scratch["boto3_loaded"]
    # Everything else the function can see is the same.
    assert forked["environment"] == {
        **scratch["environment"],
        "AWS_LAMBDA_LOG_STREAM_NAME": forked["environment"]["AWS_LAMBDA_LOG_STREAM_NAME"],
    }
    assert forked["environment"]["GREETING"] == "dumela"
    assert forked["cwd"] == scratch["cwd"]


def test_concurrent_forked_workers_do_not_share_randomness(
    session: boto3.Session, forked: LambdaRuntime
) -> None:
    deploy(session, "fs-random", PROBE)
    answers: list[dict[str, object]] = []

    def call() -> None:
        answers.append(forked.invoke(ref("fs-random"), {"sleep": 0.5}).payload)

    callers = [threading.Thread(target=call) for _ in range(2)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()

    assert len({a["pid"] for a in answers}) == 2
    assert answers[0]["random"] != answers[1]["random"]


def test_a_function_that_ships_its_own_copy_of_a_library_imports_its_own(
    session: boto3.Session, forked: LambdaRuntime
) -> None:
    code = make_zip({"app.py": PROBE, "pydantic/__init__.py": "VERSION = 'shipped'\n"})
    session.client("lambda").create_function(
        FunctionName="fs-shipped",
        Runtime="python3.12",
        Role=ROLE.format(account=SIT),
        Handler="app.handler",
        Code={"ZipFile": code},
    )

    seen = forked.invoke(ref("fs-shipped"), {}).payload

    assert seen["pydantic"] == "shipped"
    assert not seen["boto3_loaded"]  # started from scratch, as it must be


def test_a_forked_worker_that_exits_reports_its_status_and_is_replaced(
    session: boto3.Session, forked: LambdaRuntime
) -> None:
    deploy(session, "fs-exit", PROBE)

    died = forked.invoke(ref("fs-exit"), {"exit": 4})
    after = forked.invoke(ref("fs-exit"), {})

    assert died.status is InvocationStatus.RUNTIME_ERROR
    assert died.payload["errorMessage"].endswith("exit status 4")
    assert after.status is InvocationStatus.OK and after.cold_start
    assert after.payload["boto3_loaded"]
