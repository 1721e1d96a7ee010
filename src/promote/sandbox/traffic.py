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
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from promote.sandbox.errors import SandboxError
from promote.suggest import did_you_mean

KINDS: Final = ("read", "write", "health")
VERSION_HEADER: Final = "X-Amz-Executed-Version"
UNIQUE: Final = "{unique}"  # replaced in a body by a value unique to the request
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
    """One kind of request; :data:`UNIQUE` in the body becomes a per-request value."""

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


def products_plan(
    api_domain: str, mix: Mapping[str, float], *, token: str | None = None, scheme: str = "https"
) -> TrafficPlan:
    """The products service's mix: ``read`` lists products, ``write`` creates one (a new
    SKU each time) and ``health`` is the public liveness route. Reads and writes need a
    token; writes need one in the admin group."""
    base = f"{scheme}://{api_domain}/v1.0/products"
    needs_token = sorted(k for k in ("read", "write") if mix.get(k, 0) > 0)
    if needs_token and token is None:
        raise SandboxError(
            f"{' and '.join(needs_token)} requests need a bearer token"
            " (mint one with `promote sandbox token`)"
        )
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    product = (
        '{"name": "Load test", "category": "load", "price": 1.00, "currency": "USD",'
        f' "inventory": 1, "sku": "load-{UNIQUE}"}}'
    )
    templates = {
        "health": RequestTemplate("GET", f"{base}/health"),
        "read": RequestTemplate("GET", f"{base}?limit=10", auth),
        "write": RequestTemplate(
            "POST", base, {**auth, "Content-Type": "application/json"}, product
        ),
    }
    return TrafficPlan(templates=templates, mix=dict(mix))


@dataclass(frozen=True)
class Outcome:
    """One request: a status and version, or the name of the error that stopped it."""

    kind: str
    status: int | None
    version: str | None
    latency: float  # seconds from when it was due, so waiting in the backlog counts
    done: float  # the clock when it finished
    error: str | None


def _percentile(ordered: list[float], p: float) -> float | None:
    """Nearest-rank percentile of sorted values, in milliseconds; None without values."""
    if not ordered:
        return None
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return round(ordered[rank - 1] * 1000, 3)


@dataclass(frozen=True)
class Stats:
    """Counts by status class, and latency percentiles (ms) of the requests answered."""

    sent: int
    ok: int  # 2xx and 3xx
    client_errors: int  # 4xx
    server_errors: int  # 5xx
    connection_errors: int  # no response: refused, reset, timed out, TLS
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None

    @classmethod
    def of(cls, outcomes: list[Outcome]) -> Stats:
        statuses = [o.status for o in outcomes if o.status is not None]
        answered = sorted(o.latency for o in outcomes if o.status is not None)
        return cls(
            sent=len(outcomes),
            ok=sum(s < 400 for s in statuses),
            client_errors=sum(400 <= s < 500 for s in statuses),
            server_errors=sum(s >= 500 for s in statuses),
            connection_errors=len(outcomes) - len(statuses),
            p50_ms=_percentile(answered, 50),
            p95_ms=_percentile(answered, 95),
            p99_ms=_percentile(answered, 99),
        )

    def as_dict(self) -> dict[str, Any]:
        errors = (self.client_errors, self.server_errors, self.connection_errors)
        return {
            "sent": self.sent,
            "ok": self.ok,
            "errors": dict(zip(("4xx", "5xx", "connection"), errors, strict=True)),
            "latency_ms": {"p50": self.p50_ms, "p95": self.p95_ms, "p99": self.p99_ms},
        }


def _grouped(outcomes: list[Outcome], key: Callable[[Outcome], str | None]) -> dict[str, Stats]:
    groups: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        name = key(outcome)
        if name is not None:
            groups.setdefault(name, []).append(outcome)
    return {name: Stats.of(groups[name]) for name in sorted(groups)}


@dataclass(frozen=True)
class TrafficReport:
    """What a run sent and got back: overall, by kind, and by executed version."""

    target_rps: float
    elapsed: float  # the schedule's duration, or longer when the drain ran past it
    scheduled: int
    dropped: int  # due while the backlog was full: the generator could not keep up
    unfinished: int  # queued or in flight when the drain timed out
    overall: Stats
    by_kind: dict[str, Stats]
    by_version: dict[str, Stats]
    connection_errors: dict[str, int]  # by error name, e.g. ConnectionRefusedError

    @classmethod
    def of(
        cls,
        outcomes: list[Outcome],
        *,
        target_rps: float,
        elapsed: float,
        scheduled: int,
        dropped: int,
    ) -> TrafficReport:
        errors = [o.error for o in outcomes if o.error is not None]
        return cls(
            target_rps=target_rps,
            elapsed=elapsed,
            scheduled=scheduled,
            dropped=dropped,
            unfinished=scheduled - dropped - len(outcomes),
            overall=Stats.of(outcomes),
            by_kind=_grouped(outcomes, lambda o: o.kind),
            by_version=_grouped(outcomes, lambda o: o.version),
            connection_errors={e: errors.count(e) for e in sorted(set(errors))},
        )

    @property
    def throughput_rps(self) -> float:
        """Requests answered or failed per second of the run."""
        return self.overall.sent / self.elapsed if self.elapsed > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "target_rps": self.target_rps,
            "throughput_rps": round(self.throughput_rps, 3),
            "elapsed_s": round(self.elapsed, 3),
            "scheduled": self.scheduled,
            "dropped": self.dropped,
            "unfinished": self.unfinished,
            **self.overall.as_dict(),
            "by_kind": {k: s.as_dict() for k, s in self.by_kind.items()},
            "by_version": {v: s.as_dict() for v, s in self.by_version.items()},
            "connection_errors": dict(self.connection_errors),
        }

    def render_text(self) -> str:
        o = self.overall
        lines = [
            f"{o.sent} requests in {self.elapsed:.2f}s: {self.throughput_rps:.1f} req/s"
            f" (target {self.target_rps:g}); {self.dropped} dropped, {self.unfinished} unfinished",
            f"{'':<14}{'sent':>7}{'ok':>7}{'4xx':>6}{'5xx':>6}{'conn':>6}"
            f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}",
            _row("all", o),
            *(_row(kind, s) for kind, s in self.by_kind.items()),
            *(_row(f"version {v}", s) for v, s in self.by_version.items()),
        ]
        lines += [f"connection errors: {n} x {e}" for e, n in self.connection_errors.items()]
        if self.dropped:
            lines.append("requests were dropped: raise --concurrency or lower --rps")
        return "\n".join(lines)


def _row(name: str, s: Stats) -> str:
    def ms(value: float | None) -> str:
        return f"{value:>9.1f}" if value is not None else f"{'-':>9}"

    return (
        f"{name:<14}{s.sent:>7}{s.ok:>7}{s.client_errors:>6}{s.server_errors:>6}"
        f"{s.connection_errors:>6}{ms(s.p50_ms)}{ms(s.p95_ms)}{ms(s.p99_ms)}"
    )


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


class _Pinned(http.client.HTTPConnection):
    """A connection to ``host`` (Host header, and the SNI and name checked with ``tls``)
    made to ``address`` when one is given, like ``curl --connect-to``."""

    def __init__(
        self,
        host: str,
        port: int,
        address: tuple[str, int] | None,
        timeout: float,
        tls: ssl.SSLContext | None,
    ) -> None:
        # Before __init__: the Host header names the port only when it is not the default.
        self.default_port = http.client.HTTPS_PORT if tls else http.client.HTTP_PORT
        super().__init__(host, port, timeout=timeout)
        self._address = address or (host, port)
        self._tls = tls

    def connect(self) -> None:
        sock = socket.create_connection(self._address, self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host) if self._tls else sock


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
    _connections: dict[tuple[str, str, int], _Pinned] = field(default_factory=dict)

    def send(self, job: _Job) -> Outcome:
        template = self.plan.templates[job.kind]
        target = _Target.of(template.url)
        body = template.body.replace(UNIQUE, f"{self.run_tag}-{job.seq}") if template.body else None
        headers = {"User-Agent": _USER_AGENT, **template.headers}
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

    def _connection(self, origin: tuple[str, str, int]) -> _Pinned:
        if origin not in self._connections:
            scheme, host, port = origin
            tls = self.tls if scheme == "https" else None
            self._connections[origin] = _Pinned(host, port, self.connect_to, self.timeout, tls)
        return self._connections[origin]

    def _forget(self, origin: tuple[str, str, int]) -> None:
        conn = self._connections.pop(origin, None)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        for origin in list(self._connections):
            self._forget(origin)


def _round_trip(
    conn: _Pinned, method: str, path: str, body: str | None, headers: dict[str, str]
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
