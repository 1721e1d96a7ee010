"""GET /campaigns: newest first, by status through CampaignsByStatus, signed cursors."""

from __future__ import annotations

from typing import Any

import pytest

from tests.bbws.services.campaigns.conftest import Client
from tests.bbws.services.support import OTHER_TENANT


def names(page: dict[str, Any]) -> list[str]:
    return [c["name"] for c in page["items"]]


def all_pages(client: Client, query: dict[str, str]) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        status, _, page = client.get(
            "/campaigns", query=query | ({"cursor": cursor} if cursor else {})
        )
        assert status == 200, page
        pages.append(names(page))
        cursor = page["next_cursor"]
        if cursor is None:
            return pages


def seed(client: Client) -> None:
    """c0..c5 in creation order; c1, c3, c5 active, c4 paused."""
    for i in range(6):
        campaign = client.create(name=f"c{i}")
        path = f"/campaigns/{campaign['id']}"
        if i in (1, 3, 4, 5):
            assert client.patch(path, {"status": "active"}).status == 200
        if i == 4:
            assert client.patch(path, {"status": "paused"}).status == 200


def test_the_unfiltered_list_is_the_base_table_newest_first(client: Client) -> None:
    seed(client)
    client.calls.clear()
    status, _, page = client.get("/campaigns", admin=False)
    assert (status, names(page), page["next_cursor"]) == (
        200,
        ["c5", "c4", "c3", "c2", "c1", "c0"],
        None,
    )
    (query,) = client.calls
    assert (query["operation"], query.get("IndexName"), query["ScanIndexForward"]) == (
        "Query",
        None,
        False,
    )


@pytest.mark.parametrize(
    ("status", "expected"),
    [("active", ["c5", "c3", "c1"]), ("paused", ["c4"]), ("draft", ["c2", "c0"]), ("ended", [])],
)
def test_a_status_filter_is_served_by_campaigns_by_status(
    client: Client, status: str, expected: list[str]
) -> None:
    seed(client)
    client.calls.clear()
    code, _, page = client.get("/campaigns", query={"status": status})
    assert (code, names(page)) == (200, expected)
    assert {c["status"] for c in page["items"]} <= {status}
    assert [(c["operation"], c.get("IndexName")) for c in client.calls] == [
        ("Query", "CampaignsByStatus")
    ]


def test_pages_cover_every_campaign_once(client: Client) -> None:
    seed(client)
    assert all_pages(client, {"limit": "2"}) == [["c5", "c4"], ["c3", "c2"], ["c1", "c0"]]
    assert all_pages(client, {"limit": "4"}) == [["c5", "c4", "c3", "c2"], ["c1", "c0"]]
    assert all_pages(client, {"limit": "2", "status": "active"}) == [["c5", "c3"], ["c1"]]
    assert all_pages(client, {"limit": "1", "status": "draft"}) == [["c2"], ["c0"]]


def test_a_cursor_only_continues_its_own_list(client: Client) -> None:
    seed(client)
    by_table = client.get("/campaigns", query={"limit": "1"}).body["next_cursor"]
    active = client.get("/campaigns", query={"limit": "1", "status": "active"}).body["next_cursor"]
    refused = [
        ({"cursor": by_table, "status": "active"}, {}),
        ({"cursor": active}, {}),
        ({"cursor": active, "status": "draft"}, {}),
        ({"cursor": active, "status": "active"}, {"tenant": OTHER_TENANT}),
        ({"cursor": active[:-2] + "xx", "status": "active"}, {}),
    ]
    for query, caller in refused:
        status, _, body = client.get("/campaigns", query=query, **caller)
        assert (status, body["error"]["details"]) == (
            400,
            [{"field": "query.cursor", "type": "cursor"}],
        ), query


@pytest.mark.parametrize(
    ("query", "field", "error"),
    [
        ({"limit": "0"}, "query.limit", "greater_than_equal"),
        ({"limit": "101"}, "query.limit", "less_than_equal"),
        ({"limit": "ten"}, "query.limit", "int_parsing"),
        ({"status": "archived"}, "query.status", "enum"),
    ],
)
def test_bad_list_parameters_are_400(client: Client, query, field: str, error: str) -> None:
    status, _, body = client.get("/campaigns", query=query)
    assert (status, body["error"]["details"]) == (400, [{"field": field, "type": error}])
