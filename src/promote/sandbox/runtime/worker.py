"""One execution environment of a function: the process the runtime starts per worker.

It imports only the standard library, so a cold start costs the interpreter plus the
function's own imports. The runtime runs it as a script (``-m`` would import the ``promote``
package, and with it boto3 and pydantic)::

    python worker.py REQUEST_FD RESPONSE_FD

Each message on either pipe is a frame: a 4-byte big-endian length, then that many bytes of
UTF-8 JSON. One request at a time, as Lambda gives each execution environment:

1. Init: import the handler, then answer ``{"ready": true, "logs": [...]}``; or, when the code
   cannot be loaded, ``{"ready": false, "error": {...}, "logs": [...]}`` and exit.
2. Then, per request ``{"id", "event", "arn", "timeout_ms"}``, answer
   ``{"ok", "payload", "duration_ms", "max_memory_mb", "logs"}``. ``ok`` is false when the
   handler raised or its result could not be marshalled; the worker lives on.

End of file on the request pipe ends the worker.
"""

from __future__ import annotations

import decimal
import importlib
import io
import json
import logging
import os
import resource
import struct
import sys
import time
import traceback
from collections.abc import Callable
from typing import IO, Any

HEADER = struct.Struct(">I")
Handler = Callable[[Any, Any], Any]


def encode_frame(message: Any) -> bytes:
    body = json.dumps(message, default=_json_default).encode()
    return HEADER.pack(len(body)) + body


def _json_default(value: object) -> Any:
    # Lambda's Python runtime marshals Decimal (what DynamoDB returns) as a number.
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _read_frame(stream: IO[bytes]) -> Any:
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (length,) = HEADER.unpack(header)
    return json.loads(stream.read(length))


def _write_frame(stream: IO[bytes], frame: bytes) -> None:
    stream.write(frame)
    stream.flush()


class _Capture(io.StringIO):
    """Stands in for sys.stdout and sys.stderr for the whole life of the process, so that
    handlers bound to the stream at import time (Powertools' Logger binds one) are captured
    too. Both streams share one sink, which keeps their lines in order."""

    def __init__(self, sink: list[str]) -> None:
        super().__init__()
        self._sink = sink

    def write(self, text: str) -> int:
        self._sink.append(text)
        return len(text)


def _drain(sink: list[str]) -> list[str]:
    chunks = sink[:]
    # Not sink.clear(): a thread of the function may have written since the copy.
    del sink[: len(chunks)]
    return "".join(chunks).splitlines()


class _RequestIds(logging.Filter):
    """Puts the current request id on log records, as Lambda's root log handler does."""

    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


def _install_root_handler() -> _RequestIds:
    ids = _RequestIds()
    handler = logging.StreamHandler(sys.stdout)
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
        "%Y-%m-%dT%H:%M:%S",
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(ids)
    logging.getLogger().addHandler(handler)
    return ids


class _Fault(Exception):
    """The code could not be loaded, in the words of Lambda's Python runtime."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error = {"errorMessage": message, "errorType": error_type, "stackTrace": trace or []}


def _load(handler: str) -> Handler:
    module_name, _, function_name = handler.rpartition(".")
    if not module_name:
        raise _Fault(
            "Runtime.MalformedHandlerName",
            f"Bad handler '{handler}': not enough values to unpack (expected 2, got 1)",
        )
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as error:
        message = f"Unable to import module '{module_name}': {error}"
        raise _Fault("Runtime.ImportModuleError", message) from error
    except SyntaxError as error:
        trace = [f'  File "{error.filename}" Line {error.lineno}\n    {error.text}']
        message = f"Syntax error in module '{module_name}': {error}"
        raise _Fault("Runtime.UserCodeSyntaxError", message, trace) from error
    loaded = getattr(module, function_name, None)
    if not callable(loaded):
        message = f"Handler '{function_name}' missing on module '{module_name}'"
        raise _Fault("Runtime.HandlerNotFound", message)
    return loaded  # type: ignore[no-any-return]


def _error(error: BaseException, request_id: str = "") -> dict[str, Any]:
    """Lambda's error shape; the stack starts below the worker's own frame."""
    below = error.__traceback__.tb_next if error.__traceback__ else None
    return {
        "errorMessage": str(error),
        "errorType": type(error).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_list(traceback.extract_tb(below)),
    }


def _log_error(error: dict[str, Any]) -> None:
    """Print the error as Lambda's runtime logs it."""
    trace = "".join(error.get("stackTrace", []))
    print(f"[ERROR] {error['errorType']}: {error['errorMessage']}")
    if trace:
        print("Traceback (most recent call last):\n" + trace.rstrip("\n"))


class LambdaContext:
    """The context object handlers receive (``memory_limit_in_mb`` is a string, as in Lambda)."""

    def __init__(self, request: dict[str, Any]) -> None:
        env = os.environ
        self.function_name = env["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = env["AWS_LAMBDA_FUNCTION_VERSION"]
        self.memory_limit_in_mb = env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
        self.log_group_name = env["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = env["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.invoked_function_arn: str = request["arn"]
        self.aws_request_id: str = request["id"]
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + request["timeout_ms"] / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _max_memory_mb() -> int:
    # VmHWM, not ru_maxrss: that one survives exec, so it counts the sandbox's own memory.
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) // 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def _invoke(handler: Handler, request: dict[str, Any], sink: list[str]) -> bytes:
    context = LambdaContext(request)
    started = time.perf_counter()
    try:
        payload, ok = handler(request["event"], context), True
    except Exception as raised:
        payload, ok = _error(raised, context.aws_request_id), False
        _log_error(payload)
    reply = {
        "ok": ok,
        "payload": payload,
        "duration_ms": (time.perf_counter() - started) * 1000,
        "max_memory_mb": _max_memory_mb(),
    }
    try:
        return encode_frame({**reply, "logs": _drain(sink)})
    except (TypeError, ValueError, RecursionError) as unmarshallable:
        error = {
            "errorMessage": f"Unable to marshal response: {unmarshallable}",
            "errorType": "Runtime.MarshalError",
            "requestId": context.aws_request_id,
            "stackTrace": [],
        }
        _log_error(error)
        return encode_frame({**reply, "ok": False, "payload": error, "logs": _drain(sink)})


def main(argv: list[str]) -> int:
    requests = os.fdopen(int(argv[1]), "rb")
    responses = os.fdopen(int(argv[2]), "wb")
    sink: list[str] = []
    sys.stdout = _Capture(sink)
    sys.stderr = _Capture(sink)
    sys.argv = argv[:1]
    # The function's code first, as /var/task is in Lambda; not this file's directory.
    sys.path[0] = os.environ["LAMBDA_TASK_ROOT"]
    ids = _install_root_handler()
    try:
        handler = _load(os.environ["_HANDLER"])
    except _Fault as fault:
        init_error = fault.error
    except Exception as raised:
        init_error = _error(raised)
    else:
        _write_frame(responses, encode_frame({"ready": True, "logs": _drain(sink)}))
        while (request := _read_frame(requests)) is not None:
            ids.request_id = request["id"]
            _write_frame(responses, _invoke(handler, request, sink))
        return 0
    _log_error(init_error)
    frame = encode_frame({"ready": False, "error": init_error, "logs": _drain(sink)})
    _write_frame(responses, frame)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
