"""Benchmark: the engine's own cost per checkpointed step, and projects run in parallel.

Runs go through the real engine (DBOS on SQLite, state in a temp dir); an in-process
executor stands in for the step kinds, so what is measured is the engine's work. Times
come from the run's journal (each event's time), so how often this process looks for the
end of a run is not part of them.

1. cost per step: one project of --steps no-op shell steps, each a DBOS step (the
   checkpoint) and a journal append, the executor returning a passing outcome at once.
   Engine time per step = (time inside the project - the executor's own time) / steps,
   the median of --repeat runs, each on a fresh state directory; beside it, the same over
   the whole run's wall time, the journal appends' share, and the fixed cost of a run
   (a one-step run, the first after the engine launched and a later one);
2. parallelism: one layer of --projects independent projects, each a step that sleeps
   --sleep seconds in the executor, with per_account = --projects and per_account = 1.

Target (engine issue): at most 5 ms of engine time per checkpointed step on SQLite.

Run: .venv/bin/python bench/engine.py [--steps N] [--repeat R] [--projects K] [--sleep S]
"""

from __future__ import annotations

import argparse
import itertools
import logging
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from dbos import DBOS, WorkflowHandle

from promote.engine import journal as journal_module
from promote.engine.phases import ProjectPhase, RunPhase
from promote.engine.ports import AliasShift, StepOutcome, Target
from promote.engine.runs import Engine
from promote.model import Check, Estate, EstateSpec, Project, SmokeTest, Step

TARGET_MS_PER_STEP = 5.0
ENV = "dev"
SPEC: dict[str, Any] = {
    "name": "bench",
    "environments": {
        ENV: {
            "account_id": "111111111111",
            "region": "eu-west-1",
            "domain": "dev.bench.test",
            "api_domain": "api.dev.bench.test",
            "credentials": {"profile": "bench-dev"},
        }
    },
    "promotion_path": [ENV],
    "roles": {"lead": {"title": "Lead", "people": ["ann"]}},
    "waves": [{"name": "apps"}],
}


def estate(projects: int, steps: int) -> Estate:
    """``projects`` independent projects (one layer) of ``steps`` no-op shell steps each."""
    data = [
        {
            "name": f"p{p:03d}",
            "kind": "generic",
            "wave": "apps",
            "steps": [
                {"kind": "shell", "name": f"p{p:03d}-s{s:04d}", "command": "true"}
                for s in range(steps)
            ],
        }
        for p in range(projects)
    ]
    return Estate(
        spec=EstateSpec.model_validate(SPEC),
        projects=tuple(Project.model_validate(p) for p in data),
    )


class TimedExecutor:
    """Passes every item, after ``delay`` seconds; adds up the time spent in its calls."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.lock = threading.Lock()
        self.seconds = 0.0

    def check(self, target: Target, check: Check) -> StepOutcome:
        return self._run()

    def step(self, target: Target, step: Step) -> StepOutcome:
        return self._run()

    def smoke_test(self, target: Target, test: SmokeTest) -> StepOutcome:
        return self._run()

    def shift(self, target: Target, alias: AliasShift) -> StepOutcome:
        return self._run()

    def terraform_apply(self, target: Target, step: Step, plan_file: str) -> StepOutcome:
        return self._run()

    def _run(self) -> StepOutcome:
        start = time.perf_counter()
        if self.delay:
            time.sleep(self.delay)
        outcome = StepOutcome(True, "ok")
        with self.lock:
            self.seconds += time.perf_counter() - start
        return outcome


@contextmanager
def timed_appends() -> Iterator[list[float]]:
    """The duration of every ``Journal.append`` in this process, in order, while open."""
    durations: list[float] = []
    original = journal_module.Journal.append

    def timed(journal: journal_module.Journal, *args: Any, **kwargs: Any) -> bool:
        start = time.perf_counter()
        try:
            return original(journal, *args, **kwargs)
        finally:
            durations.append(time.perf_counter() - start)  # list.append: atomic

    journal_module.Journal.append = timed  # type: ignore[method-assign,assignment]
    try:
        yield durations
    finally:
        journal_module.Journal.append = original  # type: ignore[method-assign]


@dataclass(frozen=True)
class RunTimes:
    """One run's times in seconds, from its journal; the projects' span runs from the
    first project's start to the last project's end."""

    wall: float  # start_run called -> run.finished
    to_first: float  # run.started -> the first project Running (the queue)
    span: float
    from_last: float  # the last project's end -> run.finished (the run hears of it)
    executor: float
    appends: list[float]
    longest: float  # the longest gap between two journal events in the span (a stall)


def timed_run(engine: Engine, executor: TimedExecutor, the_estate: Estate) -> RunTimes:
    executor.seconds = 0.0
    with timed_appends() as appends:
        start = time.time()
        run_id = engine.start_run(the_estate, ENV, started_by="ann")
        _await(run_id)
    status = engine.status(run_id)
    if status.phase is not RunPhase.SUCCEEDED:
        raise RuntimeError(f"run {run_id} ended {status.phase.value}")
    events = engine.control.journal(run_id).events()
    phases = [e for e in events if e["kind"] == "project.phase"]
    first = next(e for e in phases if e["data"]["phase"] == ProjectPhase.RUNNING.value)
    last = next(e for e in reversed(phases) if e["data"]["phase"] != ProjectPhase.RUNNING.value)
    started, finished = events[0], events[-1]
    assert started["kind"] == "run.started" and finished["kind"] == "run.finished"
    inside = [_at(e) for e in events if first["seq"] <= e["seq"] <= last["seq"]]
    return RunTimes(
        wall=_at(finished) - start,
        to_first=_at(first) - _at(started),
        span=_at(last) - _at(first),
        from_last=_at(finished) - _at(last),
        executor=executor.seconds,
        appends=list(appends),
        longest=max(b - a for a, b in itertools.pairwise(inside)),
    )


def _await(run_id: str, timeout: float = 120.0) -> None:
    """Until DBOS holds the run's workflow ended: a cheaper look than ``Engine.wait``,
    which reads and folds the journal each time, and would compete with the run."""
    handle: WorkflowHandle[str] = DBOS.retrieve_workflow(run_id)
    deadline = time.monotonic() + timeout
    while handle.get_status().status in {"PENDING", "ENQUEUED"}:
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} still running after {timeout:g} s")
        time.sleep(0.05)


def _at(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["time"]).timestamp()


@contextmanager
def fresh_engine(executor: TimedExecutor, per_account: int) -> Iterator[Engine]:
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(Path(tmp) / "state", executor=executor, per_account=per_account)
        try:
            yield engine
        finally:
            engine.close()


@dataclass
class StepRuns:
    first: list[RunTimes]  # a one-step run, the first after the engine launched
    many: list[RunTimes]  # the ``steps`` run
    later: list[RunTimes]  # a one-step run after it


def step_cost(steps: int, repeat: int) -> StepRuns:
    runs = StepRuns([], [], [])
    one, many = estate(1, 1), estate(1, steps)
    executor = TimedExecutor()
    for _ in range(repeat):
        with fresh_engine(executor, per_account=1) as engine:
            runs.first.append(timed_run(engine, executor, one))
            runs.many.append(timed_run(engine, executor, many))
            runs.later.append(timed_run(engine, executor, one))
    return runs


def parallel(projects: int, sleep: float) -> dict[int, RunTimes]:
    """Per setting, a fresh engine: a one-project run first (the queue's worker starts with
    the first run), then the measured layer."""
    layer, warm = estate(projects, 1), estate(1, 1)
    times = {}
    for per_account in (projects, 1):
        executor = TimedExecutor(delay=sleep)
        with fresh_engine(executor, per_account) as engine:
            timed_run(engine, executor, warm)
            times[per_account] = timed_run(engine, executor, layer)
    return times


def median_of(runs: list[RunTimes], value: Callable[[RunTimes], float]) -> float:
    return statistics.median(value(r) for r in runs)


def report_step_cost(steps: int, runs: StepRuns) -> bool:
    many = runs.many
    per_step = [(r.span - r.executor) / steps * 1000 for r in many]
    median = statistics.median(per_step)
    journal = median_of(many, lambda r: sum(r.appends)) / steps * 1000
    whole = median_of(many, lambda r: (r.wall - r.executor) / steps * 1000)
    edge = max(1, len(many[0].appends) // 10)
    print(
        f"engine: one project of {steps} no-op shell steps on SQLite; "
        f"median of {len(many)} runs, each on a fresh state directory"
    )
    print(
        f"  run wall time {median_of(many, lambda r: r.wall):6.3f} s, in the project "
        f"{median_of(many, lambda r: r.span):6.3f} s, executor "
        f"{median_of(many, lambda r: r.executor) * 1000:.3f} ms, "
        f"{len(many[0].appends)} journal appends"
    )
    print(f"  engine time per step {median:7.3f} ms  in the project (runs: {_listed(per_step)})")
    print(
        f"    journal appends    {journal:7.3f} ms, the rest (DBOS checkpoints, workflow code) "
        f"{median - journal:.3f} ms"
    )
    print(
        f"    one append {median_of(many, lambda r: statistics.mean(r.appends[:edge])) * 1000:.3f}"
        f" ms (first {edge}), "
        f"{median_of(many, lambda r: statistics.mean(r.appends[-edge:])) * 1000:.3f} ms "
        f"(last {edge}); longest step per run: "
        f"{_listed([r.longest * 1000 for r in many], 0)} ms"
    )
    print(f"  over the run's wall  {whole:7.3f} ms  per step, the run's fixed cost included")
    for label, one in (("first after launch", runs.first), ("later", runs.later)):
        print(
            f"  one-step run, {label + ':':<19} {median_of(one, lambda r: r.wall) * 1000:7.1f}"
            f" ms = queue {median_of(one, lambda r: r.to_first) * 1000:6.1f}"
            f" + project {median_of(one, lambda r: r.span) * 1000:5.1f}"
            f" + the run hears of its end {median_of(one, lambda r: r.from_last) * 1000:6.1f}"
        )
    ok = median <= TARGET_MS_PER_STEP
    verdict = "PASS" if ok else "MISS"
    print(
        f"  target <= {TARGET_MS_PER_STEP:g} ms per step (in the project): {verdict} "
        f"({median:.3f} ms)"
    )
    return ok


def report_parallel(projects: int, sleep: float, times: dict[int, RunTimes]) -> None:
    wide, narrow = times[projects], times[1]
    print(f"\nparallelism: one layer of {projects} projects, each one step of {sleep:g} s")
    for label, run, ideal in (
        (f"per_account={projects}", wide, sleep),
        ("per_account=1", narrow, projects * sleep),
    ):
        print(
            f"  {label:<15} run wall {run.wall:6.3f} s, projects' span {run.span:6.3f} s"
            f"  (ideal {ideal:g} s)"
        )
    print(
        f"  speedup {narrow.wall / wide.wall:.2f}x on the run's wall time, "
        f"{narrow.span / wide.span:.2f}x on the projects' span  (ideal {projects}x)"
    )


def _listed(values: list[float], digits: int = 3) -> str:
    return ", ".join(f"{v:.{digits}f}" for v in values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--projects", type=int, default=8)
    parser.add_argument("--sleep", type=float, default=0.2)
    args = parser.parse_args()
    logging.getLogger("dbos").setLevel(logging.ERROR)

    runs = step_cost(args.steps, args.repeat)
    times = parallel(args.projects, args.sleep)
    ok = report_step_cost(args.steps, runs)
    report_parallel(args.projects, args.sleep, times)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
