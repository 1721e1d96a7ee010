"""The Lambda runtime runs what was deployed through boto3, as Lambda would run it."""

from __future__ import annotations

import json
import random
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from promote.sandbox import Sandbox, SandboxError
from promote.sandbox.invocation import FunctionRef, Invocation, InvocationStatus
from promote.sandbox.runtime import FunctionNotFound, InvalidCode, LambdaRuntime
from promote.sandbox.runtime.functions import extract

from .functions import deploy, make_zip, point_alias, session_for

SIT, REGION = "815856636111", "eu-west-1"

# Module state shows which worker (execution environment) served a call.
ECHO = textwrap.dedent("""
    import os
    import time

    CALLS = 0

    def handler(event, context):
        global CALLS
        CALLS += 1
        print("event", event)
        time.sleep(event.get("sleep", 0))
        if event.get("exit"):
            os._exit(event["exit"])
        if event.get("fail"):
            raise ValueError(event["fail"])
        return {
            "event": event,
            "pid": os.getpid(),
            "calls": CALLS,
            "version": context.function_version,
            "remaining_ms": context.get_remaining_time_in_millis(),
            "arn": context.invoked_function_arn,
        }
""")


def ref(name: str, qualifier: str | None = None) -> FunctionRef:
    return FunctionRef(SIT, REGION, name, qualifier)


@pytest.fixture
def session(aws_env: Sandbox) -> boto3.Session:
    return session_for(aws_env)


@pytest.fixture
def runtime(sandbox: Sandbox, tmp_path: Path) -> Iterator[LambdaRuntime]:
    with LambdaRuntime(
        sandbox.endpoint, tmp_path, max_workers_per_version=2, rng=random.Random(20240501)
    ) as running:
        yield running


def deploy_versions(session: boto3.Session, name: str, count: int) -> list[str]:
    """``count`` published versions of ECHO, each with code of its own."""
    return [deploy(session, name, f"{ECHO}\n# v{n}\n") for n in range(count)]


def test_an_alias_runs_its_version(session: boto3.Session, runtime: LambdaRuntime) -> None:
    [version] = deploy_versions(session, "rt-alias", 1)
    point_alias(session, "rt-alias", version)

    called = runtime.invoke(ref("rt-alias", "live"), {"n": 1})

    assert called.status is InvocationStatus.OK
    assert called.executed_version == version == "1"
    assert called.payload["event"] == {"n": 1}
    assert called.payload["version"] == "1"
    assert called.payload["arn"].endswith(":function:rt-alias:live")
    assert 0 < called.payload["remaining_ms"] <= 3000
    assert runtime.invoke(ref("rt-alias"), {}).executed_version == "$LATEST"
    assert runtime.invoke(ref("rt-alias", "1"), {}).executed_version == "1"


def test_alias_weights_split_the_calls(session: boto3.Session, runtime: LambdaRuntime) -> None:
    stable, canary = deploy_versions(session, "rt-weights", 2)
    point_alias(session, "rt-weights", stable, weights={canary: 0.1})

    started = time.monotonic()
    served = [runtime.invoke(ref("rt-weights", "live"), {}).executed_version for _ in range(5000)]
    elapsed = time.monotonic() - started

    assert 0.085 <= served.count(canary) / 5000 <= 0.115
    assert served.count(stable) + served.count(canary) == 5000
    assert elapsed < 15, f"5,000 warm calls took {elapsed:.1f}s"
    point_alias(session, "rt-weights", stable, weights={canary: 0.0})
    assert {runtime.invoke(ref("rt-weights", "live"), {}).executed_version for _ in range(300)} == {
        stable
    }


def test_an_alias_update_takes_effect_on_the_next_call(
    session: boto3.Session, runtime: LambdaRuntime
) -> None:
    first, second = deploy_versions(session, "rt-update", 2)
    point_alias(session, "rt-update", first)
    assert runtime.invoke(ref("rt-update", "live"), {}).executed_version == first

    session.client("lambda").update_alias(
        FunctionName="rt-update", Name="live", FunctionVersion=second
    )

    assert runtime.invoke(ref("rt-update", "live"), {}).executed_version == second


def test_cold_then_warm_and_each_version_has_its_own_workers(
    session: boto3.Session, runtime: LambdaRuntime
) -> None:
    first, second = deploy_versions(session, "rt-cold", 2)

    cold = runtime.invoke(ref("rt-cold", first), {})
    warm = runtime.invoke(ref("rt-cold", first), {})
    other = runtime.invoke(ref("rt-cold", second), {})

    assert cold.cold_start and "Init Duration: " in cold.logs[-1]
    assert not warm.cold_start and "Init Duration" not in warm.logs[-1]
    assert warm.payload["pid"] == cold.payload["pid"]
    assert (cold.payload["calls"], warm.payload["calls"]) == (1, 2)
    assert other.cold_start
    assert other.payload["pid"] != cold.payload["pid"]
    assert other.payload["calls"] == 1


def test_new_code_on_latest_gets_fresh_workers(
    session: boto3.Session, runtime: LambdaRuntime
) -> None:
    deploy(session, "rt-latest", ECHO)
    before = runtime.invoke(ref("rt-latest"), {})
    deploy(session, "rt-latest", ECHO + "\n# changed\n")
    after = runtime.invoke(ref("rt-latest"), {})

    assert after.cold_start
    assert after.payload["pid"] != before.payload["pid"]


IDENTITY = """
    import os
    import boto3

    def handler(event, context):
        return {
            "account": boto3.client("sts").get_caller_identity()["Account"],
            "tables": boto3.client("dynamodb").list_tables()["TableNames"],
            "greeting": os.environ["GREETING"],
            "region": os.environ["AWS_REGION"],
            "name": os.environ["AWS_LAMBDA_FUNCTION_NAME"],
            "log_group": context.log_group_name,
            "profile": os.environ.get("AWS_PROFILE"),
        }
"""


def test_the_function_acts_in_its_account_with_its_environment(
    session: boto3.Session, runtime: LambdaRuntime
) -> None:
    session.client("dynamodb").create_table(
        TableName="rt-orders",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    deploy(session, "rt-identity", IDENTITY, environment={"GREETING": "sawubona"})

    seen = runtime.invoke(ref("rt-identity"), {}).payload

    assert seen["account"] == SIT
    assert "rt-orders" in seen["tables"]
    assert (seen["greeting"], seen["region"], seen["name"]) == ("sawubona", REGION, "rt-identity")
    assert seen["log_group"] == "/aws/lambda/rt-identity"
    assert seen["profile"] is None


def test_a_timeout_kills_the_worker_and_the_next_call_gets_a_new_one(
    session: boto3.Session, runtime: LambdaRuntime
) -> None:
    deploy(session, "rt-timeout", ECHO, timeout=1)
    first = runtime.invoke(ref("rt-timeout"), {})

    started = time.monotonic()
    slow = runtime.invoke(ref("rt-timeout"), {"sleep": 30})
    waited = time.monotonic() - started
    after = runtime.invoke(ref("rt-timeout"), {})

    assert slow.status is InvocationStatus.TIMED_OUT
    assert waited < 3
    assert slow.payload == {
        "errorMessage": f"{slow.request_id} Task timed out after 1.00 seconds",
        "errorType": "Sandbox.Timedout",
    }
    assert after.status is InvocationStatus.OK and after.cold_start
    assert after.payload["pid"] != first.payload["pid"]


def test_reserved_concurrency_throttles(session: boto3.Session, runtime: LambdaRuntime) -> None:
    deploy(session, "rt-reserved", ECHO)
    client = session.client("lambda")
    client.put_function_concurrency(FunctionName="rt-reserved", ReservedConcurrentExecutions=1)
    runtime.invoke(ref("rt-reserved"), {})  # warm, so both calls below start together
    results: list[Invocation] = []

    def call() -> None:
        results.append(runtime.invoke(ref("rt-reserved"), {"sleep": 0.5}))

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(r.status for r in results) == [InvocationStatus.OK, InvocationStatus.THROTTLED]
    client.put_function_concurrency(FunctionName="rt-reserved", ReservedConcurrentExecutions=0)
    throttled = runtime.invoke(ref("rt-reserved"), {})
    assert throttled.status is InvocationStatus.THROTTLED
    assert throttled.payload == {
        "errorMessage": "Rate Exceeded.",
        "errorType": "TooManyRequestsException",
    }
    assert throttled.duration_ms == 0


def test_without_reserved_concurrency_calls_beyond_the_workers_wait(
    sandbox: Sandbox, session: boto3.Session, tmp_path: Path
) -> None:
    deploy(session, "rt-queue", ECHO)
    results: list[Invocation] = []
    with LambdaRuntime(sandbox.endpoint, tmp_path, max_workers_per_version=1) as runtime:
        runtime.invoke(ref("rt-queue"), {})

        def call() -> None:
            results.append(runtime.invoke(ref("rt-queue"), {"sleep": 0.3}))

        threads = [threading.Thread(target=call) for _ in range(2)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert time.monotonic() - started >= 0.6
    assert [r.status for r in results] == [InvocationStatus.OK] * 2
    assert len({r.payload["pid"] for r in results}) == 1


def test_a_handler_error_is_a_function_error_and_the_worker_lives_on(
    session: boto3.Session, runtime: LambdaRuntime
) -> None:
    deploy(session, "rt-error", ECHO)

    failed = runtime.invoke(ref("rt-error"), {"fail": "boom"})
    after = runtime.invoke(ref("rt-error"), {})

    assert failed.status is InvocationStatus.FUNCTION_ERROR
    assert failed.payload["errorType"] == "ValueError"
    assert failed.payload["errorMessage"] == "boom"
    assert "raise ValueError" in "".join(failed.payload["stackTrace"])
    assert "[ERROR] ValueError: boom" in failed.logs
    assert after.status is InvocationStatus.OK and not after.cold_start


def test_a_result_that_is_not_json_is_a_marshal_error(
    session: boto3.Session, runtime: LambdaRuntime
) -> None:
    deploy(session, "rt-marshal", "def handler(event, context):\n    return {1, 2}\n")

    called = runtime.invoke(ref("rt-marshal"), {})

    assert called.status is InvocationStatus.FUNCTION_ERROR
    assert called.payload["errorType"] == "Runtime.MarshalError"


@pytest.mark.parametrize(
    ("source", "handler", "error_type"),
    [
        ("import not_a_module_anywhere\n", "app.handler", "Runtime.ImportModuleError"),
        ("def handler(event, context):\n    return 1\n", "app.nope", "Runtime.HandlerNotFound"),
        ("def handler(event, context)\n", "app.handler", "Runtime.UserCodeSyntaxError"),
        ("raise KeyError('CONFIG')\n", "app.handler", "KeyError"),
    ],
)
def test_code_that_cannot_load_is_a_runtime_error(
    session: boto3.Session, runtime: LambdaRuntime, source: str, handler: str, error_type: str
) -> None:
    deploy(session, "rt-broken", source, handler=handler)

    called = runtime.invoke(ref("rt-broken"), {})

    assert called.status is InvocationStatus.RUNTIME_ERROR
    assert called.payload["errorType"] == error_type
    assert called.logs[-1].startswith(f"REPORT RequestId: {called.request_id}")


def test_a_worker_that_dies_is_a_runtime_error_and_is_replaced(
    session: boto3.Session, runtime: LambdaRuntime
) -> None:
    deploy(session, "rt-exit", ECHO)

    died = runtime.invoke(ref("rt-exit"), {"exit": 3})
    after = runtime.invoke(ref("rt-exit"), {})

    assert died.status is InvocationStatus.RUNTIME_ERROR
    assert died.payload["errorType"] == "Runtime.ExitError"
    assert died.payload["errorMessage"].endswith("exit status 3")
    assert after.status is InvocationStatus.OK and after.cold_start


EMF = {"_aws": {"Timestamp": 1, "CloudWatchMetrics": []}, "Orders": 1}
PRINTER = f"""
    import json
    import logging

    print("initialising")

    def handler(event, context):
        print("hello")
        logging.getLogger().warning("careful")
        print(json.dumps({EMF!r}))
        return "done"
"""


def test_listeners_hear_every_call_and_logs_frame_the_output(
    session: boto3.Session, runtime: LambdaRuntime
) -> None:
    deploy(session, "rt-logs", PRINTER)
    heard: list[Invocation] = []

    def broken(invocation: Invocation) -> None:
        raise RuntimeError("a listener's bug")

    runtime.add_listener(broken)
    runtime.add_listener(heard.append)
    cold = runtime.invoke(ref("rt-logs"), {})
    warm = runtime.invoke(ref("rt-logs"), {})

    assert heard == [cold, warm]
    rid = warm.request_id
    assert warm.logs[0] == f"START RequestId: {rid} Version: $LATEST"
    assert warm.logs[1] == "hello"
    assert warm.logs[2].startswith("[WARNING]\t") and warm.logs[2].endswith(f"\t{rid}\tcareful")
    assert json.loads(warm.logs[3]) == EMF
    assert warm.logs[4] == f"END RequestId: {rid}"
    assert warm.logs[5].startswith(f"REPORT RequestId: {rid}\tDuration: ")
    assert "\tMemory Size: 128 MB\tMax Memory Used: " in warm.logs[5]
    assert cold.logs[0] == "initialising"
    assert cold.logs[1].startswith("START ")


def test_unknown_functions_and_aliases_are_not_found(
    session: boto3.Session, runtime: LambdaRuntime
) -> None:
    deploy(session, "rt-known", ECHO)
    for missing in (ref("rt-nowhere"), ref("rt-known", "nope"), ref("rt-known", "99")):
        with pytest.raises(FunctionNotFound):
            runtime.invoke(missing, {})


def test_idle_workers_are_reaped(sandbox: Sandbox, session: boto3.Session, tmp_path: Path) -> None:
    deploy(session, "rt-idle", ECHO)
    with LambdaRuntime(sandbox.endpoint, tmp_path, idle_seconds=0.2) as runtime:
        first = runtime.invoke(ref("rt-idle"), {})
        time.sleep(0.6)
        again = runtime.invoke(ref("rt-idle"), {})

    assert again.cold_start and again.payload["pid"] != first.payload["pid"]


def test_after_close_nothing_runs(session: boto3.Session, runtime: LambdaRuntime) -> None:
    deploy(session, "rt-close", ECHO)
    runtime.invoke(ref("rt-close"), {})

    runtime.close()
    runtime.close()

    with pytest.raises(SandboxError):
        runtime.invoke(ref("rt-close"), {})


@pytest.mark.parametrize("name", ["../escape.py", "/etc/escape.py", "lib/../../escape.py"])
def test_code_packages_cannot_write_outside_their_directory(tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidCode):
        extract(make_zip({"app.py": "x = 1\n", name: "x = 2\n"}), tmp_path / "code")
    assert not (tmp_path / "escape.py").exists()
