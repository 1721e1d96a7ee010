"""Which DBOS executor a worker is, and whose unfinished runs it takes over.

At launch DBOS resumes the unfinished work of its own executor id. Were every process the
same id, a second `promote run` next to a first would resume the first's steps while they
are still running, and do them twice. So, unless told otherwise, a worker's id names its
process (``host:pid:start``), and a worker that starts takes over the runs of the workers of
this host that are gone (a crash, ``kill -9``): they are resumed once, by a live process.

Workers on other hosts (a shared ``postgresql://`` database) are not this host's to judge:
give each a name (``--executor-id`` or ``PROMOTE_EXECUTOR_ID``), keep it across restarts so a
restarted worker resumes its own runs, and take over a dead one's with ``--recover ID``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable

from promote.processes import alive, start_ticks

EXECUTOR_ID_VARIABLE = "PROMOTE_EXECUTOR_ID"
LEGACY = "local"  # DBOS's default id, which runs of earlier versions carry


def own_id(explicit: str | None = None) -> str:
    named = explicit or os.environ.get(EXECUTOR_ID_VARIABLE)
    if named:
        return named
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{start_ticks(pid) or 0}"


def gone(executor_ids: Iterable[str], own: str) -> list[str]:
    """The ids among ``executor_ids`` of this host's workers that no longer run."""
    host = socket.gethostname()
    found = []
    for executor in set(executor_ids):
        if executor == own:
            continue
        if executor == LEGACY:
            found.append(executor)
            continue
        name, _, rest = executor.partition(":")
        pid, _, started = rest.partition(":")
        if name == host and pid.isdigit() and not alive(int(pid), started or None):
            found.append(executor)
    return sorted(found)
