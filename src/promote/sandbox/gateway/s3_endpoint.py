"""S3's virtual-hosted endpoints, for anonymous requests: what someone reaching a bucket
directly, without credentials, gets (a runbook's "direct S3 access is blocked" test).

``<bucket>.s3.amazonaws.com`` and ``<bucket>.s3.<region>.amazonaws.com`` serve the bucket of
that name in whichever of the estate's accounts has it (moto keeps buckets per account):

- no such bucket in any account: 404 ``NoSuchBucket``;
- a regional name that is not the bucket's region: 301 ``PermanentRedirect``;
- signed requests: 501 ``NotImplemented`` (send those to the emulator's endpoint);
- ``GET``/``HEAD`` of a key: the object when the bucket is public, else 403 ``AccessDenied``.
  A missing key in a public bucket is 404 ``NoSuchKey`` when the policy also lets anyone
  ``s3:ListBucket``, else 403, as S3 answers;
- the bucket itself (``/``), or any other method: 403 ``AccessDenied``, or 501 when the
  policy would allow it (the sandbox does not list or write anonymously).

Public means the bucket policy allows the action to everyone (``Principal`` ``"*"`` or
``{"AWS": "*"}``, ``Effect`` ``Allow``, a matching ``Action`` and ``Resource`` such as
``arn:aws:s3:::bucket/*``), no such ``Deny`` applies, and the bucket's public access block
does not have ``RestrictPublicBuckets``. Statements with ``NotPrincipal``, ``NotAction`` or
``NotResource`` are skipped; of conditions only ``Bool`` ``aws:SecureTransport`` is
evaluated: any other makes an ``Allow`` grant nothing and a ``Deny`` apply. ACLs and the
account-level public access block are not looked at.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final
from urllib.parse import unquote
from xml.sax.saxutils import escape

from botocore.exceptions import BotoCoreError, ClientError

from promote.sandbox.gateway.clients import Clients
from promote.sandbox.gateway.distributions import Origin
from promote.sandbox.gateway.messages import Request, Response
from promote.sandbox.gateway.origin import fetch

_log = logging.getLogger(__name__)
GLOBAL_REGION: Final = "us-east-1"
_ENDPOINT: Final = re.compile(
    r"^(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\.s3"
    r"(?:\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+))?\.amazonaws\.com$"
)
_READS: Final = frozenset({"GET", "HEAD"})
_WRITES: Final = {"PUT": "s3:PutObject", "DELETE": "s3:DeleteObject"}


@dataclass(frozen=True)
class Bucket:
    name: str
    account_id: str
    region: str


def parse_endpoint(host: str) -> tuple[str, str | None] | None:
    """(bucket, region or None for the global name) of an S3 virtual-hosted endpoint."""
    match = _ENDPOINT.match(host)
    if match is None or ".." in match["bucket"]:
        return None
    return match["bucket"], match["region"]


@dataclass(frozen=True)
class PublicAccess:
    """What a bucket lets anyone do without credentials."""

    statements: tuple[Mapping[str, Any], ...] = ()
    restricted: bool = False  # RestrictPublicBuckets: a public policy grants nobody anything

    def allows(self, action: str, resource: str, *, secure: bool) -> bool:
        if self.restricted:
            return False
        allowed = False
        for statement in self.statements:
            effect = statement.get("Effect")
            if not _matches(statement, action, resource):
                continue
            conditions = _conditions(statement.get("Condition"), secure=secure)
            if effect == "Deny" and conditions is not False:
                return False  # unknown conditions on a Deny: assume it applies
            if effect == "Allow" and conditions is True:
                allowed = True
        return allowed


def public_access(policy: str | None, restricted: bool) -> PublicAccess:
    """From a bucket policy document (None: no policy) and RestrictPublicBuckets."""
    try:
        document = json.loads(policy) if policy else {}
    except ValueError:
        document = {}
    raw = document.get("Statement") if isinstance(document, dict) else None
    statements = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else []
    return PublicAccess(tuple(s for s in statements if isinstance(s, dict)), restricted)


class S3Front:
    def __init__(self, clients: Clients, accounts: Iterable[str]) -> None:
        self._clients = clients
        self._accounts = tuple(accounts)

    def handle(self, request: Request) -> Response | None:
        """S3's answer for a bucket endpoint host; None for any other host."""
        parsed = parse_endpoint(request.host)
        if parsed is None:
            return None
        bucket, region = parsed
        try:
            response = self._serve(request, bucket, region)
        except (BotoCoreError, ClientError) as error:
            _log.warning("%s %s%s: %s", request.method, request.host, request.path, error)
            response = s3_error(500, "InternalError", "We encountered an internal error.")
        response.set_header("x-amz-request-id", secrets.token_hex(8).upper())
        response.set_header("x-amz-id-2", base64.b64encode(secrets.token_bytes(48)).decode())
        return response

    def _serve(self, request: Request, name: str, region: str | None) -> Response:
        if _signed(request):
            return s3_error(
                501,
                "NotImplemented",
                "the sandbox's S3 endpoints serve anonymous requests only; send signed "
                "requests to the emulator's endpoint",
            )
        bucket = self.find(name)
        if bucket is None:
            return s3_error(404, "NoSuchBucket", "The specified bucket does not exist", name)
        if region is not None and region != bucket.region:
            return _redirect(bucket)
        access = self._access(bucket)
        key = unquote(request.path).lstrip("/")
        if request.method in _READS and key:
            return self._read(request, bucket, access)
        return _not_served(request, bucket, access, key)

    def _read(self, request: Request, bucket: Bucket, access: PublicAccess) -> Response:
        secure = request.scheme == "https"
        bucket_arn = f"arn:aws:s3:::{bucket.name}"
        key = unquote(request.path).lstrip("/")
        if not access.allows("s3:GetObject", f"{bucket_arn}/{key}", secure=secure):
            return access_denied()
        listable = access.allows("s3:ListBucket", bucket_arn, secure=secure)
        origin = Origin(
            id=bucket.name,
            domain_name=request.host,
            bucket=bucket.name,
            region=bucket.region,
            missing_status=404 if listable else 403,
        )
        response = fetch(self._clients, bucket.account_id, origin, request.path)
        if response.status == 200:
            response.set_header("Accept-Ranges", "bytes")
        return response

    def find(self, name: str) -> Bucket | None:
        """The bucket ``name`` in the first of the accounts that has it."""
        for account in self._accounts:
            s3 = self._clients.s3(account, GLOBAL_REGION)
            if not any(b["Name"] == name for b in s3.list_buckets().get("Buckets", [])):
                continue
            location = s3.get_bucket_location(Bucket=name).get("LocationConstraint")
            region = {None: GLOBAL_REGION, "": GLOBAL_REGION, "EU": "eu-west-1"}.get(
                location, location
            )
            return Bucket(name, account, str(region))
        return None

    def _access(self, bucket: Bucket) -> PublicAccess:
        s3 = self._clients.s3(bucket.account_id, bucket.region)
        try:
            block = s3.get_public_access_block(Bucket=bucket.name)
            restricted = bool(
                block["PublicAccessBlockConfiguration"].get("RestrictPublicBuckets", False)
            )
        except ClientError as error:
            if _code(error) != "NoSuchPublicAccessBlockConfiguration":
                raise
            restricted = False
        try:
            policy: str | None = s3.get_bucket_policy(Bucket=bucket.name)["Policy"]
        except ClientError as error:
            if _code(error) != "NoSuchBucketPolicy":
                raise
            policy = None
        return public_access(policy, restricted)


def _not_served(request: Request, bucket: Bucket, access: PublicAccess, key: str) -> Response:
    """The bucket itself, or a write: refused, unless the policy allows it, and then not
    implemented (HEAD of the bucket excepted)."""
    secure = request.scheme == "https"
    bucket_arn = f"arn:aws:s3:::{bucket.name}"
    if request.method in _READS:
        allowed = access.allows("s3:ListBucket", bucket_arn, secure=secure)
    else:
        action = _WRITES.get(request.method)
        allowed = action is not None and access.allows(action, f"{bucket_arn}/{key}", secure=secure)
    if not allowed:
        return access_denied()
    if request.method == "HEAD":
        return Response(200, [("x-amz-bucket-region", bucket.region), ("Server", "AmazonS3")])
    return s3_error(
        501,
        "NotImplemented",
        "the sandbox's S3 endpoints only read objects anonymously; use the emulator's "
        "endpoint to list or write",
    )


def access_denied() -> Response:
    return s3_error(403, "AccessDenied", "Access Denied")


def s3_error(status: int, code: str, message: str, bucket: str | None = None) -> Response:
    extra = f"<BucketName>{escape(bucket)}</BucketName>" if bucket else ""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>{extra}</Error>"
    )
    return Response(
        status, [("Content-Type", "application/xml"), ("Server", "AmazonS3")], body.encode()
    )


def _redirect(bucket: Bucket) -> Response:
    endpoint = f"{bucket.name}.s3.{bucket.region}.amazonaws.com"
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PermanentRedirect</Code>'
        "<Message>The bucket you are attempting to access must be addressed using the "
        "specified endpoint. Please send all future requests to this endpoint.</Message>"
        f"<Endpoint>{escape(endpoint)}</Endpoint><Bucket>{escape(bucket.name)}</Bucket></Error>"
    )
    headers = [
        ("Content-Type", "application/xml"),
        ("x-amz-bucket-region", bucket.region),
        ("Server", "AmazonS3"),
    ]
    return Response(301, headers, body.encode())


def _signed(request: Request) -> bool:
    query = request.query.lower()
    return request.header("Authorization") is not None or any(
        name in query for name in ("x-amz-signature=", "signature=", "x-amz-credential=")
    )


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _values(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _is_everyone(principal: Any) -> bool:
    if principal == "*":
        return True
    return isinstance(principal, dict) and "*" in _values(principal.get("AWS"))


def _matches(statement: Mapping[str, Any], action: str, resource: str) -> bool:
    if {"NotPrincipal", "NotAction", "NotResource"} & statement.keys():
        return False
    if not _is_everyone(statement.get("Principal")):
        return False
    actions = _values(statement.get("Action"))
    if not any(_glob(a.lower()).fullmatch(action.lower()) for a in actions):
        return False
    return any(_glob(r).fullmatch(resource) for r in _values(statement.get("Resource")))


def _conditions(condition: Any, *, secure: bool) -> bool | None:
    """Whether a statement's conditions hold: None when the sandbox cannot tell."""
    if not condition:
        return True
    if not isinstance(condition, dict):
        return None
    holds = True
    for operator, tests in condition.items():
        if operator != "Bool" or not isinstance(tests, dict):
            return None
        for name, expected in tests.items():
            if name.lower() != "aws:securetransport":
                return None
            given = expected if isinstance(expected, list) else [expected]
            wanted = {str(v).lower() for v in given}
            holds = holds and ("true" if secure else "false") in wanted
    return holds


@lru_cache(maxsize=256)
def _glob(pattern: str) -> re.Pattern[str]:
    """An IAM wildcard pattern: ``*`` any run of characters, ``?`` one."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.DOTALL)
