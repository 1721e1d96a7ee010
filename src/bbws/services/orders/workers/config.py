"""Settings of the orders workers, and the lazy Lambda entry point they share.

The workers take no HTTP requests, so they need none of the API's JWKS or cursor settings;
what they need besides ``BBWS_ENV`` / ``BBWS_DOMAIN`` (names derived as for the API):

    ORDERS_QUEUE_URL            the order-events queue (DLQ replay sends back to it)
    ORDERS_DLQ_URL              its dead-letter queue (DLQ replay reads it)
    ORDERS_SENDER_EMAIL         the SES-verified From address of confirmations
    ORDERS_SUPPORT_EMAIL        shown in every email; default support@<BBWS_DOMAIN>
    ORDERS_BRAND_NAME           shown in every email; default "BBWS Store"
    ORDERS_STALE_AFTER_MINUTES  pending orders older than this are swept; default 60
    ORDERS_REPLAY_MAX           messages one DLQ replay moves at most; default 100

A worker asks for what it needs with ``require``, so a missing variable fails its cold
start naming the variable, and no worker fails for a variable only another one uses.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bbws.schemas.dynamodb_definition import table_name
from bbws.schemas.s3_definition import bucket_name
from bbws.services.config import ConfigError, from_environ, known_environment, variable_name
from bbws.services.orders.store import Tables

_VARIABLES: Final = {
    "BBWS_ENV": "env",
    "BBWS_DOMAIN": "domain",
    "ORDERS_QUEUE_URL": "queue_url",
    "ORDERS_DLQ_URL": "dlq_url",
    "ORDERS_SENDER_EMAIL": "sender_email",
    "ORDERS_SUPPORT_EMAIL": "support_email",
    "ORDERS_BRAND_NAME": "brand_name",
    "ORDERS_STALE_AFTER_MINUTES": "stale_after_minutes",
    "ORDERS_REPLAY_MAX": "replay_max",
}
REPLAY_HARD_MAX: Final = 1000  # one invocation's work must fit its timeout


class WorkerSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    env: str
    domain: Annotated[str, Field(min_length=3, pattern=r"^[a-z0-9.-]+$")]
    queue_url: str | None = None
    dlq_url: str | None = None
    sender_email: str | None = None
    support_email: str | None = None
    brand_name: Annotated[str, Field(min_length=1, max_length=80)] = "BBWS Store"
    stale_after_minutes: Annotated[int, Field(ge=1, le=30 * 24 * 60)] = 60
    replay_max: Annotated[int, Field(ge=1, le=REPLAY_HARD_MAX)] = 100

    @field_validator("env")
    @classmethod
    def _known_env(cls, value: str) -> str:
        return known_environment(value)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> WorkerSettings:
        return from_environ(cls, environ, _VARIABLES, "worker")

    def require(self, field: str) -> str:
        value = getattr(self, field)
        if not value:
            raise ConfigError(f"{variable_name((field,), _VARIABLES)} is required by this worker")
        return str(value)

    @property
    def tables(self) -> Tables:
        return Tables.for_env(self.env)

    @property
    def tenants_table(self) -> str:
        return table_name("tenants", self.env)

    @property
    def orders_bucket(self) -> str:
        return bucket_name("orders", self.env)

    @property
    def templates_bucket(self) -> str:
        return bucket_name("templates", self.env)

    @property
    def support_address(self) -> str:
        return self.support_email or f"support@{self.domain}"


@functools.cache
def worker_settings() -> WorkerSettings:
    """This process's worker settings, read once per cold start."""
    return WorkerSettings.from_env(os.environ)


Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def lazy_handler(build: Callable[[], Handler]) -> Handler:
    """A Lambda entry point that builds its worker on the first invocation (the cold
    start), so importing a worker module reads no environment and creates no client."""
    instance = functools.cache(build)

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return instance()(event, context)

    return handler
