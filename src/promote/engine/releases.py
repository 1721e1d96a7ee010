"""Which release each project of a run promotes: build once, promote along the path.

In the first environment of ``promotion_path`` a project's release is made: a lambda-api's
artifact is built (a zip, its sha256, a label) and kept in the artifact store; any other
project's release is its definition revision (a content hash). In every later environment
the release is the one the previous environment holds in the ledger, and it may enter only
after it succeeded there: SIT takes exactly the zip that DEV ran. An infrastructure
project whose definition changed since the previous environment is refused until the new
revision has succeeded there too.

A promotion policy of the estate (``promote run ENV --policy NAME``) names another
environment the release must have succeeded in, and may require a passed soak there.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from promote.engine.artifacts import ArtifactStore, build, revision
from promote.engine.errors import PromotionRefused
from promote.engine.ledger import Ledger
from promote.model import Estate, Project, PromotionPolicy


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
    policy: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Project -> its release for this run. Raises PromotionRefused, naming every project
    that may not enter ``env`` yet and why. A sandbox run has no release for the projects
    that are not in the sandbox: it skips them."""
    rule = _policy(estate, env, policy)
    if (
        rule is None
        and env not in estate.spec.promotion_path
        and estate.environment(env).production
    ):
        raise PromotionRefused(
            f"{env} is a production environment off promotion_path: nothing has proven a "
            "release for it; put it on the path or name a promotion policy for it"
        )
    previous = rule.after if rule else previous_environment(estate, env)
    releases: dict[str, dict[str, Any]] = {}
    refusals: list[str] = []
    for project in projects:
        if sandbox and project.not_in_sandbox:
            continue
        try:
            release = _release(project, estate_dir, previous, ledger, store)
            if rule is not None and rule.soak and previous is not None:
                _soaked(ledger, previous, project.name, release, policy or "")
            releases[project.name] = release
        except PromotionRefused as refused:
            refusals.append(refused.message)
    if refusals:
        raise PromotionRefused(f"not promotable to {env}: " + "; ".join(refusals))
    return releases


def _policy(estate: Estate, env: str, name: str | None) -> PromotionPolicy | None:
    if name is None:
        return None
    found = estate.spec.promotion_policies.get(name)
    if found is None:
        known = ", ".join(estate.spec.promotion_policies) or "none"
        raise PromotionRefused(f"the estate has no promotion policy `{name}` ({known})")
    if found.environment != env:
        raise PromotionRefused(f"policy `{name}` is for {found.environment}, not {env}")
    return found


def _soaked(ledger: Ledger, where: str, project: str, release: dict[str, Any], name: str) -> None:
    if not ledger.soak_passed(where, project, str(release.get("sha256"))):
        raise PromotionRefused(
            f"`{project}` has no passed soak of {release.get('label')} in {where} (policy `{name}`)"
        )


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
