"""The sandbox's Lambda data plane: it runs the functions deployed to moto, as Lambda would.

Moto emulates Lambda's control plane (functions, versions, aliases) but cannot run code.
:class:`LambdaRuntime` reads each call's configuration from moto's in-process backend,
routes aliases by their weights, and runs the chosen version in a worker process of its own
(see :mod:`promote.sandbox.runtime.worker` for the protocol).

Concurrency, as in Lambda: one request at a time per worker (execution environment); a
function's reserved concurrency caps its in-flight calls across versions, and a call beyond
it is throttled at once.

Limits of the sandbox (machines are small):

- At most ``max_workers_per_version`` workers per version; a call beyond them *waits* for a
  free worker rather than getting a new one. There is no account-wide concurrency limit.
- Workers run this interpreter (the venv's Python and packages), whatever the function's
  ``Runtime``; memory is reported (Max Memory Used), not enforced.
- What a timed-out or crashed call printed is lost with its worker.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from promote.sandbox.errors import SandboxError
from promote.sandbox.invocation import (
    FunctionRef,
    Invocation,
    InvocationListener,
    InvocationStatus,
    account_session,
)
from promote.sandbox.runtime import reports
from promote.sandbox.runtime.forkserver import ForkServer
from promote.sandbox.runtime.functions import (
    FunctionSpec,
    InvalidCode,
    Resolved,
    code_dir,
    resolve,
)
from promote.sandbox.runtime.pool import (
    INIT_TIMEOUT_S,
    InitFailed,
    RuntimeClosed,
    VersionPool,
    Worker,
    WorkerGone,
    WorkerTimedOut,
    encode_request,
    new_log_stream,
    worker_environment,
)
from promote.sandbox.runtime.reports import Usage

logger = logging.getLogger(__name__)
Status = InvocationStatus


@dataclass(frozen=True)
class _Outcome:
    status: InvocationStatus
    payload: Any
    duration_ms: float = 0.0
    cold_start: bool = False
    logs: tuple[str, ...] = field(default=())
    log_stream: str | None = None


class LambdaRuntime:
    """Runs functions deployed to the emulator at ``endpoint``; an :class:`Invoker`.

    Thread-safe. Code is unpacked under ``work_dir/code/``; workers' own stderr (not the
    function's output, which goes to the invocation's logs) is appended to
    ``work_dir/workers.log``. Idle workers are killed after ``idle_seconds``."""

    def __init__(
        self,
        endpoint: str,
        work_dir: Path,
        *,
        listeners: Sequence[InvocationListener] = (),
        max_workers_per_version: int = 8,
        idle_seconds: float = 300.0,
        rng: random.Random | None = None,
        environment: Mapping[str, str] | None = None,
        fork_workers: bool = True,
    ) -> None:
        self._endpoint = endpoint
        # Variables every worker gets under the function's own (the sandbox's CA bundle); read
        # at each spawn, so the owner may fill it after start.
        self._sandbox_environment = environment if environment is not None else {}
        self._work_dir = work_dir
        self._listeners = tuple(listeners)
        self._max_workers = max_workers_per_version
        self._idle_seconds = idle_seconds
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._pools: dict[FunctionSpec, VersionPool] = {}
        self._workers: set[Worker] = set()
        self._in_flight: Counter[tuple[str, str, str]] = Counter()
        self._credentials: dict[str, tuple[str, str, str]] = {}
        self._closed = threading.Event()
        work_dir.mkdir(parents=True, exist_ok=True)
        self._stderr: IO[bytes] = (work_dir / "workers.log").open("ab")
        # Workers are forked from a process that has imported the runtime's libraries once
        # (forkserver.py); started on the first cold start, so a runtime that never runs
        # code never starts one.
        self._fork_workers = fork_workers
        self._forks: ForkServer | None = None
        self._reaper = threading.Thread(target=self._reap_loop, name="lambda-reaper", daemon=True)
        self._reaper.start()

    def add_listener(self, listener: InvocationListener) -> None:
        with self._lock:
            self._listeners = (*self._listeners, listener)

    def invoke(self, function: FunctionRef, event: Any) -> Invocation:
        """Run ``event`` through ``function``. Raises :class:`FunctionNotFound` for an unknown
        function, version or alias, TypeError for an event that is not JSON-serialisable,
        and :class:`SandboxError` once closed."""
        if self._closed.is_set():
            raise SandboxError("the Lambda runtime is closed")
        resolved = resolve(function, self._rng)
        spec = resolved.spec
        request_id = str(uuid.uuid4())
        request = encode_request(request_id, event, function.arn, spec.timeout_s)
        started_at = time.time()
        admitted = self._admit(resolved)
        if admitted is None:
            outcome = _Outcome(Status.THROTTLED, dict(reports.THROTTLED_ERROR))
        else:
            outcome = self._execute(spec, *admitted, request_id, request)
        invocation = Invocation(
            function=function,
            executed_version=spec.version,
            status=outcome.status,
            payload=outcome.payload,
            request_id=request_id,
            started_at=started_at,
            duration_ms=outcome.duration_ms,
            cold_start=outcome.cold_start,
            logs=outcome.logs,
            log_stream=outcome.log_stream,
        )
        self._notify(invocation)
        return invocation

    def close(self) -> None:
        """Kill every worker; idempotent. Calls in progress end as RUNTIME_ERROR."""
        with self._lock:
            if self._closed.is_set():
                return
            self._closed.set()
            idle = [w for pool in self._pools.values() for w in pool.expire(float("inf"))]
            busy = self._workers.difference(idle)
            self._workers.clear()
            for pool in self._pools.values():
                pool.wake_all()
        for worker in idle:
            worker.kill()
        for worker in busy:
            worker.terminate()  # its caller reads end of file, then cleans up
        if threading.current_thread() is not self._reaper:
            self._reaper.join()
        if self._forks is not None:
            self._forks.close()
        self._stderr.close()

    def __enter__(self) -> LambdaRuntime:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _admit(self, resolved: Resolved) -> tuple[VersionPool, Worker | None] | None:
        """None when throttled; else the version's pool and a warm worker, or None for one to
        spawn. Waits while the version has ``max_workers_per_version`` busy."""
        spec = resolved.spec
        key = (spec.account_id, spec.region, spec.name)
        reserved = resolved.reserved_concurrency
        with self._lock:
            if reserved is not None and self._in_flight[key] >= reserved:
                return None
            self._in_flight[key] += 1
            pool = self._pools.get(spec)
            if pool is None:
                pool = self._pools[spec] = VersionPool(self._lock, self._max_workers)
            try:
                return pool, pool.checkout(self._closed)
            except RuntimeClosed:
                self._leave(key)
                raise SandboxError("the Lambda runtime was closed") from None

    def _leave(self, key: tuple[str, str, str]) -> None:
        self._in_flight[key] -= 1
        if not self._in_flight[key]:
            del self._in_flight[key]

    def _release(self, spec: FunctionSpec, pool: VersionPool, worker: Worker | None) -> None:
        with self._lock:
            keep = worker is not None and worker.alive and not self._closed.is_set()
            pool.checkin(worker if keep else None)
            if worker is not None and not keep:
                self._workers.discard(worker)
            self._leave((spec.account_id, spec.region, spec.name))
        if worker is not None and not keep:
            worker.kill()  # reaps a dead one and closes its pipes

    def _execute(
        self,
        spec: FunctionSpec,
        pool: VersionPool,
        worker: Worker | None,
        request_id: str,
        request: bytes,
    ) -> _Outcome:
        try:
            if worker is not None:
                return self._call(spec, worker, request_id, request, cold=False)
            try:
                worker = self._spawn(spec)
            except (InitFailed, WorkerGone, WorkerTimedOut, InvalidCode) as failure:
                return _init_failure(spec, request_id, failure)
            return self._call(spec, worker, request_id, request, cold=True)
        finally:
            self._release(spec, pool, worker)

    def _spawn(self, spec: FunctionSpec) -> Worker:
        task_root = code_dir(self._work_dir, spec)
        credentials = self._account_credentials(spec.account_id, spec.region)
        log_stream = new_log_stream(spec.version)
        env = worker_environment(
            spec, task_root, log_stream, self._endpoint, credentials, self._sandbox_environment
        )
        worker = Worker.spawn(task_root, env, self._stderr, self._fork_server())
        worker.log_stream = log_stream
        with self._lock:
            closed = self._closed.is_set()
            if not closed:
                self._workers.add(worker)
        if closed:
            worker.kill()
            raise SandboxError("the Lambda runtime was closed")
        return worker

    def _fork_server(self) -> ForkServer | None:
        with self._lock:
            if self._fork_workers and self._forks is None and not self._closed.is_set():
                base = {"PATH": os.environ.get("PATH", os.defpath), "LANG": "C.UTF-8", "TZ": ":UTC"}
                self._forks = ForkServer(self._stderr, {**base, **self._sandbox_environment})
            return self._forks

    def _call(
        self, spec: FunctionSpec, worker: Worker, request_id: str, request: bytes, *, cold: bool
    ) -> _Outcome:
        init_ms, init_lines = (worker.init_ms, worker.init_logs) if cold else (None, [])
        started = time.perf_counter()
        try:
            reply = worker.call(request, spec.timeout_s)
        except (WorkerTimedOut, WorkerGone) as failure:
            worker.kill()
            elapsed_ms = (time.perf_counter() - started) * 1000
            timed_out = isinstance(failure, WorkerTimedOut)
            status = Status.TIMED_OUT if timed_out else Status.RUNTIME_ERROR
            payload, line = (
                reports.timed_out(request_id, spec.timeout_s)
                if timed_out
                else reports.exited(request_id, str(failure))
            )
            usage = Usage(elapsed_ms, spec.memory_mb, worker.max_memory_mb, init_ms)
            logs = reports.framed(request_id, spec.version, [line], usage, init_lines)
            return _Outcome(status, payload, elapsed_ms, cold, logs, worker.log_stream)
        usage = Usage(reply.duration_ms, spec.memory_mb, reply.max_memory_mb, init_ms)
        logs = reports.framed(request_id, spec.version, reply.logs, usage, init_lines)
        status = Status.OK if reply.ok else Status.FUNCTION_ERROR
        return _Outcome(status, reply.payload, reply.duration_ms, cold, logs, worker.log_stream)

    def _account_credentials(self, account_id: str, region: str) -> tuple[str, str, str]:
        """Credentials in the account, from STS once per account (not per call)."""
        found = self._credentials.get(account_id)
        if found is None:
            session = account_session(self._endpoint, account_id, region)
            credentials = session.get_credentials()
            if credentials is None:
                raise SandboxError(f"no credentials for account {account_id} on the emulator")
            frozen = credentials.get_frozen_credentials()
            found = (frozen.access_key or "", frozen.secret_key or "", frozen.token or "")
            self._credentials[account_id] = found
        return found

    def _notify(self, invocation: Invocation) -> None:
        for listener in self._listeners:
            try:
                listener(invocation)
            except Exception:
                # A listener's failure is its own: the call itself happened.
                logger.exception("invocation listener %r failed", listener)

    def _reap_loop(self) -> None:
        interval = min(max(self._idle_seconds / 4, 0.05), 10.0)
        while not self._closed.wait(interval):
            self._reap(time.monotonic() - self._idle_seconds)

    def _reap(self, cutoff: float) -> None:
        with self._lock:
            stale = [w for pool in self._pools.values() for w in pool.expire(cutoff)]
            self._workers.difference_update(stale)
            # Versions nobody calls any more (an old $LATEST, say) leave with their workers.
            for spec in [s for s, pool in self._pools.items() if pool.unused]:
                del self._pools[spec]
        for worker in stale:
            worker.kill()


def _init_failure(
    spec: FunctionSpec,
    request_id: str,
    failure: InitFailed | WorkerGone | WorkerTimedOut | InvalidCode,
) -> _Outcome:
    """A call whose new worker could not load the code: nothing ran."""
    init_ms, init_lines, lines = 0.0, list[str](), list[str]()
    status = Status.RUNTIME_ERROR
    if isinstance(failure, InitFailed):
        payload: dict[str, Any] = failure.error
        init_ms, init_lines = failure.init_ms, failure.logs
    elif isinstance(failure, WorkerTimedOut):
        status = Status.TIMED_OUT
        payload, line = reports.timed_out(request_id, INIT_TIMEOUT_S)
        lines.append(line)
    elif isinstance(failure, WorkerGone):
        payload, line = reports.exited(request_id, str(failure))
        lines.append(line)
    else:
        payload = {"errorMessage": str(failure), "errorType": "Sandbox.InvalidCodePackage"}
        lines.append(f"[ERROR] {payload['errorType']}: {payload['errorMessage']}")
    usage = Usage(0.0, spec.memory_mb, 0, init_ms)
    logs = reports.framed(request_id, spec.version, lines, usage, init_lines)
    return _Outcome(status, payload, 0.0, True, logs)
