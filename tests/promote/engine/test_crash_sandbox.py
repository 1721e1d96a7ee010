"""Crash safety in the sandbox: a promotion into sit, its engine killed with SIGKILL at 20
random points of the run and restarted each time, ends Succeeded with every effect once.

The estate (:mod:`tests.promote.engine.sandbox_estate`) has two Lambda APIs, beta after
alpha, each gated in sit by a Tech Lead and a DevOps Lead and shifted by a three-stage
canary. This process serves the sandbox (moto, the Lambda runtime, the HTTPS gateway) and
plays the approvers; the engine is the real CLI in subprocesses: ``promote run dev`` once
without harm, then ``promote run sit``, killed, then ``promote worker --until-idle`` again
and again, each killed in turn.

The kill points are journal positions: the engine is killed as soon as the run's journal
holds N events, for 20 distinct N drawn (seeded, the seed printed; ``PROMOTE_CRASH_SEED``
replays one) over the events a run into sit has. When the journal got past the next N
before a kill landed, the next worker is killed during its recovery instead, after a random
delay. Approvals are sent from here: one right before a kill and one while no worker runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promote.engine.journal import verify
from promote.engine.ledger import Ledger
from promote.engine.phases import RunPhase
from promote.engine.runs import RunControl
from promote.engine.workflow import journal_path
from tests.promote.engine.sandbox_estate import (
    ALIAS,
    PROJECTS,
    load,
    serving,
    session,
    write_estate,
)
from tests.promote.sandbox.functions import deploy, point_alias

ROOT = Path(__file__).resolve().parents[3]
PROMOTE = [sys.executable, "-m", "promote"]
KILLS = 20
STARTED_BY = "ann"  # a Tech Lead: four-eyes keeps her from approving her own run
APPROVERS = ("bob", "dan")  # the other Tech Lead, a DevOps Lead
CANARY_WEIGHTS = [10, 50, 100]
TIME_SCALE = "0.01"  # the canary's 20 s bakes take 0.2 s
# What a run into sit journals beyond one into dev, per project: the approval gate
# (requested, a wait and an approval per person, running again) and each canary stage's
# shift and bake.
SIT_EXTRA_EVENTS = (1 + 2 * len(APPROVERS) + 1) + 2 * len(CANARY_WEIGHTS)
SEED_SOURCE = """
import json

def handler(event, context):
    return {"statusCode": 200, "body": json.dumps({"release": "before"})}
"""


class EngineProcess:
    """One engine process (``promote run`` or ``promote worker``), in a session of its own,
    its output in a log file."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.log = log
        self.started = time.monotonic()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [*PROMOTE, *args],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def alive(self) -> bool:
        return self.process.poll() is None

    def launched(self) -> bool:
        """DBOS has launched (so it is recovering the run)."""
        return b"worker on" in self.log.read_bytes()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Crashes:
    """Drives the run into sit through its kills and approvals; what happened, for the
    assertions and for a reader of a failure."""

    control: RunControl
    run_id: str
    journal: Path
    points: list[int]  # journal lengths still to kill at, ascending
    rng: random.Random
    restart: Callable[[int], EngineProcess]
    kills: list[str] = field(default_factory=list)
    approvals: list[str] = field(default_factory=list)
    sent: dict[str, list[str]] = field(default_factory=dict)
    approved_then_killed: bool = False
    approved_while_down: bool = False

    def events(self) -> int:
        try:
            return self.journal.read_bytes().count(b"\n")
        except FileNotFoundError:
            return 0

    def drive(self, engine: EngineProcess, deadline: float) -> EngineProcess:
        """Kills at every point, then returns the engine that is to finish the run."""
        seen = -1
        recovery: float | None = None  # the delay of a kill in the recovery, once launched
        launched_at: float | None = None
        while self.points:
            assert time.monotonic() < deadline, f"timed out; kills so far: {self.kills}"
            if not engine.alive():
                raise AssertionError(
                    f"the engine exited ({engine.process.returncode}) with kills left at "
                    f"{self.points}; kills: {self.kills}\n{engine.output()}"
                )
            count = self.events()
            if recovery is not None:
                if launched_at is None and engine.launched():
                    launched_at = time.monotonic()
                if launched_at is not None and time.monotonic() - launched_at >= recovery:
                    engine = self.crash(engine, f"recovering at {count}", self.points.pop(0))
                    recovery, launched_at = self.recovery_delay(), None
                    continue
            elif count >= self.points[0]:
                engine = self.crash(engine, f"at {count}", self.points.pop(0))
                recovery, launched_at = self.recovery_delay(), None
                continue
            if count != seen:
                seen = count
                if self.approve_waiting(down=False):
                    engine = self.crash(engine, f"right after an approval at {count}", None)
                    recovery, launched_at = self.recovery_delay(), None
                    continue
            time.sleep(0.002)
        return engine

    def recovery_delay(self) -> float | None:
        """When the journal got past the next point before the last kill landed, the next
        worker is killed in its recovery: this long after DBOS launched (None otherwise)."""
        if self.points and self.points[0] <= self.events():
            return self.rng.uniform(0.0, 0.1)
        return None

    def crash(self, engine: EngineProcess, what: str, point: int | None) -> EngineProcess:
        engine.kill()
        self.kills.append(what if point is None else f"{what} (point {point})")
        # While no worker runs: decisions wait in the system database.
        self.approve_waiting(down=True)
        return self.restart(len(self.kills))

    def approve_waiting(self, down: bool) -> bool:
        """Approves, as the next person, each project that waits; returns whether the
        worker is to be killed right after (once in the test, with the worker up)."""
        status = self.control.status(self.run_id)
        approved = False
        for project, entry in status.projects.items():
            sent = self.sent.setdefault(project, [])
            if not entry.waiting_for or len(sent) == len(APPROVERS):
                continue
            person = APPROVERS[len(sent)]
            self.control.approve(self.run_id, project, person, "crash test")
            sent.append(person)
            self.approvals.append(f"{person} approves {project} ({'down' if down else 'up'})")
            self.approved_while_down |= down
            approved = True
        if approved and not down and not self.approved_then_killed:
            self.approved_then_killed = True
            return True
        return False


def cli(head: list[str], estate_dir: Path, sandbox_dir: Path, state: Path) -> list[str]:
    """``promote <head> ESTATE`` in the sandbox, with the test's state directory."""
    return [
        *head,
        str(estate_dir),
        "--sandbox",
        "--sandbox-state-dir",
        str(sandbox_dir),
        "--state-dir",
        str(state),
    ]


def events_of(control: RunControl, run_id: str) -> list[dict[str, Any]]:
    return control.journal(run_id).events()


def test_a_sandbox_promotion_killed_at_twenty_points_ends_succeeded_with_each_effect_once(
    tmp_path: Path,
) -> None:
    seed = int(os.environ.get("PROMOTE_CRASH_SEED") or random.SystemRandom().randrange(2**32))
    print(f"\ncrash seed {seed} (PROMOTE_CRASH_SEED={seed} replays it)")
    rng = random.Random(seed)
    started = time.monotonic()
    estate_dir = write_estate(tmp_path / "estate")
    estate = load(estate_dir)
    sandbox_dir, state, logs = tmp_path / "sandbox", tmp_path / "engine", tmp_path / "logs"
    logs.mkdir()
    engines: list[EngineProcess] = []

    def start(args: list[str], name: str) -> EngineProcess:
        engine = EngineProcess(args, logs / f"{name}.log")
        engines.append(engine)
        return engine

    control = RunControl(state)
    try:
        with serving(estate, estate_dir, sandbox_dir):
            # dev, undisturbed: builds the releases and is the baseline of the journal.
            where = (estate_dir, sandbox_dir, state)
            dev = start([*cli(["run", "dev"], *where), "--started-by", STARTED_BY], "run-dev")
            assert dev.process.wait(timeout=120) == 0, dev.output()
            [dev_run] = [p.name for p in (state / "runs").iterdir()]
            dev_events = len(events_of(control, dev_run))
            expected = dev_events + len(PROJECTS) * SIT_EXTRA_EVENTS

            # sit already serves an earlier release on each alias, so the canary moves
            # traffic between two versions.
            sit = session("crash-sit")
            before = {}
            for name in PROJECTS:
                function = f"{name}-sit"
                before[name] = deploy(sit, function, SEED_SOURCE)
                point_alias(sit, function, before[name], ALIAS)

            # Distinct journal lengths to kill at: from the run's first event (DBOS holds
            # the run before it is journaled) to two before run.finished.
            points = sorted(rng.sample(range(1, expected - 1), KILLS))
            print(f"kill points (journal lengths, of {expected}): {points}")

            first = start(
                [
                    *cli(["run", "sit"], *where),
                    "--started-by",
                    STARTED_BY,
                    "--time-scale",
                    TIME_SCALE,
                ],
                "run-sit",
            )
            run_id = _new_run(state, {dev_run}, first)
            crashes = Crashes(
                control=control,
                run_id=run_id,
                journal=journal_path(state, run_id),
                points=points,
                rng=rng,
                restart=lambda n: start(
                    [*cli(["worker"], *where), "--until-idle"],
                    f"worker-{n:02}",
                ),
            )
            last = crashes.drive(first, deadline=time.monotonic() + 150)
            code = last.process.wait(timeout=120)
            print(f"{len(crashes.kills)} kills: " + "; ".join(crashes.kills))
            print("approvals: " + "; ".join(crashes.approvals))
            assert code == 0, last.output()

            status = control.status(run_id)
            assert status.phase is RunPhase.SUCCEEDED, (seed, status)
            events = events_of(control, run_id)
            releases = {e["project"]: e["data"]["label"] for e in events if e["kind"] == "artifact"}
            for name in PROJECTS:
                _assert_one_release(sit, f"{name}-sit", before[name], releases[name])
    finally:
        for engine in engines:
            if engine.alive():
                engine.kill()
        control.close()

    assert len([k for k in crashes.kills if "point" in k]) == KILLS
    assert crashes.approved_then_killed and crashes.approved_while_down, crashes.approvals
    assert verify(journal_path(state, run_id)).ok
    assert len(events) == expected, [e["key"] for e in events]  # as without a crash
    duplicated = [k for k, n in Counter(e["key"] for e in events).items() if n > 1]
    assert not duplicated
    kinds = Counter((e["kind"], e["project"]) for e in events)
    for name in PROJECTS:
        assert status.projects[name].approvers == list(APPROVERS), status.projects[name]
        assert kinds[("approval.requested", name)] == 1
        assert kinds[("approval.given", name)] == len(APPROVERS)
        assert kinds[("step.result", name)] == 1
        assert kinds[("smoke.result", name)] == 1
        shifts = [
            e["data"]["item"]["weight"]
            for e in events
            if e["kind"] == "canary.result" and e["project"] == name
        ]
        assert shifts == CANARY_WEIGHTS
    assert kinds[("run.finished", None)] == 1
    ledger = Ledger(state)
    assert ledger.verify().ok
    entries = [(e.environment, e.project) for e in ledger.entries() if e.run_id == run_id]
    assert entries == [("sit", name) for name in PROJECTS]
    print(f"crash test took {time.monotonic() - started:.0f} s")


def _new_run(state: Path, known: set[str], engine: EngineProcess, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = state / "runs"
        fresh = [p.name for p in runs.iterdir() if p.name not in known] if runs.is_dir() else []
        journal = runs / fresh[0] / "journal.jsonl" if fresh else None
        if journal and journal.exists() and journal.read_bytes().endswith(b"\n"):
            return fresh[0]  # its first event is written
        assert engine.alive(), engine.output()
        time.sleep(0.01)
    raise AssertionError("the run into sit did not start")


def _assert_one_release(sit: Any, function: str, before: str, label: str) -> None:
    """One version published for the release (besides the one sit had before), and the
    alias on it alone."""
    client = sit.client("lambda")
    versions = [
        v
        for page in client.get_paginator("list_versions_by_function").paginate(
            FunctionName=function
        )
        for v in page["Versions"]
        if v["Version"] != "$LATEST"
    ]
    published = [v for v in versions if v["Version"] != before]
    assert len(published) == 1, json.dumps(versions, default=str, indent=1)
    [release] = published
    assert release["Description"].startswith(f"promote {label} "), release
    alias = client.get_alias(FunctionName=function, Name=ALIAS)
    assert alias["FunctionVersion"] == release["Version"], alias
    assert not alias.get("RoutingConfig", {}).get("AdditionalVersionWeights"), alias
    assert alias["Description"].startswith(f"promote previous={before} "), alias
