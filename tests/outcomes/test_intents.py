"""Decisions become sized, risk-checked intents (and pending outcomes); bad intents are kept, rejected."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import ROUND_DOWN
from decimal import Decimal as D
from typing import Any

import pytest

from debates.models import DebateConsensus, DebateSession
from outcomes.models import (
    OPEN_ORDER_STATUSES,
    IntentStatus,
    OrderIntent,
    Outcome,
    RiskCheck,
    SimPosition,
    TradingAccount,
)
from outcomes.services import (
    IntentSpec,
    decision_trade_open,
    order_intent_claim,
    order_intent_create,
    order_intent_submit,
    session_account_attach,
    trading_account_create,
    trading_account_default_get,
)
from tests.outcomes.conftest import bar_on

pytestmark = pytest.mark.django_db
AS_OF = dt.date(2024, 3, 1)
Decide = Callable[..., DebateConsensus]


def open_for(account: TradingAccount, consensus: DebateConsensus) -> Outcome:
    session_account_attach(session=consensus.session, account=account)
    return decision_trade_open(consensus_id=consensus.pk)


def failures(intent: OrderIntent) -> dict[str, str]:
    return {c.name: c.detail for c in intent.risk_checks.all() if not c.passed}


def test_buy_decision_becomes_a_sized_approved_intent_with_every_check(
    account: TradingAccount, make_decision: Decide
) -> None:
    consensus = make_decision(size=0.5)
    outcome = open_for(account, consensus)
    intent = outcome.intent
    assert intent is not None and outcome.status == "pending" and outcome.account == account
    close = bar_on("ACME", AS_OF).close
    # 0.5 (judge) x 10% sizing x 100,000 equity = 5,000 of ACME at the as-of close, whole shares
    assert intent.quantity == (D(5000) / close).to_integral_value(ROUND_DOWN)
    assert (intent.status, intent.side, intent.reference_price, intent.as_of) == (
        "approved",
        "buy",
        close,
        AS_OF,
    )
    assert intent.notional == (intent.quantity * close).quantize(D("0.0001"))
    assert RiskCheck.objects.filter(intent=intent).count() == 12 and failures(intent) == {}
    assert intent.client_order_id.startswith(f"arena-{consensus.pk}-{account.pk}-")
    assert len(intent.client_order_id) <= 48


def test_opening_a_buy_takes_a_bounded_number_of_statements(
    account: TradingAccount, make_decision: Decide, django_assert_max_num_queries: Any
) -> None:
    consensus = make_decision()
    session_account_attach(session=consensus.session, account=account)
    # BEGIN, account lock, the decision's facts (outcome, reference close, trading day), the ledger
    # of intents, the book (open orders, positions with their marks), intent, 12 checks in one insert,
    # outcome, COMMIT: a regression guard for the debate write path (docs/architecture.md, "The write
    # path"; docs/outcomes.md, "Opening trades").
    with django_assert_max_num_queries(10):
        outcome = decision_trade_open(consensus_id=consensus.pk, consensus=consensus)
    assert outcome.intent is not None and outcome.intent.risk_checks.count() == 12


def test_opening_a_decision_twice_keeps_one_intent_and_one_outcome(
    account: TradingAccount, make_decision: Decide
) -> None:
    consensus = make_decision()
    first = open_for(account, consensus)
    second = decision_trade_open(consensus_id=consensus.pk)
    assert first.pk == second.pk
    assert OrderIntent.objects.count() == 1 and Outcome.objects.count() == 1


def test_a_debate_without_an_account_trades_for_the_default_paper_account(make_decision: Decide) -> None:
    outcome = decision_trade_open(consensus_id=make_decision().pk)
    default = trading_account_default_get()
    assert default.is_default and default.broker == "simulated"
    assert outcome.account == default and outcome.intent is not None and outcome.intent.account == default


def test_hold_decision_gets_a_pending_outcome_and_no_intent(
    account: TradingAccount, make_decision: Decide
) -> None:
    outcome = open_for(account, make_decision(action="hold"))
    assert outcome.intent is None and outcome.status == "pending"
    assert not OrderIntent.objects.exists()


def test_kill_switch_rejects_the_intent_and_says_why(account: TradingAccount, make_decision: Decide) -> None:
    account.kill_switch = True
    account.save()
    intent = open_for(account, make_decision()).intent
    assert intent is not None and intent.status == "rejected"
    assert failures(intent) == {"kill_switch": "kill switch is on: no new orders"}
    assert intent.rejection_reason == "kill_switch: kill switch is on: no new orders"


def test_limits_and_allowed_symbols_are_enforced(account: TradingAccount, make_decision: Decide) -> None:
    account.allowed_symbols = ["BOLT"]
    account.max_order_notional = D(1000)
    account.save()
    intent = open_for(account, make_decision()).intent
    assert intent is not None and intent.status == "rejected"
    assert set(failures(intent)) == {"allowed_symbol", "max_order_notional"}


def test_daily_notional_counts_the_days_earlier_intents(
    account: TradingAccount, make_decision: Decide
) -> None:
    account.max_daily_notional = D(8000)
    account.save()
    first = open_for(account, make_decision(size=0.5)).intent  # ~5,000
    second = open_for(account, make_decision(symbol="BOLT", size=0.5)).intent  # another ~5,000
    other_day = open_for(account, make_decision(symbol="CYAN", as_of=dt.date(2024, 3, 4), size=0.5)).intent
    assert first is not None and second is not None and other_day is not None
    assert (first.status, second.status, other_day.status) == ("approved", "rejected", "approved")
    assert list(failures(second)) == ["max_daily_notional"]


def test_position_limit_counts_what_is_already_held(account: TradingAccount, make_decision: Decide) -> None:
    close = bar_on("ACME", AS_OF).close
    SimPosition.objects.create(account=account, symbol="ACME", quantity=D(100), average_price=close)
    account.max_position_notional = close * 110
    account.save()
    intent = open_for(account, make_decision(size=0.5)).intent
    assert intent is not None and list(failures(intent)) == ["max_position_notional"]


def test_buying_power_is_checked_against_the_book(account: TradingAccount, make_decision: Decide) -> None:
    account.cash = D(1000)
    account.sizing_notional = D(5000)
    account.save()
    intent = open_for(account, make_decision(size=1.0)).intent
    assert intent is not None and list(failures(intent)) == ["buying_power"]


def test_approved_buys_not_yet_sent_reserve_buying_power(
    account: TradingAccount, make_decision: Decide
) -> None:
    account.cash = D(9000)
    account.sizing_notional = D(5000)
    account.save()
    first = open_for(account, make_decision(size=1.0)).intent
    second = open_for(account, make_decision(symbol="BOLT", size=1.0)).intent
    assert first is not None and second is not None
    assert first.status == "approved" and list(failures(second)) == ["buying_power"]


def test_sell_without_a_position_is_rejected_as_nothing_to_sell(
    account: TradingAccount, make_decision: Decide
) -> None:
    intent = open_for(account, make_decision(action="sell")).intent
    assert intent is not None and intent.status == "rejected" and intent.quantity == 0
    assert failures(intent)["quantity_positive"] == "nothing to sell: no ACME position and shorting is off"


def test_sell_is_capped_at_the_position_held(account: TradingAccount, make_decision: Decide) -> None:
    SimPosition.objects.create(account=account, symbol="ACME", quantity=D(7), average_price=D(100))
    intent = open_for(account, make_decision(action="sell", size=1.0)).intent
    assert intent is not None and (intent.status, intent.quantity) == ("approved", D(7))


def test_second_open_intent_for_the_same_trade_is_a_duplicate(
    account: TradingAccount, make_decision: Decide
) -> None:
    first = open_for(account, make_decision()).intent
    second = open_for(account, make_decision()).intent  # first is approved, not yet at the broker
    assert first is not None and second is not None
    assert list(failures(second)) == ["no_duplicate_open_intent"]
    assert failures(second)["no_duplicate_open_intent"] == (
        f"open buy intent {first.pk} for ACME (decision {first.consensus_id}) here"
    )


def test_an_intent_whose_order_is_open_at_the_broker_makes_the_same_trade_a_duplicate(
    account: TradingAccount, make_decision: Decide
) -> None:
    resting = {"side": "buy", "order_type": "limit", "limit_price": 1.0, "time_in_force": "gtc"}
    first_decision = make_decision(order_intent={**resting, "size_fraction": 0.1})
    first = open_for(account, first_decision).intent
    assert first is not None and order_intent_claim(intent_id=first.pk)
    order = order_intent_submit(intent_id=first.pk)  # a limit far below the market rests, open
    assert order is not None and order.status in OPEN_ORDER_STATUSES
    second = open_for(account, make_decision()).intent  # first is at the broker now, not unsent
    assert second is not None and list(failures(second)) == ["no_duplicate_open_intent"]
    assert failures(second)["no_duplicate_open_intent"] == (
        f"open buy intent {first.pk} for ACME (decision {first_decision.pk}) here"
    )


def test_a_decision_open_on_another_account_is_a_duplicate(
    account: TradingAccount, make_decision: Decide
) -> None:
    consensus = make_decision()
    other = trading_account_create(name="other-sim", starting_cash=D(100_000))
    first = order_intent_create(
        consensus=consensus, account=other, spec=IntentSpec(side="buy", size_fraction=D(1))
    )
    second = open_for(account, consensus).intent
    assert first.status == "approved" and second is not None and second.account == account
    assert failures(second)["no_duplicate_open_intent"] == (
        f"decision {consensus.pk} already has open intent {first.pk}"
    )


def test_the_debates_own_consensus_is_used_and_a_mismatched_one_is_not(
    account: TradingAccount, make_decision: Decide
) -> None:
    consensus, unrelated = make_decision(), make_decision(action="hold")
    session_account_attach(session=consensus.session, account=account)
    outcome = decision_trade_open(consensus_id=consensus.pk, consensus=unrelated)  # ids differ: re-read
    assert outcome.consensus_id == consensus.pk and outcome.intent is not None
    assert outcome.account == account and outcome.intent.account == account
    assert decision_trade_open(consensus_id=consensus.pk, consensus=consensus).pk == outcome.pk


@pytest.mark.parametrize(
    ("quantity", "reason"), [(D(0), "quantity is zero"), (D(-3), "quantity -3 is negative")]
)
def test_explicit_bad_quantity_is_stored_rejected_with_its_reason(
    account: TradingAccount, make_decision: Decide, quantity: D, reason: str
) -> None:
    intent = order_intent_create(
        consensus=make_decision(),
        account=account,
        spec=IntentSpec(side="buy", size_fraction=D(1), quantity=quantity),
    )
    assert intent.status == IntentStatus.REJECTED and intent.quantity == quantity
    assert reason in failures(intent)["quantity_positive"]


def test_unknown_symbol_is_rejected_with_its_reason(account: TradingAccount, make_decision: Decide) -> None:
    consensus = make_decision()
    DebateSession.objects.filter(pk=consensus.session_id).update(symbol="ZZZZ")
    consensus.refresh_from_db()
    intent = open_for(account, consensus).intent
    assert intent is not None and intent.status == "rejected" and intent.quantity == 0
    reasons = failures(intent)
    assert reasons["known_symbol"] == "unknown symbol 'ZZZZ' (no bars on or before the as-of date)"
    assert "no ZZZZ bar" in reasons["market_hours"]


def test_decision_dated_on_a_day_without_a_bar_fails_the_simulated_clock(
    account: TradingAccount, make_decision: Decide
) -> None:
    intent = open_for(account, make_decision(as_of=dt.date(2024, 3, 2))).intent  # a Saturday
    assert intent is not None and list(failures(intent)) == ["market_hours"]


def test_limit_order_from_the_judge_keeps_its_limit_in_cents(
    account: TradingAccount, make_decision: Decide
) -> None:
    spec = {
        "side": "buy",
        "order_type": "limit",
        "limit_price": 150.12345,
        "time_in_force": "gtc",
        "size_fraction": 0.5,
    }
    intent = open_for(account, make_decision(order_intent=spec)).intent
    assert intent is not None
    assert (intent.order_type, intent.limit_price, intent.time_in_force) == ("limit", D("150.12"), "gtc")
    assert intent.notional == intent.quantity * D("150.12")


def test_the_default_account_is_created_once(arena: object) -> None:
    first, second = trading_account_default_get(), trading_account_default_get()
    assert first.pk == second.pk and TradingAccount.objects.filter(is_default=True).count() == 1


def test_account_settings_are_validated(arena: object) -> None:
    from django.core.exceptions import ValidationError

    from outcomes.services import trading_account_create

    account = trading_account_create(name="ok", allowed_symbols=[" acme", "BOLT", "acme"])
    assert account.allowed_symbols == ["ACME", "BOLT"] and account.cash == account.starting_cash
    with pytest.raises(ValidationError) as bad:
        trading_account_create(name="bad", allowed_symbols="ACME")
    assert "allowed_symbols" in bad.value.message_dict
    with pytest.raises(ValidationError) as live:
        trading_account_create(name="live-sim", live=True)
    assert "live" in live.value.message_dict
    with pytest.raises(ValidationError) as fraction:
        trading_account_create(name="big", sizing_fraction=D("1.5"))
    assert "sizing_fraction" in fraction.value.message_dict
    assert not TradingAccount.objects.filter(name__in=["bad", "live-sim", "big"]).exists()


def test_a_judges_unusable_limit_price_fails_the_order_terms(
    account: TradingAccount, make_decision: Decide
) -> None:
    spec = {
        "side": "buy",
        "order_type": "limit",
        "limit_price": "NaN",
        "time_in_force": "day",
        "size_fraction": 2,
    }
    intent = open_for(account, make_decision(size=0.5, order_intent=spec)).intent
    assert intent is not None and intent.limit_price is None and intent.size_fraction == D("0.5")
    assert failures(intent)["order_terms"] == "a limit order needs a positive limit price"


def test_an_unknown_order_type_is_invalid_input(account: TradingAccount, make_decision: Decide) -> None:
    from arena_project.errors import InvalidInputError

    with pytest.raises(InvalidInputError) as error:
        order_intent_create(
            consensus=make_decision(),
            account=account,
            spec=IntentSpec(side="buy", size_fraction=D(1), order_type="stop"),
        )
    assert error.value.extra == {"fields": {"order_type": ["'stop' is not one of market, limit."]}}
    assert not OrderIntent.objects.exists()
