"""Reads and single-item writes of orders: get, list (three access paths), status moves.

Placing and cancelling touch products too, so they are transactions (``transactions``).
"""

from __future__ import annotations

import functools
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import boto3
from botocore.exceptions import ClientError

from bbws.schemas.dynamodb_definition import (
    ORDERS_BY_CUSTOMER,
    ORDERS_BY_STATUS,
    PK,
    SK,
    standard_definition,
    tenant_partition,
    tenant_scoped,
)
from bbws.services.aws import AWS_CONFIG
from bbws.services.errors import Conflict, NotFound, is_condition_failure, on_condition_failure
from bbws.services.orders.items import (
    ORDER_PREFIX,
    order_from_item,
    order_key,
    status_update,
    timestamp,
    to_dynamo,
)
from bbws.services.orders.model import NEXT_STATUS, Order, Status

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.service_resource import DynamoDBServiceResource, Table

Key = dict[str, Any]
_ORDER_NOT_FOUND: Final = "order not found"
# Fail fast inside a Lambda's timeout; "standard" retries back off on throttling.


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Tables:
    orders: str
    products: str
    campaigns: str

    @classmethod
    def for_env(cls, env: str) -> Tables:
        # Through the definition, as Settings.table does: one source for physical names.
        definition = standard_definition(env)
        return cls(*(definition.table(base).name for base in ("orders", "products", "campaigns")))


@dataclass(frozen=True)
class ListFilter:
    """What a listing is scoped by; also the cursor's query, so a cursor fits one filter."""

    customer_id: str | None = None
    status: Status | None = None

    @property
    def index(self) -> str:
        if self.customer_id is not None:
            return ORDERS_BY_CUSTOMER.name
        return ORDERS_BY_STATUS.name if self.status is not None else "table"

    def scope(self) -> dict[str, str | None]:
        status = self.status.value if self.status else None
        return {"index": self.index, "customer": self.customer_id, "status": status}


class OrderStore:
    """One per cold start; the client is shared (boto3 clients are thread-safe). Without
    one, it is created on first use, so building an app (e.g. for its OpenAPI document)
    needs no AWS region or credentials. ``resource`` serves ``campaigns`` (the campaigns
    service's reader takes a resource Table); without one it is made on first use, in the
    client's region."""

    def __init__(
        self,
        client: DynamoDBClient | None,
        tables: Tables,
        *,
        resource: DynamoDBServiceResource | None = None,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._client = client
        self._resource = resource
        self._lock = threading.Lock()
        self.tables = tables
        self.clock = clock
        self.sleep = sleep
        self.rng = rng

    @functools.cached_property
    def client(self) -> DynamoDBClient:
        return self._client or boto3.client("dynamodb", config=AWS_CONFIG)

    @property
    def campaigns(self) -> Table:
        """The campaigns table, for ``campaigns.repository.active_discounts``."""
        with self._lock:  # concurrent first uses (threads) make one resource, not several
            if self._resource is None:
                region = self.client.meta.region_name
                self._resource = boto3.resource("dynamodb", config=AWS_CONFIG, region_name=region)
            return self._resource.Table(self.tables.campaigns)

    def now(self) -> str:
        return timestamp(self.clock())

    def get(self, tenant_id: str, order_id: str) -> Order | None:
        item = self.client.get_item(
            TableName=self.tables.orders, Key=order_key(tenant_id, order_id), ConsistentRead=True
        ).get("Item")
        return order_from_item(item) if item else None

    def require(self, tenant_id: str, order_id: str, *, owner: str | None = None) -> Order:
        """The order, or 404; with ``owner``, another customer's order is a 404 too, so a
        member cannot learn which order ids exist."""
        order = self.get(tenant_id, order_id)
        if order is None or (owner is not None and order.customer_id != owner):
            raise NotFound(_ORDER_NOT_FOUND)
        return order

    def page(
        self, tenant_id: str, scope: ListFilter, *, limit: int, start: Key | None
    ) -> tuple[list[Order], Key | None]:
        """One page and DynamoDB's LastEvaluatedKey. With a status filter on a customer's
        orders a page may hold fewer than ``limit`` orders (DynamoDB filters after it
        reads ``limit`` items); follow ``next_cursor`` until it is None."""
        request = self._list_request(tenant_id, scope)
        request["Limit"] = limit
        if start:
            request["ExclusiveStartKey"] = start
        page = self.client.query(**request)
        orders = [order_from_item(item) for item in page.get("Items", [])]
        return orders, page.get("LastEvaluatedKey")

    def _list_request(self, tenant_id: str, scope: ListFilter) -> dict[str, Any]:
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        request: dict[str, Any] = {"TableName": self.tables.orders}
        if scope.customer_id is not None:  # a customer's history, newest first
            request |= {"IndexName": ORDERS_BY_CUSTOMER.name, "ScanIndexForward": False}
            condition = "#p = :p"
            names["#p"] = ORDERS_BY_CUSTOMER.key.partition.name
            values[":p"] = tenant_scoped(tenant_id, scope.customer_id)
            if scope.status is not None:
                request["FilterExpression"] = "#status = :status"
                names["#status"], values[":status"] = "status", scope.status.value
        elif scope.status is not None:  # the fulfilment queue, oldest first
            request |= {"IndexName": ORDERS_BY_STATUS.name, "ScanIndexForward": True}
            condition = "#p = :p"
            names["#p"] = ORDERS_BY_STATUS.key.partition.name
            values[":p"] = tenant_scoped(tenant_id, scope.status.value)
        else:  # every order of the tenant, newest first (ULID sort keys)
            request["ScanIndexForward"] = False
            condition = "#p = :p AND begins_with(#sk, :prefix)"
            names |= {"#p": PK, "#sk": SK}
            values |= {":p": tenant_partition(tenant_id), ":prefix": ORDER_PREFIX}
        request |= {
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": to_dynamo(values),
        }
        return request

    def advance(
        self, tenant_id: str, order_id: str, to: Status, *, extra: Mapping[str, Any] | None = None
    ) -> Order:
        """Move an order one step forward (pending → confirmed → shipped → delivered).

        The write is conditional on the status that was read, so two concurrent moves
        cannot both succeed: the loser gets a 409 like any other invalid transition.
        """
        order = self.require(tenant_id, order_id)
        if NEXT_STATUS.get(order.status) != to:
            raise Conflict(f"an order cannot go from {order.status.value} to {to.value}")
        expression, names, values = status_update(tenant_id, to, self.now(), extra=extra)
        values |= to_dynamo({":from": order.status.value})
        with on_condition_failure(Conflict("the order changed meanwhile; read it and retry")):
            item = self.client.update_item(
                TableName=self.tables.orders,
                Key=order_key(tenant_id, order_id),
                UpdateExpression=expression,
                ConditionExpression="#status = :from",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )["Attributes"]
        return order_from_item(item)

    def mark(self, tenant_id: str, order_id: str, attribute: str) -> bool:
        """Set ``attribute`` to now unless it is set; False if it already was (at most once)."""
        try:
            self.client.update_item(
                TableName=self.tables.orders,
                Key=order_key(tenant_id, order_id),
                UpdateExpression="SET #a = :now",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(#a)",
                ExpressionAttributeNames={"#a": attribute},
                ExpressionAttributeValues=to_dynamo({":now": self.now()}),
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True

    def backoff(self, attempt: int) -> None:
        """Jittered pause before retrying a transaction DynamoDB cancelled for a conflict."""
        self.sleep(self.rng() * 0.025 * (2**attempt))
