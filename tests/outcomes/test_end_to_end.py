"""Done when: a debate's buy consensus becomes an intent, passes the checks, is submitted by the worker to
the simulated broker, fills on the next bar and, after the horizon, is a win or a loss with its PnL —
visible through the API and the admin, linked end to end."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from debates.models import DebateSession
from outcomes.models import BrokerOrder, Fill, OrderIntent, Outcome, SimOrder, TradingAccount
from tests.outcomes.conftest import bar_on, bars_after

pytestmark = pytest.mark.django_db
AS_OF = dt.date(2024, 3, 1)  # the rules panel says BUY on ACME that day (a steady uptrend)


def test_a_debates_buy_is_traded_filled_and_scored_end_to_end(
    arena: Any, api_client: APIClient, staff_user: User, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(
            "/api/debate/sessions", {"symbol": "ACME", "as_of": "2024-03-01"}, format="json"
        )
    assert response.status_code == 202, response.content
    detail = api_client.get(response.json()["url"]).json()
    assert detail["status"] == "completed" and detail["consensus"]["action"] == "buy"
    trade = detail["sections"]["trade"]

    # the decision became an intent for the default paper account, every check passed
    account = TradingAccount.objects.get(is_default=True)
    assert trade["account"] == {
        "id": account.pk,
        "name": "paper-default",
        "broker": "simulated",
        "live": False,
    }
    intent = OrderIntent.objects.get()
    assert trade["intent"]["id"] == intent.pk and trade["intent"]["status"] == "submitted"
    assert trade["intent"]["decision_id"] == detail_consensus_id(detail["id"])
    assert len(trade["risk_checks"]) == 12 and all(c["passed"] for c in trade["risk_checks"])

    # the worker submitted it; the simulated broker filled it at the next bar's open (plus 5 bps)
    next_bar = bars_after("ACME", AS_OF, 1)[0]
    fill_price = (next_bar.open * D("1.0005")).quantize(D("0.0001"))
    assert trade["broker_order"]["status"] == "filled"
    assert trade["broker_order"]["client_order_id"] == intent.client_order_id
    assert [(f["trade_date"], D(f["price"]), D(f["quantity"])) for f in trade["fills"]] == [
        (next_bar.date.isoformat(), fill_price, intent.quantity)
    ]
    assert SimOrder.objects.count() == BrokerOrder.objects.count() == Fill.objects.count() == 1
    assert trade["outcome"]["status"] == "pending"

    # after the horizon, update_outcomes scores it
    call_command("update_outcomes", stdout=StringIO())
    horizon = bars_after("ACME", AS_OF, account.outcome_horizon_bars)[-1]
    outcome = Outcome.objects.get()
    expected = (intent.quantity * (horizon.close - fill_price)).quantize(D("0.0001"))
    assert outcome.status in ("win", "loss")
    assert (outcome.basis, outcome.horizon_date, outcome.pnl_amount) == (
        "mark_to_market",
        horizon.date,
        expected,
    )
    assert outcome.status == ("win" if expected / (intent.quantity * fill_price) > D("0.001") else "loss")

    # visible through the API, both ways round
    listed = api_client.get("/api/outcomes", {"symbol": "acme", "status": outcome.status}).json()
    assert listed["count"] == 1
    row = listed["results"][0]
    assert (row["decision_id"], row["session_id"], D(row["pnl_amount"])) == (
        outcome.consensus_id,
        int(response.json()["id"]),
        expected,
    )
    assert row["intent"]["client_order_id"] == intent.client_order_id
    assert row["broker_order"]["broker_order_id"] == str(SimOrder.objects.get().pk)
    one = api_client.get(row["url"]).json()
    assert len(one["risk_checks"]) == 12 and len(one["fills"]) == 1
    again = api_client.get(response.json()["url"]).json()["sections"]["trade"]["outcome"]
    assert again["status"] == outcome.status and D(again["pnl_amount"]) == expected

    # ...and through the admin, each record linking to the next
    admin = Client()
    admin.force_login(staff_user_with_perms(staff_user))
    pages = {
        f"/admin/outcomes/outcome/{outcome.pk}/change/": [f"/admin/outcomes/orderintent/{intent.pk}/change/"],
        f"/admin/outcomes/orderintent/{intent.pk}/change/": [
            f"/admin/outcomes/brokerorder/{BrokerOrder.objects.get().pk}/change/",
            f"/admin/outcomes/outcome/{outcome.pk}/change/",
            f"/admin/debates/debatesession/{outcome.consensus.session_id}/change/",
        ],
        f"/admin/outcomes/brokerorder/{BrokerOrder.objects.get().pk}/change/": [
            f"/admin/outcomes/orderintent/{intent.pk}/change/"
        ],
    }
    for page, links in pages.items():
        html = admin.get(page).content.decode()
        for link in links:
            assert link in html, (page, link)
    for listing in (
        "outcome",
        "orderintent",
        "brokerorder",
        "fill",
        "riskcheck",
        "tradingaccount",
        "simorder",
        "simfill",
        "simposition",
        "sessionaccount",
    ):
        assert admin.get(f"/admin/outcomes/{listing}/").status_code == 200, listing
    assert admin.get(f"/admin/outcomes/tradingaccount/{account.pk}/change/").status_code == 200
    assert bar_on("ACME", AS_OF)  # the decision's own bar exists: it traded on the simulated clock


def detail_consensus_id(session_id: int) -> int:
    return DebateSession.objects.get(pk=session_id).consensus.pk


def staff_user_with_perms(user: User) -> User:
    user.is_superuser = True
    user.save()
    return user
