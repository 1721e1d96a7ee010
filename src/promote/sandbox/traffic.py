"""A bounded load generator for the sandbox's gateway.

Requests are paced open-loop: request ``i`` is due at ``start + i / rps`` whatever the
earlier ones are doing, and a pool of workers sends them. Latency is measured from the due
time, so when the service (or the pool) falls behind, the wait shows as latency instead of
silently lowering the rate (the "coordinated omission" a closed loop suffers). The backlog
is bounded: a request due while a second's worth is already waiting is *dropped* and counted.
After ``duration`` nothing new is scheduled; in-flight requests get ``drain_timeout`` to
finish, and those still waiting are counted as *unfinished*.

Requests name the real host (``https://api.sit.kimmyai.io/...``: Host header and TLS SNI)
but may connect elsewhere, like ``curl --connect-to``: ``connect_to=("127.0.0.1", 8443)``
with the sandbox CA in ``ca_file``, or plain http to the gateway's http port. Each worker
keeps one keep-alive connection per origin. The report groups results by request kind and
by the ``X-Amz-Executed-Version`` response header, so a canary's two versions can be told
apart.
"""

from __future__ import annotations

import http.client
import math
import queue
import secrets
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from promote.connect_to import PinnedConnection
from promote.sandbox.errors import SandboxError
from promote.sandbox.traffic_report import Outcome, TrafficReport
from promote.suggest import did_you_mean

KINDS: Final = ("read", "write", "health")
VERSION_HEADER: Final = "X-Amz-Executed-Version"
UNIQUE: Final = "{unique}"  # replaced by a value unique to the request (URL, headers, body)
DEFAULT_CONCURRENCY: Final = 16
MIX_TOLERANCE: Final = 0.01
_USER_AGENT: Final = "promote-traffic/1"
# A reused keep-alive connection the server has since closed fails with one of these
# before any response: the request is sent once more, on a new connection.
_STALE: Final = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)

Clock = Callable[[], float]
Sleep = Callable[[float], None]


def parse_mix(text: str, kinds: Iterable[str] = KINDS) -> dict[str, float]:
    """``"read=0.8,write=0.2"`` as weights by kind; they must be non-negative and sum to 1."""
    known = tuple(kinds)
    mix: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        kind, weight = _mix_item(item, known)
        if kind in mix:
            raise SandboxError(f"the mix names `{kind}` twice")
        mix[kind] = weight
    if not mix:
        raise SandboxError(f"the mix is empty; give weights such as `{known[0]}=1`")
    total = sum(mix.values())
    if abs(total - 1) > MIX_TOLERANCE:
        raise SandboxError(f"the mix's weights sum to {total:g}, not 1: {text}")
    return mix


def _mix_item(item: str, known: tuple[str, ...]) -> tuple[str, float]:
    kind, sep, raw = (part.strip() for part in item.partition("="))
    if not sep:
        raise SandboxError(f"mix item `{item}` is not kind=weight")
    if kind not in known:
        hint = did_you_mean(kind, known)
        raise SandboxError(f"unknown request kind `{kind}`{hint}; known: {', '.join(known)}")
    try:
        weight = float(raw)
    except ValueError:
        raise SandboxError(f"the weight of `{kind}` is not a number: {raw!r}") from None
    if not math.isfinite(weight) or weight < 0:
        raise SandboxError(f"the weight of `{kind}` must be 0 or more, not {raw}")
    return kind, weight


@dataclass(frozen=True)
class RequestTemplate:
    """One kind of request; :data:`UNIQUE` in its URL, headers or body becomes a value unique
    to each request."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SandboxError(f"a request URL needs http(s) and a host: {self.url}")


@dataclass(frozen=True)
class TrafficPlan:
    """Request templates by kind, and how often each kind is sent (weights summing to 1)."""

    templates: Mapping[str, RequestTemplate]
    mix: Mapping[str, float]

    def __post_init__(self) -> None:
        missing = sorted(k for k, w in self.mix.items() if w > 0 and k not in self.templates)
        if missing:
            raise SandboxError(f"the plan has no request for: {', '.join(missing)}")
        if not any(w > 0 for w in self.mix.values()):
            raise SandboxError("the plan's mix sends nothing")


class _WeightedCycle:
    """Smooth weighted round-robin: exact proportions, evenly interleaved, reproducible."""

    def __init__(self, weights: Mapping[str, float]) -> None:
        self._weights = {k: w for k, w in weights.items() if w > 0}
        self._total = sum(self._weights.values())
        self._current = dict.fromkeys(self._weights, 0.0)

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        for kind, weight in self._weights.items():
            self._current[kind] += weight
        chosen = max(self._current, key=self._current.__getitem__)
        self._current[chosen] -= self._total
        return chosen


@dataclass(frozen=True)
class _Job:
    kind: str
    seq: int
    due: float


@dataclass(frozen=True)
class _Target:
    """Where a template's request goes (urlsplit caches, so parsing per request is cheap)."""

    origin: tuple[str, str, int]  # scheme, host, port: one keep-alive connection each
    path: str

    @classmethod
    def of(cls, url: str) -> _Target:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls((parts.scheme, parts.hostname or "", port), path)


@dataclass
class _Sender:
    """One worker's connections (one per origin, kept alive) and how it sends a job."""

    plan: TrafficPlan
    connect_to: tuple[str, int] | None
    tls: ssl.SSLContext
    timeout: float
    clock: Clock
    run_tag: str
    _connections: dict[tuple[str, str, int], PinnedConnection] = field(default_factory=dict)

    def send(self, job: _Job) -> Outcome:
        template = self.plan.templates[job.kind]
        unique = f"{self.run_tag}-{job.seq}"
        target = _Target.of(template.url.replace(UNIQUE, unique))
        body = template.body.replace(UNIQUE, unique) if template.body else None
        headers = {"User-Agent": _USER_AGENT}
        headers.update((k, v.replace(UNIQUE, unique)) for k, v in template.headers.items())
        try:
            status, version = self._exchange(target, template.method, body, headers)
        except (OSError, http.client.HTTPException) as exc:
            self._forget(target.origin)
            return self._outcome(job, None, None, type(exc).__name__)
        return self._outcome(job, status, version, None)

    def _outcome(
        self, job: _Job, status: int | None, version: str | None, error: str | None
    ) -> Outcome:
        done = self.clock()
        return Outcome(job.kind, status, version, done - job.due, done, error)

    def _exchange(
        self, target: _Target, method: str, body: str | None, headers: dict[str, str]
    ) -> tuple[int, str | None]:
        conn = self._connection(target.origin)
        reused = conn.sock is not None
        try:
            return _round_trip(conn, method, target.path, body, headers)
        except _STALE:
            if not reused:
                raise
        conn.close()
        return _round_trip(conn, method, target.path, body, headers)

    def _connection(self, origin: tuple[str, str, int]) -> PinnedConnection:
        if origin not in self._connections:
            scheme, host, port = origin
            tls = self.tls if scheme == "https" else None
            self._connections[origin] = PinnedConnection(
                host, port, self.connect_to, self.timeout, tls
            )
        return self._connections[origin]

    def _forget(self, origin: tuple[str, str, int]) -> None:
        conn = self._connections.pop(origin, None)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        for origin in list(self._connections):
            self._forget(origin)


def _round_trip(
    conn: PinnedConnection, method: str, path: str, body: str | None, headers: dict[str, str]
) -> tuple[int, str | None]:
    conn.request(method, path, body=body.encode() if body is not None else None, headers=headers)
    response = conn.getresponse()
    response.read()  # the whole body, so the connection can carry the next request
    return response.status, response.getheader(VERSION_HEADER)


@dataclass
class _Pool:
    """The workers: each takes due jobs off the queue and sends them with its own _Sender.

    Once closed (the drain is over) nothing more is sent, and outcomes that arrive late
    are not recorded: the report counts those requests as unfinished.
    """

    senders: list[_Sender]
    jobs: queue.Queue[_Job | None] = field(default_factory=queue.Queue)
    _outcomes: list[Outcome] = field(default_factory=list)
    _closed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for n, sender in enumerate(self.senders):
            # Daemons: one stuck past the drain deadline must not keep the process alive.
            thread = threading.Thread(target=self._work, args=(sender,), daemon=True)
            thread.name = f"promote-traffic-{n}"
            thread.start()
            self._threads.append(thread)

    def finish(self, drain_timeout: float) -> list[Outcome]:
        """Let the workers send what is queued, for ``drain_timeout`` at most."""
        for _ in self._threads:
            self.jobs.put(None)
        deadline = time.monotonic() + drain_timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            self._closed = True
            return list(self._outcomes)

    def _work(self, sender: _Sender) -> None:
        try:
            while (job := self.jobs.get()) is not None:
                if self._closed:
                    continue
                outcome = sender.send(job)
                with self._lock:
                    if not self._closed:
                        self._outcomes.append(outcome)
        finally:
            sender.close()


def run_traffic(
    plan: TrafficPlan,
    *,
    rps: float,
    duration: float,
    connect_to: tuple[str, int] | None = None,
    ca_file: Path | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    timeout: float = 5.0,
    drain_timeout: float = 5.0,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
) -> TrafficReport:
    """Send ``plan``'s mix at ``rps`` for ``duration`` seconds and report what came back.

    ``timeout`` bounds each connect and read; ``drain_timeout`` bounds the wait for
    requests still in flight or queued when the schedule ends.
    """
    count = _request_count(rps, duration, concurrency)
    tag = secrets.token_hex(4)  # the run's part of {unique}: SKUs differ between runs
    tls = _tls_context(ca_file)
    pool = _Pool([_Sender(plan, connect_to, tls, timeout, clock, tag) for _ in range(concurrency)])
    pool.start()
    start = clock()
    # A second's worth of waiting requests (at least one per worker) before dropping.
    backlog = max(concurrency, math.ceil(rps))
    dropped = _schedule(
        _WeightedCycle(plan.mix), pool.jobs, count, rps, start, backlog, clock, sleep
    )
    outcomes = pool.finish(drain_timeout)
    last = max((o.done for o in outcomes), default=start)
    return TrafficReport.of(
        outcomes,
        target_rps=rps,
        elapsed=max(duration, last - start),
        scheduled=count,
        dropped=dropped,
    )


def _request_count(rps: float, duration: float, concurrency: int) -> int:
    if not (math.isfinite(rps) and rps > 0):
        raise SandboxError(f"the rate must be a positive number of requests/s, not {rps}")
    if not (math.isfinite(duration) and duration > 0):
        raise SandboxError(f"the duration must be positive, not {duration}s")
    if concurrency < 1:
        raise SandboxError(f"the concurrency must be at least 1, not {concurrency}")
    count = math.floor(rps * duration + 1e-9)
    if count < 1:
        raise SandboxError(f"{rps:g} requests/s for {duration:g}s sends no request")
    return count


def _tls_context(ca_file: Path | None) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise SandboxError(f"cannot load the CA file {ca_file}: {exc}") from exc


def _schedule(
    kinds: Iterator[str],
    jobs: queue.Queue[_Job | None],
    count: int,
    rps: float,
    start: float,
    backlog: int,
    clock: Clock,
    sleep: Sleep,
) -> int:
    """Queue ``count`` jobs, job ``i`` at ``start + i / rps``; the number dropped."""
    dropped = 0
    for seq, kind in zip(range(count), kinds, strict=False):
        due = start + seq / rps
        wait = due - clock()
        if wait > 0:
            sleep(wait)
        # Only this thread adds jobs, so the size can only have shrunk since it was read.
        if jobs.qsize() >= backlog:
            dropped += 1
        else:
            jobs.put(_Job(kind, seq, due))
    return dropped
