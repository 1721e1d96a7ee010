"""Which release each project of a run promotes: build once, promote along the path.

In the first environment of ``promotion_path`` a project's release is made: a lambda-api's
artifact is built (a zip, its sha256, a label) and kept in the artifact store; any other
project's release is its definition revision (a content hash). In every later environment
the release is the one the previous environment holds in the ledger, and it may enter only
after it succeeded there: SIT takes exactly the zip that DEV ran. An infrastructure
project whose definition changed since the previous environment is refused until the new
revision has succeeded there too.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from promote.engine.artifacts import ArtifactStore, build, revision
from promote.engine.errors import PromotionRefused
from promote.engine.ledger import Ledger
from promote.model import Estate, Project


def previous_environment(estate: Estate, env: str) -> str | None:
    path = list(estate.spec.promotion_path)
    if env not in path or path.index(env) == 0:
        return None
    return path[path.index(env) - 1]


def resolve(
    estate: Estate,
    estate_dir: Path,
    env: str,
    projects: Sequence[Project],
    ledger: Ledger,
    store: ArtifactStore,
    sandbox: bool = False,
) -> dict[str, dict[str, Any]]:
    """Project -> its release for this run. Raises PromotionRefused, naming every project
    that may not enter ``env`` yet and why. A sandbox run has no release for the projects
    that are not in the sandbox: it skips them."""
    previous = previous_environment(estate, env)
    releases: dict[str, dict[str, Any]] = {}
    refusals: list[str] = []
    for project in projects:
        if sandbox and project.not_in_sandbox:
            continue
        try:
            releases[project.name] = _release(project, estate_dir, previous, ledger, store)
        except PromotionRefused as refused:
            refusals.append(refused.message)
    if refusals:
        raise PromotionRefused(f"not promotable to {env}: " + "; ".join(refusals))
    return releases


def _release(
    project: Project, estate_dir: Path, previous: str | None, ledger: Ledger, store: ArtifactStore
) -> dict[str, Any]:
    if previous is None:
        made = build(project, estate_dir, store) if project.artifact else None
        return (made or revision(project, estate_dir)).to_json()
    there = ledger.deployed(previous, project.name)
    if there is None or there.status != "deployed":
        raise PromotionRefused(f"`{project.name}` has not succeeded in {previous}")
    if project.artifact:
        store.read(there.sha256)  # the zip DEV ran must still be in the store, intact
        return dict(there.artifact)
    current = revision(project, estate_dir)
    if current.sha256 != there.sha256:
        raise PromotionRefused(
            f"`{project.name}` changed since it succeeded in {previous} "
            f"({there.label} there, {current.label} now): promote it to {previous} first"
        )
    return current.to_json()
