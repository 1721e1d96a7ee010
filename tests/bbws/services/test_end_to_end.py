"""A throwaway service on moto's real tables: the pattern the three services follow.

It stores notes in the campaigns table with the definition's key helpers, pages them with
signed cursors over DynamoDB's real LastEvaluatedKey, and maps conditional-write failures.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import boto3
import pytest
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, Field

from bbws.schemas.dynamodb_definition import PK, SK, entity_key, tenant_partition
from bbws.services.app import ServiceApp, build_handler, current_principal, make_app
from bbws.services.config import Settings
from bbws.services.errors import NotFound, on_condition_failure
from bbws.services.ids import IdPath, new_id
from bbws.services.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Cursors
from tests.bbws.services.support import OTHER_TENANT, TENANT

NOTE = "NOTE"


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=200)


def create_app(settings: Settings, client: Any) -> ServiceApp:
    app = make_app("notes", settings)
    table = settings.campaigns_table
    cursors = Cursors(settings.cursor_secret)

    def key(note_id: str) -> dict[str, Any]:
        pk = tenant_partition(current_principal().tenant_id)
        return {PK: {"S": pk}, SK: {"S": entity_key(NOTE, note_id)}}

    @app.post("/notes")
    def create(note: NoteIn) -> tuple[dict[str, Any], int]:
        note_id = new_id()
        item = {**key(note_id), "text": {"S": note.text}}
        client.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        return {"id": note_id, "text": note.text}, 201

    @app.get("/notes")
    def list_notes(
        cursor: str | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    ) -> dict[str, Any]:
        tenant = current_principal().tenant_id
        scope = {"list": "notes"}  # every filter and sort of the query goes here
        start = cursors.decode(cursor, tenant_id=tenant, query=scope)
        page = client.query(
            TableName=table,
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
            ExpressionAttributeNames={"#pk": PK, "#sk": SK},
            ExpressionAttributeValues={
                ":pk": {"S": tenant_partition(tenant)},
                ":prefix": {"S": f"{NOTE}#"},
            },
            Limit=limit,
            **({"ExclusiveStartKey": start} if start else {}),
        )
        items = [{"text": i["text"]["S"]} for i in page["Items"]]
        next_cursor = cursors.encode(page.get("LastEvaluatedKey"), tenant_id=tenant, query=scope)
        return {"items": items, "next_cursor": next_cursor}

    @app.delete("/notes/<note_id>")
    def delete(note_id: IdPath) -> tuple[dict[str, Any], int]:
        with on_condition_failure(NotFound("note not found")):
            client.delete_item(
                TableName=table, Key=key(note_id), ConditionExpression="attribute_exists(pk)"
            )
        return {}, 200

    return app


@pytest.fixture
def handler(aws_tables: boto3.session.Session, settings: Settings) -> Callable[..., Any]:
    return build_handler(create_app(settings, aws_tables.client("dynamodb")))


def test_create_page_and_delete_on_the_real_tables(
    handler, auth_headers, make_event, invoke
) -> None:
    admin = auth_headers(groups=("admin",))
    ids = []
    for text in ("one", "two", "three"):
        status, _, body = invoke(
            handler, make_event("POST", "/notes", body={"text": text}, headers=admin)
        )
        assert status == 201
        ids.append(body["id"])
    member = auth_headers()
    _, _, first = invoke(handler, make_event("GET", "/notes", headers=member, query={"limit": "2"}))
    assert [i["text"] for i in first["items"]] == ["one", "two"]  # ULIDs: creation order
    query = {"limit": "2", "cursor": first["next_cursor"]}
    _, _, second = invoke(handler, make_event("GET", "/notes", headers=member, query=query))
    assert (second["items"], second["next_cursor"]) == ([{"text": "three"}], None)
    path = f"/v1.0/notes/{ids[0]}"
    assert invoke(handler, make_event("DELETE", path, headers=admin)).status == 200
    status, _, body = invoke(handler, make_event("DELETE", path, headers=admin))
    assert (status, body["error"]["message"]) == (404, "note not found")


def test_tenants_see_neither_each_others_items_nor_cursors(
    handler, auth_headers, make_event, invoke
) -> None:
    for text in ("a1", "a2"):
        event = make_event(
            "POST", "/notes", body={"text": text}, headers=auth_headers(groups=("admin",))
        )
        invoke(handler, event)
    _, _, page = invoke(
        handler, make_event("GET", "/notes", headers=auth_headers(), query={"limit": "1"})
    )
    other = auth_headers(OTHER_TENANT)
    assert invoke(handler, make_event("GET", "/notes", headers=other)).body["items"] == []
    query = {"cursor": page["next_cursor"]}
    status, _, body = invoke(handler, make_event("GET", "/notes", headers=other, query=query))
    assert (status, body["error"]["details"]) == (
        400,
        [{"field": "query.cursor", "type": "cursor"}],
    )
    assert TENANT not in page["next_cursor"]


def test_query_parameters_are_validated_after_auth(
    handler, auth_headers, make_event, invoke
) -> None:
    assert invoke(handler, make_event("GET", "/notes", query={"limit": "0"})).status == 401
    status, _, body = invoke(
        handler, make_event("GET", "/notes", headers=auth_headers(), query={"limit": "0"})
    )
    assert (status, body["error"]["details"]) == (
        400,
        [{"field": "query.limit", "type": "greater_than_equal"}],
    )
