"""HTTP requests and responses as the gateway's fronts see them: plain data, no sockets."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

JSON: Final = "application/json"
# Headers the server writes itself, whatever a function or an origin answers.
HOP_BY_HOP: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "upgrade",
        "proxy-connection",
        "te",
        "trailer",
    }
)


@dataclass(frozen=True)
class Request:
    """One request. ``host`` is lower-case without its port; ``path`` is still
    percent-encoded; ``query`` is the raw query string without ``?``."""

    method: str
    host: str
    path: str
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    client_ip: str = "127.0.0.1"
    scheme: str = "http"

    def header(self, name: str) -> str | None:
        """The first value of a header, any case; None when absent."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)

    def set_header(self, name: str, value: str) -> None:
        """Replace every value of ``name`` with one."""
        wanted = name.lower()
        self.headers = [(k, v) for k, v in self.headers if k.lower() != wanted]
        self.headers.append((name, value))


def json_response(status: int, data: Any, headers: Iterable[tuple[str, str]] = ()) -> Response:
    body = json.dumps(data, separators=(",", ":")).encode()
    return Response(status, [("Content-Type", JSON), *headers], body)


def split_host(value: str | None) -> str:
    """``Host`` without its port, lower-case ("" when absent)."""
    if not value:
        return ""
    host = value.strip().lower()
    if host.startswith("["):  # an IPv6 literal: [::1]:8080
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if ":" in host else host
