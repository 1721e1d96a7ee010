"""Idempotent writes against moto's orders table, created by the real dynamodb stack."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest

from bbws.schemas.dynamodb_definition import PK, SK
from bbws.services.config import Settings
from bbws.services.errors import ValidationFailed
from bbws.services.idempotency import (
    STATIC_PK,
    Idempotency,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    idempotency_key,
)
from tests.bbws.services.support import OTHER_TENANT, TENANT, FakeLambdaContext

CONTEXT = FakeLambdaContext()


class Counter:
    def __init__(self) -> None:
        self.calls = 0

    def action(self, result: dict[str, Any]) -> Callable[[], dict[str, Any]]:
        def run() -> dict[str, Any]:
            self.calls += 1
            return {**result, "call": self.calls}

        return run


@pytest.fixture
def idem(aws_tables: boto3.session.Session, settings: Settings) -> Idempotency:
    return Idempotency(settings, client=aws_tables.client("dynamodb"))


def test_a_retry_gets_the_stored_result_without_running_again(
    idem: Idempotency, aws_tables: boto3.session.Session, settings: Settings
) -> None:
    counter = Counter()
    payload = {"sku": "A-1", "qty": 2}
    first = idem.run(
        counter.action({"order": "o1"}),
        tenant_id=TENANT,
        key="k-1",
        payload=payload,
        lambda_context=CONTEXT,
    )
    again = idem.run(
        counter.action({"order": "o2"}),
        tenant_id=TENANT,
        key="k-1",
        payload=payload,
        lambda_context=CONTEXT,
    )
    assert first == again == {"order": "o1", "call": 1}
    assert counter.calls == 1
    items = aws_tables.client("dynamodb").scan(TableName=settings.orders_table)["Items"]
    (record,) = items
    assert record[PK] == {"S": STATIC_PK}
    assert record[SK]["S"].startswith("REQUEST#")
    assert record["status"] == {"S": "COMPLETED"}


def test_the_key_is_scoped_by_tenant(idem: Idempotency) -> None:
    counter = Counter()
    for tenant in (TENANT, OTHER_TENANT):
        idem.run(
            counter.action({}),
            tenant_id=tenant,
            key="same-key",
            payload={"a": 1},
            lambda_context=CONTEXT,
        )
    assert counter.calls == 2


def test_the_same_key_with_another_payload_is_422(idem: Idempotency) -> None:
    counter = Counter()
    idem.run(
        counter.action({}), tenant_id=TENANT, key="k-2", payload={"qty": 1}, lambda_context=CONTEXT
    )
    with pytest.raises(IdempotencyKeyReused) as err:
        idem.run(
            counter.action({}),
            tenant_id=TENANT,
            key="k-2",
            payload={"qty": 9},
            lambda_context=CONTEXT,
        )
    assert (err.value.status, err.value.code) == (422, "idempotency_key_reused")


def test_a_retry_while_the_first_runs_is_409(idem: Idempotency) -> None:
    def nested() -> dict[str, Any]:
        # The first call's record is INPROGRESS while its action runs.
        return idem.run(lambda: {}, tenant_id=TENANT, key="k-3", payload={}, lambda_context=CONTEXT)

    with pytest.raises(IdempotencyInProgress) as err:
        idem.run(nested, tenant_id=TENANT, key="k-3", payload={}, lambda_context=CONTEXT)
    assert (err.value.status, err.value.code) == (409, "request_in_progress")


def test_a_failed_action_can_be_retried_with_the_same_key(idem: Idempotency) -> None:
    def fail() -> dict[str, Any]:
        raise RuntimeError("downstream failed")

    with pytest.raises(RuntimeError):
        idem.run(fail, tenant_id=TENANT, key="k-4", payload={}, lambda_context=CONTEXT)
    assert idem.run(
        lambda: {"ok": True}, tenant_id=TENANT, key="k-4", payload={}, lambda_context=CONTEXT
    ) == {"ok": True}


def test_the_header_is_required_and_checked() -> None:
    assert idempotency_key({"Idempotency-Key": "abc-123"}) == "abc-123"
    assert idempotency_key({}, required=False) is None
    for headers, problem in [({}, "missing"), ({"Idempotency-Key": "has space"}, "invalid")]:
        with pytest.raises(ValidationFailed) as err:
            idempotency_key(headers)
        assert err.value.details == [{"field": "header.Idempotency-Key", "type": problem}]
