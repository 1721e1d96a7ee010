"""The products an order names, read with the products service's own item layout.

Orders holds no copy of another service's layout or rules; it calls their code:

products   ``read_products``: one strongly consistent BatchGetItem, keyed and parsed by
           ``bbws.services.products.items`` (``product_key``, ``from_item``), so a product
           here is the products service's ``ProductRecord``. ``ProductRepository.get`` would
           do one GetItem per product: an order has up to 50 lines and is re-read on every
           retry of its transaction, so the batch stays (the products service has no
           batch read to call yet).
stock      ``bbws.services.products.stock.reserve_stock`` / ``release_stock``, the
           TransactWriteItems entries that keep ``inventory``, ``tenant_availability``,
           ``version`` and ``updated_at`` in step (``transactions``).
discounts  ``bbws.services.campaigns.repository.active_discounts`` (``transactions``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final

from bbws.services.errors import TooManyRequests
from bbws.services.products.items import ProductRecord, from_item, product_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_BATCH: Final = 100  # BatchGetItem's limit
_BATCH_ATTEMPTS: Final = 5  # then the table is too busy: 429, as the campaigns service does


def read_products(
    client: DynamoDBClient,
    table: str,
    tenant_id: str,
    product_ids: Iterable[str],
    *,
    sleep: Callable[[float], None],
) -> dict[str, ProductRecord]:
    """The tenant's products among ``product_ids``, by id; missing ones are left out.
    Strongly consistent: the inventory read picks the form of ``reserve_stock``."""
    wanted = list(dict.fromkeys(product_ids))
    found: dict[str, ProductRecord] = {}
    for start in range(0, len(wanted), _BATCH):
        keys = [product_key(tenant_id, pid) for pid in wanted[start : start + _BATCH]]
        pending: dict[str, Any] = {table: {"Keys": keys, "ConsistentRead": True}}
        for attempt in range(_BATCH_ATTEMPTS):
            if attempt:  # UnprocessedKeys is DynamoDB shedding load: back off, ask for the rest
                sleep(0.05 * 2 ** (attempt - 1))
            response = client.batch_get_item(RequestItems=pending)
            for item in response.get("Responses", {}).get(table, []):
                product = from_item(item)
                found[product.id] = product
            pending = dict(response.get("UnprocessedKeys") or {})
            if not pending:
                break
        else:
            raise TooManyRequests("the products table is busy; retry", retry_after_s=1)
    return found
