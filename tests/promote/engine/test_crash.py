"""Crash safety: kill -9 the engine at several points of a run and restart it each time.

The worker is a real process (``crash_worker``) on a real SQLite system database. Its fake
executor appends one line per execution to a file, then lingers, so most kills land while
a step is in flight: done, but not yet checkpointed. DBOS runs such a step again, so the
line written just before a kill may repeat once; every other effect must be executed
exactly once, and an approval sent just before a crash, or while no worker runs, counts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from promote.engine.journal import verify
from promote.engine.phases import ProjectPhase, RunPhase
from promote.engine.runs import RunControl
from promote.engine.status import RunStatus
from promote.engine.workflow import journal_path

ROOT = Path(__file__).resolve().parents[3]
EXPECTED = [
    "tables-check",
    "tables-deploy",
    "tables-smoke",
    "api-deploy",
    "api-create",
    "api-get",
    "gated-deploy",
    "after-deploy",
]


class Worker:
    def __init__(self, state: Path, effects: Path, mode: str) -> None:
        code = (
            "from tests.promote.engine import crash_worker; "
            f"crash_worker({str(state)!r}, {str(effects)!r}, {mode!r})"
        )
        self.process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def finish(self) -> int:
        return self.process.wait(timeout=60)


def effects_of(path: Path) -> list[str]:
    lines = path.read_text().splitlines() if path.exists() else []
    return [line.split(":", 1)[1] for line in lines]


def until(what: str, test: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if test():  # type: ignore[operator]
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_run_killed_at_five_points_ends_succeeded_with_each_effect_once(tmp_path: Path) -> None:
    state, effects = tmp_path / "state", tmp_path / "effects.log"
    control = RunControl(state)
    # The effects that may have been in flight at each kill: the last two written, since
    # api and gated run in parallel (one layer).
    in_flight: list[str] = []

    def kill_after(worker: Worker, count: int) -> None:
        until(f"{count} effects", lambda: len(set(effects_of(effects))) >= count)
        worker.kill()
        in_flight.extend(effects_of(effects)[-2:])

    def gated(status: RunStatus) -> ProjectPhase:
        return status.projects["gated"].phase

    kill_after(Worker(state, effects, "start"), 1)  # in the first project's precondition
    kill_after(Worker(state, effects, "resume"), 3)
    kill_after(Worker(state, effects, "resume"), 5)

    worker = Worker(state, effects, "resume")
    run_id = (state / "run_id").read_text()
    until("the approval wait", lambda: gated(control.status(run_id)).value == "WaitingForApproval")
    control.approve(run_id, "gated", "bob")
    worker.kill()  # right after the approval was sent: it must not be lost
    in_flight.extend(effects_of(effects)[-2:])
    control.approve(run_id, "gated", "dan")  # sent while no worker runs

    kill_after(Worker(state, effects, "resume"), 7)  # once the gated project deploys
    # api runs beside gated (one layer, in parallel), so what ran last before the kill varies.
    assert "gated-deploy" in effects_of(effects)
    assert Worker(state, effects, "resume").finish() == 0

    status = control.status(run_id)
    control.close()
    assert status.phase is RunPhase.SUCCEEDED, status
    assert status.projects["gated"].approvers == ["bob", "dan"]
    done = effects_of(effects)
    assert sorted(set(done)) == sorted(EXPECTED)
    repeats = Counter(done) - Counter(set(done))
    assert set(repeats) <= set(in_flight), f"completed effects ran again: {repeats}"
    assert all(n == 1 for n in repeats.values())
    journal = journal_path(state, run_id)
    assert verify(journal).ok
    events = [(e["kind"], e["project"]) for e in control.journal(run_id).events()]
    assert events.count(("approval.requested", "gated")) == 1
    assert events.count(("run.finished", None)) == 1
    # One result per executor call in the journal, whatever DBOS re-ran.
    results = [e for e in control.journal(run_id).events() if e["kind"].endswith(".result")]
    assert len(results) == len(EXPECTED)


def test_a_second_process_on_the_same_state_does_not_run_steps_in_flight_again(
    tmp_path: Path,
) -> None:
    """Two `promote` processes on one SQLite state directory (a run in each terminal): each
    is its own DBOS executor, so the second's launch leaves the first's steps alone."""
    state, effects = tmp_path / "state", tmp_path / "effects"
    effects.mkdir()
    url = f"sqlite:///{state / 'dbos.sqlite'}"
    env = {k: v for k, v in os.environ.items() if k != "PROMOTE_EXECUTOR_ID"}

    def worker(mode: str) -> subprocess.Popen[bytes]:
        code = (
            "from tests.promote.engine import pg_worker; "
            f"pg_worker({str(state)!r}, {url!r}, {mode!r}, {str(effects)!r})"
        )
        return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env)

    first = worker("parallel")  # two projects whose steps take 3 s
    until("a step in flight", lambda: any(p.read_text() for p in effects.glob("*.log")))
    second = worker("serve")
    assert first.wait(timeout=60) == 0 and second.wait(timeout=60) == 0
    done = [
        line.split(":", 1)[1] for path in effects.glob("*.log") for line in path.read_text().split()
    ]
    assert Counter(done) == {"left-deploy": 1, "right-deploy": 1}
