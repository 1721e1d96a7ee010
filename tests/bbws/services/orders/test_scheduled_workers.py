"""Scheduled workers on moto: the stale-order sweeper and the nightly export; settings."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from bbws.schemas.dynamodb_definition import tenant_partition
from bbws.services.config import ConfigError, Settings
from bbws.services.orders import transactions
from bbws.services.orders.items import to_dynamo
from bbws.services.orders.model import LineIn, OrderIn, Status
from bbws.services.orders.store import OrderStore
from bbws.services.orders.workers.config import WorkerSettings, lazy_handler
from bbws.services.orders.workers.export import NightlyExport
from bbws.services.orders.workers.sweeper import StaleOrderSweeper
from tests.bbws.services.orders.helpers import (
    Catalog,
)
from tests.bbws.services.support import OTHER_TENANT, TENANT, FakeLambdaContext

# --- 11. stale-order sweeper ------------------------------------------------------------


def test_the_sweeper_cancels_and_restocks_only_stale_pending_orders(
    store: OrderStore, catalog: Catalog, aws_tables: boto3.session.Session
) -> None:
    product = catalog.product(inventory=10)
    request = OrderIn(items=[LineIn(product_id=product, quantity=2)])
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    past = OrderStore(store.client, store.tables, clock=lambda: two_hours_ago)
    stale = transactions.place(past, TENANT, "c", request)
    confirmed = transactions.place(past, TENANT, "c", request)
    store.advance(TENANT, confirmed.id, Status.CONFIRMED)
    fresh = transactions.place(store, TENANT, "c", request)
    elsewhere = catalog.product(inventory=10, tenant=OTHER_TENANT)
    other = transactions.place(
        past, OTHER_TENANT, "c", OrderIn(items=[LineIn(product_id=elsewhere, quantity=1)])
    )
    assert catalog.stock(product) == 4
    sweeper = StaleOrderSweeper(store, stale_after=timedelta(hours=1), tenants_table="tenants-dev")
    result = sweeper({"tenants": [TENANT]}, FakeLambdaContext())
    assert (result["cancelled"], result["skipped"]) == (1, 0)
    cancelled = store.require(TENANT, stale.id)
    assert (cancelled.status, cancelled.cancel_reason) == (Status.CANCELLED, "expired")
    assert store.require(TENANT, confirmed.id).status == Status.CONFIRMED
    assert store.require(TENANT, fresh.id).status == Status.PENDING
    assert store.require(OTHER_TENANT, other.id).status == Status.PENDING  # not named
    assert catalog.stock(product) == 6
    assert sweeper({"tenants": [TENANT]}, FakeLambdaContext())["cancelled"] == 0
    assert catalog.stock(product) == 6
    # Without a list, every tenant with a profile item in the tenants table is swept.
    for tenant in (TENANT, OTHER_TENANT):
        profile = {"pk": tenant_partition(tenant), "sk": "TENANT", "name": tenant}
        aws_tables.client("dynamodb").put_item(TableName="tenants-dev", Item=to_dynamo(profile))
    assert sweeper({}, FakeLambdaContext())["cancelled"] == 1
    assert catalog.stock(elsewhere, tenant=OTHER_TENANT) == 10


# --- 10. nightly export -----------------------------------------------------------------


def test_the_export_writes_a_day_per_tenant_and_is_idempotent(
    aws: boto3.session.Session, store: OrderStore, catalog: Catalog, settings: Settings
) -> None:
    day = datetime(2026, 1, 10, tzinfo=UTC)
    moments = [day - timedelta(milliseconds=1), day, day + timedelta(hours=23, minutes=59)]
    moments.append(day + timedelta(days=1))
    product = catalog.product(inventory=100)
    request = OrderIn(items=[LineIn(product_id=product, quantity=1)])
    orders = [
        transactions.place(
            OrderStore(store.client, store.tables, clock=lambda m=m: m), TENANT, "c", request
        )
        for m in moments
    ]
    s3 = aws.client("s3")
    export = NightlyExport(
        store.client,
        s3,
        orders_table="orders-dev",
        tenants_table="tenants-dev",
        bucket="bbws-orders-dev",
    )
    event = {"date": "2026-01-10", "tenants": [TENANT, OTHER_TENANT]}
    result = export(event, FakeLambdaContext())
    mine, theirs = "exports/tenant-a/2026-01-10.jsonl", "exports/tenant-b/2026-01-10.jsonl"
    assert (result["written"], result["orders"]) == ([mine, theirs], 2)
    lines = s3.get_object(Bucket="bbws-orders-dev", Key=mine)["Body"].read().decode().splitlines()
    exported = [json.loads(line) for line in lines]
    assert [o["id"] for o in exported] == [orders[1].id, orders[2].id]
    assert exported[0]["tenant_id"] == TENANT
    assert exported[0]["total"] == orders[1].model_dump(mode="json")["total"]
    assert s3.get_object(Bucket="bbws-orders-dev", Key=theirs)["Body"].read() == b""
    # Again: same content, nothing written, no new object version.
    assert export(event, FakeLambdaContext())["unchanged"] == [mine, theirs]
    versions = s3.list_object_versions(Bucket="bbws-orders-dev", Prefix=mine)["Versions"]
    assert len(versions) == 1
    # A status change since is a new file for that day.
    store.advance(TENANT, orders[1].id, Status.CONFIRMED)
    assert export(event, FakeLambdaContext())["written"] == [mine]


def test_the_export_defaults_to_yesterday_and_backfills_since(
    aws: boto3.session.Session, store: OrderStore
) -> None:
    export = NightlyExport(
        store.client,
        aws.client("s3"),
        orders_table="orders-dev",
        tenants_table="tenants-dev",
        bucket="bbws-orders-dev",
    )
    scheduled = {"time": "2026-01-11T00:30:00Z", "tenants": [TENANT]}
    assert export(scheduled, FakeLambdaContext())["written"] == [
        "exports/tenant-a/2026-01-10.jsonl"
    ]
    since = {**scheduled, "since": "2026-01-08"}
    assert [k.rsplit("/", 1)[1] for k in export(since, FakeLambdaContext())["written"]] == [
        "2026-01-08.jsonl",
        "2026-01-09.jsonl",
    ]
    with pytest.raises(ValueError, match="31 days"):
        export({**scheduled, "since": "2025-01-01"}, FakeLambdaContext())


# --- settings and entry points ----------------------------------------------------------


def test_worker_settings_come_from_the_environment() -> None:
    settings = WorkerSettings.from_env(
        {"BBWS_ENV": "dev", "BBWS_DOMAIN": "dev.kimmyai.io", "ORDERS_STALE_AFTER_MINUTES": "15"}
    )
    assert (settings.stale_after_minutes, settings.support_address) == (
        15,
        "support@dev.kimmyai.io",
    )
    assert (settings.tables.orders, settings.orders_bucket) == ("orders-dev", "bbws-orders-dev")
    with pytest.raises(ConfigError, match="ORDERS_DLQ_URL"):
        settings.require("dlq_url")
    with pytest.raises(ConfigError, match="ORDERS_STALE_AFTER_MINUTES"):
        WorkerSettings.from_env(
            {"BBWS_ENV": "dev", "BBWS_DOMAIN": "x.io", "ORDERS_STALE_AFTER_MINUTES": "0"}
        )
    with pytest.raises(ConfigError, match="BBWS_ENV"):
        WorkerSettings.from_env({"BBWS_ENV": "test", "BBWS_DOMAIN": "x.io"})


def test_a_worker_is_built_on_its_first_invocation_only() -> None:
    builds: list[int] = []

    def build() -> Callable[[dict[str, Any], Any], dict[str, Any]]:
        builds.append(1)
        return lambda event, context: {"seen": event["n"]}

    handler = lazy_handler(build)
    assert builds == []
    assert [handler({"n": n}, None)["seen"] for n in range(3)] == [0, 1, 2]
    assert builds == [1]
