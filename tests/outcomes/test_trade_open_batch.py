"""A batch of decisions opens exactly what opening them one at a time would, and no more.

The equivalence tests build one state, open the decisions as a batch, record every outcome, intent
and check, roll that back, open the same decisions one at a time in the same order and compare.
Intent ids differ between the two runs (sequences do not roll back), so reasons that name an
intent name it by its decision instead.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal as D
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import Max

from debates.models import Bar, DebateConsensus, Timeframe
from outcomes.models import (
    BrokerOrder,
    IntentStatus,
    OrderIntent,
    Outcome,
    RiskCheck,
    SimPosition,
    TradingAccount,
)
from outcomes.services import (
    decision_trade_open,
    decisions_trade_open,
    order_intent_claim,
    order_intent_submit,
    order_submission_deferred,
    session_account_attach,
    trading_account_create,
    trading_account_default_get,
)
from tests.fakes.alpaca_server import FakeAlpacaServer

AS_OF = dt.date(2024, 3, 1)
Decide = Callable[..., DebateConsensus]
postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs concurrent writers")


class _Rollback(Exception):
    pass


def opened_state(consensus_ids: list[int]) -> dict[int, Any]:
    """Per decision: its outcome, its intent (every field the checks decide) and the intent's checks."""
    names = dict(OrderIntent.objects.values_list("pk", "consensus_id"))

    def named(text: str) -> str:
        return re.sub(r"intent (\d+)", lambda m: f"intent of decision {names.get(int(m[1]), '?')}", text)

    state: dict[int, Any] = {}
    for outcome in Outcome.objects.filter(consensus_id__in=consensus_ids).select_related("intent"):
        intent = outcome.intent
        state[outcome.consensus_id] = (
            (outcome.account_id, outcome.status, outcome.horizon_bars),
            None
            if intent is None
            else (
                intent.account_id,
                intent.symbol,
                intent.side,
                intent.status,
                intent.quantity,
                intent.notional,
                intent.reference_price,
                intent.order_type,
                intent.limit_price,
                intent.time_in_force,
                intent.as_of,
                intent.size_fraction,
                named(intent.rejection_reason),
                [
                    (c.sequence, c.name, c.passed, named(c.detail))
                    for c in intent.risk_checks.order_by("sequence")
                ],
            ),
        )
    return state


def batch_then_singles(consensus_ids: list[int]) -> tuple[dict[int, Any], dict[int, Any]]:
    """The state after the batch and after one-at-a-time opening, each from the same starting state."""
    with order_submission_deferred():
        try:
            with transaction.atomic():
                returned = decisions_trade_open(consensus_ids=consensus_ids)
                assert [o.consensus_id for o in returned] == consensus_ids
                batched = opened_state(consensus_ids)
                raise _Rollback
        except _Rollback:
            pass
        with transaction.atomic():
            for consensus_id in consensus_ids:
                decision_trade_open(consensus_id=consensus_id)
            single = opened_state(consensus_ids)
    return batched, single


@pytest.fixture
def accounts(arena: object) -> Iterator[tuple[TradingAccount, TradingAccount]]:
    """A: tight daily limit and 100 ACME held; B: little cash, fixed 5,000 orders."""
    a = trading_account_create(
        name="batch-a",
        starting_cash=D(100_000),
        slippage_bps=D(0),
        sizing_fraction=D("0.10"),
        max_daily_notional=D(12_000),
    )
    SimPosition.objects.create(account=a, symbol="ACME", quantity=D(100), average_price=D(10))
    b = trading_account_create(
        name="batch-b", starting_cash=D(12_000), slippage_bps=D(0), sizing_notional=D(5000)
    )
    yield a, b


def on(account: TradingAccount, consensus: DebateConsensus) -> DebateConsensus:
    session_account_attach(session=consensus.session, account=account)
    return consensus


@pytest.mark.django_db
def test_a_batch_opens_what_one_at_a_time_opens(
    accounts: tuple[TradingAccount, TradingAccount], make_decision: Decide
) -> None:
    a, b = accounts
    trading_account_default_get()
    already = on(a, make_decision(symbol="EPIC", size=0.2))
    earlier = on(a, make_decision(symbol="BOLT", size=0.2))  # an unsent buy the batch's BOLT buy meets
    with order_submission_deferred():
        decision_trade_open(consensus_id=already.pk)
        decision_trade_open(consensus_id=earlier.pk)
    decisions = [
        on(a, make_decision(symbol="ACME", size=0.5)),  # 5,000 of the 12,000 daily limit (+4,000 before)
        on(b, make_decision(symbol="ACME", size=1.0)),  # 5,000 of 12,000 cash
        on(a, make_decision(symbol="BOLT", size=0.5)),  # over the daily limit, and a duplicate BOLT buy
        on(a, make_decision(symbol="ACME", action="sell", size=0.6)),  # 60 of the 100 held
        on(b, make_decision(symbol="BOLT", size=1.0)),  # 10,000 of cash
        on(a, make_decision(symbol="ACME", action="sell", size=1.0)),  # 40 left, and a duplicate sell
        make_decision(symbol="CYAN", size=0.3),  # the default account
        on(b, make_decision(symbol="CYAN", size=1.0)),  # over B's buying power
        on(a, make_decision(symbol="CYAN", action="hold")),
        make_decision(symbol="ACME", action="sell", size=1.0),  # nothing held on the default account
        already,  # opened before: kept as it is
        on(b, make_decision(symbol="NOPE", size=1.0)),  # an unknown symbol
        on(
            a,
            make_decision(
                symbol="EPIC",
                order_intent={
                    "side": "buy",
                    "order_type": "limit",
                    "limit_price": 1.0,
                    "time_in_force": "gtc",
                    "size_fraction": 0.1,
                },
            ),
        ),
    ]
    ids = [c.pk for c in decisions]
    batched, single = batch_then_singles(ids)
    assert batched == single
    statuses = [s[1][3] if s[1] else None for s in (batched[i] for i in ids)]
    assert statuses.count(IntentStatus.APPROVED) >= 3 and statuses.count(IntentStatus.REJECTED) >= 4, statuses
    reasons = " ".join(s[1][12] for s in batched.values() if s[1])
    for expected in ("max_daily_notional", "buying_power", "no_duplicate_open_intent", "quantity_positive"):
        assert expected in reasons, (expected, reasons)


@pytest.mark.django_db
def test_a_decision_with_an_open_broker_order_counts_in_the_batch(
    accounts: tuple[TradingAccount, TradingAccount], make_decision: Decide
) -> None:
    """An intent already at the broker, with its order still open, weighs on the batch as on one."""
    a, _b = accounts
    last = Bar.objects.filter(instrument__symbol="ACME", timeframe=Timeframe.DAY).aggregate(Max("date"))
    day = last["date__max"]
    sent = on(a, make_decision(symbol="ACME", action="sell", size=0.5, as_of=day))
    intent = decision_trade_open(consensus_id=sent.pk).intent
    assert intent is not None and order_intent_claim(intent_id=intent.pk)
    order_intent_submit(intent_id=intent.pk)  # no bar after the last one: the order stays open
    assert BrokerOrder.objects.get(intent=intent).status in ("new", "accepted")
    decisions = [
        on(a, make_decision(symbol="ACME", action="sell", size=1.0, as_of=day)),
        on(a, make_decision(symbol="ACME", size=0.2, as_of=day)),
    ]
    batched, single = batch_then_singles([c.pk for c in decisions])
    assert batched == single


@pytest.mark.django_db
def test_a_redelivered_batch_creates_nothing(
    accounts: tuple[TradingAccount, TradingAccount], make_decision: Decide
) -> None:
    a, b = accounts
    ids = [on(a, make_decision(symbol="ACME")).pk, on(b, make_decision(symbol="BOLT")).pk, make_decision().pk]
    first = decisions_trade_open(consensus_ids=ids)
    counts = (Outcome.objects.count(), OrderIntent.objects.count(), RiskCheck.objects.count())
    again = decisions_trade_open(consensus_ids=ids + ids[:1])
    assert [o.pk for o in again] == [o.pk for o in first] + [first[0].pk]
    assert (Outcome.objects.count(), OrderIntent.objects.count(), RiskCheck.objects.count()) == counts


@pytest.mark.django_db
def test_a_batch_costs_a_few_statements_per_account(
    accounts: tuple[TradingAccount, TradingAccount],
    make_decision: Decide,
    django_assert_max_num_queries: Any,
) -> None:
    """15 decisions, 3 accounts x 5 symbols (a backtest's day): 16 statements, not ~200."""
    a, b = accounts
    c = trading_account_create(name="batch-c", starting_cash=D(100_000))
    decisions = [
        on(account, make_decision(symbol=symbol, size=0.1))
        for account in (a, b, c)
        for symbol in ("ACME", "BOLT", "CYAN", "DUNE", "EPIC")
    ]
    consensuses = list(
        DebateConsensus.objects.select_related("session").filter(pk__in=[d.pk for d in decisions])
    )
    # links, savepoint, lock, facts, ledger, 3 x (open orders, positions), the marks of A's ACME,
    # 3 inserts, release
    with order_submission_deferred(), django_assert_max_num_queries(16):
        opened = decisions_trade_open(consensus_ids=[d.pk for d in decisions], consensuses=consensuses)
    assert len(opened) == 15 and all(o.intent is not None for o in opened)


def acme_days(count: int) -> list[dt.date]:
    """``count`` ACME trading days up to AS_OF whose closes all differ (so do the books' marks)."""
    days: dict[D, dt.date] = {}
    bars = Bar.objects.filter(instrument__symbol="ACME", timeframe=Timeframe.DAY, date__lte=AS_OF)
    for day, close in bars.order_by("-date").values_list("date", "close"):
        days.setdefault(close, day)
        if len(days) == count:
            break
    return list(days.values())


@pytest.mark.django_db
def test_a_batch_over_several_dates_opens_what_one_at_a_time_opens(
    accounts: tuple[TradingAccount, TradingAccount], make_decision: Decide
) -> None:
    """Each decision sizes and checks against its account's book as of its own date, though the
    batch reads that book once for all its dates (the held ACME is marked at each date's close)."""
    a, b = accounts
    a.max_daily_notional = None
    a.save(update_fields=["max_daily_notional"])
    SimPosition.objects.filter(account=a).update(quantity=D(5000))  # the mark weighs on the equity
    days = acme_days(4)
    decisions = [
        on(a, make_decision(symbol="BOLT", size=0.5, as_of=days[2])),
        on(a, make_decision(symbol="ACME", action="sell", size=0.5, as_of=days[0])),
        on(b, make_decision(symbol="ACME", size=1.0, as_of=days[1])),
        on(a, make_decision(symbol="CYAN", size=0.5, as_of=days[3])),
        on(a, make_decision(symbol="DUNE", size=0.5, as_of=days[0])),
        on(a, make_decision(symbol="EPIC", size=0.5, as_of=days[1])),
    ]
    ids = [c.pk for c in decisions]
    batched, single = batch_then_singles(ids)
    assert batched == single
    notional = {batched[c.pk][1][5] for c in decisions if c.session.symbol in ("BOLT", "CYAN", "EPIC")}
    assert len(notional) == 3, batched  # three dates, three equities: 10% of each, half-sized


@pytest.mark.django_db
def test_a_batch_reads_an_accounts_book_once_for_all_its_dates(
    accounts: tuple[TradingAccount, TradingAccount],
    make_decision: Decide,
    django_assert_max_num_queries: Any,
) -> None:
    a, _b = accounts
    symbols = ("ACME", "BOLT", "CYAN", "DUNE", "EPIC")
    decisions = [
        on(a, make_decision(symbol=symbol, size=0.01, as_of=day))
        for symbol, day in zip(symbols, acme_days(5), strict=True)
    ]
    # links, savepoint, lock, facts, ledger, open orders, positions, their marks, 3 inserts, release
    with order_submission_deferred(), django_assert_max_num_queries(12):
        opened = decisions_trade_open(consensus_ids=[d.pk for d in decisions], consensuses=decisions)
    assert len(opened) == 5 and all(o.intent is not None for o in opened)


@pytest.mark.django_db
def test_a_hold_costs_its_lock_its_facts_and_its_outcome(
    accounts: tuple[TradingAccount, TradingAccount],
    make_decision: Decide,
    django_assert_max_num_queries: Any,
) -> None:
    hold = on(accounts[0], make_decision(action="hold"))
    with django_assert_max_num_queries(5):  # savepoint, lock, facts, outcome, release
        outcome = decision_trade_open(consensus_id=hold.pk, consensus=hold)
    assert outcome.intent is None


@pytest.mark.django_db
def test_a_bad_decision_is_skipped_and_the_others_opened(
    accounts: tuple[TradingAccount, TradingAccount], make_decision: Decide
) -> None:
    a, _b = accounts
    bad = on(a, make_decision(order_intent={"side": "buy", "order_type": "stop", "size_fraction": 0.1}))
    good = on(a, make_decision(symbol="BOLT"))
    opened = decisions_trade_open(consensus_ids=[bad.pk, 10**9, good.pk])
    assert [o.consensus_id for o in opened] == [good.pk]
    assert not Outcome.objects.filter(consensus=bad).exists()


@pytest.mark.django_db
def test_a_remote_brokers_decision_is_opened_one_at_a_time(
    alpaca_server: FakeAlpacaServer, make_decision: Decide
) -> None:
    remote = trading_account_create(name="alpaca-paper", broker="alpaca", sizing_notional=D(1000))
    local = trading_account_create(name="local", starting_cash=D(100_000))
    decisions = [on(remote, make_decision(symbol="ACME")), on(local, make_decision(symbol="ACME"))]
    opened = decisions_trade_open(consensus_ids=[d.pk for d in decisions])
    assert [o.account_id for o in opened] == [remote.pk, local.pk]
    assert all(o.intent is not None for o in opened)


# --- racing on PostgreSQL -----------------------------------------------------------------------


def _race(targets: list[Callable[[], object]]) -> None:
    barrier = threading.Barrier(len(targets))
    errors: list[BaseException] = []

    def run(target: Callable[[], object]) -> None:
        try:
            barrier.wait()
            target()
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors


@postgres_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("rival", ["batch", "single"])
def test_racing_batches_cannot_both_spend_the_daily_limit(make_decision: Decide, rival: str) -> None:
    account = trading_account_create(
        name="race", starting_cash=D(100_000), slippage_bps=D(0), max_daily_notional=D(6000)
    )
    other = trading_account_create(name="race-other", starting_cash=D(100_000))
    first = [on(account, make_decision(symbol="ACME", size=0.5)), on(other, make_decision(symbol="BOLT"))]
    second = [on(other, make_decision(symbol="CYAN")), on(account, make_decision(symbol="EPIC", size=0.5))]

    def open_first() -> object:
        with order_submission_deferred():  # a context variable: each thread sets its own
            return decisions_trade_open(consensus_ids=[c.pk for c in first])

    def open_second() -> object:
        with order_submission_deferred():
            if rival == "single":
                return decision_trade_open(consensus_id=second[1].pk)
            return decisions_trade_open(consensus_ids=[c.pk for c in second])  # accounts in the other order

    _race([open_first, open_second])
    statuses = sorted(OrderIntent.objects.filter(account=account).values_list("status", flat=True))
    assert statuses == ["approved", "rejected"], statuses  # each is ~5,000: only one fits in 6,000
    assert Outcome.objects.filter(account=account).count() == 2
