"""The fork server's process: it imports, once, the libraries Lambda's Python runtime and the
Powertools layer provide, then forks one worker (:mod:`worker`) per request.

A worker started from scratch spends about 0.6 s of CPU importing boto3, Powertools and
pydantic before the function's own code; a fork of this process starts with them loaded.
That matters when a new version takes traffic: a burst of cold starts at once would
otherwise take both cores of a small machine from the traffic already flowing. The runtime
runs it as a script, as it runs :mod:`worker`::

    python zygote.py CONTROL_FD MODULE[,MODULE...]

CONTROL_FD is a ``SOCK_SEQPACKET`` socket; each message is one JSON object.

- In: ``{"id", "cwd", "env"}`` with three file descriptors attached: the worker's request
  pipe, its reply pipe and its stderr. The fork runs :func:`worker.main` on them in a
  session of its own, in ``cwd``, with exactly ``env`` as its environment.
- Out: ``{"ready": true, "modules": [...]}`` once, the top-level packages it has loaded (a
  function that ships its own copy of one must not be forked from here); then
  ``{"id", "pid"}`` per fork, or ``{"id", "error"}``; and ``{"exited": pid, "code": N}``
  when a worker ends (``N`` as ``Popen.returncode``: negative for a signal).

End of file on CONTROL_FD ends the server; its workers live on until their pipes close.
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import select
import signal
import socket
import sys
import time
import traceback
from typing import Any

import worker  # type: ignore[import-not-found]  # this file's directory, as a script

MAX_MESSAGE = 1 << 20
MAX_FDS = 3


def main(argv: list[str]) -> int:
    control = socket.socket(fileno=int(argv[1]))
    modules = _preload(argv[2].split(",") if len(argv) > 2 and argv[2] else [])
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    _send(control, {"ready": True, "modules": modules})
    while True:
        readable, _, _ = select.select([control.fileno(), wake_read], [], [])
        if wake_read in readable:
            os.read(wake_read, 4096)
            _report_exits(control)
        if control.fileno() in readable:
            message, fds, _, _ = socket.recv_fds(control, MAX_MESSAGE, MAX_FDS)
            if not message:
                return 0
            request = json.loads(message)
            try:
                pid = _fork(request, fds, (control.fileno(), wake_read, wake_write))
            except OSError as error:
                _send(control, {"id": request["id"], "error": str(error)})
            else:
                _send(control, {"id": request["id"], "pid": pid})
            finally:
                for fd in fds:
                    os.close(fd)


def _preload(names: list[str]) -> list[str]:
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as error:  # what is missing is imported by the function, if it can
            print(f"zygote: cannot preload {name}: {error}", file=sys.stderr)
    stdlib = sys.stdlib_module_names
    return sorted({m.partition(".")[0] for m in sys.modules} - stdlib - {"__main__", "worker"})


def _send(control: socket.socket, message: dict[str, Any]) -> None:
    control.send(json.dumps(message).encode())


def _report_exits(control: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _send(control, {"exited": pid, "code": os.waitstatus_to_exitcode(status)})


def _fork(request: dict[str, Any], fds: list[int], own: tuple[int, ...]) -> int:
    if len(fds) != MAX_FDS:
        raise OSError(f"expected {MAX_FDS} file descriptors, got {len(fds)}")
    pid = os.fork()
    if pid:
        return pid
    try:  # the worker: nothing here may return into the server's loop
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in own:
            os.close(fd)
        code = _become_worker(request, *fds)
    except BaseException:
        traceback.print_exc()
        code = 1
    os._exit(code)


def _become_worker(request: dict[str, Any], requests: int, replies: int, stderr: int) -> int:
    os.setsid()  # its own process group, which a timeout kills whole
    os.dup2(stderr, 2)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    os.close(stderr)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()
    try:
        code = worker.main([worker.__file__, str(requests), str(replies)])
    except SystemExit as exit_:
        code = _exit_code(exit_.code)
    atexit._run_exitfuncs()
    for stream in (sys.__stdout__, sys.__stderr__):
        if stream is not None:
            stream.flush()
    return int(code)


def _exit_code(code: object) -> int:
    """As the interpreter turns ``sys.exit(code)`` into an exit status."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.__stderr__)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
