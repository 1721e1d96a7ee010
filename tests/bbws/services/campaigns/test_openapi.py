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
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from bbws.services.campaigns.api import create_app
from bbws.services.openapi import ERROR_REF, openapi_document
from tests.bbws.services.campaigns.conftest import Client
from tests.bbws.services.support import invoke, rest_event


@pytest.fixture
def document(settings) -> dict[str, Any]:
    return openapi_document(create_app(settings))


def test_the_document_needs_no_aws_configuration(settings, monkeypatch) -> None:
    """``python -m bbws.services.bundle`` builds the app on a laptop: no region, no keys."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    assert "/campaigns" in openapi_document(create_app(settings))["paths"]


def test_the_document_lists_every_route_and_answer(document: dict[str, Any]) -> None:
    paths = document["paths"]
    assert {p: sorted(ops) for p, ops in paths.items()} == {
        "/campaigns/health": ["get"],
        "/campaigns": ["get", "post"],
        "/campaigns/{campaign_id}": ["delete", "get", "patch", "put"],
    }
    item = paths["/campaigns/{campaign_id}"]
    statuses = {method: set(op["responses"]) for method, op in item.items()}
    assert set(paths["/campaigns"]["post"]["responses"]) >= {"201", "400", "401", "403", "429"}
    assert statuses["put"] == statuses["patch"] >= {"200", "404", "409", "412"}
    assert statuses["delete"] >= {"204", "404", "412"}
    assert "422" not in json.dumps(document)  # Powertools' own 422: ours are 400s
    assert item["put"]["responses"]["412"]["content"]["application/json"]["schema"] == {
        "$ref": ERROR_REF
    }
    assert "ETag" in item["get"]["responses"]["200"]["headers"]
    assert paths["/campaigns/health"]["get"]["security"] == []
    params = {p["name"] for p in paths["/campaigns"]["get"]["parameters"]}
    assert params == {"status", "limit", "cursor"}
    schemas = document["components"]["schemas"]
    assert {"Campaign", "CampaignCreate", "CampaignUpdate", "CampaignPage"} <= set(schemas)
    assert schemas["CampaignCreate"]["properties"]["start_date"]["examples"][0] == "2026-02-01"


def test_the_document_is_json_and_names_the_service(document: dict[str, Any]) -> None:
    assert json.loads(json.dumps(document))["info"]["title"] == "BBWS campaigns API"


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_the_api_answers_as_documented(document: dict[str, Any], client: Client) -> None:
    """Generated requests for every operation (valid and not): never a 500, and every
    answer is documented, with its documented schema."""
    schema = schemathesis.openapi.from_dict(document)
    existing = [client.create(discount_percent=5)["id"] for _ in range(4)]
    routes = ([], ["active"], ["active", "paused"], ["ended"])
    for campaign_id, steps in zip(existing, routes, strict=True):
        for step in steps:
            assert client.patch(f"/campaigns/{campaign_id}", {"status": step}).status == 200
    operations = [result.ok() for result in schema.get_all_operations()]

    @hypothesis_settings(
        max_examples=60,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        operation = data.draw(st.sampled_from(operations))
        mode = data.draw(st.sampled_from([GenerationMode.POSITIVE, GenerationMode.NEGATIVE]))
        case = data.draw(operation.as_strategy(generation_mode=mode))
        # Half the time a real campaign (one per status), else the generated id (a 404);
        # never for DELETE, which would leave later examples nothing to work on.
        real = case.method != "DELETE" and data.draw(st.booleans())
        if "campaign_id" in (case.path_parameters or {}) and real:
            case.path_parameters["campaign_id"] = data.draw(st.sampled_from(existing))
            # A generated If-Match is a stale one (412): mostly leave it out, to reach the
            # rules behind it.
            if case.headers and data.draw(st.integers(0, 3)):
                case.headers.pop("if-match", None)
        case.validate_response(call(client, case), checks=CHECKS)

    run()


def call(client: Client, case: Any) -> schemathesis.Response:
    path = case.formatted_path
    body = case.body if isinstance(case.body, (dict, list)) else None
    # schemathesis fills the bearer scheme with a random token: replace it with a real one.
    headers = {**{k: str(v) for k, v in (case.headers or {}).items()}, **client.headers()}
    query = {k: str(v) for k, v in (case.query or {}).items()}
    status, answer_headers, answer = invoke(
        client.handler, rest_event(case.method, path, body=body, headers=headers, query=query)
    )
    request = requests.Request(
        case.method, f"http://localhost/v1.0{path}", headers=headers, json=body
    ).prepare()
    content = b"" if answer is None else json.dumps(answer).encode()
    return schemathesis.Response(
        status_code=status,
        headers={k: [v] for k, v in answer_headers.items()},
        content=content,
        request=request,
        elapsed=0.0,
        verify=False,
    )
