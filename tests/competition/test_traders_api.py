"""Trader profiles CRUD at /api/competition/traders/: reads for users, writes for staff, 400s per field."""

from __future__ import annotations

from decimal import Decimal

import pytest

from competition.models import TraderProfile
from competition.services.runs import competition_run_create

from .conftest import END, START

pytestmark = pytest.mark.django_db

BODY = {
    "name": "momentum",
    "panel": "rules-default",
    "symbols": ["acme", "BOLT", "acme"],
    "starting_capital": "50000",
    "sizing_fraction": "0.25",
    "max_position_notional": "20000",
    "rebalance_frequency": "weekly",
}


def test_staff_creates_reads_updates_and_deletes_a_trader(arena, staff_client, api_client):
    created = staff_client.post("/api/competition/traders", BODY, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["symbols"] == ["ACME", "BOLT"] and body["panel"] == "rules-default"
    assert created["Location"] == body["url"]
    assert api_client.get(body["url"]).json()["sizing_fraction"] == "0.2500"
    assert [t["name"] for t in api_client.get("/api/competition/traders/").json()["results"]] == ["momentum"]

    patched = staff_client.patch(body["url"], {"sizing_fraction": "0.5", "active": False}, format="json")
    assert patched.status_code == 200 and patched.json()["active"] is False
    replaced = staff_client.put(body["url"], {"name": "momentum-2", "panel": "rules-default"}, format="json")
    assert replaced.status_code == 200 and replaced.json()["name"] == "momentum-2"

    assert staff_client.delete(body["url"]).status_code == 204
    assert not TraderProfile.objects.exists()
    assert staff_client.get(body["url"]).status_code == 404


def test_users_read_but_do_not_write_and_anonymous_gets_401(arena, api_client, anon_client):
    assert anon_client.get("/api/competition/traders").status_code == 401
    assert api_client.get("/api/competition/traders").status_code == 200
    assert api_client.post("/api/competition/traders", BODY, format="json").status_code == 403
    assert not TraderProfile.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"panel": "no-such-panel"}, "panel"),
        ({"symbols": ["ACME", "ZZZ"]}, "symbols"),
        ({"symbols": ["$$$"]}, "symbols"),
        ({"sizing_fraction": "1.5"}, "sizing_fraction"),
        ({"starting_capital": "0"}, "starting_capital"),
        ({"rebalance_frequency": "hourly"}, "rebalance_frequency"),
        ({"broker": "alpaca_live"}, "broker"),
        ({"slippage_bps": "-1"}, "slippage_bps"),
        ({"leverage": 3}, "leverage"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_trader_input_is_a_400_naming_the_field(arena, staff_client, change, field):
    response = staff_client.post("/api/competition/traders", {**BODY, **change}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["extra"]["fields"]
    assert not TraderProfile.objects.exists()


def test_duplicate_name_is_a_400(arena, staff_client):
    assert staff_client.post("/api/competition/traders", BODY, format="json").status_code == 201
    again = staff_client.post("/api/competition/traders", BODY, format="json")
    assert again.status_code == 400 and "name" in again.json()["extra"]["fields"]


def test_a_trader_that_competed_cannot_be_deleted(traders, staff_client):
    competition_run_create(traders=["steady"], symbols=["ACME"], start=START, end=END, enqueue=False)
    response = staff_client.delete(f"/api/competition/traders/{traders[0].pk}")
    assert response.status_code == 409 and response.json()["code"] == "trader_in_use"
    assert TraderProfile.objects.filter(pk=traders[0].pk).exists()


def test_sizing_limits_are_decimals(arena, staff_client):
    body = staff_client.post("/api/competition/traders", BODY, format="json").json()
    trader = TraderProfile.objects.get(pk=body["id"])
    assert trader.max_position_notional == Decimal("20000") and trader.starting_capital == Decimal("50000")
