"""One error tree for every BBWS API, rendered as ``{"error": {"code", "message", "details"}}``.

    ApiError                 500 internal_error           (base; never raised as-is)
    ├── BadRequest           400 bad_request
    │   └── ValidationFailed 400 validation_error         details: [{"field", "type"}]
    ├── Unauthorized         401 unauthorized             + WWW-Authenticate: Bearer
    ├── Forbidden            403 forbidden
    ├── NotFound             404 not_found
    ├── Conflict             409 conflict
    ├── PreconditionFailed   412 precondition_failed
    ├── PayloadTooLarge      413 payload_too_large
    ├── UnsupportedMediaType 415 unsupported_media_type
    ├── Unprocessable        422 unprocessable
    ├── TooManyRequests      429 too_many_requests        + Retry-After
    └── InternalError        500 internal_error
        └── FaultInjected    500 fault_injected

Validation details name the field and pydantic's error type only: never the input, the
pydantic message (custom validators may quote the input) or a documentation URL. A response
that fails its own model is our bug, so a 500 (``make_app`` sets Powertools'
``response_validation_error_http_code``), never a 400. Anything that is not an ApiError
becomes a 500 whose body says nothing about the cause; :func:`install` logs the cause with
its traceback.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import pydantic
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver

Detail = dict[str, str]


class ErrorDetail(pydantic.BaseModel):
    field: str  # "body.price", "query.cursor", "path.product_id", "header.Idempotency-Key"
    type: str  # pydantic's error type ("missing", "greater_than", ...) or ours ("cursor")


class ErrorBody(pydantic.BaseModel):
    code: str
    message: str
    details: list[ErrorDetail]


class ErrorEnvelope(pydantic.BaseModel):
    """Every error body of every BBWS API (the OpenAPI ``Error`` schema)."""

    error: ErrorBody


class ApiError(Exception):
    """An answer the API gives on purpose; subclasses fix the status and code."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    default_message: ClassVar[str] = "internal server error"

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Sequence[Mapping[str, str]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.details = [dict(d) for d in details]
        self.headers = dict(headers or {})
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class BadRequest(ApiError):
    status, code, default_message = 400, "bad_request", "bad request"


class ValidationFailed(BadRequest):
    code, default_message = "validation_error", "request validation failed"


class Unauthorized(ApiError):
    status, code, default_message = 401, "unauthorized", "a valid bearer token is required"

    def __init__(self, message: str | None = None) -> None:
        # RFC 6750: a 401 names the scheme; no error description that would help a forger.
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer realm="bbws"'})


class Forbidden(ApiError):
    status, code, default_message = 403, "forbidden", "not allowed"


class NotFound(ApiError):
    status, code, default_message = 404, "not_found", "not found"


class Conflict(ApiError):
    status, code, default_message = 409, "conflict", "conflict with the current state"


class PreconditionFailed(ApiError):
    status, code, default_message = 412, "precondition_failed", "precondition failed"


class PayloadTooLarge(ApiError):
    status, code, default_message = 413, "payload_too_large", "request body too large"


class UnsupportedMediaType(ApiError):
    status, code, default_message = 415, "unsupported_media_type", "unsupported media type"


class Unprocessable(ApiError):
    status, code, default_message = 422, "unprocessable", "request cannot be processed"


class TooManyRequests(ApiError):
    status, code, default_message = 429, "too_many_requests", "too many requests"

    def __init__(self, message: str | None = None, *, retry_after_s: int = 1) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after_s)})


class InternalError(ApiError):
    pass


class FaultInjected(InternalError):
    code, default_message = "fault_injected", "injected fault (BBWS_FAULT_ERROR_RATE)"


_BY_STATUS: dict[int, type[ApiError]] = {
    cls.status: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        PreconditionFailed,
        PayloadTooLarge,
        UnsupportedMediaType,
        Unprocessable,
        TooManyRequests,
    )
}


def error_response(error: ApiError) -> Response[str]:
    return Response(
        status_code=error.status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(error.body()),
        headers=error.headers,
    )


def validation_details(errors: Iterable[Mapping[str, Any]]) -> list[Detail]:
    """[{"field": "body.price", "type": "greater_than"}, ...] from pydantic-style errors."""
    details = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        # json_invalid's loc ends in a character offset, which names no field.
        field = loc[0] if error.get("type") == "json_invalid" and loc else ".".join(loc)
        details.append({"field": field, "type": str(error.get("type", "invalid"))})
    return details


def from_service_error(error: ServiceError) -> ApiError:
    """Powertools' own HTTP errors (NotFoundError, ...) in our shape."""
    cls = _BY_STATUS.get(error.status_code, InternalError)
    message = error.msg if isinstance(error.msg, str) and cls is not InternalError else None
    return cls(message)


def is_condition_failure(error: ClientError) -> bool:
    """A failed ConditionExpression, alone or inside a cancelled transaction."""
    err = error.response.get("Error", {})
    if err.get("Code") == "ConditionalCheckFailedException":
        return True
    reasons = error.response.get("CancellationReasons", [])
    return err.get("Code") == "TransactionCanceledException" and any(
        r.get("Code") == "ConditionalCheckFailed" for r in reasons
    )


@contextlib.contextmanager
def on_condition_failure(error: ApiError) -> Iterator[None]:
    """Raise ``error`` (e.g. Conflict, NotFound, PreconditionFailed) for a failed condition.

    with on_condition_failure(NotFound("product not found")):
        client.update_item(..., ConditionExpression="attribute_exists(pk)")
    """
    try:
        yield
    except ClientError as exc:
        if is_condition_failure(exc):
            raise error from exc
        raise


def install(app: APIGatewayRestResolver, logger: Logger) -> None:
    """Register the mapping of every exception to an error response on ``app``."""

    def api(error: ApiError) -> Response[str]:
        if error.status >= 500:
            logger.error("request failed", extra={"code": error.code}, exc_info=error)
        return error_response(error)

    def invalid(error: RequestValidationError | pydantic.ValidationError) -> Response[str]:
        return error_response(ValidationFailed(details=validation_details(_errors(error))))

    def powertools(error: ServiceError) -> Response[str]:
        return api(from_service_error(error))

    def unparsable(error: RequestUnsupportedContentType) -> Response[str]:
        # A media type a BodyRule admits but Powertools cannot parse for a Body parameter.
        return api(UnsupportedMediaType())

    def unexpected(error: Exception) -> Response[str]:
        # The traceback goes to the log, never to the client.
        logger.exception("unhandled error", exc_info=error)
        return error_response(InternalError())

    # Powertools picks the handler of the nearest class in the exception's MRO.
    app.exception_handler(ApiError)(api)
    app.exception_handler([RequestValidationError, pydantic.ValidationError])(invalid)
    app.exception_handler(ServiceError)(powertools)
    app.exception_handler(RequestUnsupportedContentType)(unparsable)
    app.exception_handler(Exception)(unexpected)


def _errors(
    error: RequestValidationError | pydantic.ValidationError,
) -> Iterable[Mapping[str, Any]]:
    if isinstance(error, pydantic.ValidationError):
        return error.errors(include_input=False, include_url=False, include_context=False)
    return error.errors()
