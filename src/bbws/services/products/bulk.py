"""POST /products/bulk (import) and PATCH /products/bulk (update), with per-item results.

Each item gets the status the single-item route would have given it (201, 200, 400, 404,
409, 412, or 500 when DynamoDB failed for it), in request order; the HTTP status is 200.

Import: items are validated one by one, SKUs repeated within the request are 409s, and the
rest are written with TransactWriteItems, ``CHUNK`` products (a product and its SKU marker
each, 100 actions, DynamoDB's limit) per transaction. BatchWriteItem cannot carry the
``attribute_not_exists`` condition that keeps SKUs unique. A transaction is all or
nothing, so when it is cancelled the cancellation reasons name the products whose SKU
exists already (409); the others are retried without them.

Update: one conditional write per item, through the same code as PATCH /products/{id}.
A transaction would make one stale or missing item fail every other item.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError
from pydantic import ValidationError

from bbws.services.errors import (
    ApiError,
    Conflict,
    InternalError,
    ValidationFailed,
    validation_details,
)
from bbws.services.products.etags import expected_version
from bbws.services.products.items import Item, new_product, put_new
from bbws.services.products.models import (
    ProductBulkError,
    ProductBulkPatch,
    ProductBulkResult,
    ProductCreate,
)
from bbws.services.products.repository import ProductRepository

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

CHUNK: Final = 50
ATTEMPTS: Final = 3


def _error(index: int, error: ApiError) -> ProductBulkResult:
    return ProductBulkResult(
        index=index,
        status=error.status,
        error=ProductBulkError.model_validate(error.body()["error"]),
    )


def _invalid(index: int, exc: ValidationError) -> ProductBulkResult:
    errors = exc.errors(include_input=False, include_url=False, include_context=False)
    return _error(index, ValidationFailed(details=validation_details(errors)))


def import_products(
    repo: ProductRepository, tenant_id: str, raw: Sequence[Mapping[str, Any]], logger: Logger
) -> list[ProductBulkResult]:
    results: dict[int, ProductBulkResult] = {}
    valid: list[tuple[int, ProductCreate]] = []
    seen: set[str] = set()
    for index, entry in enumerate(raw):
        try:
            data = ProductCreate.model_validate(entry)
        except ValidationError as exc:
            results[index] = _invalid(index, exc)
            continue
        if data.sku.upper() in seen:  # one transaction cannot hold both markers anyway
            results[index] = _error(index, Conflict(f"sku {data.sku} repeats in this request"))
            continue
        seen.add(data.sku.upper())
        valid.append((index, data))
    for start in range(0, len(valid), CHUNK):
        chunk = valid[start : start + CHUNK]
        results.update(_write_chunk(repo, tenant_id, chunk, logger))
    return [results[index] for index in range(len(raw))]


def _write_chunk(
    repo: ProductRepository,
    tenant_id: str,
    chunk: Sequence[tuple[int, ProductCreate]],
    logger: Logger,
) -> dict[int, ProductBulkResult]:
    results: dict[int, ProductBulkResult] = {}
    pending: dict[int, tuple[Item, Item]] = {i: new_product(tenant_id, data) for i, data in chunk}
    skus = dict(chunk)
    for _ in range(ATTEMPTS):
        order = list(pending)
        writes = [put_new(repo.table, item) for i in order for item in pending[i]]
        try:
            repo.client.transact_write_items(TransactItems=writes)
        except ClientError as exc:
            reasons = exc.response.get("CancellationReasons") or []
            refused = {
                order[k // 2]
                for k, reason in enumerate(reasons)
                if reason.get("Code") == "ConditionalCheckFailed"
            }
            if not refused:  # throttled, conflicting transaction, ...: retry as it is
                logger.warning("bulk import chunk failed", extra={"code": _code(exc)})
            for index in refused:
                message = f"a product with sku {skus[index].sku} already exists"
                results[index] = _error(index, Conflict(message))
                del pending[index]
            if pending:
                continue
            return results
        for index in order:
            item = pending[index][0]
            results[index] = ProductBulkResult(
                index=index, status=201, id=item["id"]["S"], version=int(item["version"]["N"])
            )
        return results
    logger.error("bulk import chunk gave up", extra={"items": len(pending)})
    results.update({index: _error(index, InternalError()) for index in pending})
    return results


def update_products(
    repo: ProductRepository, tenant_id: str, raw: Sequence[Mapping[str, Any]], logger: Logger
) -> list[ProductBulkResult]:
    return [_update_one(repo, tenant_id, index, entry, logger) for index, entry in enumerate(raw)]


def _update_one(
    repo: ProductRepository,
    tenant_id: str,
    index: int,
    entry: Mapping[str, Any],
    logger: Logger,
) -> ProductBulkResult:
    try:
        patch = ProductBulkPatch.model_validate(entry)
        product = repo.update(tenant_id, patch.id, patch.changes(), expected_version(patch.version))
    except ValidationError as exc:
        return _invalid(index, exc)
    except ApiError as error:
        return _error(index, error)
    except ClientError as exc:  # this item only: the others' results still count
        logger.exception("bulk update item failed", extra={"code": _code(exc)})
        return _error(index, InternalError())
    return ProductBulkResult(index=index, status=200, id=product.id, version=product.version)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "unknown"))
