"""Several workers share one Postgres system database.

A throwaway Postgres cluster per module (as an unprivileged user when run as root), a new
database per test; worker processes (``pg_worker``) run engines on it with fake executors
that write their effects to one file per process. A worker killed while a project waits for
approval is replaced by another process with its id (a restart) or by a worker that takes
over its runs (``recover``), and approvals sent from this process reach it; two live workers,
each with its own executor id, share a run's queue, and one that joins mid-run does not run
the other's steps again (DBOS resumes at launch only the work of its own id).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from promote.engine.journal import verify
from promote.engine.phases import RunPhase
from promote.engine.runs import RunControl
from promote.engine.workflow import journal_path

ROOT = Path(__file__).resolve().parents[3]
# initdb refuses to run as root; these own the cluster instead, the first that works.
UNPRIVILEGED = ("postgres", "nobody")

if shutil.which("initdb") is None or shutil.which("pg_ctl") is None:
    pytest.skip(
        "no initdb/pg_ctl on PATH: these tests need a Postgres install", allow_module_level=True
    )


def _as_user(user: str | None) -> Callable[[list[str]], list[str]]:
    if user is None:
        return lambda command: command
    if shutil.which("runuser"):
        return lambda command: ["runuser", "-u", user, "--", *command]
    return lambda command: ["su", "-s", "/bin/sh", user, "-c", subprocess.list2cmdline(command)]


def _cluster_owner() -> str | None:
    """None when this process may run Postgres itself; else an unprivileged user who can.
    Skips the module when root finds none."""
    if os.geteuid() != 0:
        return None
    for user in UNPRIVILEGED:
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        probe = subprocess.run(_as_user(user)(["initdb", "--version"]), capture_output=True)
        if probe.returncode == 0:
            return user
    pytest.skip(f"running as root and no unprivileged user of {UNPRIVILEGED} can run initdb")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _must(command: list[str], log: Path | None = None) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        tail = log.read_text()[-2000:] if log is not None and log.exists() else ""
        raise RuntimeError(f"{command} failed ({done.returncode}): {done.stderr}{tail}")


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """The ``postgresql://`` URL of a throwaway cluster's server, stopped at the end."""
    user = _cluster_owner()
    run = _as_user(user)
    # Not under pytest's tmp_path: that is private to root, and the cluster's owner must
    # reach its data and socket directories.
    base = Path(tempfile.mkdtemp(prefix="promote-pg-"))
    if user is not None:
        shutil.chown(base, user)
    data, log, port = base / "pg", base / "log", _free_port()
    try:
        _must(run(["initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-N"]))
        options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1"
        _must(run(["pg_ctl", "-D", str(data), "-l", str(log), "-o", options, "-w", "start"]), log)
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}"
        finally:
            subprocess.run(
                run(["pg_ctl", "-D", str(data), "-m", "immediate", "stop"]), capture_output=True
            )
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def database_url(cluster: str) -> str:
    """A new database per test: a run a failed test leaves pending is not resumed by the
    next test's workers."""
    import psycopg

    name = f"promote_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{cluster}/postgres", autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return f"{cluster}/{name}"


class Worker:
    def __init__(
        self,
        state: Path,
        database_url: str,
        mode: str,
        effects: Path,
        executor_id: str,
        recover: str = "",
    ) -> None:
        code = (
            "from tests.promote.engine import pg_worker; "
            f"pg_worker({str(state)!r}, {database_url!r}, {mode!r}, {str(effects)!r}, "
            f"{recover!r})"
        )
        env = {**os.environ, "PROMOTE_EXECUTOR_ID": executor_id}
        self.process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env)
        self.pid = self.process.pid

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def finish(self) -> int:
        return self.process.wait(timeout=60)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.kill()


def effects_by_pid(directory: Path) -> dict[int, list[str]]:
    """The items each worker process executed, from the files its fake executor wrote."""
    return {
        int(path.stem): [line.split(":", 1)[1] for line in path.read_text().splitlines()]
        for path in directory.glob("*.log")
    }


def until(what: str, test: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if test():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _ready(effects: Path, worker: Worker) -> Callable[[], bool]:
    return (effects / f"{worker.pid}.ready").exists


@pytest.mark.parametrize(
    ("b_id", "recover"), [("a", ""), ("b", "a")], ids=["restarted with its id", "taken over"]
)
def test_a_worker_killed_waiting_for_approval_is_replaced_by_another_process(
    database_url: str, tmp_path: Path, b_id: str, recover: str
) -> None:
    state, effects = tmp_path / "state", tmp_path / "effects"
    effects.mkdir()
    control = RunControl(state, database_url)
    workers: list[Worker] = []
    try:
        a = Worker(state, database_url, "start", effects, "a")
        workers.append(a)
        until("the run", (state / "run_id").exists)
        run_id = (state / "run_id").read_text()
        until("the approval wait", lambda: control.status(run_id).waiting() != {})
        a.kill()
        control.approve(run_id, "gated", "bob")  # while no worker runs: it waits in Postgres
        b = Worker(state, database_url, "resume", effects, b_id, recover)
        workers.append(b)
        until("worker B", _ready(effects, b))
        control.approve(run_id, "gated", "dan")  # to the live worker B
        assert b.finish() == 0
        status = control.status(run_id)
    finally:
        for worker in workers:
            worker.stop()
        control.close()
    assert status.phase is RunPhase.SUCCEEDED, status
    assert status.projects["gated"].approvers == ["bob", "dan"]
    ran = effects_by_pid(effects)
    assert ran == {a.pid: ["tables-deploy"], b.pid: ["gated-deploy", "after-deploy"]}
    assert verify(journal_path(state, run_id)).ok


def _running(run: list[dict[str, Any]], name: str) -> tuple[datetime, datetime]:
    """When project ``name`` started running and when its step's result was journaled."""
    start = next(e for e in run if e["project"] == name and e["kind"] == "project.phase")
    end = next(e for e in run if e["project"] == name and e["kind"] == "step.result")
    return datetime.fromisoformat(start["time"]), datetime.fromisoformat(end["time"])


def test_two_live_workers_share_the_queue_of_a_run(database_url: str, tmp_path: Path) -> None:
    state, effects = tmp_path / "state", tmp_path / "effects"
    effects.mkdir()
    control = RunControl(state, database_url)
    workers: list[Worker] = []
    try:
        # B launches first, so neither launch finds a pending run to resume (see below).
        b = Worker(state, database_url, "serve", effects, "b")
        workers.append(b)
        until("worker B", _ready(effects, b))
        a = Worker(state, database_url, "parallel", effects, "a")
        workers.append(a)
        assert a.finish() == 0
        assert b.finish() == 0  # B served until the run ended
        run_id = (state / "run_id").read_text()
        status = control.status(run_id)
    finally:
        for worker in workers:
            worker.stop()
        control.close()
    assert status.phase is RunPhase.SUCCEEDED, status
    ran = effects_by_pid(effects)
    assert set(ran) <= {a.pid, b.pid}
    # Whichever worker polled the queue first took a project; each ran once, in one process.
    assert Counter(e for done in ran.values() for e in done) == {
        "left-deploy": 1,
        "right-deploy": 1,
    }
    assert verify(journal_path(state, run_id)).ok
    # Side by side: each started before the other's 3 s step ended.
    events = control.journal(run_id).events()
    (left_start, left_end), (right_start, right_end) = (
        _running(events, n) for n in ("left", "right")
    )
    assert left_start < right_end and right_start < left_end, events


def test_a_worker_joining_mid_run_does_not_run_steps_again(
    database_url: str, tmp_path: Path
) -> None:
    state, effects = tmp_path / "state", tmp_path / "effects"
    effects.mkdir()
    control = RunControl(state, database_url)
    workers: list[Worker] = []
    try:
        a = Worker(state, database_url, "parallel", effects, "a")
        workers.append(a)
        until("a step in flight", lambda: bool(effects_by_pid(effects).get(a.pid)))
        in_flight = time.monotonic()
        b = Worker(state, database_url, "serve", effects, "b")  # its own id, as it must
        workers.append(b)
        until("worker B", _ready(effects, b))
        if time.monotonic() - in_flight > 2.5:
            pytest.skip("B launched after A's 3 s steps could have ended; nothing to show")
        assert a.finish() == 0
        assert b.finish() == 0
        run_id = (state / "run_id").read_text()
        status = control.status(run_id)
    finally:
        for worker in workers:
            worker.stop()
        control.close()
    assert status.phase is RunPhase.SUCCEEDED, status
    assert verify(journal_path(state, run_id)).ok  # keyed appends hide the re-runs here
    ran = effects_by_pid(effects)
    assert Counter(e for done in ran.values() for e in done) == {
        "left-deploy": 1,
        "right-deploy": 1,
    }
