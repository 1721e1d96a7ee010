"""Fixtures of the campaigns tests: the app on moto's tables, a controllable clock, and a
``Client`` that sends API Gateway events through the real Lambda handler.

The clock starts on the runbook's SIT deployment day (2026-01-10 10:00 UTC), so the
runbook's ``start_date: 2026-02-01`` is in the future as it was when the runbook was
written, and it ticks a second per request so creation order is well defined.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from bbws.schemas.dynamodb_definition import PK, SK, entity_key, tenant_partition
from bbws.services.app import build_handler
from bbws.services.campaigns.api import create_app
from bbws.services.config import Settings
from bbws.services.ids import new_id
from tests.bbws.services.support import (
    TENANT,
    Invocation,
    bearer,
    invoke,
    moto_account,
    rest_event,
)

RUNBOOK_DAY = datetime(2026, 1, 10, 10, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = RUNBOOK_DAY
    tick: timedelta = timedelta(seconds=1)
    # One hook runs (and is dropped) per reading: the app reads the clock between its read
    # and its write, which is where a concurrent request's write would land.
    hooks: list[Callable[[], None]] = field(default_factory=list)

    def __call__(self) -> datetime:
        if self.hooks:
            self.hooks.pop(0)()
        current = self.now
        self.now += self.tick
        return current


@dataclass
class Client:
    """``client.post("/campaigns", body)`` as the admin of tenant-a unless told otherwise."""

    handler: Callable[[dict[str, Any], Any], dict[str, Any]]
    token: Callable[..., str]
    calls: list[dict[str, Any]] = field(default_factory=list)  # DynamoDB calls made

    def headers(self, tenant: str = TENANT, admin: bool = True) -> dict[str, str]:
        return bearer(self.token(tenant, ("admin",) if admin else ()))

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        tenant: str = TENANT,
        admin: bool = True,
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
        anonymous: bool = False,
    ) -> Invocation:
        auth = {} if anonymous else self.headers(tenant, admin)
        event = rest_event(
            method, path, body=body, headers={**auth, **(headers or {})}, query=query
        )
        return invoke(self.handler, event)

    def get(self, path: str, **kw: Any) -> Invocation:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any, **kw: Any) -> Invocation:
        return self.request("POST", path, body, **kw)

    def put(self, path: str, body: Any, **kw: Any) -> Invocation:
        return self.request("PUT", path, body, **kw)

    def patch(self, path: str, body: Any, **kw: Any) -> Invocation:
        return self.request("PATCH", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Invocation:
        return self.request("DELETE", path, **kw)

    def create(self, **fields: Any) -> dict[str, Any]:
        """A campaign created through the API (201 asserted); ``fields`` override defaults."""
        body = {"name": "Campaign", "start_date": "2026-02-01", **fields}
        status, _, created = self.post("/campaigns", body)
        assert status == 201, created
        return dict(created)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="package")
def moto_tables() -> Iterator[boto3.session.Session]:
    """``aws_tables`` (moto, the real dynamodb stack applied), built once for this package.

    Applying the stack takes about half a second; the tests need empty tables, not new
    ones, so ``dynamodb`` empties the two this service touches before each test instead.
    """
    with moto_account() as session:
        yield session


@pytest.fixture
def dynamodb(moto_tables: boto3.session.Session, settings: Settings) -> Any:
    resource = moto_tables.resource("dynamodb")
    for name in (settings.campaigns_table, settings.products_table):
        table = resource.Table(name)
        keys = table.scan(
            ProjectionExpression="#p, #s", ExpressionAttributeNames={"#p": PK, "#s": SK}
        )
        with table.batch_writer() as batch:
            for key in keys["Items"]:
                batch.delete_item(Key=key)
    return resource


@pytest.fixture
def make_client(
    dynamodb: Any, settings: Settings, make_token: Callable[..., str]
) -> Callable[[Clock], Client]:
    def make(clock: Clock) -> Client:
        app = create_app(settings, dynamodb=dynamodb, clock=clock)
        return Client(build_handler(app), make_token)

    return make


@pytest.fixture
def client(dynamodb: Any, make_client: Callable[[Clock], Client], clock: Clock) -> Iterator[Client]:
    client = make_client(clock)

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        client.calls.append({"operation": model.name, **params})

    # Every DynamoDB call the app makes, to prove which index (never a Scan) served a list.
    dynamodb.meta.client.meta.events.register("provide-client-params.dynamodb.*", record)
    yield client
    dynamodb.meta.client.meta.events.unregister("provide-client-params.dynamodb.*", record)


@pytest.fixture
def products(dynamodb: Any, settings: Settings) -> Callable[..., list[str]]:
    """``products(3, tenant=...)``: ids of new items in that tenant's products table."""
    table = dynamodb.Table(settings.products_table)

    def make(count: int = 1, tenant: str = TENANT) -> list[str]:
        ids = [new_id() for _ in range(count)]
        for pid in ids:
            table.put_item(
                Item={PK: tenant_partition(tenant), SK: entity_key("PRODUCT", pid), "name": pid}
            )
        return ids

    return make
