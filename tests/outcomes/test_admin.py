"""Admin: accounts are settings (added with a full book), records are read-only, actions call services."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal as D

import pytest
from django.contrib.auth.models import User
from django.test import Client

from debates.models import DebateConsensus
from outcomes.models import BrokerOrder, Outcome, TradingAccount
from outcomes.services import decision_trade_open, session_account_attach
from outcomes.tasks import order_submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(staff_user: User) -> Client:
    staff_user.is_superuser = True
    staff_user.save()
    client = Client()
    client.force_login(staff_user)
    return client


def test_an_account_added_in_the_admin_starts_with_its_cash(admin_client: Client, arena: object) -> None:
    form = {
        "name": "desk",
        "description": "",
        "broker": "simulated",
        "active": "on",
        "starting_cash": "25000",
        "sizing_fraction": "0.2",
        "allowed_symbols": '["acme"]',
        "slippage_bps": "5",
        "commission_per_order": "0",
        "commission_bps": "0",
        "outcome_horizon_bars": "5",
        "flat_band": "0.001",
        "hold_band": "0.02",
        "sim_positions-TOTAL_FORMS": "0",
        "sim_positions-INITIAL_FORMS": "0",
    }
    response = admin_client.post("/admin/outcomes/tradingaccount/add/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    account = TradingAccount.objects.get(name="desk")
    assert (account.cash, account.allowed_symbols) == (D(25000), ["ACME"])
    bad = admin_client.post("/admin/outcomes/tradingaccount/add/", {**form, "name": "live", "live": "on"})
    assert bad.status_code == 200 and "Only an Alpaca account can trade live." in bad.content.decode()


def test_records_cannot_be_added_or_changed(admin_client: Client, arena: object) -> None:
    for model in ("orderintent", "brokerorder", "fill", "outcome", "riskcheck", "simorder"):
        assert admin_client.get(f"/admin/outcomes/{model}/add/").status_code == 403, model


def test_admin_actions_call_the_services(
    admin_client: Client, account: TradingAccount, make_decision: Callable[..., DebateConsensus]
) -> None:
    consensus = make_decision(as_of=dt.date(2024, 3, 1))
    session_account_attach(session=consensus.session, account=account)
    outcome = decision_trade_open(consensus_id=consensus.pk)
    assert outcome.intent is not None
    order_submit(outcome.intent.pk)
    order = BrokerOrder.objects.get()
    admin_client.post(
        "/admin/outcomes/brokerorder/", {"action": "sync_from_broker", "_selected_action": [order.pk]}
    )
    response = admin_client.post(
        "/admin/outcomes/brokerorder/",
        {"action": "cancel_at_broker", "_selected_action": [order.pk]},
        follow=True,
    )
    assert "only open orders can be cancelled" in response.content.decode()  # it filled already
    admin_client.post("/admin/outcomes/outcome/", {"action": "settle_now", "_selected_action": [outcome.pk]})
    assert Outcome.objects.get().status in ("win", "loss", "flat")
    admin_client.post(
        "/admin/outcomes/tradingaccount/", {"action": "kill_switch_on", "_selected_action": [account.pk]}
    )
    account.refresh_from_db()
    assert account.kill_switch
