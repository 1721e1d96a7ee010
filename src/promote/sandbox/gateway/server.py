"""The gateway: one HTTP and one HTTPS server on 127.0.0.1 in front of the API and site fronts.

A request is routed by its ``Host`` header (its port ignored):

- ``127.0.0.1`` or ``localhost``: the OIDC documents (:mod:`promote.sandbox.gateway.oidc`);
- an environment's ``api_domain``: the API front (:mod:`promote.sandbox.gateway.api`);
- ``<bucket>.s3.amazonaws.com``, ``<bucket>.s3.<region>.amazonaws.com``: S3's endpoint, for
  anonymous requests (:mod:`promote.sandbox.gateway.s3_endpoint`);
- a CloudFront alias or a static site host: the CDN front (:mod:`promote.sandbox.gateway.cdn`);
- anything else: 404, in JSON.

Both servers speak HTTP/1.1 with keep-alive, one thread per connection. TLS uses the
certificate :mod:`promote.sandbox.gateway.tls` issues at start for every host, so
``curl --connect-to ::127.0.0.1:8443 --cacert .promote/sandbox/ca.pem https://api.sit...``
verifies. The handshake happens on the connection's thread, never in the accept loop.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Final, cast
from urllib.parse import unquote, urlsplit

from promote.sandbox.errors import SandboxError
from promote.sandbox.gateway.api import ApiFront
from promote.sandbox.gateway.cdn import CdnFront
from promote.sandbox.gateway.clients import Clients
from promote.sandbox.gateway.messages import (
    HOP_BY_HOP,
    Request,
    Response,
    json_response,
    split_host,
)
from promote.sandbox.gateway.moto_gaps import keep_edge_config
from promote.sandbox.gateway.oidc import oidc_response
from promote.sandbox.gateway.routes import RouteTable
from promote.sandbox.gateway.s3_endpoint import S3Front
from promote.sandbox.gateway.tls import Certificates, issue_certificates
from promote.sandbox.invocation import Invoker

_log = logging.getLogger(__name__)
HOST: Final = "127.0.0.1"
LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "[::1]", ""})
MAX_BODY: Final = 10 * 1024 * 1024  # API Gateway's payload limit
IDLE_TIMEOUT: Final = 75.0  # seconds a keep-alive connection may sit idle
HANDSHAKE_TIMEOUT: Final = 10.0
_NO_BODY: Final = frozenset({204, 304})


@dataclass(frozen=True)
class AccessRecord:
    """One answered request, for telemetry: which front, and how it went."""

    front: str  # "api", "s3", "cdn", "oidc" or "none"
    method: str
    host: str
    path: str
    status: int
    started_at: float  # epoch seconds
    duration_ms: float
    cache: str | None  # the X-Cache header of CDN answers
    version: str | None  # the X-Amz-Executed-Version header of API answers


AccessListener = Callable[[AccessRecord], None]


class Gateway:
    """Use as a context manager, or :meth:`start` and :meth:`stop`. Port 0 picks a free port;
    :attr:`http_port` and :attr:`https_port` are the bound ones once started. ``oidc`` maps an
    environment to its JWK set and is read on every request. ``https_port=None``: no TLS."""

    def __init__(
        self,
        invoker: Invoker,
        routes: RouteTable,
        endpoint: str,
        state_dir: Path,
        http_port: int = 8080,
        https_port: int | None = 8443,
        oidc: Mapping[str, Mapping[str, Any]] | None = None,
        listeners: Sequence[AccessListener] = (),
    ) -> None:
        self.routes = routes
        self.state_dir = state_dir
        self._ports = (http_port, https_port)
        self._oidc: Mapping[str, Mapping[str, Any]] = oidc if oidc is not None else {}
        self._listeners = tuple(listeners)
        clients = Clients(endpoint)
        self.api = ApiFront(invoker, routes)
        self.cdn = CdnFront(invoker, routes, clients)
        self.s3 = S3Front(clients, routes.accounts)
        self.certificates: Certificates | None = None
        self._servers: list[_Server] = []

    @property
    def issuer_base(self) -> str:
        """Where the token issuers live: the TLS origin, or plain http without TLS."""
        if self._ports[1] is None:
            return f"http://127.0.0.1:{self.http_port}"
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def http_port(self) -> int:
        return self._servers[0].server_address[1] if self._servers else self._ports[0]

    @property
    def https_port(self) -> int | None:
        return self._servers[1].server_address[1] if len(self._servers) > 1 else self._ports[1]

    @property
    def ca_file(self) -> Path:
        return self.state_dir / "ca.pem"

    def start(self) -> None:
        keep_edge_config()
        http_port, https_port = self._ports
        context = None
        if https_port is not None:
            self.certificates = issue_certificates(self.state_dir, self.routes.hosts())
            context = self.certificates.server_context()
        try:
            self._servers.append(_bind(self, http_port, "http", None))
            if context is not None and https_port is not None:
                self._servers.append(_bind(self, https_port, "https", context))
        except SandboxError:
            # Not stop(): shutdown() waits for a serve_forever that never started.
            for server in self._servers:
                server.server_close()
            self._servers = []
            raise
        for server in self._servers:
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.2},
                name=f"gateway-{server.scheme}",
                daemon=True,
            )
            thread.start()

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.close_connections()
            server.server_close()
        self._servers = []

    def __enter__(self) -> Gateway:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def handle(self, request: Request) -> Response:
        """Answer one request (what the servers call; usable without sockets)."""
        started, clock = time.time(), time.perf_counter()
        front, response = self._dispatch(request)
        if self._listeners:
            record = AccessRecord(
                front=front,
                method=request.method,
                host=request.host,
                path=request.path,
                status=response.status,
                started_at=started,
                duration_ms=(time.perf_counter() - clock) * 1000,
                cache=response.header("X-Cache"),
                version=response.header("X-Amz-Executed-Version"),
            )
            self._tell(record)
        return response

    def _dispatch(self, request: Request) -> tuple[str, Response]:
        if request.host in LOOPBACK:
            found = oidc_response(unquote(request.path), self._oidc, self.issuer_base)
            return ("oidc", found) if found else ("none", self._unknown(request.host))
        answer = self.api.handle(request)
        if answer is not None:
            return "api", answer
        answer = self.s3.handle(request)
        if answer is not None:
            return "s3", answer
        answer = self.cdn.handle(request)
        if answer is not None:
            return "cdn", answer
        return "none", self._unknown(request.host)

    def _unknown(self, host: str) -> Response:
        apis = ", ".join(sorted(self.routes.apis)) or "none"
        return json_response(
            404,
            {
                "message": f"the sandbox serves no API or site at `{host or '(no Host)'}`; "
                f"send a Host header (or use curl --connect-to) for an API domain ({apis}), "
                "a static site host, or a CloudFront alias"
            },
        )

    def _tell(self, record: AccessRecord) -> None:
        for listener in self._listeners:
            try:
                listener(record)
            except Exception:  # a listener's bug must not fail the request it observes
                _log.exception("access listener %r failed", listener)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # stop() closes open connections itself; waiting for idle keep-alive threads would hang.
    block_on_close = False
    request_queue_size = 256

    def __init__(self, gateway: Gateway, port: int, scheme: str, context: ssl.SSLContext | None):
        self.gateway = gateway
        self.scheme = scheme
        self.context = context
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__((HOST, port), _Handler)

    def server_bind(self) -> None:
        # HTTPServer's own looks up the host's fully qualified name: needless, and slow on
        # machines without DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = HOST, self.server_address[1]

    def finish_request(self, request: Any, client_address: Any) -> None:
        connection = request
        if self.context is not None:
            request.settimeout(HANDSHAKE_TIMEOUT)
            try:
                connection = self.context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as error:
                _log.debug("TLS handshake with %s failed: %s", client_address, error)
                return
        with self._open_lock:
            self._open.add(connection)
        try:
            handler: Any = self.RequestHandlerClass
            handler(connection, client_address, self)
        finally:
            with self._open_lock:
                self._open.discard(connection)
            if connection is not request:  # the TLS socket took over the raw one
                connection.close()

    def close_connections(self) -> None:
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


def _bind(gateway: Gateway, port: int, scheme: str, context: ssl.SSLContext | None) -> _Server:
    try:
        return _Server(gateway, port, scheme, context)
    except OSError as error:
        raise SandboxError(
            f"the gateway cannot listen on {HOST}:{port} ({scheme}): {error.strerror}; "
            "choose another port"
        ) from error


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT
    disable_nagle_algorithm = True
    # Buffered: the status line, headers and body leave in one write per response.
    wbufsize = -1

    def _serve(self) -> None:
        server = cast(_Server, self.server)
        try:
            request = self._request(server.scheme)
        except _BadRequest as error:
            self.close_connection = True
            self._write(json_response(error.status, {"message": str(error)}))
            return
        try:
            response = server.gateway.handle(request)
        except Exception:  # the boundary: a bug answers 500 and is logged, never a hang
            _log.exception("the gateway failed on %s %s%s", self.command, request.host, self.path)
            response = json_response(500, {"message": "Internal server error"})
        self._write(response)

    def _request(self, scheme: str) -> Request:
        body = self._read_body()
        target, host = self.path, self.headers.get("Host")
        if target.startswith(("http://", "https://")):  # the absolute form, as proxies send
            parts = urlsplit(target)
            host, target = parts.netloc, parts.path + (f"?{parts.query}" if parts.query else "")
        path, _, query = target.partition("?")
        return Request(
            method=self.command,
            host=split_host(host),
            path=path or "/",
            query=query,
            headers=tuple(self.headers.items()),
            body=body,
            client_ip=self.client_address[0],
            scheme=scheme,
        )

    def handle_expect_100(self) -> bool:
        answered = super().handle_expect_100()
        self.wfile.flush()  # the output is buffered: without this, curl waits a second
        return answered

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            size = int(length)
        except ValueError:
            raise _BadRequest(400, "Content-Length is not a number") from None
        if size < 0:
            raise _BadRequest(400, "Content-Length is negative")
        if size > MAX_BODY:
            raise _BadRequest(413, "Request Too Long")
        return self.rfile.read(size)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadRequest(400, "bad chunk size") from None
            if size == 0:
                while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            total += size
            if total > MAX_BODY:
                raise _BadRequest(413, "Request Too Long")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(8)

    def _write(self, response: Response) -> None:
        self.send_response_only(response.status)
        self.send_header("Date", self.date_time_string())
        for name, value in response.headers:
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        bodiless = response.status in _NO_BODY or response.status < 200
        if not bodiless:
            self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not bodiless and self.command != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("%s " + format, self.address_string(), *args)


# BaseHTTPRequestHandler dispatches to do_<METHOD>: every method goes to the same place.
for _method in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
    setattr(_Handler, f"do_{_method}", _Handler._serve)
