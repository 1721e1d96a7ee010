"""Worker processes (one execution environment each) and the pool of one version's workers.

The protocol is in :mod:`promote.sandbox.runtime.worker`. A :class:`Worker` is used by one
thread at a time; a :class:`VersionPool` is guarded by the runtime's lock.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from promote.sandbox.runtime.forkserver import ForkFailed, ForkServer
from promote.sandbox.runtime.functions import FunctionSpec
from promote.sandbox.runtime.worker import HEADER, encode_frame

log = logging.getLogger(__name__)
WORKER_SCRIPT = str(Path(__file__).with_name("worker.py"))
# Lambda's limit on the init phase (the handler module's import).
INIT_TIMEOUT_S = 10.0


class WorkerGone(Exception):
    """The worker process ended (or its pipe broke) while the runtime talked to it."""


class WorkerTimedOut(Exception):
    """The worker did not answer in time."""


class InitFailed(Exception):
    """The worker could not load the function's code; it has exited."""

    def __init__(self, error: dict[str, Any], logs: list[str], init_ms: float) -> None:
        super().__init__(error.get("errorMessage", "init failed"))
        self.error = error
        self.logs = logs
        self.init_ms = init_ms


@dataclass(frozen=True)
class Reply:
    ok: bool  # False: the handler raised, or its result could not be marshalled
    payload: Any
    duration_ms: float
    max_memory_mb: int
    logs: list[str]


def worker_environment(
    spec: FunctionSpec,
    task_root: Path,
    log_stream: str,
    endpoint: str,
    credentials: tuple[str, str, str],
    sandbox: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The sandbox's variables, the function's, then Lambda's reserved ones, then credentials
    that act in the function's account on the emulator. Nothing of this process's AWS
    settings leaks in."""
    key, secret, token = credentials
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        **dict(sandbox or {}),
        **dict(spec.environment),
        "_HANDLER": spec.handler,
        "LAMBDA_TASK_ROOT": str(task_root),
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_REGION": spec.region,
        "AWS_DEFAULT_REGION": spec.region,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_SESSION_TOKEN": token,
        # No config files and no instance metadata: only the variables above count.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def new_log_stream(version: str) -> str:
    """A log stream name as Lambda makes one per execution environment."""
    return f"{time.strftime('%Y/%m/%d', time.gmtime())}/[{version}]{uuid.uuid4().hex}"


class _Process(Protocol):
    """A worker's process: a :class:`subprocess.Popen`, or a fork server's child."""

    @property
    def pid(self) -> int: ...
    def poll(self) -> int | None: ...
    def wait(self, timeout: float | None = None) -> int: ...


class Worker:
    """One worker process and its two pipes."""

    def __init__(self, process: _Process, to_worker: int, from_worker: int):
        self.log_stream: str | None = None  # its AWS_LAMBDA_LOG_STREAM_NAME, set by the runtime
        self._process = process
        self._to_worker = to_worker
        self._from_worker = from_worker
        self._poll = select.poll()
        self._poll.register(from_worker, select.POLLIN)
        self._killed = False
        self.last_used = time.monotonic()
        self.init_ms = 0.0
        self.init_logs: list[str] = []
        self.max_memory_mb = 0

    @classmethod
    def spawn(
        cls,
        task_root: Path,
        env: Mapping[str, str],
        stderr: IO[bytes],
        forks: ForkServer | None = None,
    ) -> Worker:
        """Start a worker (forked from ``forks`` when it serves this code) and wait for its
        init. Raises :class:`InitFailed`, :class:`WorkerGone` or :class:`WorkerTimedOut`
        (the worker is then killed)."""
        requests_read, requests_write = os.pipe()
        replies_read, replies_write = os.pipe()
        started = time.perf_counter()
        process: _Process | None = None
        try:
            if forks is not None and forks.serves(task_root):
                try:
                    fds = (requests_read, replies_write, stderr.fileno())
                    process = forks.fork(task_root, env, fds)
                except ForkFailed as failed:
                    log.warning("%s; starting the worker from scratch", failed)
            if process is None:
                process = subprocess.Popen(
                    [sys.executable, WORKER_SCRIPT, str(requests_read), str(replies_write)],
                    cwd=task_root,
                    env=dict(env),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                    pass_fds=(requests_read, replies_write),
                    # Its own process group, so a timeout kills whatever the function started.
                    start_new_session=True,
                )
        except BaseException:
            os.close(requests_write)
            os.close(replies_read)
            raise
        finally:
            os.close(requests_read)
            os.close(replies_write)
        worker = cls(process, requests_write, replies_read)
        worker._await_init(started)
        return worker

    def _await_init(self, started: float) -> None:
        try:
            ready = self._read_frame(time.monotonic() + INIT_TIMEOUT_S)
        except BaseException:
            self.kill()
            raise
        self.init_ms = (time.perf_counter() - started) * 1000
        self.init_logs = list(ready.get("logs", []))
        if not ready.get("ready"):
            self.kill()
            raise InitFailed(ready.get("error", {}), self.init_logs, self.init_ms)

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def alive(self) -> bool:
        return not self._killed and self._process.poll() is None

    def call(self, request: bytes, timeout_s: float) -> Reply:
        """Send one framed request and wait up to ``timeout_s`` for the reply."""
        deadline = time.monotonic() + timeout_s
        try:
            view = memoryview(request)
            while view:
                view = view[os.write(self._to_worker, view) :]
        except OSError as error:  # a broken pipe: the worker is gone
            raise WorkerGone(self.exit_description()) from error
        reply = self._read_frame(deadline)
        self.last_used = time.monotonic()
        self.max_memory_mb = int(reply["max_memory_mb"])
        return Reply(
            ok=bool(reply["ok"]),
            payload=reply["payload"],
            duration_ms=float(reply["duration_ms"]),
            max_memory_mb=self.max_memory_mb,
            logs=list(reply["logs"]),
        )

    def _read_frame(self, deadline: float) -> Any:
        (length,) = HEADER.unpack(self._read_exactly(HEADER.size, deadline))
        return json.loads(self._read_exactly(length, deadline))

    def _read_exactly(self, size: int, deadline: float) -> bytes:
        data = b""
        while len(data) < size:
            wait_ms = math.ceil((deadline - time.monotonic()) * 1000)
            if wait_ms <= 0 or not self._poll.poll(wait_ms):
                raise WorkerTimedOut()
            chunk = os.read(self._from_worker, size - len(data))
            if not chunk:
                raise WorkerGone(self.exit_description())
            data += chunk
        return data

    def exit_description(self) -> str:
        """How the process ended, in the words of Lambda's ``Runtime.ExitError``."""
        try:
            code = self._process.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            return "Runtime exited without providing a reason"
        if code < 0:
            name = "killed" if -code == signal.SIGKILL else signal.Signals(-code).name.lower()
            return f"Runtime exited with error: signal: {name}"
        return f"Runtime exited with error: exit status {code}"

    def terminate(self) -> None:
        """Kill the process group but leave the pipes to the thread using the worker (it then
        reads end of file, and calls :meth:`kill`)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signal.SIGKILL)

    def kill(self) -> None:
        """Kill the worker and everything it started, and close its pipes; idempotent. Only by
        the thread that has the worker checked out, or once no thread can."""
        if self._killed:
            return
        self._killed = True
        self.terminate()
        self._process.wait()
        self._poll.unregister(self._from_worker)
        os.close(self._to_worker)
        os.close(self._from_worker)


def encode_request(request_id: str, event: Any, arn: str, timeout_s: float) -> bytes:
    """The framed request; raises TypeError when ``event`` is not JSON-serialisable."""
    return encode_frame(
        {"id": request_id, "event": event, "arn": arn, "timeout_ms": int(timeout_s * 1000)}
    )


class RuntimeClosed(Exception):
    """The runtime was closed while a call waited for a worker."""


class VersionPool:
    """The workers of one :class:`FunctionSpec`. Every method needs the runtime's lock held."""

    def __init__(self, lock: threading.Lock, max_workers: int) -> None:
        self.idle: list[Worker] = []
        self.size = 0  # idle, busy and being spawned
        self.waiting = 0
        self.max_workers = max_workers
        self._freed = threading.Condition(lock)

    def checkout(self, closed: threading.Event) -> Worker | None:
        """A warm worker; or None, when the caller is to spawn one (its slot is taken). Waits
        while ``max_workers`` are busy."""
        while True:
            while self.idle:
                # Last in, first out: the least used workers stay idle and age out.
                worker = self.idle.pop()
                if worker.alive:
                    return worker
                worker.kill()  # already dead: this reaps it and closes its pipes
                self.size -= 1
            if self.size < self.max_workers:
                self.size += 1
                return None
            self.waiting += 1
            try:
                self._freed.wait()
            finally:
                self.waiting -= 1
            if closed.is_set():
                raise RuntimeClosed()

    def checkin(self, worker: Worker | None) -> None:
        """Give back a live checked-out worker, or None for the slot of one that is gone (or
        could not start)."""
        if worker is not None:
            self.idle.append(worker)
        else:
            self.size -= 1
        self._freed.notify()

    def expire(self, cutoff: float) -> list[Worker]:
        """Take out the idle workers unused since ``cutoff``, for the caller to kill."""
        stale = [w for w in self.idle if w.last_used < cutoff]
        if stale:
            self.idle = [w for w in self.idle if w.last_used >= cutoff]
            self.size -= len(stale)
        return stale

    @property
    def unused(self) -> bool:
        return self.size == 0 and self.waiting == 0

    def wake_all(self) -> None:
        self._freed.notify_all()
