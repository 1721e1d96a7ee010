"""``promote rollback RUN``: a run that undoes a finished run, in reverse dependency order. Pure.

Every project the run promoted (Succeeded) runs its rollback steps with the values its
deploy captured (``previous_version`` from lambda.deploy), last layer first, and the ledger
gets back the release that was there before. No approvals: the runbooks roll back at once
("Instant alias switch"). Manual rollback steps are options for people; they are recorded,
not waited for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from promote.engine.errors import PromotionRefused
from promote.engine.ledger import Deployment
from promote.engine.phases import ProjectPhase
from promote.engine.plan import ProjectSpec, RunSpec
from promote.engine.status import fold


def rollback_spec(
    events: Sequence[Mapping[str, Any]],
    before: Mapping[tuple[str, str], Deployment],
    current: Mapping[tuple[str, str], Deployment],
    run_id: str,
    started_by: str,
) -> RunSpec:
    """The spec of a run undoing the run whose journal ``events`` are given. ``before`` is
    the ledger as it was before that run, ``current`` as it is now."""
    if not events or events[0]["kind"] != "run.started":
        raise PromotionRefused("the run's journal does not start with its spec")
    original = RunSpec.from_json(events[0]["data"]["spec"])
    if original.rolls_back:
        raise PromotionRefused(
            f"run `{original.run_id}` is itself a rollback (of `{original.rolls_back}`): "
            "promote the release again instead"
        )
    status = fold(original.run_id, events)
    if not status.phase.is_final:
        raise PromotionRefused(f"run `{original.run_id}` has not ended: abort it first")
    promoted = {n for n, p in status.projects.items() if p.phase is ProjectPhase.SUCCEEDED}
    if not promoted:
        raise PromotionRefused(f"run `{original.run_id}` promoted nothing to roll back")
    superseded = [
        f"`{name}` ({found.label}, run {found.run_id})"
        for name in sorted(promoted)
        if (found := current.get((original.environment, name))) is not None
        and found.run_id != original.run_id
    ]
    if superseded:
        raise PromotionRefused(
            f"run `{original.run_id}` is no longer what {original.environment} runs: "
            f"{', '.join(superseded)} came since; roll back the newest run first"
        )
    captured = _captured(events)
    projects = {
        name: _undo(original.projects[name], captured.get(name, {}), before, original)
        for name in promoted
    }
    layers = [[n for n in layer if n in promoted] for layer in reversed(original.layers)]
    return replace(
        original,
        run_id=run_id,
        started_by=started_by,
        layers=[layer for layer in layers if layer],
        projects=projects,
        rolls_back=original.run_id,
    )


def _undo(
    p: ProjectSpec,
    captured: dict[str, str],
    before: Mapping[tuple[str, str], Deployment],
    original: RunSpec,
) -> ProjectSpec:
    previous = before.get((original.environment, p.name))
    return ProjectSpec(
        name=p.name,
        depends_on=[],  # undo every project, even if another's rollback fails
        variables={**p.variables, **captured},
        checks=[],
        requirements=[],
        steps=[s for s in p.rollback if s.get("kind") != "manual"],
        smoke_tests=[],
        rollback=[],
        artifact=dict(previous.artifact) if previous else ({} if p.artifact else None),
        ledger_status="rolled_back",
        advice=[s for s in p.rollback if s.get("kind") == "manual"],
    )


def _captured(events: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """Project -> the outputs its steps and smoke tests captured, as its run saw them."""
    found: dict[str, dict[str, str]] = {}
    for event in events:
        if event["kind"] in {"step.result", "smoke.result"} and event.get("project"):
            outcome = (event.get("data") or {}).get("outcome") or {}
            if outcome.get("passed"):
                found.setdefault(event["project"], {}).update(outcome.get("outputs") or {})
    return found
