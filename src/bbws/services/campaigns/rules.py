"""The campaign rules the routes enforce, free of HTTP and DynamoDB so they test alone:
dates, status transitions, partial updates and ETags.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any, Final

from ulid import ULID

from bbws.services.campaigns.models import (
    TRANSITIONS,
    Campaign,
    CampaignCreate,
    CampaignStatus,
    CampaignUpdate,
)
from bbws.services.errors import Conflict, PreconditionFailed, ValidationFailed

# 409 details: what was refused, then one entry per status the campaign may move to.
ALLOWED_NEXT: Final = "allowed_next"


def new_campaign(body: CampaignCreate, now: datetime) -> Campaign:
    check_dates(
        body.start_date,
        body.end_date,
        now,
        start_changed=True,
        allow_past_start=body.allow_past_start,
    )
    return Campaign(
        # The id's time part is created_at, so the base table (sorted by id) and the
        # CampaignsByStatus index (sorted by created_at) list campaigns in the same order.
        id=str(ULID.from_datetime(now)),
        name=body.name,
        description=body.description,
        status=body.status,
        start_date=body.start_date,
        end_date=body.end_date,
        discount_percent=body.discount_percent,
        product_ids=_unique(body.product_ids),
        version=1,
        created_at=now,
        updated_at=now,
    )


def check_dates(
    start: datetime,
    end: datetime | None,
    now: datetime,
    *,
    start_changed: bool,
    allow_past_start: bool,
) -> None:
    """400 for an end not after the start, or a new start before today without the flag.

    "Past" means before today (UTC): a campaign starting "now" or earlier today is a start
    today, whatever the client's clock says, and the runbook sends plain dates anyway.
    """
    if end is not None and end <= start:
        raise ValidationFailed(
            "end_date must be after start_date",
            details=[{"field": "body.end_date", "type": "end_not_after_start"}],
        )
    today = datetime.combine(now.astimezone(UTC).date(), time(), UTC)
    if start_changed and start < today and not allow_past_start:
        raise ValidationFailed(
            "start_date is in the past; send allow_past_start: true to mean it",
            details=[{"field": "body.start_date", "type": "start_in_past"}],
        )


def check_transition(current: CampaignStatus, target: CampaignStatus) -> None:
    """409 unless ``current`` may move to ``target``; staying put is not a transition."""
    if target == current or target in TRANSITIONS[current]:
        return
    raise transition_conflict(current, f"a {current} campaign cannot become {target}")


def transition_conflict(current: CampaignStatus, message: str) -> Conflict:
    allowed = sorted(TRANSITIONS[current])
    return Conflict(
        f"{message} (allowed next: {', '.join(allowed) or 'none'})",
        details=[
            {"field": "body.status", "type": "invalid_transition"},
            *({"field": ALLOWED_NEXT, "type": str(status)} for status in allowed),
        ],
    )


def apply_update(campaign: Campaign, update: CampaignUpdate, now: datetime) -> Campaign:
    """The campaign after a partial update, every rule checked; ``campaign`` itself when
    nothing would change (a repeated PUT writes nothing and keeps the version)."""
    sent = update.changes()
    if not sent:
        raise ValidationFailed(
            "send at least one field to change", details=[{"field": "body", "type": "empty_update"}]
        )
    if "product_ids" in sent:
        sent["product_ids"] = _unique(sent["product_ids"])
    changes = _effective(campaign, sent)
    if not changes:
        return campaign
    if campaign.status == CampaignStatus.ENDED:
        raise transition_conflict(campaign.status, "an ended campaign cannot be changed")
    if "status" in changes:
        check_transition(campaign.status, changes["status"])
    updated = campaign.model_copy(update=changes)
    if {"start_date", "end_date"} & changes.keys():
        check_dates(
            updated.start_date,
            updated.end_date,
            now,
            start_changed="start_date" in changes,
            allow_past_start=update.allow_past_start,
        )
    return updated.model_copy(update={"version": campaign.version + 1, "updated_at": now})


def added_products(before: Campaign | None, after: Campaign) -> list[str]:
    """Products newly linked: only those are checked, so a product deleted later does not
    block unrelated edits of a campaign that still names it."""
    known = set(before.product_ids) if before else set()
    return [p for p in after.product_ids if p not in known]


def _effective(campaign: Campaign, sent: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in sent.items() if getattr(campaign, name) != value}


def _unique(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(ids))  # a product listed twice is linked once, in first order


# --- ETags --------------------------------------------------------------------------------


def etag(version: int) -> str:
    return f'"{version}"'


def precondition_sent(header: str | None) -> bool:
    """An If-Match header with something in it (a blank one is no precondition)."""
    return header is not None and bool(header.strip())


def check_if_match(header: str | None, version: int) -> None:
    """412 unless ``If-Match`` is absent, ``*`` or lists this version's ETag.

    Strong comparison (RFC 9110): a weak ``W/"3"`` never matches a write precondition.
    """
    if header is None or not header.strip():
        return
    tags = [tag.strip() for tag in header.split(",")]
    if "*" in tags or etag(version) in tags:
        return
    raise PreconditionFailed("the campaign has changed since that ETag; read it again")
