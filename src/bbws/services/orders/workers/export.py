"""Nightly export (scheduled): each tenant's orders of a day as JSON Lines in S3.

Writes ``s3://bbws-orders-{env}/exports/{tenant}/{YYYY-MM-DD}.jsonl``: one order per line
(``tenant_id`` plus the API's order shape), in id (= creation time) order, for every UTC
day asked for. A day's orders are one key range of the base table: order ids are ULIDs, so
``sk BETWEEN ORDER#<first id of the day> AND ORDER#<last>`` needs no index and no scan.

Idempotent per date: the file of a (tenant, day) is rebuilt whole each run and written
only if its content changed (the SHA-256 is kept as object metadata), so re-running a day
creates no new object version; if an order changed status since, the file is replaced.

Event (all optional):
    {"date": "2026-01-10"}   that day;
    {"since": "2026-01-01"}  every day from then through yesterday (a back-fill, at most
                             31 days per run; a time of day is ignored, days are whole);
    {}                       yesterday, relative to the scheduled event's ``time``, so a
                             retried run exports the same day even after midnight.
    {"tenants": [...]}       only these tenants (default: every tenant).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Final

import boto3
from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError
from ulid import ULID

from bbws.schemas.dynamodb_definition import PK, SK, tenant_partition
from bbws.services.aws import AWS_CONFIG
from bbws.services.orders.items import ORDER_PREFIX, order_from_item, to_dynamo
from bbws.services.orders.store import utcnow
from bbws.services.orders.workers.config import WorkerSettings, lazy_handler, worker_settings
from bbws.services.orders.workers.tenants import tenants_for

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

MAX_DAYS: Final = 31
DIGEST_METADATA: Final = "sha256"
CONTENT_TYPE: Final = "application/x-ndjson"
_RANDOM_BITS: Final = 80  # a ULID is 48 bits of milliseconds, then 80 random bits


class NightlyExport:
    def __init__(
        self,
        dynamodb: DynamoDBClient,
        s3: S3Client,
        *,
        orders_table: str,
        tenants_table: str,
        bucket: str,
        clock: Callable[[], datetime] = utcnow,
        logger: Logger | None = None,
    ) -> None:
        self.dynamodb = dynamodb
        self.s3 = s3
        self.orders_table = orders_table
        self.tenants_table = tenants_table
        self.bucket = bucket
        self.clock = clock
        self.logger = logger or Logger(service="orders-export")

    @classmethod
    def from_settings(cls, settings: WorkerSettings) -> NightlyExport:
        return cls(
            boto3.client("dynamodb", config=AWS_CONFIG),
            boto3.client("s3", config=AWS_CONFIG),
            orders_table=settings.tables.orders,
            tenants_table=settings.tenants_table,
            bucket=settings.orders_bucket,
        )

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        days = self.days(event)
        written: list[str] = []
        unchanged: list[str] = []
        orders = 0
        for tenant in tenants_for(event, self.dynamodb, self.tenants_table):
            for day in days:
                key, count, changed = self.export(tenant, day)
                (written if changed else unchanged).append(key)
                orders += count
        result = {"written": written, "unchanged": unchanged, "orders": orders}
        self.logger.info("orders exported", extra={**result, "days": len(days)})
        return result

    def days(self, event: dict[str, Any]) -> list[date]:
        if event.get("date"):
            return [date.fromisoformat(str(event["date"]))]
        scheduled = event.get("time")  # EventBridge scheduled events carry their time
        now = datetime.fromisoformat(str(scheduled)) if scheduled else self.clock()
        yesterday = now.astimezone(UTC).date() - timedelta(days=1)
        if not event.get("since"):
            return [yesterday]
        first = datetime.fromisoformat(str(event["since"])).date()
        count = (yesterday - first).days + 1
        if count > MAX_DAYS:
            raise ValueError(f"export at most {MAX_DAYS} days per run")
        return [first + timedelta(days=n) for n in range(max(count, 0))]

    def export(self, tenant_id: str, day: date) -> tuple[str, int, bool]:
        """(key, number of orders, whether the object was written)."""
        lines = [
            json.dumps(
                {"tenant_id": tenant_id, **order_from_item(item).model_dump(mode="json")},
                sort_keys=True,
                separators=(",", ":"),
            )
            for item in self._orders_of(tenant_id, day)
        ]
        body = "".join(line + "\n" for line in lines).encode()
        key = f"exports/{tenant_id}/{day.isoformat()}.jsonl"
        digest = hashlib.sha256(body).hexdigest()
        if self._digest(key) == digest:
            return key, len(lines), False
        self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ContentType=CONTENT_TYPE,
            Metadata={DIGEST_METADATA: digest},
        )
        return key, len(lines), True

    def _orders_of(self, tenant_id: str, day: date) -> list[dict[str, Any]]:
        start = datetime.combine(day, time(), tzinfo=UTC)
        first_ms = int(start.timestamp() * 1000)
        last_ms = first_ms + 24 * 60 * 60 * 1000 - 1
        low = str(ULID.from_int(first_ms << _RANDOM_BITS))
        high = str(ULID.from_int(((last_ms + 1) << _RANDOM_BITS) - 1))
        request: dict[str, Any] = {
            "TableName": self.orders_table,
            "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :low AND :high",
            "ExpressionAttributeNames": {"#pk": PK, "#sk": SK},
            "ExpressionAttributeValues": to_dynamo(
                {
                    ":pk": tenant_partition(tenant_id),
                    ":low": ORDER_PREFIX + low,
                    ":high": ORDER_PREFIX + high,
                }
            ),
            "ConsistentRead": True,
        }
        items: list[dict[str, Any]] = []
        while True:
            page = self.dynamodb.query(**request)
            items.extend(page.get("Items", []))
            if not page.get("LastEvaluatedKey"):
                return items
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _digest(self, key: str) -> str | None:
        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return head.get("Metadata", {}).get(DIGEST_METADATA)


handler = lazy_handler(lambda: NightlyExport.from_settings(worker_settings()))
