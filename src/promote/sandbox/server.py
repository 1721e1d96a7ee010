"""The running sandbox: moto's server on 127.0.0.1, the accounts' roles, and its state files;
with an estate, also the data plane moto lacks (see :mod:`promote.sandbox.services`).

State lives in moto's memory and is lost when the server stops. Under the state directory:

- ``config``, ``credentials``: the AWS config pair (see :mod:`promote.sandbox.profiles`);
- ``sandbox.pid``: the pid of the process serving, while it serves;
- ``sandbox.json``: its ports, endpoint, profiles and issuers, while it serves;
- ``sandbox.log``: the output of a detached server;
- ``ca.pem`` (and the gateway's keys), ``oidc/`` (the issuers' keys), ``lambda/`` (code and
  worker logs) when the data plane runs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from promote.model import Estate
from promote.processes import alive, start_ticks
from promote.sandbox.errors import SandboxError
from promote.sandbox.heap import HeapKeeper
from promote.sandbox.invocation import forget_sessions
from promote.sandbox.profiles import (
    FAKE_KEY_ID,
    FAKE_SECRET,
    SandboxAccount,
    accounts_for,
    endpoint,
    render_config,
    render_credentials,
)

DEFAULT_PORT = 4566
DEFAULT_HTTP_PORT, DEFAULT_HTTPS_PORT = 8080, 8443
DEFAULT_STATE_DIR = Path(".promote/sandbox")
CONFIG_FILE, CREDENTIALS_FILE = "config", "credentials"
PID_FILE, STATE_FILE, LOG_FILE = "sandbox.pid", "sandbox.json", "sandbox.log"
HOST = "127.0.0.1"
_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
)


def config_paths(state_dir: Path) -> tuple[Path, Path]:
    """The config and credentials files, absolute."""
    root = state_dir.resolve()
    return root / CONFIG_FILE, root / CREDENTIALS_FILE


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def check_port_free(port: int) -> None:
    """Raise :class:`SandboxError` when ``127.0.0.1:port`` cannot be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # The server sets SO_REUSEADDR too: a port in TIME_WAIT is free, a listening one is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as error:
            raise SandboxError(
                f"port {port} is in use on {HOST}; choose another with --port"
            ) from error


@dataclass
class Sandbox:
    """Moto's server with one account per environment. Use as a context manager, or
    :meth:`start` and :meth:`stop`."""

    accounts: list[SandboxAccount]
    port: int = DEFAULT_PORT
    state_dir: Path = DEFAULT_STATE_DIR
    # With an estate, the data plane runs too: Lambda runtime, gateway, telemetry, event
    # sources and token issuers (promote.sandbox.services). Without one, only the emulator.
    estate: Estate | None = None
    http_port: int = DEFAULT_HTTP_PORT  # 0 picks a free port
    https_port: int | None = DEFAULT_HTTPS_PORT
    services: Any = field(default=None, init=False, repr=False)

    @classmethod
    def for_estate(cls, estate: Estate, state_dir: Path) -> Sandbox:
        """The estate's accounts and data plane, every port a free one (tests, benchmarks,
        the demo: nothing else on the machine is disturbed)."""
        return cls(
            accounts=accounts_for(estate),
            port=free_port(),
            state_dir=state_dir,
            estate=estate,
            http_port=0,
            https_port=0,
        )

    _server: Any = field(default=None, init=False, repr=False)
    heap: HeapKeeper = field(default_factory=HeapKeeper, init=False, repr=False)
    # Unique per start (see render_config); set by start().
    session_name: str = field(default="promote-sandbox", init=False)

    @property
    def endpoint(self) -> str:
        return endpoint(self.port)

    def start(self, timeout: float = 15.0) -> None:
        from moto.server import ThreadedMotoServer

        from promote.sandbox.moto_dispatch import serve_fast_dispatch
        from promote.sandbox.moto_percentiles import serve_percentiles

        check_port_free(self.port)
        serve_fast_dispatch()
        # CloudWatch's histograms, percentiles and trimmed counts, which canary analysis
        # reads; with or without an estate's data plane.
        serve_percentiles()
        # Moto's request log is noise for the people using the sandbox.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        server = ThreadedMotoServer(ip_address=HOST, port=self.port, verbose=False)
        # start() waits forever when the server thread fails to bind: bound it.
        starter = threading.Thread(target=server.start, daemon=True)
        starter.start()
        starter.join(timeout)
        if starter.is_alive():
            raise SandboxError(f"the emulator did not start on {HOST}:{self.port} in {timeout}s")
        self._server = server
        self.heap.start()
        self.session_name = f"promote-sandbox-{time.time_ns() // 1_000_000}"
        try:
            self._reset()
            self._create_roles()
            self.write_files()
            if self.estate is not None:
                from promote.sandbox.services import Services

                self.services = Services(
                    self.estate, self.endpoint, self.state_dir, self.http_port, self.https_port
                )
                self.services.start()
        except Exception:
            self.stop()
            raise

    def stop(self) -> None:
        if self.services is not None:
            self.services.stop()
            self.services = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        self.heap.stop()

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _reset(self) -> None:
        """Start empty. Moto keeps its backends per process, not per server: without this a
        sandbox started after another one in the same process (tests, notebooks) would find
        the earlier one's resources."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass
        forget_sessions()

    def _create_roles(self) -> None:
        """Create each account's deploy role from inside that account.

        Moto does not require the role to exist to assume it (credentials are in the role's
        account either way), but real tools list and inspect it, so it exists."""
        import boto3

        base = boto3.Session(
            aws_access_key_id=FAKE_KEY_ID,
            aws_secret_access_key=FAKE_SECRET,
            region_name="us-east-1",
        )
        sts = base.client("sts", endpoint_url=self.endpoint)
        done: set[str] = set()
        for account in self.accounts:
            if account.role_arn in done:
                continue
            done.add(account.role_arn)
            creds = sts.assume_role(RoleArn=account.role_arn, RoleSessionName="promote-sandbox")[
                "Credentials"
            ]
            iam = boto3.Session(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
                region_name="us-east-1",
            ).client("iam", endpoint_url=self.endpoint)
            with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
                iam.create_role(RoleName=account.role_name, AssumeRolePolicyDocument=_TRUST)

    def write_files(self) -> tuple[Path, Path]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        config, credentials = config_paths(self.state_dir)
        config.write_text(render_config(self.accounts, self.port, self.session_name))
        credentials.write_text(render_credentials())
        credentials.chmod(0o600)
        return config, credentials


@dataclass(frozen=True)
class Running:
    """What ``sandbox.json`` says about the process serving."""

    pid: int
    port: int
    endpoint: str
    estate: str
    profiles: dict[str, str]
    # The data plane, when it runs: see Services.describe().
    http_port: int | None = None
    https_port: int | None = None
    ca_file: str | None = None
    estate_dir: str | None = None
    issuers: dict[str, str] = field(default_factory=dict)  # environment -> issuer URL
    started: str | None = None  # the process's start time, see promote.processes.start_ticks

    def as_dict(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "port": self.port,
            "endpoint": self.endpoint,
            "estate": self.estate,
            "profiles": self.profiles,
            "http_port": self.http_port,
            "https_port": self.https_port,
            "ca_file": self.ca_file,
            "estate_dir": self.estate_dir,
            "issuers": self.issuers,
            "started": self.started,
        }


def write_running(
    state_dir: Path, sandbox: Sandbox, estate: str, estate_dir: Path | None = None
) -> Running:
    services = sandbox.services
    running = Running(
        pid=os.getpid(),
        port=sandbox.port,
        endpoint=sandbox.endpoint,
        estate=estate,
        profiles={a.environment: a.profile for a in sandbox.accounts},
        http_port=services.gateway.http_port if services else None,
        https_port=services.gateway.https_port if services else None,
        ca_file=str(services.gateway.ca_file) if services and services.gateway.ca_file else None,
        estate_dir=str(estate_dir.resolve()) if estate_dir else None,
        issuers=services.issuer_urls() if services else {},
        started=start_ticks(os.getpid()),
    )
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / STATE_FILE).write_text(json.dumps(running.as_dict(), indent=2) + "\n")
    # The pid file last: its presence means "serving".
    (state_dir / PID_FILE).write_text(f"{running.pid}\n")
    return running


def clear_running(state_dir: Path) -> None:
    for name in (PID_FILE, STATE_FILE):
        (state_dir / name).unlink(missing_ok=True)


def running(state_dir: Path) -> Running | None:
    """The sandbox serving from ``state_dir``, or None (stale files are removed)."""
    try:
        pid = int((state_dir / PID_FILE).read_text().strip())
        data = json.loads((state_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    started = data.get("started")
    if not alive(pid, started):
        clear_running(state_dir)
        return None
    return Running(
        pid=pid,
        port=int(data["port"]),
        endpoint=str(data["endpoint"]),
        estate=str(data["estate"]),
        profiles={str(k): str(v) for k, v in data["profiles"].items()},
        http_port=data.get("http_port"),
        https_port=data.get("https_port"),
        ca_file=data.get("ca_file"),
        estate_dir=data.get("estate_dir"),
        issuers={str(k): str(v) for k, v in (data.get("issuers") or {}).items()},
        started=started,
    )


def serve(
    sandbox: Sandbox,
    estate: str,
    on_ready: Callable[[], None] | None = None,
    estate_dir: Path | None = None,
) -> None:
    """Serve in the foreground until SIGINT or SIGTERM; the pid file exists meanwhile."""
    stop = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        sandbox.start()
        try:
            write_running(sandbox.state_dir, sandbox, estate, estate_dir)
            if on_ready is not None:
                on_ready()
            while not stop.wait(0.5):
                pass
        finally:
            clear_running(sandbox.state_dir)
            sandbox.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def spawn_detached(
    directory: Path,
    port: int,
    state_dir: Path,
    extra_args: list[str] | None = None,
    timeout: float = 30.0,
) -> Running:
    """Start ``promote sandbox up`` in a background process and wait until it serves;
    ``extra_args`` are passed on to it (the gateway's ports)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    log = state_dir / LOG_FILE
    command = [
        sys.executable,
        "-c",
        "from promote.cli import run; run()",
        "sandbox",
        "up",
        str(directory.resolve()),
        "--port",
        str(port),
        "--state-dir",
        str(state_dir.resolve()),
        *(extra_args or []),
    ]
    with log.open("wb") as out:
        child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = running(state_dir)
        if found is not None and found.pid == child.pid:
            return found
        if child.poll() is not None:
            lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
            last = lines[-1] if lines else f"exit code {child.returncode}"
            raise SandboxError(f"the background sandbox did not start: {last} (see {log})")
        time.sleep(0.1)
    child.terminate()
    raise SandboxError(f"the background sandbox did not start in {timeout:.0f}s (see {log})")


def stop_running(state_dir: Path, timeout: float = 10.0) -> Running | None:
    """Stop the sandbox serving from ``state_dir``; None when none was."""
    found = running(state_dir)
    if found is None:
        return None
    try:
        os.kill(found.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    except PermissionError as error:
        raise SandboxError(
            f"the sandbox's process {found.pid} belongs to another user; stop it as that user"
        ) from error
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive(found.pid, found.started):
        time.sleep(0.1)
    if alive(found.pid, found.started):
        with contextlib.suppress(ProcessLookupError):
            os.kill(found.pid, signal.SIGKILL)
    clear_running(state_dir)
    return found
