"""Every route and answer of the campaigns API, through the Lambda handler on moto."""

from __future__ import annotations

from typing import Any

import pytest

from bbws.services.ids import new_id
from tests.bbws.services.campaigns.conftest import Client
from tests.bbws.services.support import OTHER_TENANT

FULL = {
    "name": "  Summer Sale ",
    "description": "Everything for the beach",
    "status": "active",
    "start_date": "2026-02-01T09:30:00+02:00",
    "end_date": "2026-03-01",
    "discount_percent": 12.5,
}


def details(body: dict[str, Any]) -> list[dict[str, str]]:
    return list(body["error"]["details"])


# --- create -------------------------------------------------------------------------------


def test_create_normalizes_dates_names_and_product_links(client: Client, products) -> None:
    p1, p2 = products(2)
    status, _, body = client.post("/campaigns", FULL | {"product_ids": [p1, p2, p1]})
    assert status == 201, body
    assert body["name"] == "Summer Sale"
    assert (body["start_date"], body["end_date"]) == (
        "2026-02-01T07:30:00Z",
        "2026-03-01T00:00:00Z",
    )
    assert (body["discount_percent"], body["product_ids"]) == (12.5, [p1, p2])
    assert (body["status"], body["version"]) == ("active", 1)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"name": None}, [{"field": "body.name", "type": "string_type"}]),
        ({"name": "   "}, [{"field": "body.name", "type": "string_too_short"}]),
        ({"start_date": None}, [{"field": "body.start_date", "type": "datetime_type"}]),
        ({"start_date": "01/02/2026"}, [{"field": "body.start_date", "type": "datetime_parsing"}]),
        (
            {"start_date": "2026-02-01T10:00:00"},
            [{"field": "body.start_date", "type": "timezone_aware"}],
        ),
        ({"start_date": "0017-10-04"}, [{"field": "body.start_date", "type": "date_out_of_range"}]),
        (
            {"start_date": "0001-01-01T00:00:00+01:00"},
            [{"field": "body.start_date", "type": "date_out_of_range"}],
        ),
        ({"end_date": "3000-01-01"}, [{"field": "body.end_date", "type": "date_out_of_range"}]),
        ({"status": "paused"}, [{"field": "body.status", "type": "literal_error"}]),
        ({"status": "ended"}, [{"field": "body.status", "type": "literal_error"}]),
        ({"discount": 10}, [{"field": "body.discount", "type": "extra_forbidden"}]),
        (
            {"product_ids": [new_id().lower()]},
            [{"field": "body.product_ids.0", "type": "string_pattern_mismatch"}],
        ),
        (
            {"product_ids": [new_id() for _ in range(101)]},
            [{"field": "body.product_ids", "type": "too_long"}],
        ),
    ],
)
def test_create_refuses_a_malformed_body(client: Client, change, expected) -> None:
    status, _, answer = client.post("/campaigns", FULL | change)
    assert (status, details(answer)) == (400, expected)


def test_create_needs_name_and_start_date(client: Client) -> None:
    status, _, body = client.post("/campaigns", {})
    assert status == 400
    assert details(body) == [
        {"field": "body.name", "type": "missing"},
        {"field": "body.start_date", "type": "missing"},
    ]


def test_linked_products_must_exist_in_the_callers_tenant(client: Client, products) -> None:
    (mine,) = products(1)
    (theirs,) = products(1, tenant=OTHER_TENANT)
    unknown = new_id()
    status, _, body = client.post("/campaigns", FULL | {"product_ids": [mine, theirs, unknown]})
    assert (status, body["error"]["code"]) == (400, "validation_error")
    assert details(body) == [
        {"field": "body.product_ids.1", "type": "product_not_found"},
        {"field": "body.product_ids.2", "type": "product_not_found"},
    ]
    assert theirs not in str(body) and unknown not in str(body)  # never echoes input
    assert client.get("/campaigns").body["items"] == []  # nothing was written


def test_an_update_checks_only_newly_linked_products(
    client: Client, products, dynamodb, settings
) -> None:
    p1, p2 = products(2)
    campaign = client.create(product_ids=[p1])
    # p1 is deleted from the catalogue later: editing the campaign must still work...
    dynamodb.Table(settings.products_table).delete_item(
        Key={"pk": "TENANT#tenant-a", "sk": f"PRODUCT#{p1}"}
    )
    path = f"/campaigns/{campaign['id']}"
    assert client.patch(path, {"product_ids": [p1, p2]}).status == 200
    # ...but linking a product that does not exist is refused.
    status, _, body = client.patch(path, {"product_ids": [p1, p2, new_id()]})
    assert (status, details(body)) == (
        400,
        [{"field": "body.product_ids.2", "type": "product_not_found"}],
    )


# --- read ---------------------------------------------------------------------------------


def test_get_404_for_an_unknown_id_and_400_for_a_malformed_one(client: Client) -> None:
    status, _, body = client.get(f"/campaigns/{new_id()}")
    assert (status, body["error"]["code"]) == (404, "not_found")
    status, _, body = client.get(f"/campaigns/{new_id().lower()}")
    assert (status, details(body)[0]["field"]) == (400, "path.campaign_id")


# --- update -------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_put_and_patch_are_partial_updates(client: Client, method: str) -> None:
    campaign = client.create(**FULL)
    path = f"/campaigns/{campaign['id']}"
    status, _, body = client.request(method, path, {"name": "Winter Sale", "discount_percent": 20})
    assert status == 200, body
    assert body == campaign | {
        "name": "Winter Sale",
        "discount_percent": 20.0,
        "version": 2,
        "updated_at": body["updated_at"],
    }
    assert body["updated_at"] > campaign["updated_at"]


def test_null_clears_optional_fields_but_not_required_ones(client: Client) -> None:
    campaign = client.create(**FULL)
    path = f"/campaigns/{campaign['id']}"
    cleared = {"description": None, "end_date": None, "discount_percent": None}
    status, _, body = client.patch(path, cleared)
    assert (status, {k: body[k] for k in cleared}) == (200, cleared)
    assert client.patch(path, {"product_ids": []}).status == 200  # unlinks every product
    for name in ("name", "status", "start_date", "product_ids"):
        status, _, body = client.patch(path, {name: None})
        assert (status, details(body)) == (400, [{"field": f"body.{name}", "type": "not_nullable"}])


def test_an_empty_update_is_400_and_a_repeated_one_writes_nothing(client: Client) -> None:
    campaign = client.create()
    path = f"/campaigns/{campaign['id']}"
    status, _, body = client.put(path, {})
    assert (status, details(body)) == (400, [{"field": "body", "type": "empty_update"}])
    assert client.put(path, {"status": "active"}).body["version"] == 2
    client.calls.clear()
    status, headers, body = client.put(path, {"status": "active"})  # a retried runbook Test 5
    assert (status, body["version"], headers["ETag"]) == (200, 2, '"2"')
    assert [c["operation"] for c in client.calls] == ["GetItem"]


def test_update_and_delete_404_for_an_unknown_id(client: Client) -> None:
    path = f"/campaigns/{new_id()}"
    assert client.put(path, {"status": "active"}).status == 404
    assert client.delete(path).status == 404


# --- optimistic concurrency ---------------------------------------------------------------


def test_if_match_guards_updates_and_deletes(client: Client) -> None:
    campaign = client.create()
    path = f"/campaigns/{campaign['id']}"
    status, headers, _ = client.put(path, {"name": "v2"}, headers={"If-Match": '"1"'})
    assert (status, headers["ETag"]) == (200, '"2"')
    for stale in ('"1"', 'W/"2"', "2", '"3", "4"'):
        status, _, body = client.put(path, {"name": "lost"}, headers={"If-Match": stale})
        assert (status, body["error"]["code"]) == (412, "precondition_failed"), stale
        assert client.delete(path, headers={"If-Match": stale}).status == 412
    assert client.put(path, {"name": "v3"}, headers={"If-Match": '"1", "2"'}).status == 200
    assert client.put(path, {"name": "v4"}, headers={"If-Match": "*"}).status == 200
    assert client.get(path).body["name"] == "v4"
    assert client.delete(path, headers={"If-Match": '"4"'}).status == 204


def test_a_change_between_read_and_write_is_never_lost(
    client: Client, clock, dynamodb, settings
) -> None:
    campaign = client.create()
    path = f"/campaigns/{campaign['id']}"
    key = {"pk": "TENANT#tenant-a", "sk": f"CAMPAIGN#{campaign['id']}"}
    table = dynamodb.Table(settings.campaigns_table)

    def concurrent_writer() -> None:  # another request commits while ours runs
        table.update_item(
            Key=key,
            UpdateExpression="SET description = :d ADD version :one",
            ExpressionAttributeValues={":one": 1, ":d": "theirs"},
        )

    # Without If-Match: read again, apply again, write; their change survives.
    clock.hooks.append(concurrent_writer)
    status, headers, body = client.put(path, {"name": "mine"})
    assert (status, body["name"], body["description"]) == (200, "mine", "theirs")
    assert (body["version"], headers["ETag"]) == (3, '"3"')
    # With If-Match, the client asked for the version it read: 412, nothing written.
    clock.hooks.append(concurrent_writer)
    status, _, body = client.put(path, {"name": "lost"}, headers={"If-Match": '"3"'})
    assert (status, body["error"]["code"]) == (412, "precondition_failed")
    # A campaign that keeps changing: after three attempts, 409.
    clock.hooks.extend([concurrent_writer] * 3)
    status, _, body = client.put(path, {"name": "lost"})
    assert (status, body["error"]["code"]) == (409, "conflict")
    final = client.get(path).body
    assert (final["name"], final["description"], final["version"]) == ("mine", "theirs", 7)


def test_a_blank_if_match_is_no_precondition(client: Client) -> None:
    path = f"/campaigns/{client.create()['id']}"
    assert client.patch(path, {"name": "x"}, headers={"If-Match": " "}).status == 200
    assert client.delete(path, headers={"If-Match": ""}).status == 204


# --- delete -------------------------------------------------------------------------------


@pytest.mark.parametrize("route", [["active"], ["active", "paused"], ["ended"], []])
def test_a_campaign_can_be_deleted_in_any_status(client: Client, route: list[str]) -> None:
    campaign = client.create()
    path = f"/campaigns/{campaign['id']}"
    for status in route:
        assert client.patch(path, {"status": status}).status == 200
    status, headers, body = client.delete(path)
    assert (status, body, headers.get("Content-Type")) == (204, None, None)
    assert client.delete(path).status == 404


# --- auth and tenancy ---------------------------------------------------------------------

ID = new_id()
ROUTES = [
    ("GET", "/campaigns", None),
    ("POST", "/campaigns", FULL),
    ("GET", f"/campaigns/{ID}", None),
    ("PUT", f"/campaigns/{ID}", {"status": "active"}),
    ("PATCH", f"/campaigns/{ID}", {"status": "active"}),
    ("DELETE", f"/campaigns/{ID}", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_401_without_a_token(client: Client, method, path, body) -> None:
    status, headers, answer = client.request(method, path, body, anonymous=True)
    assert (status, answer["error"]["code"]) == (401, "unauthorized")
    assert headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path", "body"), [r for r in ROUTES if r[0] != "GET"])
def test_403_for_a_member_write(client: Client, method, path, body) -> None:
    status, _, answer = client.request(method, path, body, admin=False)
    assert (status, answer["error"]["code"]) == (403, "forbidden")


def test_another_tenant_cannot_see_or_touch_a_campaign(client: Client) -> None:
    campaign = client.create(status="active")
    path = f"/campaigns/{campaign['id']}"
    other = {"tenant": OTHER_TENANT}
    assert client.get(path, **other).status == 404
    assert client.put(path, {"name": "hijacked"}, **other).status == 404
    assert client.delete(path, **other).status == 404
    assert client.get("/campaigns", **other).body["items"] == []
    assert client.get("/campaigns", query={"status": "active"}, **other).body["items"] == []
    assert client.get(path).body == campaign


def test_a_corrupt_stored_item_is_a_500_not_the_clients_400(
    client: Client, dynamodb, settings
) -> None:
    campaign = client.create()
    key = {"pk": "TENANT#tenant-a", "sk": f"CAMPAIGN#{campaign['id']}"}
    dynamodb.Table(settings.campaigns_table).update_item(
        Key=key,
        UpdateExpression="SET #s = :bad",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":bad": "archived"},
    )
    status, _, body = client.get(f"/campaigns/{campaign['id']}")
    assert (status, body["error"]["code"]) == (500, "internal_error")
