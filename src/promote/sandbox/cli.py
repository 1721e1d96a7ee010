"""``promote sandbox``: emulated AWS accounts, one per environment of the estate."""

from __future__ import annotations

import json
import shlex
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer
from rich.console import Console

from promote.errors import EstateInvalid
from promote.model import Estate
from promote.sandbox.errors import SandboxError
from promote.sandbox.profiles import SandboxAccount, accounts_for
from promote.sandbox.server import (
    DEFAULT_HTTP_PORT,
    DEFAULT_HTTPS_PORT,
    DEFAULT_PORT,
    DEFAULT_STATE_DIR,
    Running,
    Sandbox,
    check_port_free,
    config_paths,
    running,
    serve,
    spawn_detached,
    stop_running,
)
from promote.sandbox.tokens import Issuers
from promote.sandbox.traffic import parse_mix, run_traffic
from promote.sandbox.traffic_plan import estate_plan

# Variables that would win over the profiles and reach real AWS.
_UNSET = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL")

sandbox_app = typer.Typer(
    name="sandbox",
    help="The estate's AWS accounts, functions, APIs and site, emulated on this machine.\n\n"
    "The emulator is moto's server on 127.0.0.1; the sandbox adds what moto lacks: a Lambda "
    "runtime honouring alias weights, an API Gateway and CloudFront front (HTTP 8080, TLS "
    "8443 with its own CA), CloudWatch metrics and logs from the functions, SQS event "
    "sources, token issuers and a load generator. Its state lives in memory only and is "
    "lost on `promote sandbox down`. Profiles named as the estate's credentials.profile "
    "are written to the state directory (.promote/sandbox/); `promote sandbox env` prints "
    "the exports that select them.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
out = Console(soft_wrap=False, width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, soft_wrap=True)

StateDir = Annotated[
    Path,
    typer.Option(
        "--state-dir", help="Where the config, credentials and pid files live.", show_default=True
    ),
]


class EnvFormat(StrEnum):
    SHELL = "shell"
    JSON = "json"


def _estate(directory: Path) -> Estate:
    from promote.cli import check_estate  # promote.cli registers this app: import late

    estate, found, _ = check_estate(directory)
    if estate is None or any(d.is_error for d in found):
        raise EstateInvalid(found)
    return estate


@sandbox_app.command()
def up(
    directory: Annotated[
        Path, typer.Argument(help="The estate folder (holds estate.yaml and projects/).")
    ] = Path("."),
    port: Annotated[
        int, typer.Option("--port", help="The emulator's port on 127.0.0.1 (AWS APIs).")
    ] = DEFAULT_PORT,
    http_port: Annotated[
        int, typer.Option("--http-port", help="The gateway's plain HTTP port (0: any free).")
    ] = DEFAULT_HTTP_PORT,
    https_port: Annotated[
        int, typer.Option("--https-port", help="The gateway's TLS port (0: any free).")
    ] = DEFAULT_HTTPS_PORT,
    services: Annotated[
        bool,
        typer.Option(
            "--services/--accounts-only",
            help="Run the data plane (functions, gateway, metrics, tokens), or only the "
            "emulated accounts.",
        ),
    ] = True,
    detach: Annotated[
        bool, typer.Option("--detach", help="Serve from a background process and return.")
    ] = False,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> int:
    """Start the emulator with one account per environment, its data plane, and write its
    AWS profiles.

    Each environment's profile (its credentials.profile) assumes a deploy role in its account.
    Functions published in the emulated Lambda run in worker processes; requests for
    api.<domain> reach their aliases, the site domains their CloudFront distributions:

      curl --connect-to ::127.0.0.1:8443 --cacert .promote/sandbox/ca.pem
      https://api.sit.kimmyai.io/v1.0/products/health

    State lives in memory and is lost on `promote sandbox down` (or Ctrl-C).
    """
    model = _estate(directory)
    estate, accounts = model.name, accounts_for(model)
    found = running(state_dir)
    if found is not None:
        raise SandboxError(
            f"a sandbox is already running (pid {found.pid}, port {found.port}); "
            "stop it with `promote sandbox down`"
        )
    for each in (port, *((http_port, https_port) if services else ())):
        if each:
            check_port_free(each)
    if detach:
        extra = [f"--http-port={http_port}", f"--https-port={https_port}"]
        extra.append("--services" if services else "--accounts-only")
        started = spawn_detached(directory, port, state_dir, extra)
        _print_started(estate, accounts, started.endpoint, state_dir)
        _print_gateway(started)
        out.print(
            f"serving in the background (pid {started.pid}); stop with `promote sandbox down`"
        )
        return 0
    sandbox = Sandbox(
        accounts=accounts,
        port=port,
        state_dir=state_dir,
        estate=model if services else None,
        http_port=http_port,
        https_port=https_port,
    )

    def ready() -> None:
        _print_started(estate, accounts, sandbox.endpoint, state_dir)
        found = running(state_dir)
        if found is not None:
            _print_gateway(found)
        if sandbox.services is not None:
            for problem in sandbox.services.gateway.routes.problems:
                err.print(f"warning: {problem}", highlight=False)
        out.print("serving; Ctrl-C stops it and forgets every resource")

    serve(sandbox, estate, on_ready=ready, estate_dir=directory)
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


def _print_gateway(found: Running) -> None:
    if found.http_port is None:
        return
    out.print(
        f"gateway: http://127.0.0.1:{found.http_port}  https://127.0.0.1:{found.https_port}"
        f"  (CA: {found.ca_file})",
        highlight=False,
    )
    out.print(
        f"  curl --connect-to ::127.0.0.1:{found.https_port} --cacert {found.ca_file} "
        "https://<api_domain>/<base path>/...",
        highlight=False,
    )


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
    _print_gateway(found)
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


class TokenUseOption(StrEnum):
    ID = "id"
    ACCESS = "access"


def _serving(state_dir: Path) -> Running:
    found = running(state_dir)
    if found is None or found.http_port is None:
        raise SandboxError(
            f"no sandbox with its data plane is running from {state_dir}; "
            "start one with `promote sandbox up`"
        )
    return found


def _issuers(found: Running, state_dir: Path) -> Issuers:
    # Tokens must name the issuer the running sandbox serves: ``<base>/oidc/<env>``.
    base = next(iter(found.issuers.values()), "").rpartition("/oidc/")[0]
    return Issuers(state_dir, list(found.issuers), base or f"http://127.0.0.1:{found.http_port}")


@sandbox_app.command()
def token(
    env_name: Annotated[str, typer.Option("--env", help="The environment whose issuer signs.")],
    tenant: Annotated[str, typer.Option("--tenant", help="The custom:tenant_id claim.")],
    group: Annotated[
        list[str] | None,
        typer.Option("--group", help="A cognito:groups entry (repeat for more), e.g. admin."),
    ] = None,
    use: Annotated[
        TokenUseOption, typer.Option("--use", help="token_use: id or access.")
    ] = TokenUseOption.ID,
    audience: Annotated[
        str | None, typer.Option("--audience", help="aud (id) or client_id (access).")
    ] = None,
    ttl: Annotated[int, typer.Option("--ttl", help="Seconds until it expires.")] = 3600,
    output: Annotated[
        EnvFormat, typer.Option("--format", "-f", help="shell: the token only; json: with issuer.")
    ] = EnvFormat.SHELL,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> int:
    """Print a bearer token (RS256 JWT) from the running sandbox's issuer for --env.

    Functions accept it when their JWT_ISSUER is the issuer and JWKS_URL its JWKS
    (`--format json` prints both):

      TOKEN=$(promote sandbox token --env sit --tenant T1 --group admin)
    """
    found = _serving(state_dir)
    issuers = _issuers(found, state_dir)
    minted = issuers.mint(
        env_name,
        tenant=tenant,
        groups=group or (),
        token_use=use.value,
        audience=audience,
        ttl_seconds=ttl,
    )
    if output is EnvFormat.JSON:
        data = {
            "token": minted,
            "issuer": issuers.issuer(env_name),
            "jwks_url": issuers.jwks_url(env_name),
        }
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        sys.stdout.write(minted + "\n")
    return 0


@sandbox_app.command()
def traffic(
    env_name: Annotated[str, typer.Option("--env", help="The environment to send to.")],
    rps: Annotated[float, typer.Option("--rps", help="Requests per second (open loop).")] = 100,
    duration: Annotated[float, typer.Option("--duration", help="Seconds to send for.")] = 60,
    mix: Annotated[
        str, typer.Option("--mix", help="Kinds and weights: read, write, health.")
    ] = "read=0.8,write=0.2",
    project: Annotated[
        str | None,
        typer.Option("--project", help="Whose smoke tests to send (default: the first API)."),
    ] = None,
    tenant: Annotated[str, typer.Option("--tenant", help="The token's tenant.")] = "load-test",
    concurrency: Annotated[int, typer.Option("--concurrency", help="Sending threads.")] = 16,
    output: Annotated[
        EnvFormat, typer.Option("--format", "-f", help="shell: a table; json for scripts.")
    ] = EnvFormat.SHELL,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> int:
    """Send a bounded load to the running sandbox's gateway, then report it.

    The requests are the project's own smoke tests (see docs/sandbox.md), signed with a token
    of the admin group, sent over TLS to the real host names. The report gives successes,
    errors and p50/p95/p99 latency overall, per kind and per executed version. It stops by
    itself after --duration. Exit code 0 once the run completes, 1 when not one request
    succeeded (nothing deployed there?).
    """
    found = _serving(state_dir)
    if found.estate_dir is None:
        raise SandboxError("the running sandbox did not record its estate folder; restart it")
    estate = _estate(Path(found.estate_dir))
    estate.environment(env_name)  # raises UnknownEnvironment, with a suggestion
    minted = _issuers(found, state_dir).mint(
        env_name, tenant=tenant, groups=["admin"], ttl_seconds=int(duration) + 600
    )
    plan = estate_plan(estate, env_name, parse_mix(mix), token=minted, project=project)
    hosts = sorted({urlsplit(t.url).hostname or "" for t in plan.templates.values()})
    err.print(
        f"sending {rps:g} req/s to {', '.join(hosts)} ({env_name}) for {duration:g}s: "
        + ", ".join(
            f"{kind} {t.method} {urlsplit(t.url).path}" for kind, t in plan.templates.items()
        )
        + "...",
        highlight=False,
    )
    report = run_traffic(
        plan,
        rps=rps,
        duration=duration,
        connect_to=("127.0.0.1", found.https_port or 0),
        ca_file=Path(found.ca_file) if found.ca_file else None,
        concurrency=concurrency,
    )
    if output is EnvFormat.JSON:
        sys.stdout.write(json.dumps(report.as_dict(), indent=2) + "\n")
    else:
        out.print(report.render_text(), highlight=False)
    if report.overall.sent and not report.overall.ok:
        err.print(
            "no request succeeded: is the project deployed, with its alias, in this "
            "environment? (exit 1)",
            highlight=False,
        )
        return 1
    return 0
