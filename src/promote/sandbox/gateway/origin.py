"""Fetching from an S3 origin: GetObject in the distribution's account, answered as S3 does."""

from __future__ import annotations

import datetime
import logging
from email.utils import format_datetime
from typing import Any, Final
from urllib.parse import unquote
from xml.sax.saxutils import escape

from botocore.exceptions import BotoCoreError, ClientError

from promote.sandbox.gateway.clients import Clients
from promote.sandbox.gateway.distributions import Origin
from promote.sandbox.gateway.messages import Response

_log = logging.getLogger(__name__)
# GetObject's answer fields that become response headers.
_HEADERS: Final = (
    ("ContentType", "Content-Type"),
    ("CacheControl", "Cache-Control"),
    ("ContentEncoding", "Content-Encoding"),
    ("ContentDisposition", "Content-Disposition"),
    ("ContentLanguage", "Content-Language"),
    ("ETag", "ETag"),
    ("VersionId", "x-amz-version-id"),
)


def fetch(clients: Clients, account_id: str, origin: Origin, uri: str) -> Response:
    """The object for ``uri``, or S3's XML error; 502 when the origin is not S3."""
    if origin.bucket is None:
        return _error(
            502,
            "UnsupportedOrigin",
            f"the sandbox serves S3 origins only, not {origin.domain_name}",
        )
    key = unquote(uri).lstrip("/")
    if origin.path:
        key = f"{origin.path}/{key}"
    s3 = clients.s3(account_id, origin.region)
    try:
        answer = s3.get_object(Bucket=origin.bucket, Key=key)
        body = answer["Body"].read()
    except ClientError as error:
        return _client_error(error, origin, key)
    except BotoCoreError as error:
        _log.warning("origin %s unreachable: %s", origin.domain_name, error)
        return _error(502, "OriginUnreachable", str(error))
    return Response(200, _object_headers(answer), body)


def _object_headers(answer: Any) -> list[tuple[str, str]]:
    headers = [(name, str(answer[field])) for field, name in _HEADERS if answer.get(field)]
    if not answer.get("ContentType"):
        headers.append(("Content-Type", "binary/octet-stream"))
    if answer.get("LastModified"):
        headers.append(("Last-Modified", _http_date(answer["LastModified"])))
    headers += [(f"x-amz-meta-{k}", v) for k, v in (answer.get("Metadata") or {}).items()]
    headers.append(("Server", "AmazonS3"))
    return headers


def _http_date(moment: datetime.datetime) -> str:
    # botocore's times are in dateutil's UTC, which format_datetime does not take for GMT.
    return format_datetime(moment.astimezone(datetime.UTC), usegmt=True)


def _client_error(error: ClientError, origin: Origin, key: str) -> Response:
    code = error.response.get("Error", {}).get("Code", "")
    if code in ("NoSuchKey", "404"):
        if origin.missing_status == 403:
            return _error(403, "AccessDenied", "Access Denied")
        return _error(404, "NoSuchKey", "The specified key does not exist.", key)
    if code == "NoSuchBucket":
        return _error(404, "NoSuchBucket", "The specified bucket does not exist", origin.bucket)
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 502)
    return _error(status if status >= 400 else 502, code or "InternalError", str(error))


def _error(status: int, code: str, message: str, resource: str | None = None) -> Response:
    extra = f"<Key>{escape(resource)}</Key>" if resource and code == "NoSuchKey" else ""
    if resource and code == "NoSuchBucket":
        extra = f"<BucketName>{escape(resource)}</BucketName>"
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>{extra}</Error>"
    )
    return Response(
        status, [("Content-Type", "application/xml"), ("Server", "AmazonS3")], body.encode()
    )
