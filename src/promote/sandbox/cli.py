"""``promote sandbox``: emulated AWS accounts, one per environment of the estate."""

from __future__ import annotations

import json
import shlex
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from promote.errors import EstateInvalid
from promote.sandbox.errors import SandboxError
from promote.sandbox.profiles import SandboxAccount, accounts_for
from promote.sandbox.server import (
    DEFAULT_PORT,
    DEFAULT_STATE_DIR,
    Sandbox,
    check_port_free,
    config_paths,
    running,
    serve,
    spawn_detached,
    stop_running,
)

# Variables that would win over the profiles and reach real AWS.
_UNSET = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL")

sandbox_app = typer.Typer(
    name="sandbox",
    help="Emulated AWS accounts for the estate, one per environment, on this machine.\n\n"
    "The emulator is moto's server on 127.0.0.1. Its state lives in memory only and is "
    "lost on `promote sandbox down`. Profiles named as the estate's credentials.profile "
    "are written to the state directory (.promote/sandbox/); `promote sandbox env` prints "
    "the exports that select them.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
out = Console(soft_wrap=False, width=None if sys.stdout.isatty() else 120)

StateDir = Annotated[
    Path,
    typer.Option(
        "--state-dir", help="Where the config, credentials and pid files live.", show_default=True
    ),
]


class EnvFormat(StrEnum):
    SHELL = "shell"
    JSON = "json"


def _accounts(directory: Path) -> tuple[str, list[SandboxAccount]]:
    from promote.cli import check_estate  # promote.cli registers this app: import late

    estate, found, _ = check_estate(directory)
    if estate is None or any(d.is_error for d in found):
        raise EstateInvalid(found)
    return estate.name, accounts_for(estate)


@sandbox_app.command()
def up(
    directory: Annotated[
        Path, typer.Argument(help="The estate folder (holds estate.yaml and projects/).")
    ] = Path("."),
    port: Annotated[int, typer.Option("--port", help="The port on 127.0.0.1.")] = DEFAULT_PORT,
    detach: Annotated[
        bool, typer.Option("--detach", help="Serve from a background process and return.")
    ] = False,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> int:
    """Start the emulator with one account per environment and write its AWS profiles.

    Each environment's profile (its credentials.profile) assumes a deploy role in its account.

    State lives in memory and is lost on `promote sandbox down` (or Ctrl-C).
    """
    estate, accounts = _accounts(directory)
    found = running(state_dir)
    if found is not None:
        raise SandboxError(
            f"a sandbox is already running (pid {found.pid}, port {found.port}); "
            "stop it with `promote sandbox down`"
        )
    check_port_free(port)
    if detach:
        started = spawn_detached(directory, port, state_dir)
        _print_started(estate, accounts, started.endpoint, state_dir)
        out.print(
            f"serving in the background (pid {started.pid}); stop with `promote sandbox down`"
        )
        return 0
    sandbox = Sandbox(accounts=accounts, port=port, state_dir=state_dir)

    def ready() -> None:
        _print_started(estate, accounts, sandbox.endpoint, state_dir)
        out.print("serving; Ctrl-C stops it and forgets every resource")

    serve(sandbox, estate, on_ready=ready)
    out.print("stopped")
    return 0


def _print_started(estate: str, accounts: list[SandboxAccount], url: str, state_dir: Path) -> None:
    out.print(f"sandbox for {estate} on {url}", highlight=False)
    for account in accounts:
        out.print(
            f"  {account.environment:<8} account {account.account_id}  "
            f"profile {account.profile}  region {account.region}",
            highlight=False,
        )
    out.print(f'use it: eval "$(promote sandbox env --state-dir {shlex.quote(str(state_dir))})"')


@sandbox_app.command()
def env(
    output: Annotated[
        EnvFormat, typer.Option("--format", "-f", help="shell exports, or json for scripts.")
    ] = EnvFormat.SHELL,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> int:
    """Print the environment variables that point AWS tools at the sandbox's profiles.

    Then choose an environment with AWS_PROFILE (e.g. AWS_PROFILE=Tebogo-sit).
    """
    config, credentials = config_paths(state_dir)
    if not config.exists() or not credentials.exists():
        raise SandboxError(
            f"no sandbox profiles under {state_dir}; start one with `promote sandbox up`"
        )
    variables = {
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
    }
    if output is EnvFormat.JSON:
        profiles = _profiles(config)
        data = {"set": variables, "unset": list(_UNSET), "profiles": profiles}
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return 0
    lines = [f"unset {' '.join(_UNSET)}"]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in variables.items()]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _profiles(config: Path) -> list[str]:
    names = []
    for line in config.read_text().splitlines():
        if line.startswith("[profile ") and line.endswith("]"):
            names.append(line[len("[profile ") : -1])
    return names


@sandbox_app.command()
def status(state_dir: StateDir = DEFAULT_STATE_DIR) -> int:
    """Say whether a sandbox is running, on which port, with which profiles.

    Exit code 0 when it runs, 1 when it does not.
    """
    found = running(state_dir)
    if found is None:
        out.print(f"no sandbox is running from {state_dir}", highlight=False)
        return 1
    out.print(
        f"running: {found.estate} on {found.endpoint} (port {found.port}, pid {found.pid})",
        highlight=False,
    )
    for environment, profile in found.profiles.items():
        out.print(f"  {environment:<8} profile {profile}", highlight=False)
    return 0


@sandbox_app.command()
def down(state_dir: StateDir = DEFAULT_STATE_DIR) -> int:
    """Stop the background sandbox; every emulated resource is forgotten.

    The profiles stay in the state directory (they point at a stopped endpoint).
    """
    stopped = stop_running(state_dir)
    if stopped is None:
        out.print(f"no sandbox is running from {state_dir}", highlight=False)
    else:
        out.print(f"stopped the sandbox on port {stopped.port} (pid {stopped.pid})")
    return 0
