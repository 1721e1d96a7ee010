"""The twelve BBWS email templates: what each needs and a sample that renders it.

``required`` is the contract with the services that send the emails: every name in
it must be in the context (the layout adds ``brand_name`` and ``support_email``, so
those are required everywhere). A test checks these sets against the template
sources, so they cannot silently fall out of date.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

LAYOUT = "_layout.html.j2"
SUFFIX = ".html.j2"
LAYOUT_VARIABLES = frozenset({"brand_name", "support_email"})

_BRAND: dict[str, Any] = {"brand_name": "BBWS Store", "support_email": "support@kimmyai.io"}


@dataclass(frozen=True)
class TemplateSpec:
    name: str
    description: str
    variables: frozenset[str]  # what the template itself uses, besides the layout's
    sample: Mapping[str, Any] = field(default_factory=dict)

    @property
    def filename(self) -> str:
        return f"{self.name}{SUFFIX}"

    @property
    def required(self) -> frozenset[str]:
        return self.variables | LAYOUT_VARIABLES


def _spec(name: str, description: str, sample: dict[str, Any]) -> TemplateSpec:
    # The sample is the source of truth for the variable names, so they cannot disagree.
    return TemplateSpec(
        name=name,
        description=description,
        variables=frozenset(sample),
        sample=MappingProxyType({**_BRAND, **sample}),
    )


_ORDER = {"customer_name": "Thandi Nkosi", "order_number": "BB-100234"}
_CAMPAIGN = {
    "customer_name": "Thandi Nkosi",
    "campaign_name": "Winter Sale",
    "ends_on": "31 July 2026",
    "campaign_url": "https://kimmyai.io/campaigns/winter-sale",
    "unsubscribe_url": "https://kimmyai.io/unsubscribe?t=abc123",
}

_SPECS = (
    _spec(
        "order_confirmation",
        "Sent when an order is placed.",
        {
            **_ORDER,
            "items": [
                {"name": "Ceramic mug", "quantity": 2, "price": 149.0},
                {"name": "Coffee beans 1kg", "quantity": 1, "price": 329.5},
            ],
            "total": 627.5,
            "currency": "ZAR",
            "order_url": "https://kimmyai.io/orders/BB-100234",
        },
    ),
    _spec(
        "order_shipped",
        "Sent when the order leaves the warehouse.",
        {
            **_ORDER,
            "carrier": "The Courier Guy",
            "tracking_number": "TCG-998877",
            "tracking_url": "https://track.example.com/TCG-998877",
            "estimated_delivery": "12 March 2026",
        },
    ),
    _spec(
        "order_delivered",
        "Sent when the carrier confirms delivery.",
        {
            **_ORDER,
            "delivered_on": "12 March 2026",
            "review_url": "https://kimmyai.io/orders/BB-100234/review",
        },
    ),
    _spec(
        "order_cancelled",
        "Sent when an order is cancelled and refunded.",
        {
            **_ORDER,
            "cancellation_reason": "an item went out of stock",
            "refund_amount": 627.5,
            "currency": "ZAR",
        },
    ),
    _spec(
        "campaign_launch",
        "Marketing: a campaign starts.",
        {
            **_CAMPAIGN,
            "campaign_summary": "up to 40% off selected homeware.",
            "starts_on": "1 July 2026",
        },
    ),
    _spec("campaign_reminder", "Marketing: a campaign is about to end.", dict(_CAMPAIGN)),
    _spec(
        "welcome",
        "Sent once when a customer account is created.",
        {"customer_name": "Thandi Nkosi", "login_url": "https://kimmyai.io/login"},
    ),
    _spec(
        "password_reset",
        "Sent on a password reset request.",
        {
            "customer_name": "Thandi Nkosi",
            "reset_url": "https://kimmyai.io/reset?token=xyz",
            "expires_in_minutes": 30,
        },
    ),
    _spec(
        "invoice",
        "Sent with a tenant's or customer's invoice.",
        {
            "customer_name": "Thandi Nkosi",
            "invoice_number": "INV-2026-0042",
            "issued_on": "1 March 2026",
            "due_on": "31 March 2026",
            "lines": [
                {"description": "Hosting, March 2026", "amount": 499.0},
                {"description": "Extra storage 10 GB", "amount": 50.0},
            ],
            "total": 549.0,
            "currency": "ZAR",
            "invoice_url": "https://kimmyai.io/invoices/INV-2026-0042",
        },
    ),
    _spec(
        "low_stock_alert",
        "Operational: sent to a tenant's staff when stock drops below the threshold.",
        {
            "recipient_name": "Sipho Dlamini",
            "product_name": "Ceramic mug",
            "sku": "MUG-001",
            "quantity_left": 3,
            "reorder_threshold": 10,
            "product_url": "https://admin.kimmyai.io/products/MUG-001",
        },
    ),
    _spec(
        "tenant_invite",
        "Sent when a tenant admin invites a colleague.",
        {
            "invitee_name": "Lerato Mokoena",
            "inviter_name": "Sipho Dlamini",
            "tenant_name": "Sipho's Coffee",
            "accept_url": "https://kimmyai.io/invites/abc",
            "expires_on": "15 March 2026",
        },
    ),
    _spec(
        "newsletter",
        "Marketing: the periodic newsletter.",
        {
            "customer_name": "Thandi Nkosi",
            "headline": "What's new in March",
            "articles": [
                {
                    "title": "Meet our new roaster",
                    "summary": "Small batches, roasted weekly.",
                    "url": "https://kimmyai.io/blog/roaster",
                },
            ],
            "unsubscribe_url": "https://kimmyai.io/unsubscribe?t=abc123",
        },
    ),
)

TEMPLATES: Mapping[str, TemplateSpec] = MappingProxyType({s.name: s for s in _SPECS})
