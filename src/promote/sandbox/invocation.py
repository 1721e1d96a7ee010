"""What the sandbox's parts share about running a Lambda function: a reference to it, the
record of one invocation, and the ports the gateway, the event sources and telemetry use.

The Lambda runtime (:mod:`promote.sandbox.runtime`) implements :class:`Invoker`; telemetry and
tests subscribe to finished invocations as :class:`InvocationListener`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any, Protocol

import boto3


class InvocationStatus(StrEnum):
    """How an invocation ended. Each maps to what API Gateway would answer."""

    OK = "ok"  # the handler returned
    FUNCTION_ERROR = "function_error"  # the handler raised (Lambda's "Unhandled"): 502
    THROTTLED = "throttled"  # no concurrency left (reserved concurrency reached): 429
    TIMED_OUT = "timed_out"  # the function's timeout passed; its worker was killed: 504
    RUNTIME_ERROR = "runtime_error"  # the code could not be loaded, or its worker died: 502

    @property
    def is_error(self) -> bool:
        return self is not InvocationStatus.OK


@dataclass(frozen=True)
class FunctionRef:
    """A function as a caller names it: ``qualifier`` is an alias, a version, ``$LATEST`` or
    None (the unqualified function, which runs ``$LATEST``)."""

    account_id: str
    region: str
    name: str
    qualifier: str | None = None

    @property
    def arn(self) -> str:
        base = f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.name}"
        return f"{base}:{self.qualifier}" if self.qualifier else base


@dataclass(frozen=True)
class Invocation:
    """One finished invocation, as the runtime saw it."""

    function: FunctionRef
    executed_version: str  # the version that ran: "$LATEST" or a number, as Lambda reports
    status: InvocationStatus
    # The handler's return value (decoded JSON) when OK; else Lambda's error shape,
    # {"errorMessage": ..., "errorType": ...}.
    payload: Any
    request_id: str
    started_at: float  # epoch seconds
    duration_ms: float  # time in the handler (0 when throttled)
    cold_start: bool = False  # a new worker imported the code for this invocation
    logs: tuple[str, ...] = field(default=())  # the lines the function printed, in order
    # The worker's CloudWatch Logs stream, as the function saw it (AWS_LAMBDA_LOG_STREAM_NAME,
    # context.log_stream_name); None when no worker ran (a throttle).
    log_stream: str | None = None


class Invoker(Protocol):
    def invoke(self, function: FunctionRef, event: Any) -> Invocation:
        """Run ``event`` through the function (resolving aliases and their weights)."""
        ...


class InvocationListener(Protocol):
    def __call__(self, invocation: Invocation) -> None:
        """Told of every finished invocation; must be quick (it runs on the caller's thread)."""
        ...


SANDBOX_ROLE = "promote-sandbox-deploy"
# boto3 sessions are not thread-safe while they make clients; the clients they make are.
_LOCK = threading.Lock()
_CLIENTS: dict[tuple[str, str, str, str], Any] = {}


def account_client(endpoint: str, account_id: str, region: str, service: str) -> Any:
    """A cached client of ``service`` acting in ``account_id`` (see account_session); safe
    to call from many threads."""
    key = (endpoint, account_id, region, service)
    with _LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            session = _session(endpoint, account_id, region)
            client = _CLIENTS[key] = session.client(service, endpoint_url=endpoint)  # type: ignore[call-overload]
        return client


def forget_sessions() -> None:
    """Drop cached sessions and clients: after the emulator is reset, the keys STS issued
    before are unknown to it (and moto would act with them in its default account)."""
    with _LOCK:
        _session.cache_clear()
        _CLIENTS.clear()


def account_session(endpoint: str, account_id: str, region: str) -> boto3.Session:
    """A boto3 session acting in ``account_id`` of the emulator at ``endpoint``.

    Moto puts credentials issued by STS AssumeRole into the role's account, so assuming any
    role there is enough. For the sandbox's own internals (telemetry, event sources, the CDN
    front), which act as AWS itself would. Prefer :func:`account_client` from threads."""
    with _LOCK:
        return _session(endpoint, account_id, region)


@lru_cache(maxsize=64)
def _session(endpoint: str, account_id: str, region: str) -> boto3.Session:
    from promote.sandbox.profiles import FAKE_KEY_ID, FAKE_SECRET

    sts = boto3.Session(
        aws_access_key_id=FAKE_KEY_ID, aws_secret_access_key=FAKE_SECRET, region_name=region
    ).client("sts", endpoint_url=endpoint)
    creds = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/{SANDBOX_ROLE}",
        RoleSessionName="promote-sandbox-internal",
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=region,
    )
