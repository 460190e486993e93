"""Idempotent submission: whatever happens, one intent leads to at most one broker order and one link."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from decimal import Decimal as D

import pytest
from django.db import connection
from django.utils import timezone

from debates.models import DebateConsensus
from outcomes.brokers import broker_for
from outcomes.brokers.base import OrderRequest
from outcomes.models import BrokerOrder, Fill, IntentStatus, OrderIntent, SimOrder, TradingAccount
from outcomes.services import (
    decision_trade_open,
    intents_recover,
    order_intent_claim,
    order_intent_submit,
    session_account_attach,
)
from outcomes.services.orders import order_request_for
from outcomes.tasks import order_submit
from tests.outcomes.conftest import bars_after

AS_OF = dt.date(2024, 3, 1)
Decide = Callable[..., DebateConsensus]
postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs concurrent writers")


def approved_intent(account: TradingAccount, make_decision: Decide, **kwargs: object) -> OrderIntent:
    consensus = make_decision(**kwargs)
    session_account_attach(session=consensus.session, account=account)
    intent = decision_trade_open(consensus_id=consensus.pk).intent
    assert intent is not None and intent.status == IntentStatus.APPROVED
    return intent


def expire_lease(intent: OrderIntent) -> None:
    """What the passing of ARENA_ORDER_LEASE_SECONDS does to a dead worker's claim."""
    OrderIntent.objects.filter(pk=intent.pk).update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))


def assert_one_order_one_link(intent: OrderIntent) -> BrokerOrder:
    assert SimOrder.objects.filter(client_order_id=intent.client_order_id).count() == 1
    assert BrokerOrder.objects.count() == 1
    link = BrokerOrder.objects.get(intent=intent)
    intent.refresh_from_db()
    assert intent.status == IntentStatus.SUBMITTED and intent.lease_expires_at is None
    return link


@pytest.mark.django_db
def test_submit_fills_at_the_next_open_and_links_order_and_fills(
    account: TradingAccount, make_decision: Decide
) -> None:
    intent = approved_intent(account, make_decision)
    assert order_submit(intent.pk).startswith("linked broker order")
    link = assert_one_order_one_link(intent)
    next_bar = bars_after("ACME", AS_OF, 1)[0]
    assert (link.status, link.filled_qty, link.filled_avg_price) == ("filled", intent.quantity, next_bar.open)
    assert link.client_order_id == intent.client_order_id
    assert link.metadata == {
        "decision_id": intent.consensus_id,
        "session_id": intent.consensus.session_id,
        "intent_id": intent.pk,
        "account_id": account.pk,
    }
    assert SimOrder.objects.get().metadata["decision_id"] == intent.consensus_id
    [fill] = Fill.objects.all()
    assert (fill.trade_date, fill.quantity, fill.price) == (next_bar.date, intent.quantity, next_bar.open)
    # queryable both ways: from the fill back to the decision, and from the decision to its fills
    assert fill.broker_order.intent.consensus == intent.consensus
    assert list(Fill.objects.filter(broker_order__intent__consensus=intent.consensus)) == [fill]


@pytest.mark.django_db
def test_the_same_task_run_twice_submits_once(account: TradingAccount, make_decision: Decide) -> None:
    intent = approved_intent(account, make_decision)
    assert order_submit(intent.pk).startswith("linked")
    assert order_submit(intent.pk).startswith("skipped")
    assert_one_order_one_link(intent)


@pytest.mark.django_db
def test_a_retry_after_a_crash_between_submit_and_save_links_the_existing_order(
    account: TradingAccount, make_decision: Decide
) -> None:
    intent = approved_intent(account, make_decision)
    # The first delivery claimed the intent and the broker accepted its order, then the worker died
    # before anything was recorded: the broker has the order, we have no link.
    assert order_intent_claim(intent_id=intent.pk)
    broker_for(account).submit(order_request_for(intent))
    assert order_submit(intent.pk).startswith("skipped")  # redelivered too early: the claim still holds
    expire_lease(intent)
    assert order_submit(intent.pk).startswith("linked")
    link = assert_one_order_one_link(intent)
    assert link.filled_qty == intent.quantity
    intent.refresh_from_db()
    assert intent.attempts == 2


@pytest.mark.django_db
def test_a_retry_after_the_link_was_saved_but_the_claim_not_released_changes_nothing(
    account: TradingAccount, make_decision: Decide
) -> None:
    intent = approved_intent(account, make_decision)
    order_submit(intent.pk)
    OrderIntent.objects.filter(pk=intent.pk).update(status=IntentStatus.SUBMITTING)
    expire_lease(intent)
    assert order_submit(intent.pk).startswith("linked")
    assert_one_order_one_link(intent)


@pytest.mark.django_db
def test_an_order_at_the_broker_that_is_not_this_intents_is_never_linked(
    account: TradingAccount, make_decision: Decide
) -> None:
    intent = approved_intent(account, make_decision)
    request = order_request_for(intent)
    broker_for(account).submit(OrderRequest(**{**request.__dict__, "quantity": request.quantity + 1}))
    assert order_submit(intent.pk) == "ended without a broker order"
    intent.refresh_from_db()
    assert intent.status == IntentStatus.FAILED and "not ('ACME', 'buy'" in intent.last_error
    assert not BrokerOrder.objects.exists()


@pytest.mark.django_db
def test_a_broker_refusal_ends_the_intent_with_the_brokers_reason(
    account: TradingAccount, make_decision: Decide
) -> None:
    intent = approved_intent(account, make_decision)
    TradingAccount.objects.filter(pk=account.pk).update(cash=D(10))  # spent elsewhere meanwhile
    assert order_submit(intent.pk) == "ended without a broker order"
    intent.refresh_from_db()
    assert intent.status == IntentStatus.BROKER_REJECTED
    assert intent.rejection_reason.startswith("insufficient buying power")
    assert not SimOrder.objects.exists() and not BrokerOrder.objects.exists()


@pytest.mark.django_db
def test_submission_gives_up_after_the_maximum_attempts(
    account: TradingAccount, make_decision: Decide, settings: object
) -> None:
    intent = approved_intent(account, make_decision)
    OrderIntent.objects.filter(pk=intent.pk).update(attempts=5)
    assert order_submit(intent.pk) == "ended without a broker order"
    intent.refresh_from_db()
    assert intent.status == IntentStatus.FAILED and intent.last_error == "gave up after 5 attempts"


@pytest.mark.django_db
def test_lost_submissions_are_recovered(account: TradingAccount, make_decision: Decide) -> None:
    approved = approved_intent(account, make_decision)  # its enqueue was lost (never committed here)
    stuck = approved_intent(account, make_decision, symbol="BOLT")
    assert order_intent_claim(intent_id=stuck.pk)  # a worker took it and died
    assert intents_recover() == 0  # too fresh: their own deliveries may still come
    later = timezone.now() + dt.timedelta(minutes=10)
    expire_lease(stuck)
    assert intents_recover(now=later) == 2  # django-q2 runs them inline in tests
    for intent in (approved, stuck):
        intent.refresh_from_db()
        assert intent.status == IntentStatus.SUBMITTED
    assert BrokerOrder.objects.count() == 2


@pytest.mark.django_db
def test_submit_without_a_claim_is_refused(account: TradingAccount, make_decision: Decide) -> None:
    intent = approved_intent(account, make_decision)
    from arena_project.errors import ConflictError

    with pytest.raises(ConflictError, match="claim it first"):
        order_intent_submit(intent_id=intent.pk)


def _race(target: Callable[[], object], workers: int) -> list[object]:
    barrier = threading.Barrier(workers)
    results: list[object] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(target())
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    return results


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_workers_racing_on_one_intent_submit_one_order(
    account: TradingAccount, make_decision: Decide, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)  # the on-commit enqueue only queues: the racers below submit
    intent = approved_intent(account, make_decision)
    results = _race(lambda: order_submit(intent.pk), workers=4)
    assert sorted(str(r).split(" ")[0] for r in results) == ["linked", "skipped:", "skipped:", "skipped:"]
    assert_one_order_one_link(intent)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_workers_that_both_got_past_the_claim_still_link_one_order(
    account: TradingAccount, make_decision: Decide
) -> None:
    intent = approved_intent(account, make_decision)
    OrderIntent.objects.filter(pk=intent.pk).update(status=IntentStatus.SUBMITTING)  # both think they own it
    results = _race(lambda: order_intent_submit(intent_id=intent.pk), workers=3)
    assert len({r.pk for r in results if isinstance(r, BrokerOrder)}) == 1
    assert_one_order_one_link(intent)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_decisions_cannot_both_spend_the_daily_limit(
    account: TradingAccount, make_decision: Decide
) -> None:
    account.max_daily_notional = D(6000)
    account.save()
    decisions = [make_decision(symbol=s, size=0.5) for s in ("ACME", "BOLT", "CYAN", "EPIC")]
    for consensus in decisions:
        session_account_attach(session=consensus.session, account=account)
    iterator = iter(decisions)
    lock = threading.Lock()

    def open_next() -> object:
        with lock:
            consensus = next(iterator)
        return decision_trade_open(consensus_id=consensus.pk)

    _race(open_next, workers=4)
    statuses = sorted(OrderIntent.objects.values_list("status", flat=True))
    assert statuses.count("rejected") == 3, statuses  # each is ~5,000: only one fits in 6,000
