"""Fixtures for the BBWS services' tests (shared layer and the three services).

settings        Settings for env dev, JWKS from a file:// URL, a cursor key
service_env     the same as environment variables (for modules that read them at import)
make_token      make_token(tenant="tenant-a", groups=(), token_use="id", expired=False, **claims)
auth_headers    auth_headers(tenant="tenant-a", groups=("admin",)) -> {"Authorization": ...}
make_event      make_event("POST", "/products", body={...}, headers=..., query=...)
lambda_context  a FakeLambdaContext (function name, request id, remaining time)
invoke          status, headers, body = invoke(handler, event)
aws_tables      moto with the real dynamodb stack applied: the five tables of env dev
aws             aws_tables plus the s3 stack: six buckets and the published templates
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from bbws.services.config import Settings, get_settings
from tests.bbws.services import support


@pytest.fixture(scope="session")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def jwks_url(signing_key: rsa.RSAPrivateKey, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = support.write_jwks(signing_key, tmp_path_factory.mktemp("jwks") / "jwks.json")
    return path.as_uri()


@pytest.fixture(scope="session")
def environ(jwks_url: str) -> dict[str, str]:
    return support.service_environ(jwks_url)


@pytest.fixture
def settings(environ: dict[str, str]) -> Settings:
    return Settings.from_env(environ)


@pytest.fixture
def service_env(environ: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The function's environment variables set, and get_settings() re-read from them."""
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture
def make_token(signing_key: rsa.RSAPrivateKey) -> Callable[..., str]:
    def make(
        tenant: str | None = support.TENANT,
        groups: tuple[str, ...] = (),
        token_use: str = "id",
        expired: bool = False,
        **claims: Any,
    ) -> str:
        return support.sign_token(signing_key, tenant, groups, token_use, expired, **claims)

    return make


@pytest.fixture
def auth_headers(make_token: Callable[..., str]) -> Callable[..., dict[str, str]]:
    def headers(tenant: str = support.TENANT, groups: tuple[str, ...] = ()) -> dict[str, str]:
        return support.bearer(make_token(tenant, groups))

    return headers


@pytest.fixture
def make_event() -> Callable[..., dict[str, Any]]:
    return support.rest_event


@pytest.fixture
def lambda_context() -> support.FakeLambdaContext:
    return support.FakeLambdaContext()


@pytest.fixture
def invoke() -> Callable[..., support.Invocation]:
    return support.invoke


@pytest.fixture
def aws_tables() -> Iterator[boto3.session.Session]:
    """moto with the five tables of env dev, created by the real stack's apply_all."""
    with support.moto_account() as session:
        yield session


@pytest.fixture
def aws(aws_tables: boto3.session.Session) -> boto3.session.Session:
    """``aws_tables`` plus the six buckets (and published templates) of the s3 stack."""
    support.add_buckets(aws_tables)
    return aws_tables


@pytest.fixture
def recorded_event_path() -> Path:
    return support.EVENTS / support.RECORDED_EVENT
