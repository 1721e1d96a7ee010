"""An in-process HTTP front for the services' Lambda handlers, shaped like API Gateway REST.

A WSGI application: each request becomes the REST (v1 payload) event API Gateway would send
(`rest_event`, built from a recorded one), goes to the handler of the service named in its
path (`/v1.0/<service>/...`), and the handler's answer becomes the HTTP response.
schemathesis drives it through WSGI with no network and no server.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from tests.bbws.services.support import FakeLambdaContext, rest_event

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class LambdaGateway:
    def __init__(self, handlers: Mapping[str, Handler]) -> None:
        self.handlers = dict(handlers)
        self.calls = 0

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        service = path.removeprefix("/v1.0/").partition("/")[0]
        handler = self.handlers.get(service)
        if not path.startswith("/v1.0/") or handler is None:
            # API Gateway itself answers for paths no stage or base path maps.
            start_response("403 Forbidden", [("Content-Type", "application/json")])
            return [b'{"message":"Missing Authentication Token"}']
        self.calls += 1
        response = handler(self._event(environ, path), FakeLambdaContext())
        return self._respond(response, start_response)

    @staticmethod
    def _event(environ: dict[str, Any], path: str) -> dict[str, Any]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else None
        headers = {
            key[5:].replace("_", "-").title(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(key):
                headers[key.replace("_", "-").title()] = environ[key]
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        return rest_event(
            environ["REQUEST_METHOD"],
            path,
            body=_text_or_bytes(body),
            headers=headers,
            query=query or None,
        )

    @staticmethod
    def _respond(response: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        status = int(response["statusCode"])
        headers: dict[str, str] = {
            k: v[-1] for k, v in (response.get("multiValueHeaders") or {}).items()
        }
        headers.update(response.get("headers") or {})
        raw = response.get("body") or ""
        body = base64.b64decode(raw) if response.get("isBase64Encoded") else raw.encode()
        start_response(f"{status} {HTTPStatus(status).phrase}", list(headers.items()))
        return [body]


def _text_or_bytes(body: bytes | None) -> str | bytes | None:
    """API Gateway passes text bodies as text and binary ones base64-encoded."""
    if body is None:
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body
