"""The emulated accounts, reached the way people and tools reach them: through the profiles."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest

from promote.cli import main
from promote.sandbox import Sandbox

from .conftest import BBWS, RunAws, free_port

SIT, PROD, DEV = "815856636111", "093646564004", "536580886816"


def _create_table(session: boto3.Session, name: str) -> None:
    session.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def test_each_profile_is_its_environments_account(aws_env: Sandbox) -> None:
    for profile, account in (("Tebogo-dev", DEV), ("Tebogo-sit", SIT), ("Tebogo-prod", PROD)):
        identity = boto3.Session(profile_name=profile).client("sts").get_caller_identity()
        assert identity["Account"] == account, profile
        assert ":assumed-role/" in identity["Arn"]


def test_the_profiles_region_and_endpoint_are_honoured(aws_env: Sandbox) -> None:
    client = boto3.Session(profile_name="Tebogo-prod").client("dynamodb")
    assert client.meta.region_name == "af-south-1"
    assert client.meta.endpoint_url == aws_env.endpoint


def test_accounts_are_isolated(aws_env: Sandbox) -> None:
    sit, prod = boto3.Session(profile_name="Tebogo-sit"), boto3.Session(profile_name="Tebogo-prod")
    _create_table(sit, "isolation-probe")
    assert "isolation-probe" in sit.client("dynamodb").list_tables()["TableNames"]
    # Same region as SIT, other account: nothing.
    in_prod = prod.client("dynamodb", region_name="eu-west-1").list_tables()["TableNames"]
    assert "isolation-probe" not in in_prod


def test_the_deploy_role_exists_in_each_account(aws_env: Sandbox) -> None:
    roles = boto3.Session(profile_name="Tebogo-sit").client("iam").list_roles()["Roles"]
    assert [r["Arn"] for r in roles] == [f"arn:aws:iam::{SIT}:role/promote-sandbox-deploy"]
    prod_roles = boto3.Session(profile_name="Tebogo-prod").client("iam").list_roles()["Roles"]
    # PROD's estate names its deploy role in its own account: the sandbox uses it.
    assert [r["RoleName"] for r in prod_roles] == ["2-1-bbws-tf-github-actions-prod"]


def test_env_prints_shell_exports(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sandbox", "env", "--state-dir", str(sandbox.state_dir)])
    out = capsys.readouterr().out
    assert code == 0
    config = sandbox.state_dir.resolve() / "config"
    assert f"export AWS_CONFIG_FILE={config}\n" in out
    assert f"export AWS_SHARED_CREDENTIALS_FILE={config.parent / 'credentials'}\n" in out
    assert out.startswith("unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY")


def test_env_json(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sandbox", "env", "--format", "json", "--state-dir", str(sandbox.state_dir)])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert data["set"]["AWS_CONFIG_FILE"] == str(sandbox.state_dir.resolve() / "config")
    assert data["profiles"] == ["promote-sandbox", "Tebogo-dev", "Tebogo-sit", "Tebogo-prod"]


def test_env_without_a_sandbox_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["sandbox", "env", "--state-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("PRM020 no sandbox profiles under")


def test_a_port_in_use_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        code = main(["sandbox", "up", str(BBWS), "--port", str(port), "--state-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip() == f"PRM020 port {port} is in use on 127.0.0.1; choose another with --port"


def test_an_invalid_estate_is_refused_like_plan(
    write_estate: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_estate(projects={"api": "name: api\nkind: generic\nwave: nope\n"})
    code = main(["sandbox", "up", str(root), "--state-dir", str(tmp_path / "state")])
    err = capsys.readouterr().err
    assert code == 2
    assert "V011" in err and "PRM010 the estate is invalid" in err
    assert not (tmp_path / "state").exists()


def test_status_without_a_sandbox(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "status", "--state-dir", str(tmp_path)]) == 1
    assert main(["sandbox", "down", "--state-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.count("no sandbox is running") == 2


def _promote(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from promote.cli import run; run()", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60)


def test_detach_status_and_down(tmp_path: Path) -> None:
    port = str(free_port())
    gateway = ("--http-port", "0", "--https-port", "0")  # any free ports
    up = _promote("sandbox", "up", str(BBWS), "--port", port, *gateway, "--detach", cwd=tmp_path)
    state = tmp_path / ".promote" / "sandbox"
    try:
        assert up.returncode == 0, up.stderr
        assert f"on http://127.0.0.1:{port}" in up.stdout
        pid = int((state / "sandbox.pid").read_text())

        status = _promote("sandbox", "status", cwd=tmp_path)
        assert status.returncode == 0, status.stderr
        assert f"(port {port}, pid {pid})" in status.stdout
        assert "gateway: http://127.0.0.1:" in status.stdout and "ca.pem" in status.stdout
        token = _promote("sandbox", "token", "--env", "sit", "--tenant", "t1", cwd=tmp_path)
        assert token.returncode == 0 and token.stdout.count(".") == 2, token.stderr

        again = _promote("sandbox", "up", str(BBWS), "--port", port, "--detach", cwd=tmp_path)
        assert again.returncode == 1
        assert again.stderr.startswith("PRM020 a sandbox is already running")
    finally:
        down = _promote("sandbox", "down", cwd=tmp_path)
    assert down.returncode == 0, down.stderr
    assert f"stopped the sandbox on port {port} (pid {pid})" in down.stdout
    assert not (state / "sandbox.pid").exists()
    assert _promote("sandbox", "status", cwd=tmp_path).returncode == 1
    assert _gone(pid)


def _gone(pid: int) -> bool:
    """Exited: no such process, or a zombie its (adoptive) parent has not reaped yet."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in {"Z", "X"}


def test_the_aws_cli_reaches_the_environments_account(run_aws: RunAws) -> None:
    result = run_aws("sts", "get-caller-identity")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["Account"] == SIT


def test_each_start_has_its_own_session_name(sandbox: Sandbox) -> None:
    # A name of its own per start keeps the AWS CLI's credential cache from outliving it.
    config = (sandbox.state_dir / "config").read_text()
    assert sandbox.session_name.startswith("promote-sandbox-")
    assert config.count(f"role_session_name = {sandbox.session_name}\n") == 3
