"""The campaigns API, every route under ``/v1.0/campaigns``.

    GET    /campaigns/health          public liveness (make_app)
    POST   /campaigns                 admin; 201 + ETag + Location
    GET    /campaigns                 ?status= (CampaignsByStatus) &limit= &cursor=, newest first
    GET    /campaigns/{campaign_id}   200 + ETag
    PUT    /campaigns/{campaign_id}   admin; partial update (PATCH is the same), If-Match
    PATCH  /campaigns/{campaign_id}
    DELETE /campaigns/{campaign_id}   admin; 204, If-Match

Building the app reads nothing at import: ``handler.py`` calls ``create_app()`` with the
function's environment, tests call ``create_app(settings, clock=...)``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Final

import boto3
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Header, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from bbws.schemas.dynamodb_definition import CAMPAIGNS_BY_STATUS
from bbws.services.app import API_PREFIX, ServiceApp, current_principal, make_app
from bbws.services.aws import AWS_CONFIG
from bbws.services.campaigns.models import (
    Campaign,
    CampaignCreate,
    CampaignPage,
    CampaignStatus,
    CampaignUpdate,
)
from bbws.services.campaigns.repository import CampaignRepository
from bbws.services.campaigns.rules import (
    added_products,
    apply_update,
    check_if_match,
    etag,
    new_campaign,
    precondition_sent,
)
from bbws.services.config import Settings
from bbws.services.errors import ApiError, Conflict, NotFound, PreconditionFailed, ValidationFailed
from bbws.services.ids import IdPath
from bbws.services.openapi import ERROR_REF
from bbws.services.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Cursors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import DynamoDBServiceResource

SERVICE: Final = "campaigns"
WRITE_ATTEMPTS: Final = 3  # reads and writes of one update racing other writers
# A request must answer within API Gateway's 29 s: bounded waits, retries for throttling.
Clock = Callable[[], datetime]
IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", description='the ETag of the last read, e.g. "3"; stale: 412'),
]


def _error(description: str) -> OpenAPIResponse:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
    }


_ETAG: Final[OpenAPIResponse] = {
    "description": "The campaign",
    "headers": {
        "ETag": {"description": "quoted version, for If-Match", "schema": {"type": "string"}}
    },
}
_CONFLICT: Final = _error(
    "Status transition not allowed (details list the allowed next ones), or a concurrent change"
)
_STALE: Final = _error("If-Match does not match the campaign's current ETag")
_BUSY: Final = _error("Linked products could not be checked (throttled); retry")


def create_app(
    settings: Settings | None = None,
    *,
    dynamodb: DynamoDBServiceResource | None = None,
    clock: Clock | None = None,
    **overrides: Any,
) -> ServiceApp:
    """The campaigns resolver. ``overrides`` go to ``make_app`` (logger, verifier, rng...)."""
    app = make_app(SERVICE, settings, **overrides)
    repo = CampaignRepository(
        (lambda: dynamodb) if dynamodb else _connect,
        app.settings.campaigns_table,
        app.settings.products_table,
    )
    cursors = Cursors(app.settings.cursor_secret)
    now = clock or _utc_now

    @app.post(
        "/campaigns",
        status_code=201,
        summary="Create a campaign",
        responses={201: {**_ETAG, "description": "Created"}, 429: _BUSY},
    )
    def create_campaign(body: CampaignCreate) -> Response[Campaign]:
        tenant = current_principal().tenant_id
        campaign = new_campaign(body, now())
        _check_products(repo, tenant, added_products(None, campaign), body.product_ids)
        repo.create(tenant, campaign)
        location = f"{API_PREFIX}/{SERVICE}/{campaign.id}"
        return _campaign_response(campaign, 201, {"Location": location})

    @app.get("/campaigns", summary="List campaigns, newest first")
    def list_campaigns(
        status: Annotated[
            CampaignStatus | None, Query(description="only this status (CampaignsByStatus)")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
        cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    ) -> CampaignPage:
        tenant = current_principal().tenant_id
        # Everything that shapes the result goes into the cursor's scope, so a cursor from
        # the unfiltered list cannot continue a status list, nor one status another.
        scope = {
            "list": SERVICE,
            "index": CAMPAIGNS_BY_STATUS.name if status else "table",
            "status": status.value if status else None,
            "order": "newest",
        }
        start = cursors.decode(cursor, tenant_id=tenant, query=scope)
        items, last_key = repo.page(tenant, status, limit, start)
        next_cursor = cursors.encode(last_key, tenant_id=tenant, query=scope)
        return CampaignPage(items=items, next_cursor=next_cursor)

    @app.get("/campaigns/<campaign_id>", summary="Read a campaign", responses={200: _ETAG})
    def get_campaign(campaign_id: IdPath) -> Response[Campaign]:
        return _campaign_response(_load(repo, campaign_id))

    @app.route(
        "/campaigns/<campaign_id>",
        method=["PUT", "PATCH"],
        summary="Change some fields of a campaign (partial update, PUT and PATCH alike)",
        responses={200: _ETAG, 409: _CONFLICT, 412: _STALE, 429: _BUSY},
    )
    def update_campaign(
        campaign_id: IdPath, update: CampaignUpdate, if_match: IfMatch = None
    ) -> Response[Campaign]:
        return _campaign_response(_update(repo, campaign_id, update, if_match, now))

    @app.delete(
        "/campaigns/<campaign_id>",
        status_code=204,
        summary="Delete a campaign, whatever its status",
        responses={204: {"description": "Deleted", "content": {}}, 412: _STALE},
    )
    def delete_campaign(campaign_id: IdPath, if_match: IfMatch = None) -> Response[None]:
        tenant = current_principal().tenant_id
        current = _load(repo, campaign_id)
        check_if_match(if_match, current.version)
        if not precondition_sent(if_match):  # nothing to race: delete it if it still exists
            repo.delete(tenant, campaign_id, None, NotFound("campaign not found"))
        else:
            repo.delete(tenant, campaign_id, current.version, _stale(if_match))
        return Response(status_code=204, content_type=None, body=None)

    return app


def _connect() -> DynamoDBServiceResource:
    return boto3.resource("dynamodb", config=AWS_CONFIG)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _load(repo: CampaignRepository, campaign_id: str) -> Campaign:
    # Another tenant's id is simply not in this tenant's partition: the same 404.
    campaign = repo.get(current_principal().tenant_id, campaign_id)
    if campaign is None:
        raise NotFound("campaign not found")
    return campaign


class _Raced(Conflict):
    """Another write landed between our read and our write."""


def _stale(if_match: str | None) -> ApiError:
    """The answer when the item changed between our read and our write: the client's 412
    if it named a version, else a signal to read again and retry."""
    if precondition_sent(if_match):
        return PreconditionFailed("the campaign has changed since that ETag; read it again")
    return _Raced()


def _update(
    repo: CampaignRepository,
    campaign_id: str,
    update: CampaignUpdate,
    if_match: str | None,
    now: Clock,
) -> Campaign:
    """Read, apply, write conditioned on the version read; without If-Match a lost race is
    retried on a fresh read (every rule re-checked), so no concurrent change is overwritten."""
    tenant = current_principal().tenant_id
    for _ in range(WRITE_ATTEMPTS):
        current = _load(repo, campaign_id)
        check_if_match(if_match, current.version)
        updated = apply_update(current, update, now())
        if updated.version == current.version:  # nothing changed: nothing written
            return current
        _check_products(repo, tenant, added_products(current, updated), update.product_ids or [])
        try:
            repo.replace(tenant, updated, current.version, _stale(if_match))
        except _Raced:
            continue
        return updated
    raise Conflict("the campaign kept changing while this request ran; retry")


def _check_products(
    repo: CampaignRepository, tenant: str, added: list[str], sent: list[str]
) -> None:
    """400 naming ``body.product_ids.<index>`` for each linked id that is not a product of
    the caller's tenant (another tenant's products do not exist for it)."""
    missing = set(repo.missing_products(tenant, added))
    if missing:
        raise ValidationFailed(
            "product_ids names products that do not exist",
            details=[
                {"field": f"body.product_ids.{i}", "type": "product_not_found"}
                for i, pid in enumerate(sent)
                if pid in missing
            ],
        )


def _campaign_response(
    campaign: Campaign, status: int = 200, headers: dict[str, str] | None = None
) -> Response[Campaign]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=campaign,
        headers={"ETag": etag(campaign.version), **(headers or {})},
    )
