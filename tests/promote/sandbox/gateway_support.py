"""A fake of the sandbox's Invoker port, and small HTTP helpers for the gateway's tests."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promote.sandbox.invocation import FunctionRef, Invocation, InvocationStatus

Handler = Callable[[Any], Any]


@dataclass
class FakeInvoker:
    """Runs plain Python functions by function name. A handler returns the payload, or an
    :class:`Invocation` to end otherwise; an unknown name raises LookupError, as the real
    runtime raises FunctionNotFound."""

    handlers: dict[str, Handler] = field(default_factory=dict)
    calls: list[tuple[FunctionRef, Any]] = field(default_factory=list)
    version: str = "7"
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def invoke(self, function: FunctionRef, event: Any) -> Invocation:
        with self._lock:
            self.calls.append((function, event))
        handler = self.handlers.get(function.name)
        if handler is None:
            raise LookupError(f"function {function.name} not found in {function.account_id}")
        result = handler(event)
        if isinstance(result, Invocation):
            return result
        return ended(function, InvocationStatus.OK, result, self.version)

    def names_called(self) -> list[str]:
        return [function.name for function, _ in self.calls]


def ended(
    function: FunctionRef, status: InvocationStatus, payload: Any, version: str = "7"
) -> Invocation:
    return Invocation(
        function=function,
        executed_version=version,
        status=status,
        payload=payload,
        request_id="fake-request",
        started_at=time.time(),
        duration_ms=1.0,
    )


def failing(status: InvocationStatus) -> Handler:
    """A handler whose invocations end with ``status``."""
    ref = FunctionRef("000000000000", "eu-west-1", "failing")
    return lambda event: ended(ref, status, {"errorMessage": "boom", "errorType": "Boom"})


@dataclass(frozen=True)
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    port: int,
    method: str,
    host: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """One request to the gateway's plain-http port, naming ``host``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body, headers={"Host": host, **(headers or {})})
        response = connection.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        connection.close()


def https_get(port: int, ca: Path, host: str, path: str) -> bytes:
    """The raw answer to a GET over TLS to 127.0.0.1:``port``, verifying ``host`` with ``ca``
    (what ``curl --connect-to ::127.0.0.1:port --cacert ca https://host/path`` does)."""
    context = ssl.create_default_context(cafile=str(ca))
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.sendall(request.encode())
        chunks = []
        while chunk := tls.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)
