"""Helpers for the engine's tests: a small estate and a fake executor.

The fake stands in for ``promote.engine.steps`` behind the engine's Executor port. It
records every call (its item, target and start and end times), fails the items named in
``fail``, raises for those in ``explode``, answers with the ``outputs`` and ``evidence`` given
per item name, and can append one line per real execution to a file, so crash tests can
count side effects across processes.
"""

from __future__ import annotations

import copy
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promote.analysis.observations import MetricSource
from promote.analysis.synthetic import Profile, SyntheticMetrics
from promote.engine.phases import ProjectPhase
from promote.engine.ports import AliasShift, StepOutcome, Target
from promote.model import Check, Estate, EstateSpec, Project, SmokeTest, Step

if TYPE_CHECKING:
    from promote.engine.runs import Engine
    from promote.engine.status import RunStatus

SPEC: dict[str, Any] = {
    "name": "shop",
    "environments": {
        "dev": {
            "account_id": "111111111111",
            "region": "eu-west-1",
            "domain": "dev.shop.test",
            "api_domain": "api.dev.shop.test",
            "credentials": {"profile": "shop-dev"},
        },
        "sit": {
            "account_id": "222222222222",
            "region": "eu-west-1",
            "domain": "sit.shop.test",
            "api_domain": "api.sit.shop.test",
            "credentials": {"profile": "shop-sit"},
            "four_eyes": True,
        },
    },
    # The path starts at sit so that tests of gates start there; tests of the promotion
    # path itself give ["dev", "sit"].
    "promotion_path": ["sit"],
    "roles": {
        "tech_lead": {"title": "Tech Lead", "people": ["ann", "bob"]},
        "devops_lead": {"title": "DevOps Lead", "people": ["dan", "eve"]},
        "dba": {"title": "DBA", "people": ["dee", "fay", "gus"]},
    },
    "waves": [{"name": "infra"}, {"name": "apps", "depends_on": ["infra"]}],
}


def shell(name: str) -> dict[str, Any]:
    return {"kind": "shell", "name": name, "command": f"echo {name}"}


def smoke(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "url": "https://${api_domain}/" + name, **extra}


def bucket_check(name: str) -> dict[str, Any]:
    return {"check": "s3.bucket_exists", "name": name, "bucket": name}


def project(name: str, wave: str, *deps: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "kind": "generic", "wave": wave, "depends_on": list(deps), **extra}


def shop_projects() -> list[dict[str, Any]]:
    """tables -> api -> site, plus docs on its own; api captures an id for its second test."""
    return [
        project(
            "tables",
            "infra",
            preconditions=[bucket_check("tables-check")],
            steps=[shell("tables-deploy")],
            smoke_tests=[smoke("tables-smoke")],
        ),
        project("docs", "infra", steps=[shell("docs-deploy")]),
        project(
            "api",
            "apps",
            "tables",
            steps=[shell("api-deploy")],
            smoke_tests=[
                smoke("api-create", method="POST", capture={"order_id": "id"}),
                smoke("api-get", headers={"Authorization": "Bearer s3cr3t-token"}),
            ],
            rollback=[shell("api-rollback")],
        ),
        project("site", "apps", "api", steps=[shell("site-deploy")]),
    ]


def gated_projects(approvals: list[Any]) -> list[dict[str, Any]]:
    return [
        project("tables", "infra", steps=[shell("tables-deploy")]),
        project(
            "gated", "apps", "tables", approvals={"sit": approvals}, steps=[shell("gated-deploy")]
        ),
        project("after", "apps", "gated", steps=[shell("after-deploy")]),
    ]


def build(projects: list[dict[str, Any]], **spec_changes: Any) -> Estate:
    spec = EstateSpec.model_validate({**copy.deepcopy(SPEC), **spec_changes})
    return Estate(spec=spec, projects=tuple(Project.model_validate(p) for p in projects))


class FakeExecutor:
    def __init__(
        self,
        fail: set[str] | None = None,
        explode: set[str] | None = None,
        outputs: dict[str, dict[str, str]] | None = None,
        effects: Path | None = None,
        delay: float = 0.0,
        evidence: dict[str, dict[str, Any]] | None = None,
        metrics: MetricSource | None = None,
    ) -> None:
        # Every version healthy and busy unless a test says otherwise: canaries pass.
        self.source = metrics or SyntheticMetrics({}, default=Profile(rps=500))
        self.fail = fail or set()
        self.explode = explode or set()
        self.outputs = outputs or {}
        self.evidence = evidence or {}  # item name -> evidence beside the name and token
        self.effects = effects
        self.delay = delay
        self.calls: list[str] = []  # item names, in the order they ran
        self.seen: dict[str, dict[str, str]] = {}  # item name -> the variables it was given
        self.items: dict[str, Any] = {}  # item name -> the check, step, test or shift given
        self.targets: dict[str, Target] = {}  # item name -> the target it was given
        # (item name, start, end) in time.monotonic() seconds, in the order calls ended.
        self.intervals: list[tuple[str, float, float]] = []
        self._lock = threading.Lock()

    def check(self, target: Target, check: Check) -> StepOutcome:
        return self._run(target, check.name or check.summary(), check)

    def step(self, target: Target, step: Step) -> StepOutcome:
        return self._run(target, step.name or step.summary(), step)

    def smoke_test(self, target: Target, test: SmokeTest) -> StepOutcome:
        return self._run(target, test.name, test)

    def shift(self, target: Target, alias: AliasShift) -> StepOutcome:
        return self._run(target, f"shift {alias.function} to {alias.weight}", alias)

    def terraform_apply(self, target: Target, step: Step, plan_file: str) -> StepOutcome:
        return self._run(target, f"apply {step.name or step.summary()}", step)

    def metrics(self, target: Target) -> MetricSource:
        return self.source

    def _run(self, target: Target, name: str, item: Any = None) -> StepOutcome:
        start = time.monotonic()
        with self._lock:
            self.calls.append(name)
            self.seen[name] = dict(target.variables)
            self.items[name] = item
            self.targets[name] = target
        if self.effects is not None:
            with self.effects.open("a") as handle:
                handle.write(f"{target.run_id}:{name}\n")
                handle.flush()
                os.fsync(handle.fileno())
        time.sleep(self.delay)  # a window for a crash test to kill the step in flight
        with self._lock:
            self.intervals.append((name, start, time.monotonic()))
        if name in self.explode:
            raise ConnectionError(f"{name}: endpoint unreachable")
        passed = name not in self.fail
        return StepOutcome(
            passed,
            f"{name} {'ok' if passed else 'failed'}",
            {"name": name, "token": "s3cr3t-token", **self.evidence.get(name, {})},
            self.outputs.get(name, {}),
        )


# An engine with a fake executor, from the `make` fixture (conftest.py).
Make = Callable[..., "tuple[Engine, FakeExecutor]"]


def until(
    engine: Engine, run_id: str, test: Callable[[RunStatus], bool], timeout: float = 20
) -> RunStatus:
    """The run's status once ``test`` holds; fails the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = engine.status(run_id)
        if test(status):
            return status
        time.sleep(0.02)
    raise AssertionError(f"timed out; last status {engine.status(run_id)}")


def waiting(project: str) -> Callable[[RunStatus], bool]:
    """Whether ``project`` waits for people."""
    return lambda s: s.projects[project].phase is ProjectPhase.WAITING_FOR_APPROVAL


def events(engine: Engine, run_id: str, kind: str, project: str | None = None) -> list[Any]:
    """The data of the run's journal events of ``kind`` (of ``project``, if given)."""
    return [
        e["data"]
        for e in engine.control.journal(run_id).events()
        if e["kind"] == kind and (project is None or e["project"] == project)
    ]


def crash_worker(state_dir: str, effects: str, mode: str) -> None:
    """The process the crash test kills: an engine that starts (or, launching, resumes) the
    run and waits for it to end. Run as ``python -c`` from the repository root."""
    from promote.engine.runs import Engine

    root = Path(state_dir)
    executor = FakeExecutor(effects=Path(effects), delay=0.15)
    engine = Engine(root, executor=executor)
    if mode == "start":
        estate = build(
            shop_projects()[:1]
            + shop_projects()[2:3]
            + gated_projects(["tech_lead", "devops_lead"])[1:]
        )
        run_id = engine.start_run(estate, "sit", started_by="ann")
        (root / "run_id").write_text(run_id)
    run_id = (root / "run_id").read_text()
    status = engine.wait(run_id, timeout=120)
    engine.close()
    sys.exit(0 if status.phase.is_final else 1)


def pg_worker(
    state_dir: str, database_url: str, mode: str, effects_dir: str, recover: str = ""
) -> None:
    """A worker on a shared system database (Postgres), run as ``python -c`` from the
    repository root; it exits once the run has ended. Its fake executor writes its effects
    to ``<effects_dir>/<pid>.log``, so a test sees which process ran what, and it touches
    ``<effects_dir>/<pid>.ready`` once its engine has launched.

    ``start``: starts a run whose gated project waits for approval. ``parallel``: starts a
    run of two independent projects, ``left`` and ``right``, whose steps take 3 s.
    ``resume`` and ``serve`` take part in the run another worker started (``serve`` with
    3 s steps too). ``recover`` names a worker id whose runs this one takes over; the
    worker's own id comes from PROMOTE_EXECUTOR_ID."""
    from promote.engine.runs import Engine

    root, effects = Path(state_dir), Path(effects_dir)
    delay = 3.0 if mode in {"parallel", "serve"} else 0.15
    executor = FakeExecutor(effects=effects / f"{os.getpid()}.log", delay=delay)
    engine = Engine(root, database_url, executor=executor, recover=[recover] if recover else ())
    (effects / f"{os.getpid()}.ready").touch()
    if mode in {"start", "parallel"}:
        projects = (
            gated_projects(["tech_lead", "devops_lead"])
            if mode == "start"
            else [
                project("left", "infra", steps=[shell("left-deploy")]),
                project("right", "infra", steps=[shell("right-deploy")]),
            ]
        )
        run_id = engine.start_run(build(projects), "sit", started_by="ann")
        (root / "run_id.new").write_text(run_id)
        (root / "run_id.new").replace(root / "run_id")  # whole, for a worker polling for it
    deadline = time.monotonic() + 60
    while not (root / "run_id").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    status = engine.wait((root / "run_id").read_text(), timeout=60)
    engine.close()
    sys.exit(0 if status.phase.is_final else 1)


def send_directly(engine: Engine, run_id: str, project: str, message: dict[str, Any]) -> None:
    """A decision sent straight through DBOS, past promote's own early checks (as anyone
    with access to the system database could): the workflow must judge it itself."""
    from dbos import DBOSClient

    client = DBOSClient(system_database_url=engine.control.database_url)
    try:
        client.send(f"{run_id}/{project}", message, f"approval:{project}")
    finally:
        client.destroy()
