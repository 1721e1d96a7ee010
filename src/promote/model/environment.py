"""Environments, roles, waves and runtime inputs: the estate-wide half of the model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import Field, field_validator, model_validator

from promote.model.base import StrictModel

EDGE_REGION = "us-east-1"


class Credentials(StrictModel):
    """How to reach the environment's account: a named AWS profile, a role to assume, or both."""

    profile: str | None = None
    role_arn: str | None = None

    @model_validator(mode="after")
    def _one_way_in(self) -> Credentials:
        if not self.profile and not self.role_arn:
            raise ValueError("credentials need a `profile` or a `role_arn`")
        return self


class Environment(StrictModel):
    account_id: str
    region: str
    dr_region: str | None = None
    domain: str
    api_domain: str
    credentials: Credentials
    # CloudFront, its certificates and Lambda@Edge live here whatever the home region.
    edge_region: str = EDGE_REGION
    production: bool = False
    # Four eyes: whoever started a run may not approve it.
    four_eyes: bool = False
    description: str | None = None
    variables: dict[str, str] = Field(default_factory=dict)
    # Hosts served straight from an S3 bucket behind a CDN that is not one of the estate's
    # CloudFront distributions (BBWS: images.<domain> -> the product-images bucket). The
    # sandbox's CDN front serves them; real AWS needs nothing from this.
    static_sites: dict[str, str] = Field(default_factory=dict)

    @field_validator("account_id", mode="before")
    @classmethod
    def _account_id_is_text(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            raise ValueError(
                "account id must be quoted: YAML reads unquoted digits as a number "
                "and drops leading zeros"
            )
        return value


class Role(StrictModel):
    """A role of the approval matrix (Tech Lead, DBA, ...) and the people who hold it."""

    title: str
    people: list[str] = Field(default_factory=list)


def _as_utc(value: datetime) -> datetime:
    # Times written without an offset are read as UTC, so naive and aware times compare.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Wave(StrictModel):
    name: str
    title: str | None = None
    depends_on: list[str] = Field(default_factory=list)
    # Planned start per environment; see _as_utc for times without an offset.
    schedule: dict[str, datetime] = Field(default_factory=dict)

    @field_validator("schedule", mode="after")
    @classmethod
    def _normalise(cls, value: dict[str, datetime]) -> dict[str, datetime]:
        return {env: _as_utc(when) for env, when in value.items()}


class Input(StrictModel):
    """A value given when a run starts, such as an API token; secrets never reach the journal."""

    description: str | None = None
    secret: bool = False
