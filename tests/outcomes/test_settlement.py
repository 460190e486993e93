"""Outcomes settle by the stated rules once the horizon has passed (hand-made bars, hand-computed PnL)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal as D
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from debates.models import DebateConsensus
from outcomes.models import IntentStatus, OrderIntent, Outcome, TradingAccount
from outcomes.services import (
    IntentSpec,
    decision_trade_open,
    order_intent_create,
    outcome_settle,
    outcomes_update,
    session_account_attach,
    trading_account_create,
)
from outcomes.tasks import order_submit
from tests.outcomes.conftest import add_bars

pytestmark = pytest.mark.django_db
Decide = Callable[..., DebateConsensus]
D0, D1, D2, D3, D4, D5 = (dt.date(2030, 1, d) for d in (2, 3, 4, 7, 8, 9))


@pytest.fixture
def trader(arena: object) -> TradingAccount:
    add_bars(
        "TEST",
        [
            (D0, "100", "101", "99", "100", 1_000_000),
            (D1, "102", "104", "101", "103", 1_000_000),
            (D2, "103", "105", "98", "99", 1_000_000),
            (D3, "99", "100", "95", "96", 1_000_000),
            (D4, "97", "98", "96", "97", 1_000_000),
            (D5, "98", "99", "97", "98", 1_000_000),
        ],
    )
    return trading_account_create(
        name="scored", slippage_bps=D(0), sizing_notional=D(1000), outcome_horizon_bars=3
    )


def decide(
    trader: TradingAccount, make_decision: Decide, as_of: dt.date, action: str = "buy", **kw: object
) -> Outcome:
    consensus = make_decision(symbol="TEST", as_of=as_of, action=action, size=1.0, **kw)
    session_account_attach(session=consensus.session, account=trader)
    outcome = decision_trade_open(consensus_id=consensus.pk)
    if outcome.intent is not None and outcome.intent.status == IntentStatus.APPROVED:
        order_submit(outcome.intent.pk)
    return outcome


def settled(outcome: Outcome) -> Outcome:
    return outcome_settle(outcome_id=outcome.pk)


def test_an_open_trade_is_marked_to_market_at_the_horizon(
    trader: TradingAccount, make_decision: Decide
) -> None:
    outcome = settled(decide(trader, make_decision, D0))
    # 10 bought at D1's open 102; 3 bars after D0 is D3, close 96: 10 x (96 - 102) = -60 on 1,020
    assert (outcome.status, outcome.basis, outcome.hypothetical) == ("loss", "mark_to_market", False)
    assert (outcome.quantity, outcome.entry_price, outcome.exit_price) == (10, D(102), D(96))
    assert (outcome.pnl_amount, outcome.pnl_return, outcome.horizon_date) == (D(-60), D("-0.058824"), D3)
    assert outcome.settled_at is not None and "marked to market at the 3-bar horizon" in outcome.rule


def test_a_trade_closed_before_the_horizon_is_realised_and_the_sell_scores_what_it_avoided(
    trader: TradingAccount, make_decision: Decide
) -> None:
    bought = decide(trader, make_decision, D0)
    consensus = make_decision(symbol="TEST", as_of=D1, action="sell", size=1.0)
    session_account_attach(session=consensus.session, account=trader)
    intent = order_intent_create(
        consensus=consensus, account=trader, spec=IntentSpec(side="sell", size_fraction=D(1), quantity=D(10))
    )
    order_submit(intent.pk)
    sold = decision_trade_open(consensus_id=consensus.pk)
    assert sold.intent == intent
    first, second = settled(bought), settled(sold)
    # bought 10 at 102, sold them at D2's open 103 before the horizon: realised 10
    assert (first.status, first.basis, first.pnl_amount, first.pnl_return) == (
        "win",
        "realised",
        D(10),
        D("0.009804"),
    )
    assert first.exit_price == D(103) and "realised PnL" in first.rule
    # the sell stepped out at 103; D4 (3 bars after D1) closed at 97: avoided 10 x 6 = 60 on 1,030
    assert (second.status, second.pnl_amount, second.pnl_return, second.horizon_date) == (
        "win",
        D(60),
        D("0.058252"),
        D4,
    )


def test_a_hold_is_judged_by_the_move_it_sat_out(trader: TradingAccount, make_decision: Decide) -> None:
    outcome = settled(decide(trader, make_decision, D0, action="hold"))
    # next open 102 -> horizon close 96: -5.88%, beyond the 2% hold band
    assert (outcome.status, outcome.basis, outcome.hypothetical) == ("loss", "forward_return", True)
    assert (outcome.pnl_amount, outcome.pnl_return) == (0, D("-0.058824"))
    assert outcome.rule.startswith("hold: price moved -5.88%")


def test_a_rejected_buy_is_scored_by_the_move_it_called(
    trader: TradingAccount, make_decision: Decide
) -> None:
    trader.kill_switch = True
    trader.save()
    outcome = settled(decide(trader, make_decision, D0))
    assert outcome.intent is not None and outcome.intent.status == "rejected"
    # a buy of 10 at 102 would have lost 60 by the horizon: a loss, hypothetical
    assert (outcome.status, outcome.basis, outcome.hypothetical) == ("loss", "forward_return", True)
    assert (outcome.pnl_amount, outcome.pnl_return) == (D(-60), D("-0.058824"))
    assert outcome.rule.startswith("not traded (rejected by risk checks)")


def test_an_unfilled_limit_order_is_scored_as_not_traded(
    trader: TradingAccount, make_decision: Decide
) -> None:
    spec = {
        "side": "buy",
        "order_type": "limit",
        "limit_price": 90,
        "time_in_force": "day",
        "size_fraction": 1.0,
    }
    outcome = settled(decide(trader, make_decision, D0, order_intent=spec))
    assert outcome.intent is not None and outcome.intent.broker_order.status == "expired"
    assert (outcome.basis, outcome.hypothetical) == ("forward_return", True)
    assert "order expired, unfilled by the horizon" in outcome.rule


def test_an_outcome_stays_pending_until_the_horizon_bars_exist(
    trader: TradingAccount, make_decision: Decide
) -> None:
    outcome = decide(trader, make_decision, D4)  # fills at D5; needs 3 bars after D4, has 1
    assert outcome.intent is not None
    assert settled(outcome).status == "pending"
    add_bars(
        "TEST",
        [
            (dt.date(2030, 1, 10), "99", "100", "98", "99", 10),
            (dt.date(2030, 1, 11), "100", "101", "99", "101", 10),
        ],
    )
    done = settled(outcome)
    # bought at D5's open 98, marked at 101: 10 x 3 = 30 on 980
    assert (done.status, done.pnl_amount, done.pnl_return) == ("win", D(30), D("0.030612"))


def test_an_intent_still_on_its_way_to_the_broker_stays_pending(
    trader: TradingAccount, make_decision: Decide
) -> None:
    consensus = make_decision(symbol="TEST", as_of=D0, size=1.0)
    session_account_attach(session=consensus.session, account=trader)
    outcome = decision_trade_open(consensus_id=consensus.pk)  # approved, never submitted
    assert settled(outcome).status == "pending"


def test_a_settled_outcome_never_changes(trader: TradingAccount, make_decision: Decide) -> None:
    outcome = settled(decide(trader, make_decision, D0))
    add_bars("TEST", [(dt.date(2030, 1, 10), "200", "201", "199", "200", 10)])
    again = settled(outcome)
    assert (again.status, again.pnl_amount, again.settled_at) == (
        outcome.status,
        outcome.pnl_amount,
        outcome.settled_at,
    )


def test_update_outcomes_opens_missed_decisions_and_settles(
    trader: TradingAccount, make_decision: Decide
) -> None:
    consensus = make_decision(symbol="TEST", as_of=D0, size=1.0)  # its signal was lost with its process
    session_account_attach(session=consensus.session, account=trader)
    summary = outcomes_update()
    outcome = Outcome.objects.get(consensus=consensus)
    assert (summary.opened, summary.recovered, summary.settled, summary.pending) == (1, 0, 0, 1)
    assert outcome.intent is not None and OrderIntent.objects.get().status == "approved"
    order_submit(outcome.intent.pk)
    assert outcomes_update().settled == 1
    assert Outcome.objects.get(consensus=consensus).status == "loss"


def test_update_outcomes_command(trader: TradingAccount, make_decision: Decide) -> None:
    decide(trader, make_decision, D0)
    out = StringIO()
    call_command("update_outcomes", "--dry-run", stdout=out)
    assert "TEST 2030-01-02 buy: loss -60.0000 (-5.8824%)" in out.getvalue()
    assert "1 of 1 pending outcome(s) would settle; nothing written." in out.getvalue()
    assert Outcome.objects.get().status == "pending"
    out = StringIO()
    call_command("update_outcomes", stdout=out)
    assert out.getvalue().startswith("1 settled, 0 still pending")
    assert Outcome.objects.get().status == "loss"
    with pytest.raises(CommandError, match="--backfill-days must be 0 or more"):
        call_command("update_outcomes", "--backfill-days", "-1")


def test_the_settlement_schedule_exists(db: None) -> None:
    from django_q.models import Schedule

    schedule = Schedule.objects.get(name="outcomes-update")
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == (
        "outcomes.tasks.outcomes_update_task",
        Schedule.MINUTES,
        10,
    )
