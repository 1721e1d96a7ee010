"""The engine's commands through ``main``, on a real DBOS (SQLite in a temp dir). ``promote
run`` gets a fake executor through the CLI's executor seam; the other commands act on runs
started in-process, as they would on a worker's runs from another terminal."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dbos._logger import init_logger

from promote.cli import main
from promote.engine import cli as engine_cli
from promote.engine.phases import ProjectPhase
from promote.engine.runs import Engine, RunControl
from promote.engine.workflow import journal_path

from . import SPEC, FakeExecutor, build, gated_projects, shop_projects

Run = Callable[..., tuple[int, str, str]]
TWO_LEADS = ["tech_lead", "devops_lead"]


@pytest.fixture(scope="module", autouse=True)
def _dbos_logs_outlive_capsys() -> None:
    # DBOS binds its console log handler to sys.stderr when it first starts; started under
    # capsys, later tests' engines would log to that test's closed stream.
    init_logger()


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Run:
    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeExecutor:
    executor = FakeExecutor()
    monkeypatch.setattr(engine_cli, "make_executor", lambda estate, sandbox, context: executor)
    return executor


@pytest.fixture
def shop(write_estate: Callable[..., Path]) -> Callable[[list[dict[str, Any]]], Path]:
    return lambda projects: write_estate(SPEC, {p["name"]: p for p in projects})


@pytest.fixture
def engine(state: Path) -> Iterator[Engine]:
    # DBOS allows one engine per process: each test closes its own.
    with Engine(state, executor=FakeExecutor()) as running:
        yield running


def until_waiting(control: RunControl | Engine, run_id: str, project: str) -> None:
    deadline = time.monotonic() + 20
    while control.status(run_id).projects[project].phase is not ProjectPhase.WAITING_FOR_APPROVAL:
        assert time.monotonic() < deadline, control.status(run_id)
        time.sleep(0.02)


def test_a_run_that_succeeds_exits_0_and_its_journal_verifies(
    cli: Run, fake: FakeExecutor, shop: Callable[..., Path], state: Path
) -> None:
    code, out, _ = cli("run", "dev", str(shop(shop_projects())), "--state-dir", str(state))

    assert code == 0, out
    assert "tables: Running" in out and "site: Succeeded" in out
    [run_id] = [p.name for p in (state / "runs").iterdir()]
    assert f"run {run_id} into dev, started by" in out and ": Succeeded" in out
    assert fake.calls.index("tables-deploy") < fake.calls.index("site-deploy")

    code, out, _ = cli("status", "--state-dir", str(state))
    assert code == 0 and run_id in out and "Succeeded" in out
    code, out, _ = cli("logs", run_id, "--state-dir", str(state))
    assert code == 0 and "run.finished" in out and "tables-deploy: tables-deploy ok" in out
    code, out, _ = cli("logs", run_id, "--state-dir", str(state), "--format", "json")
    assert json.loads(out)[0]["kind"] == "run.started"

    code, out, _ = cli("verify", run_id, "--state-dir", str(state))
    assert code == 0 and out.startswith("journal intact: ")
    journal = journal_path(state, run_id)
    content = bytearray(journal.read_bytes())
    at = content.index(b"tables-deploy ok")
    content[at] = ord("T")  # one byte of the third line or later
    journal.write_bytes(bytes(content))
    code, _, err = cli("verify", run_id, "--state-dir", str(state))
    assert code == 1
    assert err.startswith("PRM043 journal broken at event ")


def test_a_failing_precondition_exits_3(
    cli: Run, fake: FakeExecutor, shop: Callable[..., Path], state: Path
) -> None:
    fake.fail = {"tables-check"}
    code, out, _ = cli(
        "run", "dev", str(shop(shop_projects())), "--state-dir", str(state), "--format", "json"
    )

    assert code == 3, (out, _)
    data = json.loads(out)
    assert data["phase"] == "Failed"
    assert data["projects"]["tables"]["reason"] == "check 1 failed: tables-check failed"
    assert data["projects"]["site"]["phase"] == "Skipped"


def test_a_run_shows_what_it_waits_for_and_goes_on_when_approved(
    cli: Run, fake: FakeExecutor, shop: Callable[..., Path], state: Path
) -> None:
    estate = shop(gated_projects(TWO_LEADS))

    def approve_when_waiting() -> None:
        control = RunControl(state)
        deadline = time.monotonic() + 20
        while not any(p.stat().st_size for p in state.glob("runs/*/journal.jsonl")):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        [run_id] = [p.name for p in (state / "runs").iterdir()]
        try:
            until_waiting(control, run_id, "gated")
            control.approve(run_id, "gated", "bob")
            control.approve(run_id, "gated", "dan")
        except BaseException:
            control.abort(run_id)  # a failed approver must not leave `run` waiting for hours
            raise
        finally:
            control.close()

    approver = threading.Thread(target=approve_when_waiting)
    approver.start()
    code, out, _ = cli("run", "sit", str(estate), "--state-dir", str(state), "--started-by", "ann")
    approver.join()

    assert code == 0, out
    [run_id] = [p.name for p in (state / "runs").iterdir()]
    assert (
        "gated: waiting for 1 of Tech Lead, 1 of DevOps Lead — "
        f"promote approve {run_id} --project gated --as PERSON"
    ) in out
    assert "after: Succeeded" in out


def test_approve_and_reject_through_the_cli(cli: Run, engine: Engine, state: Path) -> None:
    run_id = engine.start_run(build(gated_projects(TWO_LEADS)), "sit", started_by="ann")
    until_waiting(engine, run_id, "gated")
    where = ("--state-dir", str(state))

    code, _, err = cli("approve", run_id, "--project", "gated", "--as", "ann", *where)
    assert code == 1 and err.startswith("PRM042 gated: ")  # she started it: four eyes
    code, _, err = cli("approve", "sit-nope", "--project", "gated", "--as", "bob", *where)
    assert code == 1 and err.startswith("PRM040 no run `sit-nope`")
    code, out, _ = cli("approve", run_id, "--project", "gated", "--as", "bob", *where)
    assert code == 0 and "bob approves gated" in out

    deadline = time.monotonic() + 20
    # The run journals bob's approval, then what it still waits for.
    while engine.status(run_id).waiting() != {"gated": "waiting for 1 of DevOps Lead"}:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    code, out, _ = cli("status", run_id, *where, "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["phase"] == "WaitingForApproval"
    assert data["projects"]["gated"]["approvers"] == ["bob"]
    assert data["waiting"] == {"gated": "waiting for 1 of DevOps Lead"}
    code, out, _ = cli("status", run_id, *where)
    assert "gated: waiting for 1 of DevOps Lead — promote approve" in out

    code, _, _ = cli(
        "reject", run_id, "--project", "gated", "--as", "dan", "--comment", "no", *where
    )
    assert code == 0
    status = engine.wait(run_id, timeout=20)
    assert status.phase.value == "Failed"
    assert status.projects["gated"].reason == "rejected by dan: no"


def test_abort_through_the_cli(cli: Run, engine: Engine, state: Path) -> None:
    run_id = engine.start_run(build(gated_projects(TWO_LEADS)), "sit", started_by="ann")
    until_waiting(engine, run_id, "gated")

    code, out, _ = cli("abort", run_id, "--as", "eve", "--state-dir", str(state))
    assert code == 0 and f"aborted {run_id}" in out
    assert engine.wait(run_id, timeout=20).phase.value == "Aborted"
    code, _, err = cli("abort", run_id, "--state-dir", str(state))
    assert code == 1 and "has already ended: Aborted" in err


def test_an_invalid_estate_exits_2_before_any_run(
    cli: Run, fake: FakeExecutor, write_estate: Callable[..., Path], state: Path
) -> None:
    root = write_estate(projects={"api": "name: api\nkind: generic\nwave: nope\n"})
    code, _, err = cli("run", "dev", str(root), "--state-dir", str(state))
    assert code == 2 and "PRM010 the estate is invalid" in err
    assert not state.exists() and fake.calls == []


def test_sandbox_runs_need_a_running_sandbox(
    cli: Run, shop: Callable[..., Path], state: Path, tmp_path: Path
) -> None:
    root = shop(shop_projects())
    code, _, err = cli(
        "run", "dev", str(root), "--sandbox", "--sandbox-state-dir", str(tmp_path / "none")
    )
    assert code == 1 and err.startswith("PRM001 no sandbox running under ")


def test_report_status_matrix_and_rollback_through_the_cli(
    cli: Run, fake: FakeExecutor, shop: Callable[..., Path], state: Path
) -> None:
    estate = shop(shop_projects())
    code, out, _ = cli("run", "dev", str(estate), "--state-dir", str(state))
    assert code == 0, out
    [run_id] = [p.name for p in (state / "runs").iterdir()]

    code, out, _ = cli("report", run_id, "--state-dir", str(state), "--format", "md")
    assert code == 0
    assert f"# Deployment Log: {run_id}" in out and "api-create" in out and "api-get" in out
    page = state / "report.html"
    code, out, _ = cli("report", run_id, "--state-dir", str(state), "-f", "html", "-o", str(page))
    assert code == 0 and "<svg" in page.read_text()
    code, out, _ = cli("report", run_id, "--state-dir", str(state), "--format", "json")
    assert json.loads(out)["run"]["phase"] == "Succeeded"

    # The ledger: each project's revision in dev, and the run that put it there.
    code, out, _ = cli("status", "--state-dir", str(state), "--estate", str(estate))
    assert code == 0
    assert "project" in out and "dev" in out and "rev-" in out and run_id in out
    code, out, _ = cli("status", "--state-dir", str(state), "--format", "json")
    deployed = json.loads(out)["deployed"]
    assert {d["status"] for d in deployed.values()} == {"deployed"}
    assert set(deployed) == {"dev/tables", "dev/docs", "dev/api", "dev/site"}

    fake.calls.clear()
    code, out, _ = cli("rollback", run_id, str(estate), "--state-dir", str(state))
    assert code == 0, out
    assert "rolls back " + run_id in out
    assert fake.calls == ["api-rollback"]  # the one project with rollback steps
    code, out, _ = cli("status", "--state-dir", str(state), "--format", "json")
    deployed = json.loads(out)["deployed"]
    assert {d["status"] for d in deployed.values()} == {"rolled_back"}


def test_secret_inputs_are_named_variables_of_the_environment(
    cli: Run, fake: FakeExecutor, write_estate: Callable[..., Path], state: Path
) -> None:
    directory = write_estate({**SPEC, "inputs": {"token": {"secret": True}}}, {})
    code, _, err = cli("run", "dev", str(directory), "--secret", "token", "--state-dir", str(state))
    assert code == 1 and "write NAME=VARIABLE" in err
    code, _, err = cli(
        "run",
        "dev",
        str(directory),
        "--secret",
        "token=NOT_SET_ANYWHERE",
        "--state-dir",
        str(state),
    )
    assert code == 1 and "$NOT_SET_ANYWHERE is not set" in err
    code, _, err = cli(
        "run", "dev", str(directory), "--secret", "nope=HOME", "--state-dir", str(state)
    )
    assert code == 1 and "declares no such input (token)" in err


def test_a_worker_with_nothing_to_do_exits_when_idle(
    cli: Run, fake: FakeExecutor, shop: Callable[..., Path], state: Path
) -> None:
    code, out, _ = cli("worker", str(shop([])), "--state-dir", str(state), "--until-idle")
    assert code == 0 and "worker on sqlite:///" in out


def test_a_dry_run_shows_the_run_and_starts_nothing(
    cli: Run, fake: FakeExecutor, shop: Callable[..., Path], state: Path
) -> None:
    estate = shop(gated_projects(TWO_LEADS))
    code, out, _ = cli("run", "sit", str(estate), "--state-dir", str(state), "--dry-run")
    assert code == 0, out
    assert "nothing was started" in out and "layer 1: tables" in out
    assert "gated: release rev-" in out and "approvals: Tech Lead, DevOps Lead" in out
    assert fake.calls == [] and not (state / "runs").exists()
    code, out, _ = cli(
        "run", "sit", str(estate), "--state-dir", str(state), "--dry-run", "-f", "json"
    )
    assert code == 0 and json.loads(out)["layers"] == [["tables"], ["gated"], ["after"]]
