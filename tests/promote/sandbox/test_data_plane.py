"""The whole sandbox for the BBWS estate: accounts, functions, gateway, metrics, tokens and
traffic, driven as a user drives it (boto3, the AWS CLI, curl, `promote sandbox ...`)."""

from __future__ import annotations

import base64
import http.client
import json
import shutil
import ssl
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from bbws.schemas import dynamodb
from bbws.schemas.common import Target
from promote.cli import check_estate, main
from promote.sandbox import Sandbox
from promote.sandbox.server import write_running

from .conftest import BBWS, RunAws, data_plane
from .functions import deploy, point_alias

SIT = "815856636111"
API = "api.sit.kimmyai.io"
ECHO = """
import json, os

def handler(event, context):
    body = {"path": event["path"], "version": os.environ["AWS_LAMBDA_FUNCTION_VERSION"]}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps(body)}
"""
# Fails every fifth call of each worker: 20% of a version's calls.
FLAKY = """
import json
calls = 0

def handler(event, context):
    global calls
    calls += 1
    if calls % 5 == 0:
        raise RuntimeError("injected fault")
    return {"statusCode": 200, "body": json.dumps({"ok": True})}
"""
# The real products service: the venv has bbws installed, so the zip only names the handler.
PRODUCTS = "from bbws.services.products.handler import handler  # noqa: F401\n"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """Overrides conftest's: the same estate, with its data plane on free ports."""
    estate, _, _ = check_estate(BBWS)
    assert estate is not None
    state_dir = tmp_path_factory.mktemp("data-plane") / "state"
    with data_plane(estate, state_dir) as running:
        write_running(state_dir, running, estate.name, BBWS)  # as `promote sandbox up` does
        yield running


def _ports(sandbox: Sandbox) -> tuple[int, int, Path]:
    gateway = sandbox.services.gateway
    return gateway.http_port, gateway.https_port, gateway.ca_file


def get(sandbox: Sandbox, path: str, headers: dict[str, str] | None = None) -> Any:
    """GET https://api.sit.kimmyai.io<path> through the gateway's TLS port."""
    _, https_port, ca_file = _ports(sandbox)
    context = ssl.create_default_context(cafile=str(ca_file))
    connection = http.client.HTTPSConnection("127.0.0.1", https_port, context=context, timeout=10)
    # SNI and certificate checks use the API's name, as with curl --connect-to.
    connection.sock = context.wrap_socket(
        __import__("socket").create_connection(("127.0.0.1", https_port), timeout=10),
        server_hostname=API,
    )
    connection.request("GET", path, headers={"Host": API, **(headers or {})})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, dict(response.getheaders()), body


def test_curl_reaches_the_alias_through_tls(aws_env: Sandbox) -> None:
    session = boto3.Session(profile_name="Tebogo-sit")
    version = deploy(session, "product-handler-sit", ECHO)
    point_alias(session, "product-handler-sit", version)
    curl = shutil.which("curl")
    if curl is None:
        status, _, body = get(aws_env, "/v1.0/products/health")
        assert status == 200
    else:
        _, https_port, ca_file = _ports(aws_env)
        # The runbook's command, with the sandbox's --connect-to and --cacert.
        result = subprocess.run(
            [
                *(curl, "-sS", "--connect-to", f"::127.0.0.1:{https_port}"),
                *("--cacert", str(ca_file), f"https://{API}/v1.0/products/health"),
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        body = result.stdout.encode()
    assert json.loads(body) == {"path": "/v1.0/products/health", "version": version}


def test_an_alias_update_with_the_aws_cli_takes_effect_within_a_second(
    aws_env: Sandbox, run_aws: RunAws
) -> None:
    session = boto3.Session(profile_name="Tebogo-sit")
    first = deploy(session, "product-handler-sit", ECHO)
    point_alias(session, "product-handler-sit", first)
    second = deploy(session, "product-handler-sit", ECHO + "\n# v2\n")
    assert get(aws_env, "/v1.0/products/x")[1]["X-Amz-Executed-Version"] == first
    # 001 Step 6, as written in the runbook.
    result = run_aws(
        "lambda",
        "update-alias",
        "--function-name",
        "product-handler-sit",
        "--name",
        "live",
        "--function-version",
        second,
    )
    assert result.returncode == 0, result.stderr
    changed = time.monotonic()
    while get(aws_env, "/v1.0/products/x")[1]["X-Amz-Executed-Version"] != second:
        assert time.monotonic() - changed < 1.0, "the gateway still serves the old version"
        time.sleep(0.02)


def _metric(cloudwatch: Any, name: str, dimensions: dict[str, str], since: datetime) -> float:
    answer = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/Lambda",
                        "MetricName": name,
                        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                    },
                    "Period": 1,
                    "Stat": "Sum",
                },
            }
        ],
        StartTime=since,
        EndTime=datetime.now(UTC) + timedelta(seconds=5),
    )
    return float(sum(answer["MetricDataResults"][0]["Values"]))


def test_per_version_metrics_reach_cloudwatch_within_two_seconds(aws_env: Sandbox) -> None:
    session = boto3.Session(profile_name="Tebogo-sit")
    name = "campaigns-handler-sit"
    stable = deploy(session, name, ECHO)
    canary = deploy(session, name, FLAKY)
    point_alias(session, name, stable, weights={canary: 0.5})
    since = datetime.now(UTC) - timedelta(seconds=2)
    seen: Counter[tuple[str, int]] = Counter()
    for _ in range(100):
        status, headers, _ = get(aws_env, "/v1.0/campaigns/x")
        seen[headers["X-Amz-Executed-Version"], status] += 1
    sent = time.monotonic()
    cloudwatch = session.client("cloudwatch")
    expected = {
        (version, metric): float(count)
        for version in (stable, canary)
        for metric, count in (
            ("Invocations", seen[version, 200] + seen[version, 502]),
            ("Errors", seen[version, 502]),
        )
    }
    assert expected[canary, "Errors"] > 0 and expected[stable, "Errors"] == 0
    while True:
        found = {
            (version, metric): _metric(
                cloudwatch,
                metric,
                {"FunctionName": name, "Resource": f"{name}:live", "ExecutedVersion": version},
                since,
            )
            for version, metric in expected
        }
        if found == expected:
            break
        assert time.monotonic() - sent < 2.0, f"CloudWatch has {found}, expected {expected}"
        time.sleep(0.1)


def _deploy_products(session: boto3.Session, sandbox: Sandbox) -> None:
    dynamodb.apply_all(Target(env="sit", region="eu-west-1", account_id=SIT), session=session)
    issuers = sandbox.services.issuers
    assert issuers is not None
    environment = {
        "BBWS_ENV": "sit",
        "BBWS_DOMAIN": "sit.kimmyai.io",
        "JWKS_URL": issuers.jwks_url("sit"),
        "JWT_ISSUER": issuers.issuer("sit"),
        "BBWS_CURSOR_KEY": "sandbox-cursor-key-0123456789abcdef-0123",
        "POWERTOOLS_SERVICE_NAME": "products",
    }
    version = deploy(session, "product-handler-sit", PRODUCTS, environment=environment, timeout=10)
    point_alias(session, "product-handler-sit", version)


def test_the_products_service_accepts_a_sandbox_token(
    aws_env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    session = boto3.Session(profile_name="Tebogo-sit")
    _deploy_products(session, aws_env)
    state = ["--state-dir", str(aws_env.state_dir)]
    assert (
        main(["sandbox", "token", "--env", "sit", "--tenant", "t1", "--group", "admin", *state])
        == 0
    )
    token = capsys.readouterr().out.strip()
    health = get(aws_env, "/v1.0/products/health")
    assert health[0] == 200, health
    assert get(aws_env, "/v1.0/products")[0] == 401
    status, _, body = get(aws_env, "/v1.0/products", {"Authorization": f"Bearer {token}"})
    assert status == 200, body
    # A token from another environment's issuer is refused.
    assert main(["sandbox", "token", "--env", "prod", "--tenant", "t1", *state]) == 0
    other = capsys.readouterr().out.strip()
    assert get(aws_env, "/v1.0/products", {"Authorization": f"Bearer {other}"})[0] == 401


def test_traffic_reports_per_version(aws_env: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    session = boto3.Session(profile_name="Tebogo-sit")
    _deploy_products(session, aws_env)
    command = ["sandbox", "traffic", "--env", "sit", "--project", "product_lambda"]
    options = ["--rps", "40", "--duration", "2", "--mix", "read=0.7,write=0.3", "--format", "json"]
    options += ["--concurrency", "2"]  # two workers' cold starts, not sixteen, on two cores
    assert main([*command, *options, "--state-dir", str(aws_env.state_dir)]) == 0
    report = json.loads(capsys.readouterr().out)
    # Every request sent succeeded; on a busy machine the service's cold starts may leave
    # some of the 80 due requests dropped by the generator (it says so), never failed.
    assert report["sent"] == report["ok"] >= 20, report
    assert report["sent"] + report["dropped"] + report["unfinished"] == report["scheduled"] == 80
    assert set(report["by_kind"]) == {"read", "write"}
    # One version serves: the split per version is tested with two in test_traffic.py.
    assert len(report["by_version"]) == 1
    assert report["latency_ms"]["p95"] is not None


def test_traffic_to_nothing_deployed_exits_1(
    aws_env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    # No test deploys anything into dev.
    command = ["sandbox", "traffic", "--env", "dev", "--project", "order_lambda"]
    options = ["--rps", "20", "--duration", "0.5", "--mix", "health=1"]
    assert main([*command, *options, "--state-dir", str(aws_env.state_dir)]) == 1
    captured = capsys.readouterr()
    assert "api.dev.kimmyai.io (dev)" in captured.err and "GET /v1.0/orders/health" in captured.err
    assert "no request succeeded" in captured.err


def test_the_invoke_api_runs_the_function_in_the_runtime(
    aws_env: Sandbox, run_aws: RunAws, tmp_path: Path
) -> None:
    session = boto3.Session(profile_name="Tebogo-sit")
    name = "echo-sit"
    first = deploy(session, name, ECHO)
    point_alias(session, name, first)
    answer = session.client("lambda").invoke(
        FunctionName=f"{name}:live", Payload=b'{"path": "/x"}', LogType="Tail"
    )
    assert answer["ExecutedVersion"] == first and "FunctionError" not in answer
    assert json.loads(json.loads(answer["Payload"].read())["body"])["path"] == "/x"
    assert "REPORT RequestId" in base64.b64decode(answer["LogResult"]).decode()
    out = tmp_path / "out.json"
    result = run_aws(
        "lambda", "invoke", "--function-name", name, "--qualifier", "live",
        "--payload", '{"path": "/cli"}', str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ExecutedVersion"] == first
    assert json.loads(json.loads(out.read_text())["body"])["path"] == "/cli"
    dry = session.client("lambda").invoke(FunctionName=f"{name}:live", InvocationType="DryRun")
    assert dry["StatusCode"] == 204
    failing = session.client("lambda").invoke(FunctionName=name, Payload=b"{}")
    assert failing["FunctionError"] == "Unhandled"  # $LATEST reads event["path"]: KeyError


STREAM = """
import json

def handler(event, context):
    print("my stream is", context.log_stream_name)
    return {"statusCode": 200, "body": json.dumps({"stream": context.log_stream_name})}
"""


def test_a_functions_lines_land_in_the_stream_it_was_told(aws_env: Sandbox) -> None:
    session = boto3.Session(profile_name="Tebogo-sit")
    name = "order-handler-sit"
    point_alias(session, name, deploy(session, name, STREAM))
    status, _, body = get(aws_env, "/v1.0/orders/x")
    assert status == 200, body
    stream = json.loads(body)["stream"]
    logs = session.client("logs")
    deadline = time.monotonic() + 3
    while True:
        try:
            events = logs.get_log_events(logGroupName=f"/aws/lambda/{name}", logStreamName=stream)
        except logs.exceptions.ResourceNotFoundException:
            events = {"events": []}
        lines = [e["message"] for e in events["events"]]
        if f"my stream is {stream}" in lines:
            break
        assert time.monotonic() < deadline, lines
        time.sleep(0.1)
    assert any(line.startswith("REPORT RequestId") for line in lines)
