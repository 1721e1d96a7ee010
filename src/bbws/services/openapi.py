"""The OpenAPI document of a service, as the API really answers (for docs and schemathesis).

Powertools documents validation failures as 422 ``HTTPValidationError`` and response
failures as ``ResponseValidationError``; a BBWS API answers 400 and 500 with the
``{"error": ...}`` envelope instead, and adds the guard's answers. ``openapi_document``
rewrites the generated document accordingly:

* ``servers: [/v1.0]``, a bearer (JWT) security scheme required everywhere but ``/health``;
* every operation: 400 and 500 with the ``Error`` schema, 401 and 403 unless public;
  404 where the path has parameters; 413 and 415 where a body is accepted.

A 422 a route declares itself (e.g. ``idempotency_key_reused``) is kept.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final

from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer, Server

from bbws.services._guard import is_public_path
from bbws.services.errors import ErrorEnvelope

if TYPE_CHECKING:
    from bbws.services.app import ServiceApp

ERROR_REF: Final = "#/components/schemas/Error"
_POWERTOOLS_SCHEMAS: Final = ("HTTPValidationError", "ValidationError", "ResponseValidationError")
_DESCRIPTIONS: Final = {
    "400": "Invalid request: details name each field and problem type",
    "401": "Missing, invalid or expired bearer token",
    "403": "Not allowed for this caller (admin group, tenant)",
    "404": "No such item",
    "413": "Request body too large",
    "415": "Unsupported body media type",
    "500": "Internal error (or an injected fault: code fault_injected)",
}


def openapi_document(app: ServiceApp, *, version: str = "1.0.0") -> dict[str, Any]:
    schema = app.get_openapi_json_schema(
        title=f"BBWS {app.service_name} API",
        version=version,
        servers=[Server(url="/v1.0")],
        security_schemes={"bearer": HTTPBearer(bearerFormat="JWT")},
        security=[{"bearer": []}],
    )
    document: dict[str, Any] = json.loads(schema)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in _POWERTOOLS_SCHEMAS:
        schemas.pop(name, None)
    envelope = ErrorEnvelope.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(envelope.pop("$defs", {}))
    schemas["Error"] = envelope
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            _document_errors(path, operation)
    return document


def _document_errors(path: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    if responses.get("422", {}).get("description") == "Validation Error":
        del responses["422"]  # Powertools' own 422; ours are 400s
    statuses = ["400", "500"]
    if is_public_path(path):
        operation["security"] = []
    else:
        statuses += ["401", "403"]
    if "{" in path:
        statuses.append("404")
    if "requestBody" in operation:
        statuses += ["413", "415"]
    for status in statuses:
        responses[status] = {
            "description": _DESCRIPTIONS[status],
            "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
        }
