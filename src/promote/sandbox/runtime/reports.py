"""What Lambda writes around an invocation: its log lines and its error payloads."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

THROTTLED_ERROR = {"errorMessage": "Rate Exceeded.", "errorType": "TooManyRequestsException"}


@dataclass(frozen=True)
class Usage:
    """What the REPORT line tells of one invocation."""

    duration_ms: float
    memory_mb: int
    max_memory_mb: int
    init_ms: float | None = None  # set on a cold start


def framed(
    request_id: str,
    version: str,
    lines: Sequence[str],
    usage: Usage,
    init_lines: Sequence[str] = (),
) -> tuple[str, ...]:
    """The function's lines between START and END, then REPORT; a cold start's init output
    comes first, as Lambda logs it before START."""
    return (
        *init_lines,
        f"START RequestId: {request_id} Version: {version}",
        *lines,
        f"END RequestId: {request_id}",
        report_line(request_id, usage),
    )


def report_line(request_id: str, usage: Usage) -> str:
    fields = [
        f"REPORT RequestId: {request_id}",
        f"Duration: {usage.duration_ms:.2f} ms",
        f"Billed Duration: {max(1, math.ceil(usage.duration_ms))} ms",
        f"Memory Size: {usage.memory_mb} MB",
        f"Max Memory Used: {usage.max_memory_mb} MB",
    ]
    if usage.init_ms is not None:
        fields.append(f"Init Duration: {usage.init_ms:.2f} ms")
    return "\t".join(fields)


def timed_out(request_id: str, timeout_s: float) -> tuple[dict[str, Any], str]:
    """The payload and the log line of a timeout."""
    message = f"{request_id} Task timed out after {timeout_s:.2f} seconds"
    return {"errorMessage": message, "errorType": "Sandbox.Timedout"}, f"{_now()} {message}"


def exited(request_id: str, reason: str) -> tuple[dict[str, Any], str]:
    """The payload and the log line of a worker that died."""
    message = f"RequestId: {request_id} Error: {reason}"
    return {"errorMessage": message, "errorType": "Runtime.ExitError"}, f"{_now()} {message}"


def _now() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
