"""What is deployed where: the ledger, one hash-chained journal for the whole state directory.

A run appends an entry when a project succeeds in an environment (``deployed``) and when a
whole-run rollback puts the release before it back (``rolled_back``); a soak records its
verdict on the release it watched (``soak_passed`` or ``soak_failed``). The latest
deployment entry per environment and project is what is deployed there: ``promote status``
shows them as a matrix, and promotion along ``promotion_path`` reads them (an artifact
enters SIT only after it succeeded in DEV).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promote.engine.journal import Journal, VerifyResult, verify

LEDGER_FILE = "ledger.jsonl"
DEPLOYMENTS = frozenset({"deployed", "rolled_back"})
SOAKS = frozenset({"soak_passed", "soak_failed"})


@dataclass(frozen=True)
class Deployment:
    environment: str
    project: str
    artifact: dict[str, Any]  # {project, sha256, label, size, kind}
    run_id: str
    time: str
    status: str = "deployed"  # or "rolled_back"

    @property
    def sha256(self) -> str:
        return str(self.artifact.get("sha256", ""))

    @property
    def label(self) -> str:
        return str(self.artifact.get("label", ""))

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Ledger:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LEDGER_FILE
        self._journal = Journal(self.path)

    def append(self, key: str, entry: dict[str, Any]) -> bool:
        """Record a deployment; a key already in the ledger is not written again (a step
        repeated after a crash)."""
        return self._journal.append(key, entry.get("status", "deployed"), None, entry)

    def entries(self) -> list[Deployment]:
        return [_deployment(e) for e in self._journal.events()]

    def current(self) -> dict[tuple[str, str], Deployment]:
        """(environment, project) -> what is deployed there now."""
        latest: dict[tuple[str, str], Deployment] = {}
        for entry in self.entries():
            if entry.status in DEPLOYMENTS:
                latest[(entry.environment, entry.project)] = entry
        return latest

    def soak_passed(self, environment: str, project: str, sha256: str) -> bool:
        """Whether the release deployed there now is ``sha256`` and its last soak passed."""
        passed = False
        for entry in self.entries():
            if (entry.environment, entry.project) != (environment, project):
                continue
            if entry.status in DEPLOYMENTS:
                passed = False  # a new deployment needs a soak of its own
            elif entry.status in SOAKS and entry.sha256 == sha256:
                passed = entry.status == "soak_passed"
        found = self.deployed(environment, project)
        return passed and found is not None and found.sha256 == sha256

    def deployed(self, environment: str, project: str) -> Deployment | None:
        return self.current().get((environment, project))

    def succeeded(self, environment: str, project: str, sha256: str) -> bool:
        """Whether this release ever succeeded in ``environment`` (and was not rolled back
        since: a release taken out again has not proven itself there)."""
        found = self.deployed(environment, project)
        return found is not None and found.status == "deployed" and found.sha256 == sha256

    def before(self, run_id: str) -> dict[tuple[str, str], Deployment]:
        """What was deployed before ``run_id`` changed it, for a whole-run rollback."""
        latest: dict[tuple[str, str], Deployment] = {}
        for entry in self.entries():
            if entry.run_id == run_id:
                break
            if entry.status in DEPLOYMENTS:
                latest[(entry.environment, entry.project)] = entry
        return latest

    def verify(self) -> VerifyResult:
        return verify(self.path)


def _deployment(event: dict[str, Any]) -> Deployment:
    data = event["data"]
    return Deployment(
        environment=data["environment"],
        project=data["project"],
        artifact=data.get("artifact") or {},
        run_id=data["run_id"],
        time=event["time"],
        status=data.get("status", "deployed"),
    )


def matrix(
    current: dict[tuple[str, str], Deployment],
    environments: Iterable[str],
    projects: Iterable[str],
) -> list[list[str]]:
    """Rows of ``project, <one cell per environment>``; a cell is ``label (when, run)``."""
    rows = []
    for project in projects:
        row = [project]
        for env in environments:
            found = current.get((env, project))
            row.append(_cell(found) if found else "-")
        rows.append(row)
    return rows


def _cell(found: Deployment) -> str:
    mark = "" if found.status == "deployed" else " (rolled back)"
    return f"{found.label}{mark}\n{found.time[:16].replace('T', ' ')}\n{found.run_id}"
