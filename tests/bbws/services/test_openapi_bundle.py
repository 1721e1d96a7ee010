"""src/bbws/openapi.yaml: it matches the services' routes, and the three APIs answer as it
says when schemathesis drives them over HTTP through the in-process gateway."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from bbws.services import bundle
from bbws.services.app import build_handler
from bbws.services.campaigns.api import create_app as campaigns_app
from bbws.services.config import Settings
from bbws.services.orders.api import create_app as orders_app
from bbws.services.products.api import create_app as products_app
from tests.bbws.services.http_adapter import LambdaGateway

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def committed() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(bundle.DOCUMENT.read_text(encoding="utf-8"))
    return loaded


def test_the_committed_document_is_what_the_routes_generate() -> None:
    assert committed() == bundle.bundle(), (
        "src/bbws/openapi.yaml is stale: run `python -m bbws.services.bundle`"
    )


def test_it_covers_all_three_apis() -> None:
    paths = committed()["paths"]
    operations = {f"{m.upper()} {p}" for p, ops in paths.items() for m in ops}
    assert len(operations) == 23  # products 10, campaigns 7, orders 6
    for service in ("products", "campaigns", "orders"):
        assert f"GET /{service}/health" in operations
        assert paths[f"/{service}/health"]["get"]["security"] == []
    assert committed()["openapi"].startswith("3.1")


def test_conflicting_definitions_are_refused() -> None:
    into: dict[str, Any] = {"Error": {"type": "object"}}
    with pytest.raises(bundle.BundleConflict, match="`Error`"):
        bundle._merge(into, {"Error": {"type": "string"}}, "components.schemas")


@pytest.fixture
def gateway(aws: boto3.session.Session, settings: Settings) -> LambdaGateway:
    return LambdaGateway(
        {
            "products": build_handler(products_app(settings)),
            "campaigns": build_handler(campaigns_app(settings)),
            "orders": build_handler(orders_app(settings)),
        }
    )


def test_every_api_answers_as_documented_over_http(
    gateway: LambdaGateway, make_token: Callable[..., str]
) -> None:
    """Generated requests (valid and not) for every JSON operation of the document, sent
    over WSGI: never a server error, and every answer documented with its schema. The
    multipart image upload has its own tests in products."""
    schema = schemathesis.openapi.from_dict(committed())
    schema.app = gateway
    admin = {"Authorization": f"Bearer {make_token('tenant-a', groups=('admin',))}"}
    operations = [
        result.ok()
        for result in schema.get_all_operations()
        if not result.ok().path.endswith("/image")
    ]
    assert len(operations) == 22

    @hypothesis_settings(
        max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        operation = data.draw(st.sampled_from(operations))
        case = data.draw(operation.as_strategy())
        # schemathesis fills the bearer scheme with a random token: an admin's replaces it.
        response = case.call(headers=admin)
        case.validate_response(response, checks=CHECKS)

    run()
    assert gateway.calls >= 200
