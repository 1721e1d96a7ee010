"""Single-product reads and writes, and the stock entries of the orders transaction.

The item layout is in ``items``. Writes re-read the item and write it back conditioned on
the version they read: a concurrent change (another admin, an order) is a 412 for a client
that sent If-Match, and a re-read and retry otherwise, so no partial update is lost.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import boto3
from botocore.exceptions import ClientError

from bbws.schemas.dynamodb_definition import PK, SK
from bbws.services.aws import AWS_CONFIG
from bbws.services.errors import Conflict, NotFound, PreconditionFailed, is_condition_failure
from bbws.services.products.etags import NONE, Precondition
from bbws.services.products.items import (
    VERSION,
    Item,
    ProductRecord,
    attributes,
    from_item,
    new_product,
    product_key,
    put_new,
    sku_key,
    timestamp,
)
from bbws.services.products.models import ProductCreate

# The orders service's entries for its transaction live in ``stock``; re-exported here.
from bbws.services.products.stock import InsufficientStock, release_stock, reserve_stock

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        TransactWriteItemTypeDef,
        UpdateTypeDef,
    )

WRITE_ATTEMPTS: Final = 3  # re-reads after a concurrent change, for clients without If-Match
_NOT_FOUND: Final = "product not found"
_STALE: Final = "the product changed since it was read (stale If-Match)"


class _Race(Exception):
    """The item changed between our read and our conditional write."""


class ProductRepository:
    def __init__(self, client: DynamoDBClient | None, table: str) -> None:
        self._client = client
        self.table = table

    @functools.cached_property
    def client(self) -> DynamoDBClient:
        # Made on first use: see bbws.services.aws.
        return self._client or boto3.client("dynamodb", config=AWS_CONFIG)

    def get(self, tenant_id: str, product_id: str) -> ProductRecord | None:
        item = self._item(tenant_id, product_id)
        return None if item is None else from_item(item)

    def create(self, tenant_id: str, data: ProductCreate) -> ProductRecord:
        item, marker = new_product(tenant_id, data)
        self._transact(
            [put_new(self.table, item), put_new(self.table, marker)],
            {1: Conflict(f"a product with sku {data.sku} already exists")},
        )
        return from_item(item)

    def update(
        self, tenant_id: str, product_id: str, changes: Mapping[str, Any], pre: Precondition = NONE
    ) -> ProductRecord:
        """Apply ``changes`` (field -> value; ``image_url: None`` removes the image).

        Only the changed attributes (and the index attributes derived from them) are
        written, in one UpdateItem: an order's stock update in between is never undone.
        """
        if "sku" in changes:  # the markers need the current SKU: read, then a transaction
            return self._rewrite(
                tenant_id,
                product_id,
                pre,
                lambda item: self._move_sku(tenant_id, item, changes, pre),
            )
        update = _update(self.table, product_key(tenant_id, product_id), tenant_id, changes, pre)
        update["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        try:
            response = self.client.update_item(**update, ReturnValues="ALL_NEW")
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise
            if "Item" in exc.response:  # it exists, so the version was what failed
                raise PreconditionFailed(_STALE) from exc
            raise NotFound(_NOT_FOUND) from exc
        return from_item(response["Attributes"])

    def delete(self, tenant_id: str, product_id: str, pre: Precondition = NONE) -> ProductRecord:
        return self._rewrite(
            tenant_id, product_id, pre, lambda item: self._remove(tenant_id, item, pre)
        )

    def _rewrite(
        self,
        tenant_id: str,
        product_id: str,
        pre: Precondition,
        write: Callable[[Item], ProductRecord],
    ) -> ProductRecord:
        """Read the item, check ``pre``, write conditioned on what was read; re-read after a
        concurrent change unless the client named versions (then it is a 412)."""
        for _ in range(WRITE_ATTEMPTS):
            item = self._item(tenant_id, product_id)
            if item is None:
                raise NotFound(_NOT_FOUND)
            pre.check(from_item(item).version)
            try:
                return write(item)
            except _Race:
                if pre.strict:
                    raise PreconditionFailed(_STALE) from None
        raise Conflict("the product is being changed concurrently; retry")

    def _move_sku(
        self, tenant_id: str, item: Item, changes: Mapping[str, Any], pre: Precondition
    ) -> ProductRecord:
        old, new = item["sku"]["S"], str(changes["sku"])
        key = {PK: item[PK], SK: item[SK]}
        writes: list[TransactWriteItemTypeDef] = [
            {"Update": _update(self.table, key, tenant_id, changes, pre, sku=old)}
        ]
        if old.upper() != new.upper():
            marker: Item = {**sku_key(tenant_id, new), "product_id": {"S": item["id"]["S"]}}
            writes += [self._drop_marker(tenant_id, old, item), put_new(self.table, marker)]
        self._transact(writes, {0: _Race(), 2: Conflict(f"a product with sku {new} exists")})
        # Read back: attributes this write did not touch may have moved meanwhile.
        record = self.get(tenant_id, item["id"]["S"])
        if record is None:
            raise NotFound(_NOT_FOUND)
        return record

    def _remove(self, tenant_id: str, item: Item, pre: Precondition) -> ProductRecord:
        # Conditioned on the SKU read, so the marker deleted with it is the product's own.
        names, values = {"#sku": "sku"}, {":sku": item["sku"]}
        conditions = ["#sku = :sku", *_versions(pre, names, values)]
        delete: TransactWriteItemTypeDef = {
            "Delete": {
                "TableName": self.table,
                "Key": {PK: item[PK], SK: item[SK]},
                "ConditionExpression": " AND ".join(conditions),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }
        writes = [delete, self._drop_marker(tenant_id, item["sku"]["S"], item)]
        self._transact(writes, {0: _Race()})
        return from_item(item)

    def _drop_marker(self, tenant_id: str, sku: str, item: Item) -> TransactWriteItemTypeDef:
        # Only our own marker; a missing one (never written) is no reason to fail.
        return {
            "Delete": {
                "TableName": self.table,
                "Key": sku_key(tenant_id, sku),
                "ConditionExpression": "attribute_not_exists(pk) OR product_id = :id",
                "ExpressionAttributeValues": {":id": item["id"]},
            }
        }

    def _item(self, tenant_id: str, product_id: str) -> Item | None:
        response = self.client.get_item(
            TableName=self.table, Key=product_key(tenant_id, product_id), ConsistentRead=True
        )
        return response.get("Item")

    def _transact(
        self, writes: Sequence[TransactWriteItemTypeDef], failures: Mapping[int, Exception]
    ) -> None:
        """One write (as UpdateItem) or a transaction; a failed condition at index i raises
        ``failures[i]``, anything else propagates."""
        try:
            if len(writes) == 1 and "Update" in writes[0]:
                self.client.update_item(**writes[0]["Update"])
            else:
                self.client.transact_write_items(TransactItems=writes)
        except ClientError as exc:
            mapped = failure(exc, failures)
            if mapped is exc:
                raise
            raise mapped from exc


def failure(exc: ClientError, failures: Mapping[int, Exception]) -> Exception:
    """The exception to raise for a failed write: ``failures[i]`` for the first failed
    condition at index i (0 for a single write), else ``exc`` itself."""
    code = exc.response.get("Error", {}).get("Code")
    if code == "ConditionalCheckFailedException":
        return failures.get(0, exc)
    reasons = exc.response.get("CancellationReasons", [])
    for index, reason in enumerate(reasons):
        if reason.get("Code") == "ConditionalCheckFailed" and index in failures:
            return failures[index]
    return exc


def _versions(
    pre: Precondition, names: dict[str, str], values: dict[str, AttributeValueTypeDef]
) -> list[str]:
    """The condition that the item has a version ``pre`` names; none without If-Match."""
    if pre.versions is None:
        return []
    names["#v"] = VERSION
    # Versions start at 1: 0 keeps the list valid when If-Match named no parsable tag.
    placeholders = []
    for n, version in enumerate(sorted(pre.versions) or [0]):
        values[f":p{n}"] = {"N": str(version)}
        placeholders.append(f":p{n}")
    return [f"#v IN ({', '.join(placeholders)})"]


def _update(
    table: str,
    key: Item,
    tenant_id: str,
    changes: Mapping[str, Any],
    pre: Precondition,
    *,
    sku: str | None = None,
) -> UpdateTypeDef:
    """The UpdateItem of ``changes``: version + 1, updated_at, the changed attributes and
    those derived from them; on condition that the product exists, has a version ``pre``
    names (if any) and still has ``sku`` (if given)."""
    names = {"#v": VERSION, "#u": "updated_at"}
    values: dict[str, AttributeValueTypeDef] = {
        ":one": {"N": "1"},
        ":now": {"S": timestamp(datetime.now(UTC))},
    }
    sets = ["#v = #v + :one", "#u = :now"]
    for n, (name, value) in enumerate(attributes(tenant_id, changes).items()):
        names[f"#a{n}"], values[f":a{n}"] = name, value
        sets.append(f"#a{n} = :a{n}")
    expression = "SET " + ", ".join(sets)
    if "image_url" in changes and changes["image_url"] is None:
        names["#img"] = "image_url"
        expression += " REMOVE #img"
    conditions = ["attribute_exists(pk)", *_versions(pre, names, values)]
    if sku is not None:
        names["#sku"], values[":sku"] = "sku", {"S": sku}
        conditions.append("#sku = :sku")
    return {
        "TableName": table,
        "Key": key,
        "UpdateExpression": expression,
        "ConditionExpression": " AND ".join(conditions),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


__all__ = ["InsufficientStock", "ProductRepository", "release_stock", "reserve_stock"]
