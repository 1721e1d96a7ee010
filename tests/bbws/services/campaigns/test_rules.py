"""Status transitions, date rules and discount bounds, through the API."""

from __future__ import annotations

import itertools

import pytest

from bbws.services.campaigns.models import TRANSITIONS, CampaignStatus
from tests.bbws.services.campaigns.conftest import Client

# The table, spelt out here independently of the code's TRANSITIONS.
VALID = {
    ("draft", "active"),
    ("draft", "ended"),  # cancelled before it ran
    ("active", "paused"),
    ("active", "ended"),
    ("paused", "active"),
    ("paused", "ended"),
}
STATUSES = ["draft", "active", "paused", "ended"]
# How to reach each status from a new draft.
ROUTE_TO = {"draft": [], "active": ["active"], "paused": ["active", "paused"], "ended": ["ended"]}
PAIRS = [(a, b) for a, b in itertools.product(STATUSES, STATUSES) if a != b]


def campaign_in(client: Client, status: str) -> str:
    path = f"/campaigns/{client.create()['id']}"
    for step in ROUTE_TO[status]:
        assert client.patch(path, {"status": step}).status == 200
    return path


def test_the_code_has_the_documented_table() -> None:
    assert {(str(a), str(b)) for a, targets in TRANSITIONS.items() for b in targets} == VALID
    assert set(TRANSITIONS) == set(CampaignStatus)


@pytest.mark.parametrize(("source", "target"), sorted(VALID))
def test_valid_transition(client: Client, source: str, target: str) -> None:
    path = campaign_in(client, source)
    status, _, body = client.put(path, {"status": target})
    assert (status, body["status"]) == (200, target)


@pytest.mark.parametrize(("source", "target"), sorted(set(PAIRS) - VALID))
def test_invalid_transition_is_409_with_the_allowed_next_states(
    client: Client, source: str, target: str
) -> None:
    path = campaign_in(client, source)
    version = client.get(path).body["version"]
    status, _, body = client.put(path, {"status": target})
    assert (status, body["error"]["code"]) == (409, "conflict")
    allowed = sorted(b for a, b in VALID if a == source)
    assert body["error"]["details"] == [
        {"field": "body.status", "type": "invalid_transition"},
        *({"field": "allowed_next", "type": s} for s in allowed),
    ]
    assert client.get(path).body["version"] == version  # nothing written


def test_an_ended_campaign_is_read_only(client: Client) -> None:
    path = campaign_in(client, "ended")
    status, _, body = client.patch(path, {"name": "renamed"})
    assert (status, body["error"]["details"]) == (
        409,
        [{"field": "body.status", "type": "invalid_transition"}],
    )
    assert client.patch(path, {"status": "ended"}).status == 200  # a retry changes nothing


# --- dates --------------------------------------------------------------------------------
# The clock reads 2026-01-10T10:00:00Z.


def post(client: Client, **fields):
    return client.post("/campaigns", {"name": "Dated", **fields})


def test_a_past_start_needs_allow_past_start(client: Client) -> None:
    status, _, body = post(client, start_date="2026-01-09")
    assert (status, body["error"]["details"]) == (
        400,
        [{"field": "body.start_date", "type": "start_in_past"}],
    )
    status, _, body = post(client, start_date="2026-01-09", allow_past_start=True)
    assert (status, body["start_date"]) == (201, "2026-01-09T00:00:00Z")
    assert "allow_past_start" not in body


@pytest.mark.parametrize(
    "start", ["2026-01-10", "2026-01-10T08:00:00Z", "2026-01-10T01:00:00+01:00"]
)
def test_a_start_earlier_today_is_not_in_the_past(client: Client, start: str) -> None:
    assert post(client, start_date=start).status == 201


@pytest.mark.parametrize("end", ["2026-02-01", "2026-01-31T23:59:59Z", "2026-02-01T01:00:00+01:00"])
def test_the_end_must_be_after_the_start(client: Client, end: str) -> None:
    status, _, body = post(client, start_date="2026-02-01", end_date=end)
    assert (status, body["error"]["details"]) == (
        400,
        [{"field": "body.end_date", "type": "end_not_after_start"}],
    )


def test_dates_are_checked_again_on_update(client: Client, clock) -> None:
    created = client.create(start_date="2026-02-01", end_date="2026-03-01")
    path = f"/campaigns/{created['id']}"
    assert client.patch(path, {"end_date": "2026-01-31"}).status == 400
    assert client.patch(path, {"start_date": "2026-03-02"}).status == 400
    assert client.patch(path, {"start_date": "2026-01-01"}).status == 400
    status, _, body = client.patch(path, {"start_date": "2026-01-01", "allow_past_start": True})
    assert (status, body["start_date"]) == (200, "2026-01-01T00:00:00Z")
    # Once the start has passed, other edits need no flag: only a changed start is checked.
    clock.now = clock.now.replace(month=2, day=15)
    assert client.patch(path, {"status": "active", "name": "Running"}).status == 200
    assert client.patch(path, {"start_date": "2026-01-01"}).status == 200  # unchanged


# --- discount bounds ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"), [(0.01, 0.01), (12.5, 12.5), (90, 90.0), ("33.3", 33.3)]
)
def test_discounts_within_bounds(client: Client, value, stored) -> None:
    status, _, body = post(client, start_date="2026-02-01", discount_percent=value)
    assert (status, body["discount_percent"]) == (201, stored)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (0, "greater_than"),
        (-5, "greater_than"),
        (90.01, "less_than_equal"),
        (100, "less_than_equal"),
        (12.345, "decimal_max_places"),
        ("ten", "decimal_parsing"),
        ("NaN", "finite_number"),
        (True, "decimal_type"),
    ],
)
def test_discounts_out_of_bounds(client: Client, value, error: str) -> None:
    status, _, body = post(client, start_date="2026-02-01", discount_percent=value)
    assert (status, body["error"]["details"]) == (
        400,
        [{"field": "body.discount_percent", "type": error}],
    )
