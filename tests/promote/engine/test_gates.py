"""A project's gates on a real DBOS (SQLite in a temp dir) with a fake executor: parallel
projects and the per-account limit, destructive terraform plans, manual steps, the canary,
success criteria, and four eyes on every gate people pass."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from promote.engine.errors import ApprovalRefused
from promote.engine.phases import ProjectPhase, RunPhase

from . import (
    FakeExecutor,
    Make,
    build,
    events,
    project,
    send_directly,
    shell,
    smoke,
    until,
    waiting,
)

P = ProjectPhase


# Parallel projects and the per-account limit.

TWINS = [
    project("left", "infra", steps=[shell("left-deploy")]),
    project("right", "infra", steps=[shell("right-deploy")]),
]
DELAY = 0.5


def spans(fake: FakeExecutor) -> dict[str, tuple[float, float]]:
    return {name: (start, end) for name, start, end in fake.intervals}


def test_independent_projects_of_a_layer_run_in_parallel(make: Make) -> None:
    engine, fake = make(delay=DELAY)

    status = engine.wait(engine.start_run(build(TWINS), "dev", started_by="ann"), timeout=30)

    assert status.phase is RunPhase.SUCCEEDED
    (a_start, a_end), (b_start, b_end) = spans(fake).values()
    # Each call holds the executor for DELAY seconds: one after the other would take 2 * DELAY.
    assert a_start < b_end and b_start < a_end  # the calls overlap
    assert max(a_end, b_end) - min(a_start, b_start) < 1.6 * DELAY


def test_per_account_one_runs_one_project_at_a_time_in_an_account(make: Make) -> None:
    # The queue's limit lives in the system database: a fresh state directory, a fresh queue.
    engine, fake = make(state="serial", per_account=1, delay=DELAY)

    status = engine.wait(engine.start_run(build(TWINS), "dev", started_by="ann"), timeout=30)

    assert status.phase is RunPhase.SUCCEEDED
    (first, (_, first_end)), (second, (second_start, _)) = sorted(
        spans(fake).items(), key=lambda item: item[1][0]
    )
    assert {first, second} == {"left-deploy", "right-deploy"}
    assert first_end <= second_start  # no overlap


# Destructive terraform plans.

DESTRUCTIVE_PLAN = {"plan_file": "drop.tfplan", "destructive": "true"}


def terraform(name: str, *roles: str) -> dict[str, Any]:
    return {
        "kind": "terraform",
        "name": name,
        "dir": f"infra/{name}",
        "destructive_approval": list(roles),
    }


def test_a_destructive_plan_waits_for_its_roles_before_apply(make: Make, tmp_path: Path) -> None:
    engine, fake = make(
        outputs={
            "drop": DESTRUCTIVE_PLAN,
            "grow": {"plan_file": "grow.tfplan", "destructive": "false"},
        },
        evidence={"drop": {"destructive": ["terraform_data.x"]}},
    )
    estate = build(
        [
            project("tables", "infra", steps=[terraform("drop", "dba", "tech_lead")]),
            project("buckets", "infra", steps=[terraform("grow", "dba")]),
        ]
    )
    run_id = engine.start_run(estate, "sit", started_by="eve", estate_dir=tmp_path)

    status = until(engine, run_id, waiting("tables"))
    assert status.waiting()["tables"].startswith("waiting for destructive change: ")
    assert status.waiting()["tables"].endswith("1 of DBA, 1 of Tech Lead")
    # Approvals, not attestations: one person per role.
    assert {r["item"] for r in status.projects["tables"].requirements} == {None}
    [requested] = events(engine, run_id, "approval.requested", "tables")
    assert requested["destroys"] == "terraform_data.x"
    assert "apply drop" not in fake.calls
    # A plan that destroys nothing applies at once, although the step names roles.
    status = until(engine, run_id, lambda s: s.projects["buckets"].phase is P.SUCCEEDED)
    assert fake.calls.count("apply grow") == 1
    assert [e["what"] for e in events(engine, run_id, "approval.requested")] == [
        "destructive change"
    ]

    engine.approve(run_id, "tables", "dee")
    rest = "waiting for destructive change: 1 of Tech Lead"
    status = until(engine, run_id, lambda s: s.waiting().get("tables") == rest)
    assert status.projects["tables"].approvers == ["dee"]
    assert "apply drop" not in fake.calls
    engine.approve(run_id, "tables", "bob")

    assert engine.wait(run_id, timeout=30).phase is RunPhase.SUCCEEDED
    assert [c for c in fake.calls if "drop" in c] == ["drop", "apply drop"]
    applied = events(engine, run_id, "terraform.apply.result", "tables")
    assert [e["item"]["plan_file"] for e in applied] == ["drop.tfplan"]


def test_a_destructive_plan_without_approval_roles_applies_at_once(make: Make) -> None:
    engine, fake = make(outputs={"drop": DESTRUCTIVE_PLAN})
    estate = build([project("tables", "infra", steps=[terraform("drop")])])

    status = engine.wait(engine.start_run(estate, "sit", started_by="eve"), timeout=30)

    assert status.phase is RunPhase.SUCCEEDED
    assert fake.calls == ["drop", "apply drop"]


# Manual steps.


def manual(name: str, role: str) -> dict[str, Any]:
    return {"kind": "manual", "name": name, "instructions": f"Do {name} by hand", "role": role}


def test_a_manual_step_waits_for_a_confirmation_by_its_role(make: Make) -> None:
    engine, fake = make()
    steps = [shell("backup"), manual("flip-dns", "devops_lead"), shell("warm-cache")]
    estate = build([project("dns", "infra", steps=steps, rollback=[shell("dns-undo")])])
    run_id = engine.start_run(estate, "sit", started_by="ann")

    status = until(engine, run_id, waiting("dns"))
    assert "confirmation" in status.waiting()["dns"] and "flip-dns" in status.waiting()["dns"]
    assert fake.calls == ["backup"]
    with pytest.raises(ApprovalRefused, match="holds none of the roles"):
        engine.approve(run_id, "dns", "bob")  # a Tech Lead, not a DevOps Lead
    engine.approve(run_id, "dns", "dan")

    assert engine.wait(run_id, timeout=30).phase is RunPhase.SUCCEEDED
    assert fake.calls == ["backup", "warm-cache"]
    assert engine.status(run_id).projects["dns"].approvers == ["dan"]


def test_a_rejected_manual_step_fails_and_rolls_back(make: Make) -> None:
    engine, fake = make()
    steps = [shell("backup"), manual("flip-dns", "devops_lead"), shell("warm-cache")]
    rollback = [manual("restore-dns", "devops_lead"), shell("dns-undo")]
    estate = build([project("dns", "infra", steps=steps, rollback=rollback)])
    run_id = engine.start_run(estate, "sit", started_by="ann")
    until(engine, run_id, waiting("dns"))

    engine.reject(run_id, "dns", "eve", comment="wrong zone")
    status = engine.wait(run_id, timeout=30)

    assert status.phase is RunPhase.FAILED
    assert status.projects["dns"].phase is P.ROLLED_BACK
    assert status.projects["dns"].reason == "rejected by eve: wrong zone; rolled back"
    assert fake.calls == ["backup", "dns-undo"]  # the manual rollback step is not waited for
    manual_rollback = events(engine, run_id, "rollback.manual", "dns")
    assert [e["item"]["name"] for e in manual_rollback] == ["restore-dns"]


# The canary.

CANARY = {
    "sit": {"steps": [{"weight": 10, "bake": "1s"}, {"weight": 50, "bake": "1s"}, {"weight": 100}]}
}


def lambda_project(name: str, function: str, **extra: Any) -> dict[str, Any]:
    deploy = {"kind": "lambda.deploy", "name": f"{name}-deploy", "function": function}
    return project(
        name,
        "apps",
        steps=[deploy],
        smoke_tests=[smoke(f"{name}-smoke")],
        rollback=[shell(f"{name}-rollback")],
        **{"canary": CANARY, **extra},
    )


def released(function: str) -> dict[str, str]:
    return {"function": function, "alias": "live", "version": "2", "previous_version": "1"}


def test_the_canary_shifts_traffic_in_steps_after_the_smoke_tests(make: Make) -> None:
    engine, fake = make(outputs={"orders-deploy": released("f")})
    estate = build([lambda_project("orders", "f")])

    run_id = engine.start_run(estate, "sit", started_by="ann", time_scale=0.1)
    status = engine.wait(run_id, timeout=30)

    assert status.phase is RunPhase.SUCCEEDED
    assert fake.calls == [
        "orders-deploy",
        "orders-smoke",
        "shift f to 10",
        "shift f to 50",
        "shift f to 100",
    ]
    shift = fake.items["shift f to 50"]
    assert (shift.alias, shift.version, shift.previous) == ("live", "2", "1")
    # Publish only: the canary moves the traffic.
    assert fake.items["orders-deploy"].traffic == "none"
    stages = events(engine, run_id, "canary.step", "orders")
    assert [s["weight"] for s in stages] == [10, 50, 100]
    assert [s["bake_seconds"] for s in stages] == pytest.approx([0.1, 0.1, 0.0])
    # The bakes happened: the shift to 50 came at least one scaled bake after the one to 10.
    span = spans(fake)
    assert span["shift f to 50"][0] - span["shift f to 10"][1] >= 0.1


def test_without_a_canary_for_the_environment_lambda_deploy_moves_all_traffic(
    make: Make,
) -> None:
    engine, fake = make(outputs={"orders-deploy": released("f")})

    run_id = engine.start_run(build([lambda_project("orders", "f")]), "dev", started_by="ann")

    assert engine.wait(run_id, timeout=30).phase is RunPhase.SUCCEEDED
    assert fake.calls == ["orders-deploy", "orders-smoke"]
    assert fake.items["orders-deploy"].traffic == "all"


def test_a_failing_smoke_test_rolls_back_before_any_shift(make: Make) -> None:
    engine, fake = make(outputs={"orders-deploy": released("f")}, fail={"orders-smoke"})

    run_id = engine.start_run(build([lambda_project("orders", "f")]), "sit", time_scale=0.1)
    status = engine.wait(run_id, timeout=30)

    assert status.phase is RunPhase.FAILED
    assert status.projects["orders"].phase is P.ROLLED_BACK
    assert fake.calls == ["orders-deploy", "orders-smoke", "orders-rollback"]
    assert events(engine, run_id, "canary.step") == []


# Success criteria.

CRITERIA = {
    "sit": [
        {"manual": "orders show in the back office", "role": "devops_lead"},
        {"manual": "no new customer complaints", "role": "devops_lead"},
        {"manual": "dashboards reviewed", "role": "tech_lead"},
        {"when": "error_rate < 1%", "window": "10m"},
    ]
}


def test_success_criteria_are_a_sign_off_gate_after_the_smoke_tests(make: Make) -> None:
    engine, fake = make()
    estate = build(
        [
            project(
                "orders",
                "apps",
                steps=[shell("orders-deploy")],
                smoke_tests=[smoke("orders-smoke")],
                success_criteria=CRITERIA,
            )
        ]
    )
    run_id = engine.start_run(estate, "sit", started_by="ann")

    status = until(engine, run_id, waiting("orders"))
    assert status.waiting()["orders"] == (
        "waiting for sign-off: DevOps Lead to sign off `orders show in the back office`, "
        "DevOps Lead to sign off `no new customer complaints`, "
        "Tech Lead to sign off `dashboards reviewed`"
    )
    assert fake.calls == ["orders-deploy", "orders-smoke"]
    unjudged = events(engine, run_id, "criteria.unjudged", "orders")
    # A shell deploy has no function whose traffic could show it.
    reason = "no function of this project was deployed to measure"
    assert unjudged == [{"criteria": ["error_rate < 1%"], "reason": reason}]
    assert events(engine, run_id, "ledger.updated") == []  # not a success yet

    # One DevOps Lead signs off both of the role's items with one approval.
    engine.approve(run_id, "orders", "dan")
    rest = "waiting for sign-off: Tech Lead to sign off `dashboards reviewed`"
    # The grant is journaled just before the phase that says what is still wanted.
    status = until(engine, run_id, lambda s: s.waiting().get("orders") == rest)
    assert status.projects["orders"].approvers == ["dan"]
    with pytest.raises(ApprovalRefused, match="holds none of the roles still needed"):
        engine.approve(run_id, "orders", "dan")
    engine.approve(run_id, "orders", "bob")

    status = engine.wait(run_id, timeout=30)
    assert status.phase is RunPhase.SUCCEEDED
    assert status.projects["orders"].approvers == ["dan", "bob"]
    assert len(events(engine, run_id, "ledger.updated", "orders")) == 1


# Four eyes.


def test_four_eyes_applies_to_sign_offs_and_destructive_approvals(make: Make) -> None:
    engine, fake = make(outputs={"drop": DESTRUCTIVE_PLAN})
    sign_off = {"sit": [{"manual": "reports balance", "role": "dba"}]}
    estate = build(
        [
            project("tables", "infra", steps=[terraform("drop", "dba")]),
            project("reports", "infra", steps=[shell("reports-deploy")], success_criteria=sign_off),
        ]
    )
    run_id = engine.start_run(estate, "sit", started_by="dee")  # a DBA
    until(engine, run_id, lambda s: waiting("tables")(s) and waiting("reports")(s))

    for name in ("tables", "reports"):
        with pytest.raises(ApprovalRefused, match="four eyes"):
            engine.approve(run_id, name, "dee")
    # Past the early check, the workflow refuses the starter too.
    gate = engine.status(run_id).projects["tables"].gate
    send_directly(engine, run_id, "tables", {"decision": "approve", "person": "dee", "gate": gate})
    refused = until(engine, run_id, lambda _: bool(events(engine, run_id, "approval.refused")))
    assert "four eyes" in events(engine, run_id, "approval.refused")[0]["reason"]
    assert waiting("tables")(refused) and "apply drop" not in fake.calls

    engine.approve(run_id, "tables", "fay")
    engine.approve(run_id, "reports", "gus")
    status = engine.wait(run_id, timeout=30)

    assert status.phase is RunPhase.SUCCEEDED
    assert status.projects["tables"].approvers == ["fay"]
    assert status.projects["reports"].approvers == ["gus"]


# What a review found: decisions belong to one gate; a stop wakes a bake; Errored stays so.


def test_a_surplus_approval_does_not_carry_over_to_the_next_gate(make: Make) -> None:
    engine, fake = make()
    steps = [shell("backup"), manual("flip-dns", "devops_lead"), shell("warm-cache")]
    estate = build([project("dns", "infra", approvals={"sit": ["devops_lead"]}, steps=steps)])
    run_id = engine.start_run(estate, "sit", started_by="ann")
    until(engine, run_id, waiting("dns"))

    engine.approve(run_id, "dns", "dan")  # the one approval the first gate needs
    # eve approved the same gate at the same time: her message names gate 1 too.
    surplus = {"decision": "approve", "person": "eve", "comment": None, "gate": 1}
    send_directly(engine, run_id, "dns", surplus)
    until(engine, run_id, lambda s: bool(events(engine, run_id, "approval.refused", "dns")))
    status = engine.status(run_id)
    assert "confirmation" in status.waiting()["dns"]
    assert fake.calls == ["backup"]  # flip-dns is not confirmed by eve's surplus approval
    refused = events(engine, run_id, "approval.refused", "dns")
    assert refused[0]["reason"] == "for gate 1, not the current gate 2"
    assert status.projects["dns"].approvers == []

    engine.approve(run_id, "dns", "eve")
    assert engine.wait(run_id, timeout=30).phase is RunPhase.SUCCEEDED


def test_an_infrastructure_failure_after_a_deploy_is_errored_even_once_rolled_back(
    make: Make,
) -> None:
    engine, fake = make(explode={"api-smoke"})
    estate = build(
        [
            project(
                "api",
                "infra",
                steps=[shell("api-deploy")],
                smoke_tests=[smoke("api-smoke")],
                rollback=[shell("api-undo")],
            )
        ]
    )
    status = engine.wait(engine.start_run(estate, "sit", started_by="ann"), timeout=30)
    assert status.projects["api"].phase is P.ERRORED
    assert status.projects["api"].reason is not None
    assert status.projects["api"].reason.endswith("; rolled back")
    assert status.phase is RunPhase.ERRORED and status.phase.exit_code == 4
    assert fake.calls == ["api-deploy", "api-smoke", "api-undo"]


def test_stopping_a_worker_wakes_a_bake_and_the_next_worker_goes_on(make: Make) -> None:
    import time

    engine, _ = make(outputs={"orders-deploy": released("f")})
    slow = {"sit": {"steps": [{"weight": 10, "bake": "10m"}, {"weight": 100}]}}
    estate = build([lambda_project("orders", "f", canary=slow)])
    run_id = engine.start_run(estate, "sit", started_by="ann", time_scale=0.1)  # a 60 s bake
    until(engine, run_id, lambda s: bool(events(engine, run_id, "canary.step", "orders")))

    started = time.monotonic()
    engine, fake = make(outputs={"orders-deploy": released("f")})  # closes the first one
    assert time.monotonic() - started < 10  # the bake did not hold the worker for 60 s
    assert engine.status(run_id).projects["orders"].phase is P.RUNNING
    assert "shift f to 100" not in fake.calls  # the bake goes on where it was


def test_a_bake_interrupted_by_a_restart_lasts_what_was_left_of_it(make: Make) -> None:
    import time
    from datetime import datetime

    engine, _ = make(outputs={"orders-deploy": released("f")})
    four_seconds = {"sit": {"steps": [{"weight": 10, "bake": "40s"}, {"weight": 100}]}}
    estate = build([lambda_project("orders", "f", canary=four_seconds)])
    run_id = engine.start_run(estate, "sit", started_by="ann", time_scale=0.1)
    until(engine, run_id, lambda s: bool(events(engine, run_id, "canary.step", "orders")))
    time.sleep(1.5)
    engine, fake = make(outputs={"orders-deploy": released("f")})  # a restart mid-bake
    assert engine.wait(run_id, timeout=30).phase is RunPhase.SUCCEEDED

    journal = engine.control.journal(run_id).events()
    baked = next(e for e in journal if e["kind"] == "canary.step")
    shifted = [e for e in journal if e["kind"] == "canary.result"][-1]
    lasted = (
        datetime.fromisoformat(shifted["time"]) - datetime.fromisoformat(baked["time"])
    ).total_seconds()
    # 4 s from the start of the bake, not 1.5 s + a whole new 4 s after the restart.
    assert 4.0 <= lasted < 5.0, lasted
    assert fake.calls == ["shift f to 100"]
