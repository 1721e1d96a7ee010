"""Typed settings of a BBWS service, read once per cold start from its environment.

Production code calls :func:`get_settings`; tests and the local sandbox build their own with
``Settings.from_env({...})`` and pass them to ``make_app(..., settings=...)``, so nothing
global has to be patched. Table and bucket names are derived from ``BBWS_ENV`` through the
schema definitions, never spelled here.

Variables (all strings, as Lambda passes them):

    BBWS_ENV               dev | sit | prod (the environments the tables exist in)
    BBWS_DOMAIN            e.g. sit.kimmyai.io; image URLs are https://images.<domain>/<key>
    JWKS_URL               https://cognito-idp.<region>.amazonaws.com/<pool>/.well-known/jwks.json
    JWT_ISSUER             the token's expected ``iss``
    JWT_AUDIENCE           optional: the app client id (``aud`` of id tokens, ``client_id``
                           of access tokens)
    BBWS_CURSOR_KEY        HMAC key of pagination cursors, at least 32 characters
    BBWS_FAULT_ERROR_RATE  0..1, default 0: that fraction of non-health requests fails (500)
    BBWS_FAULT_LATENCY_MS  default 0: delay added to every non-health request
    BBWS_MAX_BODY_BYTES    default 65536: larger request bodies are refused (413)
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import Annotated, Final, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from bbws.schemas.dynamodb_definition import ENVIRONMENTS, standard_definition
from bbws.schemas.s3_definition import BUCKET_ROLES, bucket_name

DEFAULT_MAX_BODY_BYTES: Final = 64 * 1024
# Read by from_env: environment variable -> Settings field.
_VARIABLES: Final = {
    "BBWS_ENV": "env",
    "BBWS_DOMAIN": "domain",
    "JWKS_URL": "jwks_url",
    "JWT_ISSUER": "jwt_issuer",
    "JWT_AUDIENCE": "jwt_audience",
    "BBWS_CURSOR_KEY": "cursor_key",
    "BBWS_FAULT_ERROR_RATE": "fault_error_rate",
    "BBWS_FAULT_LATENCY_MS": "fault_latency_ms",
    "BBWS_MAX_BODY_BYTES": "max_body_bytes",
}


M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """The function's environment is incomplete or invalid: fail the cold start loudly."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    env: str
    domain: Annotated[str, Field(min_length=3, pattern=r"^[a-z0-9.-]+$")]
    jwks_url: Annotated[str, Field(pattern=r"^(https?|file)://")]
    jwt_issuer: Annotated[str, Field(min_length=1)]
    jwt_audience: str | None = None
    # SecretStr keeps the key out of reprs and logs.
    cursor_key: SecretStr = Field(min_length=32)
    fault_error_rate: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    fault_latency_ms: Annotated[int, Field(ge=0, le=30_000)] = 0
    max_body_bytes: Annotated[int, Field(gt=0)] = DEFAULT_MAX_BODY_BYTES

    @field_validator("env")
    @classmethod
    def _known_env(cls, value: str) -> str:
        return known_environment(value)

    @model_validator(mode="after")
    def _https_outside_dev(self) -> Settings:
        # file:// (tests) and http://127.0.0.1 (local sandbox) are for dev only.
        if self.env != "dev" and not self.jwks_url.startswith("https://"):
            raise ValueError("JWKS_URL must be https:// outside dev")
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Settings from environment variables; empty values count as unset."""
        return from_environ(cls, environ, _VARIABLES, "service")

    @property
    def cursor_secret(self) -> bytes:
        return self.cursor_key.get_secret_value().encode()

    def table(self, base_name: str) -> str:
        """The physical table name, e.g. ``table("products") == "products-sit"``."""
        names = _table_names(self.env)
        if base_name not in names:
            raise KeyError(f"no table {base_name!r} in the {self.env} definition")
        return names[base_name]

    @property
    def products_table(self) -> str:
        return self.table("products")

    @property
    def campaigns_table(self) -> str:
        return self.table("campaigns")

    @property
    def orders_table(self) -> str:
        return self.table("orders")

    @property
    def tenants_table(self) -> str:
        return self.table("tenants")

    @property
    def users_table(self) -> str:
        return self.table("users")

    def bucket(self, role: str) -> str:
        """A bucket of this environment, e.g. ``bucket("product-images")``."""
        if role not in BUCKET_ROLES:
            raise KeyError(f"no bucket role {role!r}; expected one of {BUCKET_ROLES}")
        return bucket_name(role, self.env)

    @property
    def product_images_bucket(self) -> str:
        return self.bucket("product-images")

    @property
    def templates_bucket(self) -> str:
        return self.bucket("templates")

    def image_url(self, key: str) -> str:
        """Where the CDN serves an object of the product-images bucket."""
        return f"https://images.{self.domain}/{key.lstrip('/')}"


@functools.cache
def _table_names(env: str) -> dict[str, str]:
    return {t.base_name: t.name for t in standard_definition(env).tables}


def known_environment(value: str) -> str:
    # The tables only exist for these; a typo must not silently point at "products-sitt".
    if value not in ENVIRONMENTS:
        raise ValueError(f"must be one of {', '.join(ENVIRONMENTS)}")
    return value


def from_environ(
    model: type[M], environ: Mapping[str, str], variables: Mapping[str, str], what: str
) -> M:
    """A settings model from environment variables (``variables`` maps each to its field;
    empty values count as unset). Errors name the variable, never its value."""
    values = {field: environ[var] for var, field in variables.items() if environ.get(var)}
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{variable_name(e['loc'], variables)}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid {what} environment: {problems}") from None


def variable_name(loc: tuple[int | str, ...], variables: Mapping[str, str]) -> str:
    if not loc:  # a check across variables (model validator)
        return "environment"
    field = str(loc[0])
    return next((var for var, name in variables.items() if name == field), field)


@functools.cache
def get_settings() -> Settings:
    """This process's settings, read once per cold start (tests: ``get_settings.cache_clear``)."""
    return Settings.from_env(os.environ)
