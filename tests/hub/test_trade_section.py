"""The run details page's layout for the outcomes app's "trade" section (intent, risk checks, order,
fills, outcome), driven through the real pipeline: debate API -> consensus -> intent -> simulated
broker -> fill -> update_outcomes."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.template.loader import render_to_string

from outcomes.models import Outcome

pytestmark = pytest.mark.django_db


def test_run_details_show_the_trade_from_intent_to_outcome(
    arena: Any, staff_client: Any, hub_client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            "/api/debate/sessions", {"symbol": "ACME", "as_of": "2024-03-01"}, format="json"
        )
    assert response.status_code == 202, response.content
    session_id = response.json()["id"]
    call_command("update_outcomes", stdout=StringIO())
    outcome = Outcome.objects.get()
    assert outcome.pnl_amount is not None

    html = hub_client.get(f"/hub/debates/{session_id}/").content.decode()
    assert 'id="section-trade"' in html
    assert 'id="trade-intent"' in html and "badge intent-submitted" in html
    assert html.count('<span class="badge ok">pass</span>') == 12  # every risk check, as a pass
    assert "badge order-filled" in html
    assert 'id="trade-fills"' in html
    assert f"badge outcome-{outcome.status}" in html
    pnl_class = "ok" if outcome.pnl_amount > 0 else "bad"
    assert f'PnL <strong class="{pnl_class}">' in html
    assert "<dt>intent</dt>" not in html  # not the generic dump


def _trade(**overrides: Any) -> dict[str, Any]:
    trade: dict[str, Any] = {
        "account": {"id": 1, "name": "paper-default", "broker": "simulated", "live": False},
        "intent": {
            "id": 1,
            "symbol": "ACME",
            "side": "buy",
            "quantity": "10",
            "order_type": "market",
            "limit_price": None,
            "time_in_force": "day",
            "as_of": "2024-03-01",
            "size_fraction": 0.1,
            "reference_price": "100.0000",
            "notional": "1000.0000",
            "status": "rejected",
            "rejection_reason": "max_position: <script>x</script> over the limit",
            "attempts": 0,
            "last_error": "",
        },
        "risk_checks": [
            {"name": "kill_switch", "passed": True, "detail": "off"},
            {"name": "max_position", "passed": False, "detail": "12% > 10% <b>limit</b>"},
        ],
        "broker_order": None,
        "fills": [],
        "outcome": None,
    }
    trade.update(overrides)
    return trade


def test_trade_layout_shows_failed_checks_with_reasons_escaped() -> None:
    html = render_to_string("hub/_trade_section.html", {"trade": _trade()})
    assert '<li class="bad"><span class="badge bad">fail</span> <code>max_position</code>' in html
    assert "12% &gt; 10% &lt;b&gt;limit&lt;/b&gt;" in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html and "<script>" not in html
    assert "Not sent to a broker." in html
    assert "No fills." in html
    assert "No outcome yet" in html


def test_trade_layout_without_intent_shows_a_hypothetical_outcome() -> None:
    outcome = {
        "status": "loss",
        "basis": "forward_return",
        "hypothetical": True,
        "horizon_bars": 5,
        "horizon_date": "2024-03-08",
        "quantity": None,
        "entry_price": "100",
        "exit_price": "98",
        "pnl_amount": "-2.5",
        "pnl_return": "-0.02",
        "rule": "return below -0.1%",
        "settled_at": "2024-03-09T10:00:00Z",
    }
    html = render_to_string(
        "hub/_trade_section.html", {"trade": _trade(intent=None, risk_checks=[], outcome=outcome)}
    )
    assert "No order intent" in html
    assert 'PnL <strong class="bad">-$2.50</strong>' in html
    assert '<span class="bad">(-2.00%)</span>' in html
    assert "hypothetical" in html
    assert "2024-03-09 10:00:00" in html


def test_trade_layout_shows_quantities_without_trailing_zeros() -> None:
    html = render_to_string(
        "hub/_trade_section.html", {"trade": _trade(intent={**_trade()["intent"], "quantity": "90.00000000"})}
    )
    assert '<span class="num">90</span> ACME' in html
