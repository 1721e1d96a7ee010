"""The runtime's side of the fork server (:mod:`zygote`): workers forked from a process that
has already imported what Lambda's Python runtime and the Powertools layer provide.

A fork costs milliseconds; an interpreter that imports boto3, Powertools and pydantic costs
about 0.6 s of CPU. When a new version takes its first requests, the runtime starts several
workers at once; from scratch, they would take a small machine's cores from the traffic the
stable version is serving, and that traffic would time out. Functions that bring their own
copy of a preloaded library are started from scratch, so they import their own.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

ZYGOTE_SCRIPT = str(Path(__file__).with_name("zygote.py"))
# What Lambda's Python runtime ships (boto3 and its dependencies) and what the Powertools
# layer brings (with pydantic, for its OpenAPI validation).
PRELOADED = (
    "boto3",
    "botocore.session",
    "s3transfer.manager",
    "pydantic",
    "aws_lambda_powertools",
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.event_handler.openapi.models",
    "aws_lambda_powertools.logging",
    "aws_lambda_powertools.metrics",
)
START_TIMEOUT_S = 30.0  # the imports, on a loaded machine
FORK_TIMEOUT_S = 10.0

log = logging.getLogger(__name__)


class ForkFailed(Exception):
    """The fork server could not start a worker (it is gone, or the fork failed)."""


class ForkServer:
    """One zygote process and the socket to it. Thread-safe."""

    def __init__(
        self, stderr: IO[bytes], env: Mapping[str, str], preload: Sequence[str] = PRELOADED
    ) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._socket = ours
        self._changed = threading.Condition()
        self._replies: dict[int, dict[str, Any]] = {}
        self._exits: dict[int, int] = {}
        self._modules: frozenset[str] | None = None
        self._gone = False
        self._ids = itertools.count(1)
        try:
            self._process = subprocess.Popen(
                [sys.executable, ZYGOTE_SCRIPT, str(theirs.fileno()), ",".join(preload)],
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
            )
        finally:
            theirs.close()
        self._reader = threading.Thread(target=self._read, name="lambda-forkserver", daemon=True)
        self._reader.start()

    def serves(self, task_root: Path) -> bool:
        """Whether a worker for this code may be forked: the server is up, and the code
        brings no copy of a library the server has loaded. Waits for the server's imports."""
        with self._changed:
            self._changed.wait_for(lambda: self._modules is not None or self._gone, START_TIMEOUT_S)
            modules, gone = self._modules, self._gone
        if gone or modules is None:
            return False
        try:
            shipped = {entry.removesuffix(".py") for entry in os.listdir(task_root)}
        except OSError:
            return False
        return not shipped & modules

    def fork(self, cwd: Path, env: Mapping[str, str], fds: tuple[int, int, int]) -> ForkedProcess:
        """A worker on the request pipe, reply pipe and stderr in ``fds`` (the caller keeps and
        closes its copies). Raises :class:`ForkFailed`."""
        request_id = next(self._ids)
        message = json.dumps({"id": request_id, "cwd": str(cwd), "env": dict(env)}).encode()
        try:
            socket.send_fds(self._socket, [message], list(fds))
        except OSError as error:
            raise ForkFailed(f"the fork server is gone: {error}") from error
        with self._changed:
            self._changed.wait_for(
                lambda: request_id in self._replies or self._gone, FORK_TIMEOUT_S
            )
            reply = self._replies.pop(request_id, None)
        if reply is None:
            raise ForkFailed("the fork server did not answer")
        if "pid" not in reply:
            raise ForkFailed(f"the fork failed: {reply.get('error')}")
        return ForkedProcess(self, int(reply["pid"]))

    def exit_code(self, pid: int, timeout: float | None) -> int | None:
        """The worker's exit code once it has ended (None after ``timeout``). Once the server
        is gone nobody can tell: a worker that no longer exists counts as killed."""
        with self._changed:
            self._changed.wait_for(lambda: pid in self._exits or self._gone, timeout)
            if pid in self._exits:
                return self._exits[pid]
            gone = self._gone
        return -signal.SIGKILL if gone and not _exists(pid) else None

    def forget(self, pid: int) -> None:
        with self._changed:
            self._exits.pop(pid, None)

    def close(self) -> None:
        """End the server (its workers live on until their pipes close); idempotent."""
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)
        try:
            self._process.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._reader.join()
        self._socket.close()

    def _read(self) -> None:
        try:
            while message := self._socket.recv(1 << 20):
                self._take(json.loads(message))
        except OSError:
            pass
        finally:
            with self._changed:
                self._gone = True
                self._changed.notify_all()

    def _take(self, message: dict[str, Any]) -> None:
        with self._changed:
            if "exited" in message:
                self._exits[int(message["exited"])] = int(message["code"])
            elif "ready" in message:
                self._modules = frozenset(message["modules"])
            else:
                self._replies[int(message["id"])] = message
            self._changed.notify_all()


class ForkedProcess:
    """A worker the fork server started: what :class:`subprocess.Popen` offers for it, though
    it is the server's child, not ours."""

    def __init__(self, server: ForkServer, pid: int) -> None:
        self.pid = pid
        self._server = server
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._server.exit_code(self.pid, 0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            code = self._server.exit_code(self.pid, timeout)
            if code is None:
                raise subprocess.TimeoutExpired(ZYGOTE_SCRIPT, timeout or 0.0)
            self.returncode = code
            self._server.forget(self.pid)
        return self.returncode


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
