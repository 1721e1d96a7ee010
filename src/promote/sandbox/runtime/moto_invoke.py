"""Lambda's Invoke API (``aws lambda invoke``, boto3 ``invoke``) served by the sandbox's
runtime instead of moto's, which needs Docker.

Moto runs in this process, so its backend's ``invoke`` is replaced while a runtime is
attached: the function runs in the runtime's workers, with alias weights, timeouts and
throttles; ``X-Amz-Executed-Version`` names the version that ran; ``--log-type Tail`` returns
the last 4 KB of its log; ``Event`` invocations run in the background (202). One runtime per
process is attached at a time; :func:`detach` restores moto's own ``invoke`` (the
``Qualifier`` fix below stays: it is right either way).

Moto 5 also reads the ``Qualifier`` query parameter as ``qualifier`` only, so every client's
``--qualifier`` was ignored (the call ran ``$LATEST``); the response class learns the name
botocore sends.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from typing import Any

from promote.sandbox.invocation import FunctionRef, Invocation, InvocationStatus, Invoker

log = logging.getLogger(__name__)
_lock = threading.Lock()
_state: dict[str, Any] = {}  # "invoker": the attached runtime, "original": moto's invoke
TAIL_BYTES = 4096


def attach(invoker: Invoker) -> None:
    """Serve moto's Invoke API with ``invoker`` (idempotent; the last attached wins)."""
    from moto.awslambda.models import LambdaBackend
    from moto.awslambda.responses import LambdaResponse

    with _lock:
        _state["invoker"] = invoker
        if "original" not in _state:
            _state["original"] = LambdaBackend.invoke
            LambdaBackend.invoke = _invoke  # type: ignore[method-assign, assignment]
        if "response" not in _state:
            _state["response"] = original = LambdaResponse.invoke

            def invoke_response(self: Any) -> Any:
                found = self.querystring.get("Qualifier")
                if found and "qualifier" not in self.querystring:
                    self.querystring["qualifier"] = found
                return original(self)

            LambdaResponse.invoke = invoke_response  # type: ignore[method-assign]


def detach() -> None:
    from moto.awslambda.models import LambdaBackend

    with _lock:
        original = _state.pop("original", None)
        _state.pop("invoker", None)
        if original is not None:
            LambdaBackend.invoke = original  # type: ignore[method-assign]


def _invoke(
    backend: Any,
    function_name: str,
    qualifier: str | None,
    body: Any,
    headers: Any,
    response_headers: dict[str, str],
) -> bytes:
    with _lock:
        invoker: Invoker | None = _state.get("invoker")
        original = _state.get("original")
    if invoker is None:  # detached while this request was on its way
        return original(backend, function_name, qualifier, body, headers, response_headers)  # type: ignore[no-any-return, misc]
    backend.get_function(function_name, qualifier)  # moto's own "not found" answers
    ref = _reference(backend, function_name, qualifier)
    event = json.loads(body) if body else {}
    invocation_type = headers.get("X-Amz-Invocation-Type")
    if invocation_type == "DryRun":
        return b""  # the function exists and may be invoked: nothing runs
    if invocation_type == "Event":
        threading.Thread(target=_background, args=(invoker, ref, event), daemon=True).start()
        return b""
    invocation = invoker.invoke(ref, event)
    if invocation.status is InvocationStatus.THROTTLED:
        from moto.awslambda.exceptions import LambdaClientError

        throttled = LambdaClientError("TooManyRequestsException", "Rate Exceeded.")
        throttled.code = 429
        raise throttled
    response_headers["X-Amz-Executed-Version"] = invocation.executed_version
    if invocation.status.is_error:
        response_headers["x-amz-function-error"] = "Unhandled"
    if headers.get("X-Amz-Log-Type") == "Tail":
        tail = "\n".join(invocation.logs).encode()[-TAIL_BYTES:]
        response_headers["x-amz-log-result"] = base64.b64encode(tail).decode()
    payload = json.dumps(invocation.payload).encode()
    response_headers["Content-Length"] = str(len(payload))
    return payload


def _reference(backend: Any, function_name: str, qualifier: str | None) -> FunctionRef:
    """``name``, ``name:qualifier`` or an ARN, as the Invoke API accepts them."""
    name = function_name
    if name.startswith("arn:"):
        parts = name.split(":")
        name, qualifier = parts[6], (parts[7] if len(parts) > 7 else qualifier)
    elif ":" in name:
        name, _, qualifier = name.partition(":")
    return FunctionRef(backend.account_id, backend.region_name, name, qualifier)


def _background(invoker: Invoker, ref: FunctionRef, event: Any) -> None:
    try:
        result: Invocation = invoker.invoke(ref, event)
    except Exception:
        log.warning("asynchronous invocation of %s failed", ref.arn, exc_info=True)
        return
    if result.status.is_error:
        log.info("asynchronous invocation of %s: %s", ref.arn, result.status.value)
