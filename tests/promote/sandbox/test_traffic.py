"""The load generator against small real servers on 127.0.0.1 (http, https, slow, closing)."""

from __future__ import annotations

import datetime
import json
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bbws.services.products.models import ProductCreate
from promote.cli import check_estate
from promote.sandbox import SandboxError
from promote.sandbox.traffic import (
    UNIQUE,
    RequestTemplate,
    TrafficPlan,
    parse_mix,
    run_traffic,
)
from promote.sandbox.traffic_plan import estate_plan

API = "api.sit.kimmyai.io"
BBWS = Path(__file__).resolve().parents[3] / "estates" / "bbws"
PEM = serialization.Encoding.PEM


@dataclass
class Seen:
    """What the server saw, and how it answers: versions 1 and 2 in turn, every 10th a 500."""

    delay: float = 0.0
    close_after_each: bool = False
    requests: list[tuple[str, str, str | None, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length)
        with self.lock:
            self.requests.append((handler.command, handler.path, handler.headers["Host"], body))
            n = len(self.requests)
        time.sleep(self.delay)
        payload = b'{"ok": true}'
        handler.send_response(500 if n % 10 == 0 else 200)
        handler.send_header("X-Amz-Executed-Version", str(1 + n % 2))
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)
        # Closing without saying so: the client finds out when it reuses the connection.
        handler.close_connection = self.close_after_each


def serve(seen: Seen, tls: ssl.SSLContext | None = None) -> tuple[ThreadingHTTPServer, int]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive

        def do_GET(self) -> None:
            seen.answer(self)

        def do_POST(self) -> None:
            seen.answer(self)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server, server.server_address[1]


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
def http_port(seen: Seen) -> Iterator[int]:
    server, port = serve(seen)
    yield port
    server.shutdown()
    server.server_close()


def plan(scheme: str = "http", mix: str = "read=0.8,write=0.2") -> TrafficPlan:
    base = f"{scheme}://{API}/v1.0/products"
    auth = {"Authorization": "Bearer t0ken"}
    product = json.dumps(
        {
            "name": "Load",
            "category": "load",
            "price": 1.0,
            "currency": "USD",
            "inventory": 1,
            "sku": f"L-{UNIQUE}",
        }
    )
    templates = {
        "health": RequestTemplate("GET", f"{base}/health"),
        "read": RequestTemplate("GET", f"{base}?limit=10", auth),
        "write": RequestTemplate(
            "POST", base, {**auth, "Content-Type": "application/json"}, product
        ),
    }
    return TrafficPlan(templates=templates, mix=parse_mix(mix))


def test_a_run_at_a_steady_rate_counts_everything(seen: Seen, http_port: int) -> None:
    report = run_traffic(plan(), rps=100, duration=2, connect_to=("127.0.0.1", http_port))

    overall = report.overall
    assert (report.scheduled, overall.sent, report.dropped, report.unfinished) == (200, 200, 0, 0)
    assert (overall.ok, overall.server_errors, overall.client_errors) == (180, 20, 0)
    assert overall.connection_errors == 0
    assert 80 <= report.throughput_rps <= 100.5
    assert overall.p50_ms is not None and overall.p95_ms is not None
    assert overall.p99_ms is not None
    assert 0 < overall.p50_ms <= overall.p95_ms <= overall.p99_ms
    assert {k: s.sent for k, s in report.by_kind.items()} == {"read": 160, "write": 40}
    assert {v: s.sent for v, s in report.by_version.items()} == {"1": 100, "2": 100}
    assert sum(s.server_errors for s in report.by_version.values()) == 20


def test_requests_name_the_api_host_and_carry_the_template(seen: Seen, http_port: int) -> None:
    run_traffic(plan(), rps=50, duration=0.2, connect_to=("127.0.0.1", http_port))

    assert {(method, path, host) for method, path, host, _ in seen.requests} == {
        ("GET", "/v1.0/products?limit=10", API),
        ("POST", "/v1.0/products", API),
    }
    bodies = [ProductCreate.model_validate_json(b) for m, _, _, b in seen.requests if m == "POST"]
    assert len({p.sku for p in bodies}) == len(bodies) == 2  # a new SKU each time


def test_the_report_as_json_and_text(seen: Seen, http_port: int) -> None:
    report = run_traffic(plan(), rps=50, duration=0.2, connect_to=("127.0.0.1", http_port))

    data = json.loads(json.dumps(report.as_dict()))
    assert (data["sent"], data["ok"], data["errors"]["5xx"]) == (10, 9, 1)
    assert set(data["by_kind"]) == {"read", "write"}
    assert set(data["latency_ms"]) == {"p50", "p95", "p99"}
    text = report.render_text()
    assert text.startswith("10 requests in ")
    assert "version 2" in text and "write" in text


def certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, signer: ec.EllipticCurvePrivateKey | None
) -> x509.Certificate:
    """A CA's self-signed certificate (no signer), or a server's for ``subject``, by the CA."""
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=signer is None, path_length=None), critical=True)
    )
    if signer is None:
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
        return builder.add_extension(usage, critical=True).sign(key, hashes.SHA256())
    names = x509.SubjectAlternativeName([x509.DNSName(subject)])
    return builder.add_extension(names, critical=False).sign(signer, hashes.SHA256())


def make_tls(tmp_path: Path) -> tuple[Path, ssl.SSLContext, list[str | None]]:
    """The CA's certificate file, a server context for API, and the SNI names it is sent."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    server_key = ec.generate_private_key(ec.SECP256R1())
    ca_file, chain = tmp_path / "ca.pem", tmp_path / "server.pem"
    ca_file.write_bytes(certificate("test CA", ca_key, None).public_bytes(PEM))
    key_pem = server_key.private_bytes(
        PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    chain.write_bytes(certificate(API, server_key, ca_key).public_bytes(PEM) + key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain)
    names: list[str | None] = []
    context.sni_callback = lambda _sock, name, _ctx: names.append(name)
    return ca_file, context, names


def test_https_to_the_api_name_connecting_to_127_0_0_1(seen: Seen, tmp_path: Path) -> None:
    ca_file, context, sni = make_tls(tmp_path)
    server, port = serve(seen, context)
    try:
        target = ("127.0.0.1", port)
        report = run_traffic(
            plan("https"), rps=40, duration=0.5, connect_to=target, ca_file=ca_file
        )
        untrusted = run_traffic(plan("https"), rps=20, duration=0.1, connect_to=target)
    finally:
        server.shutdown()
        server.server_close()

    assert (report.overall.sent, report.overall.connection_errors) == (20, 0)
    assert report.overall.ok + report.overall.server_errors == 20
    assert set(sni) == {API}
    assert all(host == API for _, _, host, _ in seen.requests)
    # Without the sandbox's CA the server's certificate is not trusted.
    assert untrusted.overall.connection_errors == untrusted.overall.sent == 2
    assert set(untrusted.connection_errors) == {"SSLCertVerificationError"}


def test_nothing_listening_is_a_connection_error() -> None:
    report = run_traffic(plan(), rps=20, duration=0.2, connect_to=("127.0.0.1", 1))
    assert (report.overall.sent, report.overall.connection_errors) == (4, 4)
    assert report.connection_errors == {"ConnectionRefusedError": 4}
    assert report.overall.p50_ms is None
    assert "4 x ConnectionRefusedError" in report.render_text()


def test_a_connection_the_server_closed_is_reopened(seen: Seen, http_port: int) -> None:
    seen.close_after_each = True
    target = ("127.0.0.1", http_port)
    # One worker, so each request but the first goes out on a connection already used.
    report = run_traffic(plan(), rps=40, duration=0.25, connect_to=target, concurrency=1)
    assert (report.overall.sent, report.overall.connection_errors) == (10, 0)


def test_a_slow_service_shows_as_latency_then_the_drain_gives_up(
    seen: Seen, http_port: int
) -> None:
    seen.delay = 0.2
    started = time.monotonic()
    report = run_traffic(
        plan(),
        rps=20,
        duration=0.5,
        connect_to=("127.0.0.1", http_port),
        concurrency=1,
        drain_timeout=0.3,
    )
    assert time.monotonic() - started < 1.5
    # One worker at 5 requests/s against 20 due each second: the queue grows, and so does
    # the latency measured from when each request was due.
    assert report.unfinished > 0
    assert report.overall.sent + report.unfinished == report.scheduled == 10
    assert report.overall.p99_ms is not None and report.overall.p99_ms > 300


class FakeClock:
    """Time that passes only when the scheduler sleeps: it schedules without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_requests_due_while_the_backlog_is_full_are_dropped(seen: Seen, http_port: int) -> None:
    seen.delay = 0.1
    clock = FakeClock()
    report = run_traffic(
        plan(),
        rps=10,
        duration=3,
        connect_to=("127.0.0.1", http_port),
        concurrency=1,
        drain_timeout=0.05,
        clock=clock,
        sleep=clock.sleep,
    )
    # 30 due at once, a backlog of a second's worth (10): most had no room.
    assert report.dropped >= 15
    assert report.overall.sent + report.dropped + report.unfinished == report.scheduled == 30
    assert "requests were dropped" in report.render_text()


def test_mix_parsing() -> None:
    assert parse_mix("read=0.8, write=0.2") == {"read": 0.8, "write": 0.2}
    assert parse_mix("health=1") == {"health": 1.0}
    assert parse_mix("read=0.333,write=0.333,health=0.334") == pytest.approx(
        {"read": 0.333, "write": 0.333, "health": 0.334}
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("raed=1", r"unknown request kind `raed` \(did you mean `read`\?\)"),
        ("read=0.5,write=0.2", "sum to 0.7, not 1"),
        ("read=1.2,write=-0.2", "`write` must be 0 or more"),
        ("read=lots", "`read` is not a number"),
        ("read", "`read` is not kind=weight"),
        ("read=0.5,read=0.5", "names `read` twice"),
        ("", "the mix is empty"),
        ("read=nan", "must be 0 or more"),
    ],
)
def test_mix_errors(text: str, message: str) -> None:
    with pytest.raises(SandboxError, match=message):
        parse_mix(text)


def test_plans_and_runs_are_checked_before_sending() -> None:
    with pytest.raises(SandboxError, match="no request for: read"):
        TrafficPlan({"write": RequestTemplate("POST", f"https://{API}/")}, {"read": 1.0})
    with pytest.raises(SandboxError, match="needs http"):
        RequestTemplate("GET", "ftp://example.com/")
    with pytest.raises(SandboxError, match="rate must be a positive"):
        run_traffic(plan(), rps=0, duration=1)
    with pytest.raises(SandboxError, match="sends no request"):
        run_traffic(plan(), rps=1, duration=0.5)
    with pytest.raises(SandboxError, match="cannot load the CA file"):
        run_traffic(plan(), rps=1, duration=1, ca_file=Path("/nonexistent/ca.pem"))


def test_the_estate_plan_comes_from_the_projects_smoke_tests() -> None:
    estate, _, _ = check_estate(BBWS)
    assert estate is not None
    chosen = estate_plan(estate, "sit", parse_mix("read=0.5,write=0.3,health=0.2"), token="T")
    read, write, health = (chosen.templates[k] for k in ("read", "write", "health"))
    # campaigns_lambda is the first project with an api route and smoke tests
    assert health.url == "https://api.sit.kimmyai.io/v1.0/campaigns/health"
    assert read.headers["Authorization"] == "Bearer T" and read.method == "GET"
    assert write.method == "POST" and write.body is not None
    products = estate_plan(estate, "sit", {"write": 1.0}, token="T", project="product_lambda")
    body = json.loads(products.templates["write"].body or "")
    assert body["sku"] == f"TEST-SIT-{UNIQUE}"  # ${run_id}: unique per request
    with pytest.raises(SandboxError, match="did you mean `product_lambda`"):
        estate_plan(estate, "sit", {"read": 1.0}, token="T", project="product_lamda")
    with pytest.raises(SandboxError, match="no smoke test usable as read"):
        estate_plan(estate, "sit", {"read": 1.0}, token="T", project="dynamodb_schemas")
