"""HTTP smoke tests, ``http`` steps and the ``http.ok`` check, on the stdlib's http.client.

A request names the real host (Host header, TLS SNI and certificate name) but may connect
elsewhere, like ``curl --connect-to``: the sandbox's gateway, trusting its CA.
"""

from __future__ import annotations

import json
import mimetypes
import secrets
import ssl
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from promote.connect_to import PinnedConnection
from promote.engine.steps.port import Outcome, Target
from promote.model.steps import HttpRequest

DEFAULT_TIMEOUT = timedelta(seconds=30)
BODY_LIMIT = 2048  # bytes of a response body kept as evidence
_USER_AGENT = "promote-smoke/1"
_MISSING = object()


@dataclass(frozen=True)
class Exchange:
    method: str
    url: str
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    def json(self) -> Any:
        """The reply as JSON, or ``_MISSING`` when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return _MISSING

    def evidence(self) -> dict[str, Any]:
        text = self.body[:BODY_LIMIT].decode("utf-8", errors="replace")
        return {
            "method": self.method,
            "url": self.url,
            "status": self.status,
            "latency_ms": round(self.seconds * 1000, 1),
            "response_headers": self.headers,
            "body": text + ("…" if len(self.body) > BODY_LIMIT else ""),
        }


def send(target: Target, request: HttpRequest, timeout: timedelta | None = None) -> Exchange:
    """Send a filled request. Raises OSError or http.client.HTTPException when no reply came."""
    parts = urlsplit(request.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"a request URL needs http(s) and a host: {request.url}")
    tls = None
    address = target.plain_http_connect
    if parts.scheme == "https":
        tls = ssl.create_default_context(cafile=str(target.ca_file) if target.ca_file else None)
        address = target.http_connect
    if address is None and target.http_connect is not None:
        # Promoting into the sandbox: a request must never leave for the real host.
        raise ValueError(f"the sandbox has no gateway port for {parts.scheme}: {request.url}")
    port = parts.port or (443 if tls else 80)
    body, headers = _payload(request, target)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    seconds = (timeout or DEFAULT_TIMEOUT).total_seconds()
    connection = PinnedConnection(parts.hostname, port, address, seconds, tls)
    started = time.monotonic()
    try:
        connection.request(request.method, path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    elapsed = time.monotonic() - started
    reply_headers = {k: v for k, v in response.getheaders()}
    return Exchange(request.method, request.url, response.status, reply_headers, data, elapsed)


def _payload(request: HttpRequest, target: Target) -> tuple[bytes | None, dict[str, str]]:
    headers = {"User-Agent": _USER_AGENT, "Accept": "application/json, */*"}
    body: bytes | None = None
    if request.json_body is not None:
        body = json.dumps(request.json_body).encode()
        headers["Content-Type"] = "application/json"
    elif request.body is not None:
        body = request.body.encode()
    elif request.form:
        body, content_type = _multipart(request.form, target)
        headers["Content-Type"] = content_type
    headers.update(request.headers)  # the estate's own headers win
    return body, headers


def _multipart(form: dict[str, str], target: Target) -> tuple[bytes, str]:
    """``curl -F``: a value starting with ``@`` uploads that file (relative to the checkout
    the project is promoted from, as curl's to its working directory)."""
    boundary = f"promote-{secrets.token_hex(12)}"
    chunks: list[bytes] = []
    for name, value in form.items():
        disposition = f'form-data; name="{name}"'
        content_type = ""
        if value.startswith("@"):
            path = target.path(value[1:])
            disposition += f'; filename="{path.name}"'
            guessed = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            content_type = f"Content-Type: {guessed}\r\n"
            data = path.read_bytes()
        else:
            data = value.encode()
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n{content_type}\r\n"
        chunks.append(head.encode() + data + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def at_path(data: Any, path: str) -> Any:
    """``data.items.0.id`` into parsed JSON; ``_MISSING`` when the path does not exist."""
    for part in path.split("."):
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return _MISSING
    return data


def assess(request: HttpRequest, exchange: Exchange, label: str) -> Outcome:
    """The verdict on one reply: every expectation, the latency budget and the captures."""
    problems = _expectation_problems(request, exchange)
    budget = request.latency_budget
    if budget is not None and exchange.seconds > budget.total_seconds():
        problems.append(
            f"took {exchange.seconds * 1000:.0f} ms, over the {budget.total_seconds() * 1000:.0f}"
            " ms budget"
        )
    outputs, missing = _captures(request, exchange)
    problems.extend(f"capture `{name}`: no `{request.capture[name]}` in reply" for name in missing)
    evidence = {**exchange.evidence(), "request_headers": request.headers, "problems": problems}
    evidence["only_over_budget"] = len(problems) == 1 and problems[0].startswith("took ")
    head = f"{label}: {exchange.method} {exchange.url} -> {exchange.status}"
    if problems:
        return Outcome(False, f"{head}; {problems[0]}", evidence, outputs)
    return Outcome(True, f"{head} in {exchange.seconds * 1000:.0f} ms", evidence, outputs)


def _expectation_problems(request: HttpRequest, exchange: Exchange) -> list[str]:
    expect = request.expect
    problems: list[str] = []
    if exchange.status not in expect.status:
        problems.append(f"status {exchange.status}, expected {_listed(expect.status)}")
    reply = exchange.json() if expect.json_fields else None
    for path, wanted in expect.json_fields.items():
        found = at_path(reply, path)
        if found is _MISSING:
            problems.append(f"no `{path}` in the JSON reply")
        elif found != wanted:
            problems.append(f"`{path}` is {found!r}, expected {wanted!r}")
    lowered = {k.lower(): v for k, v in exchange.headers.items()}
    for name, wanted_header in expect.headers.items():
        if lowered.get(name.lower()) != wanted_header:
            problems.append(
                f"header {name} is {lowered.get(name.lower())!r}, not {wanted_header!r}"
            )
    if expect.body_contains is not None and expect.body_contains.encode() not in exchange.body:
        problems.append(f"the body does not contain {expect.body_contains!r}")
    return problems


def _captures(request: HttpRequest, exchange: Exchange) -> tuple[dict[str, str], list[str]]:
    if not request.capture:
        return {}, []
    reply = exchange.json()
    outputs: dict[str, str] = {}
    missing: list[str] = []
    for name, path in request.capture.items():
        found = at_path(reply, path)
        if found is _MISSING or found is None:
            missing.append(name)
        else:
            outputs[name] = found if isinstance(found, str) else json.dumps(found)
    return outputs, missing


def _listed(statuses: list[int]) -> str:
    return " or ".join(str(s) for s in statuses)


def request_evidence(request: HttpRequest) -> dict[str, Any]:
    """What was asked, for an outcome with no reply (secrets are redacted by the caller)."""
    return {"method": request.method, "url": request.url, "request_headers": request.headers}
