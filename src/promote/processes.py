"""Processes of this machine, as /proc names them: a pid with its start time names one
process, so a recycled pid is never taken for the one that is gone."""

from __future__ import annotations

import os
from pathlib import Path


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name: [state, ppid, ...]; None without /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def start_ticks(pid: int) -> str | None:
    """When the process started (clock ticks since boot, field 22): with the pid, it names
    one process."""
    fields = _stat(pid)
    return fields[19] if fields else None


def alive(pid: int, started: str | None = None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: /proc still tells whether it is ours
    fields = _stat(pid)
    if fields is None:
        return True
    if fields[0] in {"Z", "X"}:
        return False  # exited; its parent has not reaped it yet
    return started is None or fields[19] == started
