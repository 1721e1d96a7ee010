"""Phases of a run and of each project in it: enums with meaning, not status strings.

As in Kargo, *Failed* means a gate said no (a check, a smoke test, a person), while
*Errored* means the machinery broke (an exception, an unreachable account). The CLI maps a
run's final phase to its exit code, so scripts can tell "the release is bad" (3) from
"promote or the platform is broken" (4) and "someone stopped it" (5).
"""

from __future__ import annotations

from enum import StrEnum


class ProjectPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    WAITING_FOR_APPROVAL = "WaitingForApproval"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"  # a gate said no: a check, a smoke test, a rejection
    ERRORED = "Errored"  # the infrastructure or promote broke
    ABORTED = "Aborted"  # a person stopped the run
    ROLLED_BACK = "RolledBack"  # failed after deploying, and the rollback steps succeeded
    SKIPPED = "Skipped"  # a dependency did not succeed

    @property
    def is_final(self) -> bool:
        return self not in _PROJECT_ACTIVE


_PROJECT_ACTIVE = frozenset(
    {ProjectPhase.PENDING, ProjectPhase.RUNNING, ProjectPhase.WAITING_FOR_APPROVAL}
)


class RunPhase(StrEnum):
    RUNNING = "Running"
    WAITING_FOR_APPROVAL = "WaitingForApproval"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    ERRORED = "Errored"
    ABORTED = "Aborted"

    @property
    def is_final(self) -> bool:
        return self not in {RunPhase.RUNNING, RunPhase.WAITING_FOR_APPROVAL}

    @property
    def exit_code(self) -> int:
        """The CLI's exit code once the run is final: 0 Succeeded, 3 Failed, 4 Errored,
        5 Aborted. 1 and 2 stay with the CLI (usage errors, an invalid estate); a run that is
        still going has no exit code and raises ValueError."""
        try:
            return _EXIT_CODES[self]
        except KeyError:
            raise ValueError(f"a {self.value} run has no exit code yet") from None


_EXIT_CODES = {
    RunPhase.SUCCEEDED: 0,
    RunPhase.FAILED: 3,
    RunPhase.ERRORED: 4,
    RunPhase.ABORTED: 5,
}


def run_phase_of(phases: list[ProjectPhase]) -> RunPhase:
    """The final phase of a run from its projects' final phases: the worst one wins.

    Skipped projects follow from another project's failure, so they add nothing; a rolled
    back project failed a gate, so the run Failed."""
    if ProjectPhase.ABORTED in phases:
        return RunPhase.ABORTED
    if ProjectPhase.ERRORED in phases:
        return RunPhase.ERRORED
    if ProjectPhase.FAILED in phases or ProjectPhase.ROLLED_BACK in phases:
        return RunPhase.FAILED
    return RunPhase.SUCCEEDED
