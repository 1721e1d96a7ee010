"""The service's OpenAPI document, and the API checked against it with schemathesis."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from bbws.services.openapi import ERROR_REF, openapi_document
from bbws.services.products.api import create_app
from tests.bbws.services.products.conftest import Api


@pytest.fixture(scope="module")
def document(cloud: Any, product_settings: Any) -> dict[str, Any]:
    return openapi_document(create_app(product_settings))


def test_the_document_lists_every_route_and_answer(document: dict[str, Any]) -> None:
    paths = document["paths"]
    assert {p: sorted(ops) for p, ops in paths.items()} == {
        "/products/health": ["get"],
        "/products": ["get", "post"],
        "/products/{product_id}": ["delete", "get", "patch", "put"],
        "/products/{product_id}/image": ["post"],
        "/products/bulk": ["patch", "post"],
    }
    item = paths["/products/{product_id}"]
    answers = {method: set(op["responses"]) for method, op in item.items()}
    assert answers["get"] == {"200", "400", "401", "403", "404", "500"}
    assert answers["put"] == answers["patch"] >= {"200", "404", "409", "412", "413", "415"}
    assert answers["delete"] >= {"204", "404", "409", "412"}
    assert item["delete"]["responses"]["204"]["content"] == {}
    assert set(paths["/products"]["post"]["responses"]) >= {"201", "409", "413", "415"}
    for method in ("get", "put", "patch"):
        assert "ETag" in item[method]["responses"]["200"]["headers"]
    assert item["put"]["responses"]["412"]["content"]["application/json"]["schema"] == {
        "$ref": ERROR_REF
    }
    assert "422" not in json.dumps(document)
    assert paths["/products/health"]["get"]["security"] == []
    params = {p["name"] for p in paths["/products"]["get"]["parameters"]}
    assert params == {
        "category", "min_price", "max_price", "available", "sort", "order", "limit", "cursor"
    }  # fmt: skip
    assert {p["name"] for p in item["put"]["parameters"]} == {"product_id", "if-match"}


def test_the_upload_is_documented_as_multipart(document: dict[str, Any]) -> None:
    upload = document["paths"]["/products/{product_id}/image"]["post"]
    schema = upload["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert schema["properties"]["image"] == {"type": "string", "format": "binary"}
    assert {"200", "404", "412", "413", "415"} <= set(upload["responses"])
    ok = upload["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/ProductImage"}


def test_every_reference_resolves_and_names_are_the_services_own(
    document: dict[str, Any],
) -> None:
    schemas = document["components"]["schemas"]
    refs = {r.rsplit("/", 1)[1] for r in _refs(document)}
    assert refs <= set(schemas)
    # merged with campaigns and orders into one document: no name may clash
    assert all(name.startswith("Product") or name.startswith("Error") for name in schemas)
    price = schemas["ProductCreate"]["properties"]["price"]
    assert "exclusiveMinimum" in json.dumps(price)


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_the_api_answers_as_documented(document: dict[str, Any], api: Api) -> None:
    """Generated requests for every JSON operation (valid and not): never a 500, and each
    answer is documented with its schema. The multipart upload has its own tests."""
    schema = schemathesis.openapi.from_dict(document)
    existing = api.create()["id"]
    operations = [
        result.ok() for result in schema.get_all_operations() if "image" not in result.ok().path
    ]

    @hypothesis_settings(
        max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        operation = data.draw(st.sampled_from(operations))
        case = data.draw(operation.as_strategy())
        if "product_id" in (case.path_parameters or {}) and data.draw(st.booleans()):
            case.path_parameters["product_id"] = existing
        case.validate_response(call(api, case), checks=CHECKS)

    run()


def call(api: Api, case: Any) -> schemathesis.Response:
    body = case.body if isinstance(case.body, dict | list) else None
    # schemathesis fills the bearer scheme with a random token: the admin's replaces it.
    headers = {k: str(v) for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    query = {k: str(v) for k, v in (case.query or {}).items()}
    status, answer_headers, answer = api(
        case.method, case.formatted_path, body=body, headers=headers, query=query
    )
    request = requests.Request(
        case.method, f"http://localhost/v1.0{case.formatted_path}", headers=headers, json=body
    ).prepare()
    return schemathesis.Response(
        status_code=status,
        headers={k: [v] for k, v in answer_headers.items()},
        content=b"" if answer is None else json.dumps(answer).encode(),
        request=request,
        elapsed=0.0,
        verify=False,
    )
