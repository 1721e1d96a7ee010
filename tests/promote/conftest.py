"""Small estates, written as data and, where the loader is under test, to real files."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from promote.model import Estate, EstateSpec, Project

SPEC: dict[str, Any] = {
    "name": "shop",
    "environments": {
        "dev": {
            "account_id": "111111111111",
            "region": "eu-west-1",
            "domain": "dev.shop.test",
            "api_domain": "api.dev.shop.test",
            "credentials": {"profile": "shop-dev"},
        },
        "prod": {
            "account_id": "222222222222",
            "region": "af-south-1",
            "dr_region": "eu-west-1",
            "domain": "shop.test",
            "api_domain": "api.shop.test",
            "credentials": {"profile": "shop-prod"},
            "production": True,
        },
    },
    "promotion_path": ["dev", "prod"],
    "roles": {
        "tech_lead": {"title": "Tech Lead", "people": ["ann", "bob"]},
        "dba": {"title": "DBA", "people": ["dee"]},
    },
    "inputs": {"token": {"secret": True}},
    "waves": [
        {"name": "infra", "schedule": {"prod": "2026-02-24T08:00:00"}},
        {"name": "apps", "depends_on": ["infra"], "schedule": {"prod": "2026-02-25T09:00:00"}},
    ],
}


def project(name: str, wave: str = "apps", *deps: str, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": name,
        "kind": extra.pop("kind", "generic"),
        "wave": wave,
        "depends_on": [{"project": d, "reason": "needs it"} for d in deps],
    }
    data.update(extra)
    return data


def default_projects() -> list[dict[str, Any]]:
    return [
        project("tables", "infra", estimate="10m"),
        project("api", "apps", "tables", estimate="30m"),
    ]


def build(
    spec: dict[str, Any] | None = None, projects: list[dict[str, Any]] | None = None
) -> Estate:
    """An Estate straight from data, without files."""
    spec_model = EstateSpec.model_validate(spec if spec is not None else copy.deepcopy(SPEC))
    items = projects if projects is not None else default_projects()
    built = [Project.model_validate(p).with_origin(f"projects/{p['name']}.yaml") for p in items]
    return Estate(spec=spec_model, projects=tuple(built), spec_file="estate.yaml")


@pytest.fixture
def spec() -> dict[str, Any]:
    return copy.deepcopy(SPEC)


@pytest.fixture
def write_estate(tmp_path: Path) -> Callable[..., Path]:
    """Write an estate folder; project values may be raw YAML text."""

    def write(
        spec: dict[str, Any] | str | None = None,
        projects: dict[str, dict[str, Any] | str] | None = None,
    ) -> Path:
        root = tmp_path / "estate"
        shutil.rmtree(root, ignore_errors=True)  # each call writes a whole, fresh estate
        (root / "projects").mkdir(parents=True)
        spec_value = copy.deepcopy(SPEC) if spec is None else spec
        _dump(root / "estate.yaml", spec_value)
        chosen = projects if projects is not None else {p["name"]: p for p in default_projects()}
        for name, body in chosen.items():
            _dump(root / "projects" / f"{name}.yaml", body)
        return root

    return write


def _dump(path: Path, value: dict[str, Any] | str) -> None:
    text = value if isinstance(value, str) else yaml.safe_dump(value, sort_keys=False)
    path.write_text(text)
