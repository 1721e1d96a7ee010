"""The campaigns_lambda runbook's smoke Tests 1-6 (PROM-CAMP-001, "Post-Deployment
Validation"), with its exact payloads, in its order, through the Lambda handler."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime

from tests.bbws.services.campaigns.conftest import Client, Clock
from tests.bbws.services.support import invoke, rest_event

# Verbatim from the runbook.
CREATE = {"name": "SIT Test Campaign", "status": "draft", "start_date": "2026-02-01"}
UPDATE = {"status": "active"}


def test_runbook_test_1_health_check(client: Client) -> None:
    status, headers, body = client.get("/v1.0/campaigns/health", anonymous=True)
    assert (status, body) == (200, {"status": "ok", "service": "campaigns", "env": "dev"})
    assert headers["Strict-Transport-Security"].startswith("max-age=")


def test_runbook_test_2_list_campaigns_empty(client: Client) -> None:
    status, _, body = client.get("/v1.0/campaigns", admin=False)
    assert (status, body) == (200, {"items": [], "next_cursor": None})


def test_runbook_tests_3_to_6_create_get_update_delete(client: Client) -> None:
    # Test 3: create
    status, headers, created = client.post("/v1.0/campaigns", CREATE)
    assert status == 201, created
    campaign_id = created["id"]
    assert headers["Location"] == f"/v1.0/campaigns/{campaign_id}"
    assert headers["ETag"] == '"1"'
    assert created | {"id": "", "created_at": "", "updated_at": ""} == {
        "id": "",
        "name": "SIT Test Campaign",
        "description": None,
        "status": "draft",
        "start_date": "2026-02-01T00:00:00Z",
        "end_date": None,
        "discount_percent": None,
        "product_ids": [],
        "version": 1,
        "created_at": "",
        "updated_at": "",
    }
    assert created["created_at"] == "2026-01-10T10:00:00.000Z"

    # Test 4: get by id (the runbook sends the same token: any member may read)
    status, headers, fetched = client.get(f"/v1.0/campaigns/{campaign_id}", admin=False)
    assert (status, fetched, headers["ETag"]) == (200, created, '"1"')

    # Test 5: update
    status, headers, updated = client.put(f"/v1.0/campaigns/{campaign_id}", UPDATE)
    assert status == 200, updated
    assert (updated["status"], updated["version"], headers["ETag"]) == ("active", 2, '"2"')
    assert updated["name"] == "SIT Test Campaign"  # a partial update: the rest is kept
    assert client.get(f"/v1.0/campaigns/{campaign_id}").body == updated

    # Test 6: delete (of the campaign Test 5 activated)
    status, _, body = client.delete(f"/v1.0/campaigns/{campaign_id}")
    assert (status, body) == (204, None)
    assert client.get(f"/v1.0/campaigns/{campaign_id}").status == 404
    assert client.get("/v1.0/campaigns").body["items"] == []


def test_runbook_test_3_after_its_start_date_needs_allow_past_start(make_client) -> None:
    """Replayed after 2026-02-01 (as on 2026-11-21), Test 3's payload asks for a campaign
    that starts in the past: a 400 unless the runbook adds ``"allow_past_start": true``."""
    later = make_client(Clock(datetime(2026, 11, 21, 9, 0, tzinfo=UTC)))
    status, _, body = later.post("/v1.0/campaigns", CREATE)
    assert (status, body["error"]["details"]) == (
        400,
        [{"field": "body.start_date", "type": "start_in_past"}],
    )
    assert later.post("/v1.0/campaigns", CREATE | {"allow_past_start": True}).status == 201


def test_the_handler_module_builds_the_app_from_the_environment(service_env, dynamodb) -> None:
    handler = importlib.reload(importlib.import_module("bbws.services.campaigns.handler"))
    event = rest_event("GET", "/v1.0/campaigns/health")
    assert invoke(handler.handler, event).status == 200
