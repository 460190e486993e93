"""The batched order pipeline (outcomes/services/batches.py) against the one-at-a-time services.

The batch paths must leave exactly the records the single paths leave - the same orders, fills,
positions, cash, links, statuses and refusal messages - and keep their guarantees: one order per
intent, an order found at the broker is linked and never sent again, another worker's claim is
left alone.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from debates.models import DebateConsensus
from outcomes.brokers.base import BrokerError, BrokerOrderState, BrokerRejectedError, OrderRequest
from outcomes.brokers.simulated import SimulatedBroker
from outcomes.models import (
    BrokerOrder,
    Fill,
    IntentStatus,
    OrderIntent,
    Outcome,
    OutcomeStatus,
    SimFill,
    SimOrder,
    SimPosition,
    TradingAccount,
)
from outcomes.services import (
    batches,
    decision_trade_open,
    order_intent_claim,
    order_intent_submit,
    outcome_settle,
    session_account_attach,
    trading_account_create,
)
from outcomes.services.batches import (
    outcomes_settle_many,
    simulated_intents_submit,
    simulated_orders_find_or_place,
)
from outcomes.services.orders import order_request_for
from tests.outcomes.conftest import add_bars

pytestmark = pytest.mark.django_db
postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs concurrent writers")

D0, D1, D2, D3 = (dt.date(2030, 1, d) for d in (2, 3, 4, 7))
Decide = Callable[..., DebateConsensus]


@pytest.fixture
def bars(arena: object) -> None:
    add_bars(
        "TEST",
        [
            (D0, "100", "101", "99", "100", 1000),
            (D1, "102", "104", "101", "103", 1000),
            (D2, "103", "105", "98", "99", 500),
            (D3, "99", "100", "95", "96", 1000),
        ],
    )


def request(
    cid: str, side: str = "buy", qty: str = "10", *, limit: str | None = None, as_of: dt.date = D0
) -> OrderRequest:
    return OrderRequest(
        client_order_id=cid,
        symbol="TEST",
        side=side,
        quantity=D(qty),
        order_type="limit" if limit else "market",
        limit_price=D(limit) if limit else None,
        time_in_force="day",
        as_of=as_of,
        metadata={"n": cid},
    )


def one_by_one(account: TradingAccount, requests: list[OrderRequest]) -> list[BrokerOrderState | BrokerError]:
    broker, answers = SimulatedBroker(account), []
    for r in requests:
        try:
            answers.append(broker.submit(r))
        except BrokerRejectedError as exc:
            answers.append(exc)
    return answers


def batched(account: TradingAccount, requests: list[OrderRequest]) -> list[BrokerOrderState | BrokerError]:
    with transaction.atomic():
        locked = TradingAccount.objects.select_for_update().get(pk=account.pk)
        return simulated_orders_find_or_place(account=locked, requests=requests)


def records(account: TradingAccount, answers: list[BrokerOrderState | BrokerError]) -> dict[str, Any]:
    """Everything the broker keeps for the account, without ids and timestamps."""
    account.refresh_from_db()
    return {
        "answers": [
            a.message
            if isinstance(a, BrokerError)
            else (
                a.client_order_id,
                a.status,
                a.filled_qty,
                a.filled_avg_price,
                a.reason,
                a.raw["last_bar_date"],
            )
            for a in answers
        ],
        "orders": list(
            SimOrder.objects.filter(account=account)
            .order_by("id")
            .values_list(
                "client_order_id",
                "status",
                "status_reason",
                "filled_qty",
                "filled_avg_price",
                "last_bar_date",
            )
        ),
        "fills": list(
            SimFill.objects.filter(order__account=account)
            .order_by("id")
            .values_list("order__client_order_id", "quantity", "price", "commission", "bar_date", "filled_at")
        ),
        "positions": list(
            SimPosition.objects.filter(account=account)
            .order_by("symbol")
            .values_list("symbol", "quantity", "average_price")
        ),
        "cash": account.cash,
    }


SCENARIOS = {
    "buys, a partial sell, an oversized sell, an unaffordable buy": (
        {"slippage_bps": D(10), "commission_per_order": D(1), "commission_bps": D(5)},
        [
            request("a"),
            request("b", qty="5", as_of=D1),
            request("c", "sell", "7", as_of=D1),
            request("d", "sell", "100", as_of=D1),
            request("e", qty="100000"),
            request("f", qty="0"),
        ],
    ),
    "limits that cross, gap through, or expire": (
        {},
        [
            request("a", limit="101.5"),
            request("b", limit="90"),
            request("c", "buy", "3", limit="105", as_of=D1),
        ],
    ),
    "volume participation: a partial fill that expires": (
        {"max_bar_participation": D("0.005")},
        [request("a", qty="20")],
    ),
    "cash runs out between the close and the next open": (
        {"starting_cash": D(1010)},
        [request("a")],
    ),
    "an order on the last bar stays open and reserves its cash": (
        {"starting_cash": D(1500)},
        [request("a", as_of=D3), request("b", as_of=D3)],
    ),
    "flat again: the position is removed": (
        {},
        [request("a"), request("b", "sell", "10", as_of=D1)],
    ),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_a_batch_leaves_what_one_order_at_a_time_leaves(bars: None, name: str) -> None:
    fields, requests = SCENARIOS[name]
    base = {"starting_cash": D(100_000), "slippage_bps": D(0), **fields}
    single = trading_account_create(name="single", **base)  # type: ignore[arg-type]
    batch = trading_account_create(name="batch", **base)  # type: ignore[arg-type]
    for day in sorted({r.as_of for r in requests}):  # a day's orders together, as the engine sends them
        todays = [r for r in requests if r.as_of == day]
        expected = records(single, one_by_one(single, todays))
        assert records(batch, batched(batch, todays)) == expected


def test_an_order_already_at_the_broker_is_found_not_placed_again(bars: None) -> None:
    account = trading_account_create(name="sim", starting_cash=D(100_000), slippage_bps=D(0))
    first = batched(account, [request("a")])
    again = batched(account, [request("a"), request("b", qty="1")])
    assert isinstance(first[0], BrokerOrderState) and isinstance(again[0], BrokerOrderState)
    assert again[0].broker_order_id == first[0].broker_order_id
    assert SimOrder.objects.filter(client_order_id="a").count() == 1
    assert SimFill.objects.count() == 2


# --- intents -----------------------------------------------------------------------------------


def approved(account: TradingAccount, make_decision: Decide, **kwargs: object) -> OrderIntent:
    consensus = make_decision(**kwargs)
    session_account_attach(session=consensus.session, account=account)
    intent = decision_trade_open(consensus_id=consensus.pk).intent
    assert intent is not None and intent.status == IntentStatus.APPROVED
    return intent


def links(account: TradingAccount) -> list[tuple[Any, ...]]:
    return [
        (
            o.symbol,
            o.side,
            o.quantity,
            o.status,
            o.filled_qty,
            o.filled_avg_price,
            o.intent.status,
            *Fill.objects.filter(broker_order=o).values_list("quantity", "price", "commission", "trade_date"),
        )
        for o in BrokerOrder.objects.filter(account=account).select_related("intent").order_by("id")
    ]


def test_intents_submitted_in_a_batch_are_linked_as_one_by_one(
    account: TradingAccount, make_decision: Decide
) -> None:
    other = trading_account_create(
        name="other", starting_cash=D(100_000), slippage_bps=D(0), sizing_fraction=D("0.10")
    )
    for acc in (account, other):
        for symbol in ("ACME", "BOLT", "CYAN"):
            approved(acc, make_decision, symbol=symbol)
    for intent in OrderIntent.objects.filter(account=other).order_by("id"):
        assert order_intent_claim(intent_id=intent.pk)
        order_intent_submit(intent_id=intent.pk)
    ids = list(OrderIntent.objects.filter(account=account).order_by("id").values_list("pk", flat=True))

    assert simulated_intents_submit(account_id=account.pk, intent_ids=ids) == ids

    assert links(account) == links(other) and len(links(account)) == 3
    for intent in OrderIntent.objects.filter(account=account):
        assert intent.status == IntentStatus.SUBMITTED and intent.attempts == 1
        assert intent.broker_order.metadata == {
            "decision_id": intent.consensus_id,
            "session_id": intent.consensus.session_id,
            "intent_id": intent.pk,
            "account_id": account.pk,
        }
    # delivered again: nothing is claimable, nothing is sent
    assert simulated_intents_submit(account_id=account.pk, intent_ids=ids) == []
    assert SimOrder.objects.filter(account=account).count() == 3


def test_an_intent_whose_order_reached_the_broker_is_linked_not_sent_again(
    account: TradingAccount, make_decision: Decide
) -> None:
    intent = approved(account, make_decision)
    assert order_intent_claim(intent_id=intent.pk)
    SimulatedBroker(account).submit(order_request_for(intent))  # then the worker died
    OrderIntent.objects.filter(pk=intent.pk).update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))

    assert simulated_intents_submit(account_id=account.pk, intent_ids=[intent.pk]) == [intent.pk]

    assert SimOrder.objects.filter(client_order_id=intent.client_order_id).count() == 1
    link = BrokerOrder.objects.get(intent=intent)
    assert link.filled_qty == intent.quantity
    intent.refresh_from_db()
    assert (intent.status, intent.attempts) == (IntentStatus.SUBMITTED, 2)


def test_another_workers_claim_is_left_alone(account: TradingAccount, make_decision: Decide) -> None:
    intent = approved(account, make_decision)
    assert order_intent_claim(intent_id=intent.pk)  # a live worker holds it
    assert simulated_intents_submit(account_id=account.pk, intent_ids=[intent.pk]) == []
    assert not SimOrder.objects.exists() and not BrokerOrder.objects.exists()


def test_a_broker_refusal_ends_the_intent_broker_rejected(
    account: TradingAccount, make_decision: Decide
) -> None:
    intent = approved(account, make_decision)
    TradingAccount.objects.filter(pk=account.pk).update(cash=D(10))  # spent elsewhere meanwhile
    assert simulated_intents_submit(account_id=account.pk, intent_ids=[intent.pk]) == [intent.pk]
    intent.refresh_from_db()
    assert intent.status == IntentStatus.BROKER_REJECTED
    assert intent.rejection_reason.startswith("insufficient buying power")
    assert not SimOrder.objects.exists() and not BrokerOrder.objects.exists()


def test_a_non_simulated_account_is_refused(account: TradingAccount, make_decision: Decide) -> None:
    from arena_project.errors import ConflictError

    TradingAccount.objects.filter(pk=account.pk).update(broker="alpaca")
    with pytest.raises(ConflictError):
        simulated_intents_submit(account_id=account.pk, intent_ids=[])


# --- settlement --------------------------------------------------------------------------------


def test_settling_many_gives_each_outcome_what_settling_it_alone_gives(
    account: TradingAccount, make_decision: Decide
) -> None:
    for day in (dt.date(2024, 3, 1), dt.date(2024, 3, 4), dt.date(2024, 3, 5)):
        for action in ("buy", "hold", "sell"):
            consensus = make_decision(as_of=day, action=action)
            session_account_attach(session=consensus.session, account=account)
            decision_trade_open(consensus_id=consensus.pk)
    approved_ids = (
        OrderIntent.objects.filter(status=IntentStatus.APPROVED).order_by("id").values_list("pk", flat=True)
    )
    simulated_intents_submit(account_id=account.pk, intent_ids=list(approved_ids))
    ids = list(Outcome.objects.order_by("id").values_list("pk", flat=True))
    columns = (
        "status",
        "basis",
        "hypothetical",
        "horizon_date",
        "quantity",
        "pnl_amount",
        "pnl_return",
        "rule",
    )
    for outcome_id in ids:
        outcome_settle(outcome_id=outcome_id)
    alone = list(Outcome.objects.order_by("id").values_list(*columns))
    assert {row[0] for row in alone} - {OutcomeStatus.PENDING} and OutcomeStatus.PENDING not in alone
    Outcome.objects.filter(pk__in=ids[3:]).update(status=OutcomeStatus.PENDING, settled_at=None)
    Outcome.objects.filter(pk__in=ids[:3]).update(rule="settled before")

    assert outcomes_settle_many(outcome_ids=ids) == len(ids) - 3  # a settled outcome never changes

    rows = list(Outcome.objects.order_by("id").values_list(*columns))
    assert [r[-1] for r in rows[:3]] == ["settled before"] * 3
    assert rows[3:] == alone[3:]


def _judgeable_outcomes(account: TradingAccount, make_decision: Decide) -> list[int]:
    """Nine pending outcomes on ``account``, the approved intents sent to the simulated broker."""
    for day in (dt.date(2024, 3, 1), dt.date(2024, 3, 4), dt.date(2024, 3, 5)):
        for action in ("buy", "hold", "sell"):
            consensus = make_decision(as_of=day, action=action)
            session_account_attach(session=consensus.session, account=account)
            decision_trade_open(consensus_id=consensus.pk)
    approved_ids = OrderIntent.objects.filter(status=IntentStatus.APPROVED).values_list("pk", flat=True)
    simulated_intents_submit(account_id=account.pk, intent_ids=list(approved_ids))
    return list(Outcome.objects.order_by("id").values_list("pk", flat=True))


def test_settling_many_writes_the_batch_in_one_update(account: TradingAccount, make_decision: Decide) -> None:
    ids = _judgeable_outcomes(account, make_decision)
    with CaptureQueriesContext(connection) as queries:
        settled = outcomes_settle_many(outcome_ids=ids)
    assert settled == len(ids) > 1
    updates = [q["sql"] for q in queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == (1 if connection.vendor == "postgresql" else len(updates))
    rows = Outcome.objects.filter(pk__in=ids).values_list("status", "settled_at", "updated_at")
    assert all(
        status != OutcomeStatus.PENDING and settled_at == updated_at
        for status, settled_at, updated_at in rows
    )


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_racing_settlements_settle_each_outcome_once(
    account: TradingAccount, make_decision: Decide, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _judgeable_outcomes(account, make_decision)
    both_judged, seen = threading.Barrier(2), threading.local()
    judge = batches.outcome_judge

    def judge_then_wait(*args: Any, **kwargs: Any) -> Any:
        if not getattr(seen, "waited", False):  # each thread: both have read the rows as pending
            seen.waited = True
            both_judged.wait(10)
        return judge(*args, **kwargs)

    monkeypatch.setattr(batches, "outcome_judge", judge_then_wait)
    results: list[int] = []

    def settle() -> None:
        try:
            results.append(outcomes_settle_many(outcome_ids=ids))
        finally:
            connection.close()

    threads = [threading.Thread(target=settle) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [0, len(ids)]  # the second waited for the locks, then found none pending
    assert not Outcome.objects.filter(pk__in=ids, status=OutcomeStatus.PENDING).exists()
    assert len(set(Outcome.objects.filter(pk__in=ids).values_list("settled_at", flat=True))) == 1


def test_a_batch_gives_up_after_the_maximum_attempts_unless_the_broker_has_the_order(
    account: TradingAccount, make_decision: Decide
) -> None:
    lost, sent = approved(account, make_decision), approved(account, make_decision, symbol="BOLT")
    SimulatedBroker(account).submit(order_request_for(sent))  # reached the broker, never linked
    OrderIntent.objects.filter(pk__in=[lost.pk, sent.pk]).update(attempts=5)

    simulated_intents_submit(account_id=account.pk, intent_ids=[lost.pk, sent.pk])

    lost.refresh_from_db()
    sent.refresh_from_db()
    assert (lost.status, lost.last_error) == (IntentStatus.FAILED, "gave up after 5 attempts")
    assert sent.status == IntentStatus.SUBMITTED and BrokerOrder.objects.get().intent == sent
