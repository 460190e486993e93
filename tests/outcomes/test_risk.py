"""Every risk check, each way: a clean draft passes all; changing one thing fails exactly that check."""

from __future__ import annotations

import dataclasses
from decimal import Decimal as D
from typing import Any

import pytest

from outcomes.brokers.base import SessionState
from outcomes.risk import IntentDraft, RiskContext, evaluate

CHECKS = [
    "kill_switch",
    "broker_ready",
    "known_symbol",
    "allowed_symbol",
    "quantity_positive",
    "order_terms",
    "market_hours",
    "max_order_notional",
    "max_position_notional",
    "max_daily_notional",
    "buying_power",
    "no_duplicate_open_intent",
]

DRAFT = IntentDraft(
    symbol="ACME",
    side="buy",
    quantity=D(10),
    order_type="market",
    limit_price=None,
    time_in_force="day",
    reference_price=D(100),
    cost_estimate=D(1001),
)
CONTEXT = RiskContext(
    active=True,
    kill_switch=False,
    broker_error="",
    session=SessionState(True, "open"),
    known_symbol=True,
    allowed_symbols=("ACME", "BOLT"),
    max_order_notional=D(1000),
    max_position_notional=D(3000),
    max_daily_notional=D(5000),
    day_notional_used=D(4000),
    buying_power=D(1001),
    position_qty=D(20),
    pending_sell_qty=D(0),
    allow_short=False,
    duplicate="",
)


def failed(draft: IntentDraft = DRAFT, **context: Any) -> dict[str, str]:
    results = evaluate(draft, dataclasses.replace(CONTEXT, **context))
    expected = [("position_available" if draft.side == "sell" and c == "buying_power" else c) for c in CHECKS]
    assert [r.name for r in results] == expected
    return {r.name: r.detail for r in results if not r.passed}


def test_a_clean_intent_at_every_limit_passes_every_check() -> None:
    assert failed() == {}


@pytest.mark.parametrize(
    ("change", "check", "reason"),
    [
        ({"kill_switch": True}, "kill_switch", "kill switch is on"),
        ({"active": False}, "kill_switch", "account is inactive"),
        ({"broker_error": "Set ALPACA_API_KEY"}, "broker_ready", "Set ALPACA_API_KEY"),
        ({"allowed_symbols": ("BOLT",)}, "allowed_symbol", "ACME is not in the allowed list (BOLT)"),
        ({"session": SessionState(False, "market closed")}, "market_hours", "market closed"),
        ({"day_notional_used": D("4000.01")}, "max_daily_notional", "5,000.01 > limit 5,000.00"),
        ({"buying_power": D(1000)}, "buying_power", "1,001.00 > buying power 1,000.00"),
        ({"position_qty": D("20.01")}, "max_position_notional", "3,001.00 > limit 3,000.00"),
        ({"duplicate": "open buy intent 7"}, "no_duplicate_open_intent", "open buy intent 7"),
    ],
)
def test_each_context_check_fails_alone(change: dict[str, Any], check: str, reason: str) -> None:
    assert list(failed(**change)) == [check]
    assert reason in failed(**change)[check]


def test_max_order_notional_fails_alone() -> None:
    draft = dataclasses.replace(DRAFT, reference_price=D("100.01"), cost_estimate=D(1000))
    assert failed(draft, max_position_notional=None, day_notional_used=D(0)) == {
        "max_order_notional": "order notional 1,000.10 > limit 1,000.00"
    }


@pytest.mark.parametrize(
    ("quantity", "reason"), [(D(0), "quantity is zero"), (D(-5), "quantity -5 is negative")]
)
def test_bad_quantities_are_refused_with_their_reason(quantity: D, reason: str) -> None:
    draft = dataclasses.replace(DRAFT, quantity=quantity)
    assert reason in failed(draft)["quantity_positive"]


def test_an_unknown_symbol_fails_and_says_what_could_not_be_evaluated() -> None:
    draft = dataclasses.replace(DRAFT, symbol="ZZZZ", reference_price=None)
    reasons = failed(draft, known_symbol=False, allowed_symbols=())
    assert reasons["known_symbol"] == "unknown symbol 'ZZZZ' (no bars on or before the as-of date)"
    for check in ("max_order_notional", "max_position_notional", "max_daily_notional", "buying_power"):
        assert reasons[check].startswith("not evaluated")


@pytest.mark.parametrize(
    ("draft_change", "reason"),
    [
        ({"order_type": "limit"}, "a limit order needs a positive limit price"),
        ({"order_type": "limit", "limit_price": D(0)}, "a limit order needs a positive limit price"),
        ({"limit_price": D(99)}, "a market order takes no limit price"),
        ({"time_in_force": "ioc"}, "unknown time in force 'ioc'"),
        ({"order_type": "stop"}, "unknown order type 'stop'"),
    ],
)
def test_bad_order_terms_fail(draft_change: dict[str, Any], reason: str) -> None:
    draft = dataclasses.replace(DRAFT, **draft_change)
    assert (
        failed(
            draft,
            max_order_notional=None,
            max_position_notional=None,
            max_daily_notional=None,
            buying_power=None,
        )["order_terms"]
        == reason
    )


def test_a_limit_order_is_checked_at_its_limit_price() -> None:
    draft = dataclasses.replace(DRAFT, order_type="limit", limit_price=D(90), cost_estimate=D(900))
    assert failed(draft) == {}
    detail = {r.name: r.detail for r in evaluate(draft, CONTEXT)}["max_order_notional"]
    assert detail == "order notional 900.00 <= limit 1,000.00"


def test_a_sell_needs_shares_not_already_promised_unless_shorting() -> None:
    sell = dataclasses.replace(DRAFT, side="sell")
    assert failed(sell) == {}
    assert failed(sell, pending_sell_qty=D(11)) == {
        "position_available": "selling 10 > 9 held and not already being sold"
    }
    assert failed(sell, pending_sell_qty=D(11), allow_short=True) == {}
    nothing = dataclasses.replace(DRAFT, side="sell", quantity=D(0))
    assert failed(nothing, position_qty=D(0))["quantity_positive"] == (
        "nothing to sell: no ACME position and shorting is off"
    )


def test_no_limits_set_means_those_checks_pass_and_say_so() -> None:
    reasons = {
        r.name: r.detail
        for r in evaluate(
            DRAFT,
            dataclasses.replace(
                CONTEXT, max_order_notional=None, max_position_notional=None, max_daily_notional=None
            ),
        )
    }
    assert reasons["max_order_notional"] == "order notional 1,000.00; no limit set"
