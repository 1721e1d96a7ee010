"""The estate: ``estate.yaml`` (environments, path, roles, waves) plus its projects."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from pydantic import Field, model_validator

from promote.errors import UnknownEnvironment
from promote.model.base import Duration, StrictModel
from promote.model.environment import Environment, Input, Role, Wave
from promote.model.policies import PromotionPolicy
from promote.model.project import Project
from promote.suggest import did_you_mean

ESTATE_FILE = "estate.yaml"


class EstateSpec(StrictModel):
    """The contents of ``estate.yaml``."""

    name: str
    description: str | None = None
    environments: dict[str, Environment]
    promotion_path: list[str]
    roles: dict[str, Role] = Field(default_factory=dict)
    waves: list[Wave] = Field(default_factory=list)
    inputs: dict[str, Input] = Field(default_factory=dict)
    approval_ttl: Duration = timedelta(hours=24)
    promotion_policies: dict[str, PromotionPolicy] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _policies_name_environments(self) -> EstateSpec:
        for name, policy in self.promotion_policies.items():
            for field_name in ("environment", "after"):
                value = getattr(policy, field_name)
                if value not in self.environments:
                    known = list(self.environments)
                    raise ValueError(
                        f"promotion policy `{name}`: {field_name} `{value}` is not an "
                        f"environment{did_you_mean(value, known)}"
                    )
        return self


@dataclass(frozen=True)
class Estate:
    """A loaded estate. Pure data: it knows the names of its files, never their contents."""

    spec: EstateSpec
    projects: Sequence[Project] = field(default_factory=tuple)
    spec_file: str = ESTATE_FILE

    @property
    def name(self) -> str:
        return self.spec.name

    def project(self, name: str) -> Project | None:
        return next((p for p in self.projects if p.name == name), None)

    def environment(self, name: str) -> Environment:
        try:
            return self.spec.environments[name]
        except KeyError:
            known = list(self.spec.environments)
            raise UnknownEnvironment(
                f"unknown environment `{name}`{did_you_mean(name, known)}; "
                f"the estate has {', '.join(known)}"
            ) from None

    def wave(self, name: str) -> Wave | None:
        return next((w for w in self.spec.waves if w.name == name), None)

    def production_environments(self) -> list[str]:
        """Environments marked ``production: true``, or else the last step of the path."""
        marked = [name for name, env in self.spec.environments.items() if env.production]
        if marked:
            return marked
        return self.spec.promotion_path[-1:]

    def __iter__(self) -> Iterator[Project]:
        return iter(self.projects)
