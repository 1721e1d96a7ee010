"""Runs end to end on a real DBOS (SQLite in a temp dir) with a fake executor."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from promote.engine.errors import ApprovalRefused
from promote.engine.journal import verify
from promote.engine.phases import ProjectPhase, RunPhase
from promote.engine.status import RunStatus
from promote.engine.workflow import journal_path

from . import Make, build, gated_projects, project, shell, shop_projects, until, waiting

P = ProjectPhase


def phases(status: RunStatus) -> dict[str, ProjectPhase]:
    return {name: p.phase for name, p in status.projects.items()}


def test_projects_run_in_dependency_order_and_succeed(make: Make, tmp_path: Path) -> None:
    engine, fake = make(outputs={"api-create": {"order_id": "o-42"}})

    run_id = engine.start_run(build(shop_projects()), "dev", started_by="ann")
    status = engine.wait(run_id, timeout=30)

    assert status.phase is RunPhase.SUCCEEDED
    assert set(phases(status).values()) == {P.SUCCEEDED}
    order = fake.calls
    assert order.index("tables-smoke") < order.index("api-deploy") < order.index("site-deploy")
    assert order.index("tables-check") < order.index("tables-deploy") < order.index("tables-smoke")
    # A capture of one smoke test is a variable of the next, beside the environment's.
    assert fake.seen["api-get"]["order_id"] == "o-42"
    assert fake.seen["api-get"]["api_domain"] == "api.dev.shop.test"
    assert "api-rollback" not in order
    journal = journal_path(tmp_path / "state", run_id)
    assert verify(journal).ok
    assert "s3cr3t-token" not in journal.read_text()


def test_a_failing_precondition_fails_the_project_and_skips_its_dependents(make: Make) -> None:
    engine, fake = make(fail={"tables-check"})

    status = engine.wait(engine.start_run(build(shop_projects()), "dev"), timeout=30)

    assert status.phase is RunPhase.FAILED
    assert phases(status) == {
        "tables": P.FAILED,
        "docs": P.SUCCEEDED,  # independent of tables, so it still runs
        "api": P.SKIPPED,
        "site": P.SKIPPED,
    }
    assert "tables-check failed" in (status.projects["tables"].reason or "")
    assert status.projects["api"].reason == "dependency `tables` Failed"
    assert status.projects["site"].reason == "dependency `api` Skipped"
    assert not {"tables-deploy", "tables-smoke", "api-deploy", "site-deploy"} & set(fake.calls)


def test_a_failing_smoke_test_rolls_back_and_skips_dependents(make: Make) -> None:
    engine, fake = make(fail={"api-get"})

    status = engine.wait(engine.start_run(build(shop_projects()), "dev"), timeout=30)

    assert status.phase is RunPhase.FAILED
    assert phases(status)["api"] is P.ROLLED_BACK
    assert phases(status)["site"] is P.SKIPPED
    assert fake.calls[-1] == "api-rollback"
    assert "site-deploy" not in fake.calls


def test_an_executor_that_raises_errors_the_project(make: Make) -> None:
    engine, _ = make(explode={"site-deploy"})

    status = engine.wait(engine.start_run(build(shop_projects()), "dev"), timeout=30)

    assert status.phase is RunPhase.ERRORED
    assert phases(status)["site"] is P.ERRORED
    assert "endpoint unreachable" in (status.projects["site"].reason or "")


def test_a_run_waits_for_two_distinct_people_of_the_required_roles(make: Make) -> None:
    engine, fake = make()
    estate = build(gated_projects(["tech_lead", "devops_lead"]))
    run_id = engine.start_run(estate, "sit", started_by="ann")

    status = until(engine, run_id, waiting("gated"))
    assert status.phase is RunPhase.WAITING_FOR_APPROVAL
    assert status.waiting() == {"gated": "waiting for 1 of Tech Lead, 1 of DevOps Lead"}
    assert "gated-deploy" not in fake.calls

    with pytest.raises(ApprovalRefused, match="four eyes"):
        engine.approve(run_id, "gated", "ann")  # she started the run
    with pytest.raises(ApprovalRefused, match="unknown person `zed`"):
        engine.approve(run_id, "gated", "zed")
    with pytest.raises(ApprovalRefused, match="holds none of the roles"):
        engine.approve(run_id, "gated", "dee")

    engine.approve(run_id, "gated", "bob", comment="LGTM")
    status = until(engine, run_id, lambda s: "Tech" not in s.waiting().get("gated", "Tech"))
    assert status.waiting() == {"gated": "waiting for 1 of DevOps Lead"}
    assert status.projects["gated"].approvers == ["bob"]
    with pytest.raises(ApprovalRefused, match="already approved"):
        engine.approve(run_id, "gated", "bob")
    assert "gated-deploy" not in fake.calls

    engine.approve(run_id, "gated", "dan")
    status = engine.wait(run_id, timeout=30)

    assert status.phase is RunPhase.SUCCEEDED
    assert status.projects["gated"].approvers == ["bob", "dan"]
    assert fake.calls == ["tables-deploy", "gated-deploy", "after-deploy"]


def test_n_of_m_needs_distinct_people(make: Make) -> None:
    engine, _ = make()
    run_id = engine.start_run(build(gated_projects([{"role": "dba", "count": 2}])), "sit")
    until(engine, run_id, waiting("gated"))

    engine.approve(run_id, "gated", "dee")
    status = until(engine, run_id, lambda s: s.waiting().get("gated") == "waiting for 1 of DBA")
    assert status.projects["gated"].approvers == ["dee"]
    with pytest.raises(ApprovalRefused, match="distinct people"):
        engine.approve(run_id, "gated", "dee")
    engine.approve(run_id, "gated", "fay")

    assert engine.wait(run_id, timeout=30).phase is RunPhase.SUCCEEDED


def test_a_rejection_fails_the_project_and_skips_its_dependents(make: Make) -> None:
    engine, fake = make()
    run_id = engine.start_run(build(gated_projects(["tech_lead"])), "sit", started_by="ann")
    until(engine, run_id, waiting("gated"))

    engine.reject(run_id, "gated", "bob", comment="change freeze")
    status = engine.wait(run_id, timeout=30)

    assert status.phase is RunPhase.FAILED
    assert status.projects["gated"].reason == "rejected by bob: change freeze"
    assert phases(status)["after"] is P.SKIPPED
    assert fake.calls == ["tables-deploy"]


def test_abort_stops_a_waiting_run(make: Make) -> None:
    engine, fake = make()
    run_id = engine.start_run(build(gated_projects(["tech_lead"])), "sit", started_by="ann")
    until(engine, run_id, waiting("gated"))

    engine.abort(run_id, by="eve")
    status = engine.wait(run_id, timeout=10)

    assert status.phase is RunPhase.ABORTED
    assert status.phase.exit_code == 5
    assert phases(status) == {"tables": P.SUCCEEDED, "gated": P.ABORTED, "after": P.ABORTED}
    time.sleep(0.3)  # the woken worker must not carry on deploying
    assert fake.calls == ["tables-deploy"]


def test_a_worker_stopped_while_waiting_leaves_the_run_to_the_next_worker(make: Make) -> None:
    engine, _ = make()
    run_id = engine.start_run(build(gated_projects(["tech_lead"])), "sit", started_by="ann")
    until(engine, run_id, waiting("gated"))
    engine.close()  # wakes the wait; the run stays pending in DBOS

    engine, fake = make()  # launching recovers the run
    engine.approve(run_id, "gated", "bob")
    status = engine.wait(run_id, timeout=30)

    assert status.phase is RunPhase.SUCCEEDED
    assert fake.calls == ["gated-deploy", "after-deploy"]  # tables had completed before


def test_a_manual_check_waits_for_a_person_with_its_role(make: Make) -> None:
    engine, fake = make()
    manual = {"check": "manual", "item": "CR-1 approved", "role": "dba"}
    estate = build([project_with(preconditions=[manual])])
    run_id = engine.start_run(estate, "dev", started_by="ann")

    status = until(engine, run_id, waiting("solo"))
    assert status.waiting() == {"solo": "waiting for DBA for `CR-1 approved`"}
    engine.approve(run_id, "solo", "gus")

    assert engine.wait(run_id, timeout=30).phase is RunPhase.SUCCEEDED
    assert fake.calls == ["solo-deploy"]


def test_approvals_expire_after_the_estates_ttl(make: Make) -> None:
    engine, fake = make()
    estate = build([project_with(approvals={"sit": ["tech_lead"]})], approval_ttl="1s")

    status = engine.wait(engine.start_run(estate, "sit", started_by="ann"), timeout=30)

    assert status.phase is RunPhase.FAILED
    reason = status.projects["solo"].reason or ""
    assert reason == "approvals expired while waiting for 1 of Tech Lead"
    assert fake.calls == []


def project_with(**extra: Any) -> dict[str, Any]:
    return project("solo", "apps", steps=[shell("solo-deploy")], **extra)
