"""The products API, ``create_app(settings)``; builds nothing at import.

Routes (under /v1.0; every one but health needs a bearer token, writes the admin group):

    GET    /products/health          public liveness (make_app's)
    GET    /products                 list: category, min_price, max_price, available,
                                     sort, order, limit, cursor (see ``listing``)
    POST   /products                 201 + ETag; 409 when the SKU exists in the tenant
    GET    /products/{id}            200 + ETag
    PUT    /products/{id}            partial update, like PATCH (the runbook's Test 5 PUTs
    PATCH  /products/{id}            two fields); If-Match -> 412 when stale; 200 + ETag
    DELETE /products/{id}            204; If-Match honoured; the product's images go too
    POST   /products/{id}/image      multipart field "image" -> {"image_url"}, see ``images``
    POST   /products/bulk            import up to 100 products, per-item results
    PATCH  /products/bulk            update up to 100 products, per-item results

Every key is built from the caller's tenant, so another tenant's product is a 404 that
says nothing about its existence.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Header, Query
from botocore.exceptions import ClientError

from bbws.services.app import (
    API_PREFIX,
    BodyRule,
    RoutePolicy,
    ServiceApp,
    current_principal,
    make_app,
)
from bbws.services.errors import ApiError, NotFound
from bbws.services.ids import IdPath
from bbws.services.openapi import ERROR_REF
from bbws.services.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Cursors
from bbws.services.products import bulk, etags, images
from bbws.services.products.items import ProductRecord
from bbws.services.products.listing import ListQuery, Order, Sort, list_products
from bbws.services.products.models import (
    Product,
    ProductBulkImport,
    ProductBulkResults,
    ProductBulkUpdate,
    ProductCreate,
    ProductImage,
    ProductPage,
    ProductUpdate,
)
from bbws.services.products.repository import ProductRepository

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import (
        OpenAPIResponse,
        OpenAPIResponseHeader,
    )
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_s3.client import S3Client

    from bbws.services.config import Settings

SERVICE: Final = "products"
IMAGE_ROUTE: Final = "POST /products/<product_id>/image"
BULK_MAX_BYTES: Final = 1024 * 1024  # 100 products of up to ~6 KB each, with room to spare
POLICY: Final = RoutePolicy(
    bodies={
        IMAGE_ROUTE: BodyRule(("multipart/form-data",), images.MAX_UPLOAD_BYTES),
        "POST /products/bulk": BodyRule(max_bytes=BULK_MAX_BYTES),
        "PATCH /products/bulk": BodyRule(max_bytes=BULK_MAX_BYTES),
    }
)
# Timeouts well inside API Gateway's 29 s; "standard" retries back off on throttling.

IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", description='The ETag last read, e.g. "3": 412 when stale'),
]
_ETAG: Final[dict[str, OpenAPIResponseHeader]] = {
    "ETag": {"description": "the product's version", "schema": {"type": "string"}}
}
_LOCATION: Final[dict[str, OpenAPIResponseHeader]] = {
    "Location": {"description": "the new product's path", "schema": {"type": "string"}}
}
_ERROR: Final = {"application/json": {"schema": {"$ref": ERROR_REF}}}


def _doc(status: int, description: str, *, etag: bool = False) -> dict[int, OpenAPIResponse]:
    """One documented answer: success ones take the route's return model (Powertools fills
    it in), 204 has no body at all, errors have the shared Error envelope."""
    response: OpenAPIResponse = {"description": description}
    if etag:
        response["headers"] = dict(_ETAG)
    if status == 201:
        response["headers"] = {**response.get("headers", {}), **_LOCATION}
    if status == 204:
        response["content"] = {}
    elif status >= 400:
        response["content"] = _ERROR  # type: ignore[typeddict-item]
    return {status: response}


_CONFLICT: Final = _doc(409, "The SKU exists in this tenant, or the product kept changing")
_STALE: Final = _doc(412, "If-Match names a version that is no longer current")
_UPLOAD_BODY: Final = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["image"],
                    "properties": {"image": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


def create_app(
    settings: Settings | None = None,
    *,
    dynamodb: DynamoDBClient | None = None,
    s3: S3Client | None = None,
    **overrides: Any,
) -> ServiceApp:
    """The products app; ``overrides`` go to ``make_app`` (verifier, rng, sleep, logger...)."""
    app = make_app(SERVICE, settings, policy=POLICY, **overrides)
    repo = ProductRepository(dynamodb, app.settings.products_table)
    store = images.ImageStore(s3, app.settings.product_images_bucket)
    _item_routes(app, repo, store)
    _list_route(app, repo, Cursors(app.settings.cursor_secret))
    _image_route(app, repo, store)
    _bulk_routes(app, repo)
    return app


def _tenant() -> str:
    return current_principal().tenant_id


def _with_etag(product: ProductRecord, status: int = 200) -> Response[Product]:
    headers = {"ETag": etags.etag(product.version)}
    if status == 201:
        headers["Location"] = f"{API_PREFIX}/products/{product.id}"
    return Response(status, content_types.APPLICATION_JSON, product.out(), headers=headers)


def _item_routes(app: ServiceApp, repo: ProductRepository, store: images.ImageStore) -> None:
    created = {**_doc(201, "Created", etag=True), **_CONFLICT}

    @app.post("/products", status_code=201, responses=created)
    def create_product(product: ProductCreate) -> Response[Product]:
        return _with_etag(repo.create(_tenant(), product), 201)

    @app.get("/products/<product_id>", responses=_doc(200, "The product", etag=True))
    def get_product(product_id: IdPath) -> Response[Product]:
        product = repo.get(_tenant(), product_id)
        if product is None:
            raise NotFound("product not found")
        return _with_etag(product)

    updated = {**_doc(200, "Updated", etag=True), **_CONFLICT, **_STALE}

    @app.put("/products/<product_id>", responses=updated)
    def replace_product(
        product_id: IdPath, patch: ProductUpdate, if_match: IfMatch = None
    ) -> Response[Product]:
        # Partial, like PATCH: the runbook's clients PUT only the fields they change.
        changes, pre = patch.changes(), etags.if_match(if_match)
        return _with_etag(repo.update(_tenant(), product_id, changes, pre))

    @app.patch("/products/<product_id>", responses=updated)
    def update_product(
        product_id: IdPath, patch: ProductUpdate, if_match: IfMatch = None
    ) -> Response[Product]:
        changes, pre = patch.changes(), etags.if_match(if_match)
        return _with_etag(repo.update(_tenant(), product_id, changes, pre))

    @app.delete(
        "/products/<product_id>",
        status_code=204,
        responses={**_doc(204, "Deleted"), **_CONFLICT, **_STALE},
    )
    def delete_product(product_id: IdPath, if_match: IfMatch = None) -> Response[None]:
        product = repo.delete(_tenant(), product_id, etags.if_match(if_match))
        _forget_images(app, store, product)
        return Response(204, None, None)


def _forget_images(app: ServiceApp, store: images.ImageStore, product: ProductRecord) -> None:
    # The product is gone whatever S3 says: an image left behind is unreachable through
    # the API and the versioned bucket keeps it recoverable, so a failure is logged only.
    try:
        store.delete_product(product.id)
    except ClientError:
        app.logger.warning("images of a deleted product remain", extra={"product_id": product.id})


def _list_route(app: ServiceApp, repo: ProductRepository, cursors: Cursors) -> None:
    @app.get("/products")
    def list_all(
        category: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
        min_price: Annotated[Decimal | None, Query(ge=0, max_digits=11)] = None,
        max_price: Annotated[Decimal | None, Query(ge=0, max_digits=11)] = None,
        available: Annotated[Literal["true", "false"] | None, Query()] = None,
        sort: Annotated[Sort | None, Query()] = None,
        order: Annotated[Order, Query()] = "asc",
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
        cursor: Annotated[str | None, Query(max_length=2048)] = None,
    ) -> ProductPage:
        query = ListQuery(
            category,
            min_price,
            max_price,
            None if available is None else available == "true",
            sort,
            order,
        )
        products, next_cursor = list_products(
            repo.client, repo.table, cursors, _tenant(), query, limit=limit, cursor=cursor
        )
        return ProductPage(items=[p.out() for p in products], next_cursor=next_cursor)


def _image_route(app: ServiceApp, repo: ProductRepository, store: images.ImageStore) -> None:
    @app.post(
        "/products/<product_id>/image",
        responses={**_doc(200, "Stored; the product's image_url now points at it"), **_STALE},
        # The body is parsed here (Powertools' own multipart parsing turns a malformed body
        # into a 500), so no body parameter can document it; Powertools merges these keys
        # into the operation as they are (test_openapi pins it).
        openapi_extensions=_UPLOAD_BODY,
    )
    def upload_image(product_id: IdPath, if_match: IfMatch = None) -> Response[ProductImage]:
        event, tenant = app.current_event, _tenant()
        data = images.read_upload(
            event.body or "", bool(event.is_base64_encoded), event.headers.get("Content-Type", "")
        )
        kind = images.sniff(data)
        pre = etags.if_match(if_match)
        # Before touching S3, so another tenant's product id stores nothing.
        current = repo.get(tenant, product_id)
        if current is None:
            raise NotFound("product not found")
        pre.check(current.version)
        key = store.put(tenant, product_id, data, kind)
        url = app.settings.image_url(key)
        try:
            product = repo.update(tenant, product_id, {"image_url": url}, pre)
        except (ApiError, ClientError):
            if current.image_url != url:  # the same file again is the same, live, object
                store.delete(key)
            raise
        body = ProductImage(image_url=url)
        headers = {"ETag": etags.etag(product.version)}
        return Response(200, content_types.APPLICATION_JSON, body, headers=headers)


def _bulk_routes(app: ServiceApp, repo: ProductRepository) -> None:
    @app.post("/products/bulk", summary="Import up to 100 products; per-item statuses")
    def import_products(body: ProductBulkImport) -> ProductBulkResults:
        results = bulk.import_products(repo, _tenant(), body.products, app.logger)
        return ProductBulkResults(results=results)

    @app.patch("/products/bulk", summary="Update up to 100 products; per-item statuses")
    def update_products(body: ProductBulkUpdate) -> ProductBulkResults:
        results = bulk.update_products(repo, _tenant(), body.updates, app.logger)
        return ProductBulkResults(results=results)
