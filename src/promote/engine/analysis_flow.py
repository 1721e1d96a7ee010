"""Judging a release while it takes traffic: canary steps, metric success criteria and
soaks. Runs inside a project's workflow (project_flow.py), so every evaluation is a DBOS
step and every wait a durable one.

- A canary step is evaluated about every ``interval`` while it bakes. A Fail shifts every
  alias back to its stable version at 100% at once, records the verdict with its evidence,
  and stops the project (its rollback hooks run, dependents are skipped). A bake that ends
  Inconclusive is extended once, then waits for a person (``promote approve`` continues,
  ``reject``/``abort`` stop), as the policy says.
- Metric success criteria are judged on the new version's traffic since the first shift.
- A soak waits for each of its checkpoints (durable timers: a restarted worker waits only
  what is left), judges the traffic since the previous one, checks that the functions are
  active and that no alarm but the known ones fires, and records GO or NO-GO.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from promote.analysis.evaluate import Evaluation, Request
from promote.analysis.judges import Rule, Settings
from promote.analysis.observations import Subject
from promote.analysis.verdicts import Verdict
from promote.engine.approvals import Requirement
from promote.engine.phases import ProjectPhase
from promote.engine.ports import StepOutcome
from promote.engine.runtime import activity, analyse, clock, execute

if TYPE_CHECKING:
    from promote.engine.project_flow import _Project

BAKE_TOPIC = "bake"  # nothing is sent on it: a bake is a wait that only a stop ends early


class Stop(Exception):
    """A project ends early with this phase and reason. ``undone``: the traffic is already
    back on the stable version (a failed analysis), whether or not rollback steps run."""

    def __init__(self, phase: ProjectPhase, reason: str, *, undone: bool = False) -> None:
        super().__init__(reason)
        self.phase = phase
        self.reason = reason
        self.undone = undone


def wait_until(p: _Project, deadline: float) -> None:
    """A durable wait that a stopping worker can wake (DBOS.sleep cannot be), and that lasts
    what is left of it after a restart."""
    while (left := deadline - clock()) > 0:
        activity.receive(p.workflow_id, BAKE_TOPIC, left)


def subjects(p: _Project, *, baseline: bool) -> list[Subject]:
    analysis = p.spec.analysis or {}
    found = []
    for release in p.deployed:
        previous = release.get("previous_version", "")
        if baseline and (not previous or previous == release["version"]):
            continue  # a first deployment has no stable version to compare with
        found.append(
            Subject(
                function=release["function"],
                alias=release["alias"],
                canary=release["version"],
                baseline=previous if baseline else "",
                namespace=analysis.get("namespace"),
                dimensions=dict(analysis.get("dimensions") or {}),
            )
        )
    return found


def _evaluate(
    p: _Project,
    chosen: list[Subject],
    start: float,
    rules: list[dict[str, Any]],
    settings: dict[str, Any],
    context: dict[str, Any],
) -> Evaluation | None:
    request = Request(
        chosen, start, clock(), [Rule.from_json(r) for r in rules], Settings(**settings)
    )
    result = analyse(p.key("analysis.sample"), p.target().__dict__, request.to_json(), context)
    if result["errored"]:
        p.record("analysis.errored", {**context, "reason": result["reason"]})
        return None
    return Evaluation.from_json(result["evaluation"])


def _verdict_record(evaluation: Evaluation | None, **context: Any) -> dict[str, Any]:
    if evaluation is None:
        return {**context, "verdict": Verdict.INCONCLUSIVE.value, "judgements": [],
                "reason": "the metrics could not be read"}  # fmt: skip
    return {**context, **{k: v for k, v in evaluation.to_json().items() if k != "sample"}}


# Canary steps.


def watch(p: _Project, index: int, weight: int, bake: float) -> None:
    """Bake one canary step of ``bake`` seconds, judging it as it goes."""
    analysis = p.spec.analysis
    chosen = subjects(p, baseline=True)
    # A step without a bake (or one scaled to nothing) is a shift, with nothing to judge.
    if analysis is None or not chosen or weight >= 100 or bake <= 0:
        if bake > 0:
            wait_until(p, clock() + bake)
        return
    interval = max(float(analysis["interval"]), 0.05)
    rules, settings = analysis["rules"], dict(analysis["settings"])
    # A warmup is at most half the bake, so a short (or time-scaled) bake still judges
    # latency on its second half.
    settings["warmup"] = min(float(settings.get("warmup", 0.0)), bake / 2)
    context = {"step": index, "weight": weight}
    started = clock()
    p.canary_started = p.canary_started or started
    deadline, extended = started + bake, False
    while True:
        due = clock()
        while deadline - clock() > 0:
            evaluation = _evaluate(p, chosen, started, rules, settings, context)
            if evaluation is not None and evaluation.verdict is Verdict.FAIL:
                _fail(p, index, weight, evaluation)
            # Evaluations start every interval, however long each takes to read the metrics
            # (one that overran is followed at once, not by a burst to catch up).
            now = clock()
            due = max(due + interval, now)
            activity.receive(p.workflow_id, BAKE_TOPIC, max(min(due, deadline) - now, 0.0))
        evaluation = _evaluate(p, chosen, started, rules, settings, context)
        verdict = evaluation.verdict if evaluation else Verdict.INCONCLUSIVE
        if verdict is Verdict.FAIL and evaluation is not None:
            _fail(p, index, weight, evaluation)
        p.record("analysis.verdict", _verdict_record(evaluation, **context, extended=extended))
        if verdict is Verdict.PASS:
            return
        mode = analysis["inconclusive"]
        if mode == "fail":
            raise Stop(ProjectPhase.FAILED, f"canary at {weight}%: the analysis was inconclusive")
        if mode == "extend_then_pause" and not extended:
            extended, deadline = True, clock() + bake
            p.record("analysis.extended", {**context, "seconds": bake})
            continue
        need = Requirement(None, 1, f"a person to continue past the inconclusive {weight}% step")
        p.approvals([need], "inconclusive analysis")
        return


def _fail(p: _Project, index: int, weight: int, evaluation: Evaluation) -> None:
    # Traffic first: every second on the bad version costs requests.
    for release in p.deployed:
        if release.get("previous_version"):
            p.shift(index, release, 0)
    p.record("analysis.verdict", _verdict_record(evaluation, step=index, weight=weight))
    why = "; ".join(f"{j.judge}: {j.reason}" for j in evaluation.failed)
    raise Stop(ProjectPhase.FAILED, f"canary at {weight}% failed analysis: {why}", undone=True)


# Success criteria.


def judge_criteria(p: _Project) -> None:
    rules = p.spec.criteria_rules
    if not rules:
        return
    chosen = subjects(p, baseline=False)
    if not chosen:
        reason = "no function of this project was deployed to measure"
        p.record("criteria.unjudged", {"criteria": p.spec.metric_criteria, "reason": reason})
        return
    since = p.canary_started or p.deployed_at
    settings = {**(p.spec.analysis or {}).get("settings", {}), "compare": False}
    evaluation = _evaluate(p, chosen, since, rules, settings, {"criteria": True})
    p.record("criteria.judged", _verdict_record(evaluation))
    if evaluation is not None and evaluation.verdict is Verdict.FAIL:
        why = "; ".join(f"{j.judge}: {j.reason}" for j in evaluation.failed)
        raise Stop(ProjectPhase.FAILED, f"success criteria failed: {why}")
    if evaluation is None or evaluation.verdict is Verdict.INCONCLUSIVE:
        label = "a person to accept success criteria the metrics could not show"
        p.approvals([Requirement(None, 1, label)], "inconclusive criteria")


# Soak.


def soak(p: _Project) -> None:
    spec = p.spec.soak
    if spec is None:
        return
    duration = float(spec["duration"]) * p.run.time_scale
    count = int(spec["checkpoints"])
    started = clock()
    p.record(
        "soak.started",
        {"checkpoints": count, "seconds": duration, "time_scale": p.run.time_scale,
         "ends_at": started + duration},
    )  # fmt: skip
    try:
        inconclusive = _checkpoints(p, spec, started, duration, count)
        needs = [
            Requirement(None, 1, f"a person to attest `{item}`", item) for item in spec["manual"]
        ]
        if inconclusive:
            which = ", ".join(str(i) for i in inconclusive)
            needs.append(Requirement(None, 1, f"a person to call GO on checkpoints {which}"))
        if needs:
            p.approvals(needs, "go/no-go")
    except Stop as stop:
        if stop.phase is ProjectPhase.FAILED:
            _soak_result(p, "soak_failed", {"decision": "NO-GO", "reason": stop.reason})
        raise
    _soak_result(p, "soak_passed", {"decision": "GO", "checkpoints": count})


def _checkpoints(
    p: _Project, spec: dict[str, Any], started: float, duration: float, count: int
) -> list[int]:
    chosen = subjects(p, baseline=False)
    inconclusive = []
    previous = started
    for number in range(1, count + 1):
        due = started + duration * number / count
        wait_until(p, due)
        context = {"checkpoint": number, "of": count}
        evaluation = _evaluate(p, chosen, previous, spec["rules"], spec["settings"], context)
        checks = [_soak_check(p, number, check) for check in _soak_checks(chosen, spec)]
        verdict = evaluation.verdict if evaluation else Verdict.INCONCLUSIVE
        if any(not c.passed for c in checks):
            verdict = Verdict.FAIL
        record = _verdict_record(evaluation, **context, due=due)
        record.update(verdict=verdict.value, checks=[c.to_json() for c in checks])
        p.record("soak.checkpoint", record)
        if verdict is Verdict.FAIL:
            failed = [j.judge for j in (evaluation.failed if evaluation else [])]
            failed += [c.summary for c in checks if not c.passed]
            raise Stop(
                ProjectPhase.FAILED, f"soak checkpoint {number}/{count}: {'; '.join(failed)}"
            )
        if verdict is Verdict.INCONCLUSIVE:
            inconclusive.append(number)
        previous = due
    return inconclusive


def _soak_checks(chosen: list[Subject], spec: dict[str, Any]) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = [
        {"check": "lambda.function_active", "function": s.function} for s in chosen
    ]
    checks.append({"check": "cloudwatch.no_alarms", "known": list(spec["known_alarms"])})
    return checks


def _soak_check(p: _Project, number: int, check: dict[str, Any]) -> StepOutcome:
    result = execute(p.key("check.result"), "check", p.target().__dict__, check)
    outcome = StepOutcome.from_json(result["outcome"])
    if result["errored"]:
        raise Stop(ProjectPhase.ERRORED, f"soak checkpoint {number}: {outcome.summary}")
    return outcome


def _soak_result(p: _Project, status: str, data: dict[str, Any]) -> None:
    p.record("soak.verdict", data)
    p.record_ledger(status)
