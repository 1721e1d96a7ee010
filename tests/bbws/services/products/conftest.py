"""Fixtures of the products tests.

The shared ``aws`` fixture applies the real DynamoDB and S3 stacks to a fresh moto for
every test (about 0.7 s each). Every products read and write is scoped to the caller's
tenant, so these tests share one moto per package instead (``cloud``) and keep apart by
giving each test its own tenants: ``api.tenant`` and ``api.other``. Their items are
deleted after the test, because moto copies the whole table for every transaction.

    api(method, path, body=..., query=..., headers=..., tenant=..., role="admin")
        -> Invocation(status, headers, body), through the Lambda handler
    api.create(**fields) -> the created product's body (the runbook's product by default)
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import boto3
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from bbws.schemas.dynamodb_definition import PK, SK, tenant_partition
from bbws.services.app import build_handler
from bbws.services.config import Settings
from bbws.services.products.api import create_app
from tests.bbws.services.support import (
    Invocation,
    invoke,
    moto_account,
    rest_event,
    sign_token,
)

Role = Literal["admin", "member", "anonymous"]
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

# The runbook's Test 3 body, exactly.
RUNBOOK_PRODUCT: dict[str, Any] = {
    "name": "SIT Test Product",
    "description": "Test product for SIT validation",
    "category": "Electronics",
    "price": 299.99,
    "currency": "USD",
    "inventory": 100,
    "sku": "TEST-SIT-001",
    "image_url": "https://images.sit.kimmyai.io/test-product.jpg",
}


def new_tenant() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="package")
def cloud() -> Iterator[boto3.session.Session]:
    """moto with the real dynamodb and s3 stacks of env dev, once for the package (as the
    shared ``aws`` fixture builds them per test)."""
    with moto_account(buckets=True) as session:
        yield session


@pytest.fixture(scope="package")
def product_settings(environ: dict[str, str]) -> Settings:
    return Settings.from_env(environ)


@pytest.fixture(scope="package")
def handler(cloud: boto3.session.Session, product_settings: Settings) -> Handler:
    return build_handler(create_app(product_settings))


@pytest.fixture(scope="package")
def sign(signing_key: rsa.RSAPrivateKey) -> Callable[..., str]:
    """``make_token`` for fixtures wider than a test."""
    return functools.partial(sign_token, signing_key)


@dataclass
class Api:
    handler: Handler
    make_token: Callable[..., str]
    tenant: str = field(default_factory=new_tenant)
    other: str = field(default_factory=new_tenant)
    _headers: dict[tuple[str, Role], dict[str, str]] = field(default_factory=dict)

    def headers(self, tenant: str, role: Role) -> dict[str, str]:
        if role == "anonymous":
            return {}
        if (tenant, role) not in self._headers:  # signing is the slow part of a request
            groups = ("admin",) if role == "admin" else ()
            token = self.make_token(tenant, groups)
            self._headers[tenant, role] = {"Authorization": f"Bearer {token}"}
        return self._headers[tenant, role]

    def __call__(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        tenant: str | None = None,
        role: Role = "admin",
    ) -> Invocation:
        all_headers = {**self.headers(tenant or self.tenant, role), **(headers or {})}
        event = rest_event(method, path, body=body, headers=all_headers, query=query)
        return invoke(self.handler, event)

    def create(self, tenant: str | None = None, **fields: Any) -> dict[str, Any]:
        body = {**RUNBOOK_PRODUCT, "image_url": None, **fields}
        body = {k: v for k, v in body.items() if v is not None}
        status, _, created = self("POST", "/products", body=body, tenant=tenant)
        assert status == 201, created
        return created  # type: ignore[no-any-return]

    def purge(self, client: Any, table: str) -> None:
        """Delete both tenants' items."""
        for tenant in (self.tenant, self.other):
            pages = client.get_paginator("query").paginate(
                TableName=table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": tenant_partition(tenant)}},
                ProjectionExpression="pk, sk",
            )
            for page in pages:
                for item in page["Items"]:
                    client.delete_item(TableName=table, Key={PK: item[PK], SK: item[SK]})


@pytest.fixture
def api(
    handler: Handler, sign: Callable[..., str], cloud: Any, product_settings: Settings
) -> Iterator[Api]:
    api = Api(handler, sign)
    yield api
    api.purge(cloud.client("dynamodb"), product_settings.products_table)


@pytest.fixture
def ddb(cloud: boto3.session.Session) -> Any:
    return cloud.client("dynamodb")


@pytest.fixture
def s3_client(cloud: boto3.session.Session) -> Any:
    return cloud.client("s3")
