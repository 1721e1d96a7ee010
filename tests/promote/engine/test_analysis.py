"""The engine judging a canary as it bakes, metric success criteria, and soaks: through the
engine's ports, with a synthetic metric source behind the fake executor."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from promote.analysis.synthetic import Profile, SyntheticMetrics
from promote.engine.phases import ProjectPhase as P
from promote.engine.phases import RunPhase

from . import Make, build, events, project, shell, smoke, until, waiting

STABLE, NEW = "1", "2"


def released(function: str) -> dict[str, str]:
    return {"function": function, "alias": "live", "version": NEW, "previous_version": STABLE}


def canary(bake: str = "30s", **analysis: Any) -> dict[str, Any]:
    steps = [{"weight": 10, "bake": bake}, {"weight": 50, "bake": bake}, {"weight": 100}]
    return {"sit": {"steps": steps, "analysis": {"interval": "0.2s", **analysis}}}


def orders(**extra: Any) -> dict[str, Any]:
    deploy = {"kind": "lambda.deploy", "name": "orders-deploy", "function": "f"}
    fields: dict[str, Any] = {
        "steps": [deploy],
        "smoke_tests": [smoke("orders-smoke")],
        "rollback": [shell("orders-rollback")],
        "canary": canary(),
        "rollback_triggers": [
            {"when": "error_rate > 5%"},
            {"when": "latency_p95 > 1s", "scope": "reads"},
        ],
    }
    return project("orders", "apps", **{**fields, **extra})


def traffic(canary: Profile, stable: Profile | None = None) -> SyntheticMetrics:
    return SyntheticMetrics({NEW: canary, STABLE: stable or Profile(rps=900)}, seed=7)


def test_a_bad_canary_is_shifted_back_within_seconds_and_rolled_back(make: Make) -> None:
    engine, fake = make(
        outputs={"orders-deploy": released("f")},
        metrics=traffic(Profile(rps=100, error_rate=0.05)),
    )
    estate = build([orders(), project("after", "apps", "orders", steps=[shell("after-deploy")])])

    started = time.monotonic()
    run_id = engine.start_run(estate, "sit", started_by="ann")
    status = engine.wait(run_id, timeout=60)

    assert time.monotonic() - started < 20  # not the 30 s bake
    assert status.phase is RunPhase.FAILED
    assert status.projects["orders"].phase is P.ROLLED_BACK
    assert status.projects["after"].phase is P.SKIPPED
    # Traffic back on the stable version first, then the project's rollback hooks.
    assert fake.calls == [
        "orders-deploy",
        "orders-smoke",
        "shift f to 10",
        "shift f to 0",
        "orders-rollback",
    ]
    (verdict,) = events(engine, run_id, "analysis.verdict", "orders")
    assert verdict["verdict"] == "fail"
    assert (verdict["step"], verdict["weight"]) == (0, 10)
    failed = [j for j in verdict["judgements"] if j["verdict"] == "fail"]
    assert any(j["judge"] == "errors: canary vs baseline" for j in failed)
    evidence = next(j for j in failed if j["judge"] == "errors: canary vs baseline")
    assert evidence["statistic"] >= evidence["threshold"]
    assert evidence["samples"]["canary"] > 0 and evidence["samples"]["baseline"] > 0
    assert "failed analysis" in (status.projects["orders"].reason or "")
    samples = events(engine, run_id, "analysis.sample", "orders")
    assert samples and samples[-1]["versions"]["f"]["canary"]["version"] == NEW


def test_a_slow_canary_fails_the_latency_trigger(make: Make) -> None:
    engine, _fake = make(
        outputs={"orders-deploy": released("f")},
        metrics=traffic(Profile(rps=100, median=2.5, sigma=0.1)),
    )
    run_id = engine.start_run(build([orders()]), "sit", started_by="ann")
    status = engine.wait(run_id, timeout=60)

    assert status.projects["orders"].phase is P.ROLLED_BACK
    (verdict,) = events(engine, run_id, "analysis.verdict", "orders")
    failed = {j["judge"] for j in verdict["judgements"] if j["verdict"] == "fail"}
    assert "latency_p95 > 1s (reads)" in failed


def test_a_healthy_canary_passes_every_step(make: Make) -> None:
    engine, fake = make(
        outputs={"orders-deploy": released("f")},
        metrics=traffic(Profile(rps=100, error_rate=0.001), Profile(rps=900, error_rate=0.001)),
    )
    estate = build([orders(canary=canary("2s"))])
    run_id = engine.start_run(estate, "sit", started_by="ann")

    assert engine.wait(run_id, timeout=60).phase is RunPhase.SUCCEEDED
    assert fake.calls[-3:] == ["shift f to 10", "shift f to 50", "shift f to 100"]
    verdicts = events(engine, run_id, "analysis.verdict", "orders")
    assert [(v["weight"], v["verdict"]) for v in verdicts] == [(10, "pass"), (50, "pass")]
    # Judged as it baked (every 0.2 s), not once per bake.
    samples = events(engine, run_id, "analysis.sample", "orders")
    assert len([s for s in samples if s["weight"] == 10]) >= 5


def test_without_traffic_a_bake_is_extended_once_then_waits_for_a_person(make: Make) -> None:
    engine, fake = make(outputs={"orders-deploy": released("f")}, metrics=SyntheticMetrics({}))
    estate = build([orders(canary=canary("1s"))])
    run_id = engine.start_run(estate, "sit", started_by="ann")

    status = until(engine, run_id, waiting("orders"), timeout=30)
    assert "inconclusive analysis" in status.waiting()["orders"]
    assert events(engine, run_id, "analysis.extended", "orders") == [
        {"step": 0, "weight": 10, "seconds": 1.0}
    ]
    verdicts = events(engine, run_id, "analysis.verdict", "orders")
    assert [v["verdict"] for v in verdicts] == ["inconclusive", "inconclusive"]
    assert "shift f to 50" not in fake.calls  # it holds at 10% meanwhile

    engine.approve(run_id, "orders", "bob", "low traffic tonight; looked at the logs")
    # The 50% step's turn: no traffic again, so extended and waiting again.
    status = until(
        engine,
        run_id,
        lambda s: (
            len(events(engine, run_id, "analysis.extended", "orders")) == 2 and waiting("orders")(s)
        ),
        timeout=30,
    )
    assert "shift f to 50" in fake.calls
    engine.reject(run_id, "orders", "bob", "not without data")
    status = engine.wait(run_id, timeout=30)
    assert status.projects["orders"].phase is P.ROLLED_BACK


def test_an_inconclusive_policy_of_fail_fails_at_the_end_of_the_bake(make: Make) -> None:
    engine, _fake = make(outputs={"orders-deploy": released("f")}, metrics=SyntheticMetrics({}))
    estate = build([orders(canary=canary("1s", inconclusive="fail"))])
    run_id = engine.start_run(estate, "sit", started_by="ann")

    status = engine.wait(run_id, timeout=30)
    assert status.projects["orders"].phase is P.ROLLED_BACK
    assert "inconclusive" in (status.projects["orders"].reason or "")


def test_metric_success_criteria_are_judged_on_the_new_version(make: Make) -> None:
    engine, _fake = make(
        outputs={"orders-deploy": released("f")},
        metrics=traffic(Profile(rps=100, error_rate=0.1)),
    )
    criteria = {"sit": [{"when": "error_rate < 1%"}]}
    # No triggers and no comparison: only the criterion can see the 10% error rate.
    judged = orders(
        success_criteria=criteria, rollback_triggers=[], canary=canary("1s", compare=False)
    )
    estate = build([judged])
    run_id = engine.start_run(estate, "sit", started_by="ann")
    status = engine.wait(run_id, timeout=60)

    assert status.projects["orders"].phase is P.ROLLED_BACK
    (judged,) = events(engine, run_id, "criteria.judged", "orders")
    assert judged["verdict"] == "fail"
    assert judged["judgements"][0]["judge"] == "error_rate < 1%"


# Soak.

SOAK = {
    "sit": {
        "duration": "40s",
        "checkpoints": 4,
        "criteria": ["error_rate < 0.1%", "latency_p95 < 2s", "throttles == 0"],
        "known_alarms": ["order DLQ"],
    }
}


def soaked(**extra: Any) -> dict[str, Any]:
    # The release is this test file's folder (relative to the repository's root, where the
    # tests run): a soak's result goes into the ledger with its release.
    return orders(canary={}, soak=SOAK, artifact={"source": "tests/promote/analysis"}, **extra)


def test_a_soak_checks_every_checkpoint_and_records_go_in_the_ledger(make: Make) -> None:
    engine, fake = make(
        outputs={"orders-deploy": released("f")},
        metrics=SyntheticMetrics({NEW: Profile(rps=200)}),
    )
    run_id = engine.start_run(build([soaked()]), "sit", started_by="ann", time_scale=0.05)
    status = engine.wait(run_id, timeout=60)

    assert status.phase is RunPhase.SUCCEEDED, status
    checkpoints = events(engine, run_id, "soak.checkpoint", "orders")
    assert [(c["checkpoint"], c["verdict"]) for c in checkpoints] == [
        (1, "pass"), (2, "pass"), (3, "pass"), (4, "pass"),
    ]  # fmt: skip
    assert fake.calls.count("lambda.function_active f") == 4
    assert fake.items["cloudwatch.no_alarms None"].known == ["order DLQ"]
    assert events(engine, run_id, "soak.verdict", "orders") == [
        {"decision": "GO", "checkpoints": 4}
    ]
    statuses = [e["status"] for e in events(engine, run_id, "ledger.updated", "orders")]
    assert statuses == ["deployed", "soak_passed"]


def test_a_failed_checkpoint_is_a_recorded_no_go(make: Make) -> None:
    engine, fake = make(
        outputs={"orders-deploy": released("f")},
        metrics=SyntheticMetrics({NEW: Profile(rps=200)}),
        fail={"cloudwatch.no_alarms None"},
    )
    after = project("after", "apps", "orders", steps=[shell("after-deploy")])
    run_id = engine.start_run(build([soaked(), after]), "sit", time_scale=0.05)
    status = engine.wait(run_id, timeout=60)

    assert status.phase is RunPhase.FAILED
    assert status.projects["orders"].phase is P.FAILED
    assert status.projects["after"].phase is P.SKIPPED
    (checkpoint,) = events(engine, run_id, "soak.checkpoint", "orders")
    assert checkpoint["verdict"] == "fail"
    (verdict,) = events(engine, run_id, "soak.verdict", "orders")
    assert verdict["decision"] == "NO-GO"
    assert "soak checkpoint 1/4" in verdict["reason"]
    statuses = [e["status"] for e in events(engine, run_id, "ledger.updated", "orders")]
    assert statuses == ["deployed", "soak_failed"]
    assert "orders-rollback" not in fake.calls  # NO-GO stops the promotion; people decide


def test_soak_checkpoints_resume_after_a_restart_at_their_wall_clock_times(make: Make) -> None:
    source = SyntheticMetrics({NEW: Profile(rps=200)})
    engine, _ = make(outputs={"orders-deploy": released("f")}, metrics=source)
    run_id = engine.start_run(build([soaked()]), "sit", started_by="ann", time_scale=0.1)
    # 4 s of soak, a checkpoint a second: restart after the first.
    until(engine, run_id, lambda s: bool(events(engine, run_id, "soak.checkpoint", "orders")))
    engine, fake = make(outputs={"orders-deploy": released("f")}, metrics=source)
    assert engine.wait(run_id, timeout=60).phase is RunPhase.SUCCEEDED

    journal = engine.control.journal(run_id).events()
    (started,) = [e for e in journal if e["kind"] == "soak.started"]
    checkpoints = [e for e in journal if e["kind"] == "soak.checkpoint"]
    assert [c["data"]["checkpoint"] for c in checkpoints] == [1, 2, 3, 4]  # none twice
    begin = started["data"]["ends_at"] - 4.0
    for number, event in enumerate(checkpoints, start=1):
        due = event["data"]["due"]
        assert abs(due - (begin + number)) < 1e-6
        at = datetime.fromisoformat(event["time"]).timestamp()
        assert due <= at < due + 1.0, (number, at - due)
    assert fake.calls.count("lambda.function_active f") == 3  # the new worker's share
