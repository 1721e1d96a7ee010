"""A sandbox for the BBWS estate, served in-process on a free port of 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from promote.cli import check_estate
from promote.model import Estate
from promote.sandbox import Sandbox, accounts_for
from promote.sandbox.server import free_port as server_free_port

ROOT = Path(__file__).resolve().parents[3]
BBWS = ROOT / "estates" / "bbws"
# Variables that would override or redirect the profiles under test.
AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
)


free_port = server_free_port


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    estate, _, _ = check_estate(BBWS)
    assert estate is not None
    state_dir = tmp_path_factory.mktemp("sandbox") / "state"
    with Sandbox(accounts=accounts_for(estate), port=free_port(), state_dir=state_dir) as running:
        yield running


@contextmanager
def data_plane(estate: Estate, state_dir: Path) -> Iterator[Sandbox]:
    """A sandbox for ``estate`` with its data plane (runtime, gateway, telemetry, issuers),
    every port a free one."""
    with Sandbox.for_estate(estate, state_dir) as running:
        yield running


@pytest.fixture
def aws_env(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """Point boto3 at the sandbox's files, and at nothing else."""
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(sandbox.state_dir / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(sandbox.state_dir / "credentials"))
    return sandbox


def _find_aws_cli() -> str | None:
    # `make setup` installs awscli from PyPI into a venv of its own (its pins clash with ours).
    own = ROOT / ".venv-awscli" / "bin" / "aws"
    return str(own) if own.exists() else shutil.which("aws")


AWS_CLI = _find_aws_cli()
RunAws = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture
def run_aws(aws_env: Sandbox, tmp_path: Path) -> RunAws:
    """Run the real AWS CLI against the sandbox: ``run_aws("sts", "get-caller-identity",
    profile="Tebogo-sit")``. Skips when no CLI is installed (`make setup` installs one)."""
    if AWS_CLI is None:
        pytest.skip("no AWS CLI: `make setup` installs awscli into .venv-awscli")
    cli: str = AWS_CLI

    def run(*args: str, profile: str = "Tebogo-sit") -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in AWS_VARIABLES}
        env["AWS_PROFILE"] = profile
        if "/.pyenv/shims/" in cli:
            env.setdefault("PYENV_ROOT", cli.split("/shims/")[0])
        # The CLI caches assumed-role credentials under ~/.aws/cli/cache: keep them apart.
        env["HOME"] = str(tmp_path)
        return subprocess.run(
            [cli, *args, "--output", "json"], env=env, capture_output=True, text=True, timeout=60
        )

    return run
