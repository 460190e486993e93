"""AlpacaBroker through the REAL alpaca-py TradingClient against the local FakeAlpacaServer."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

import pytest

from debates.market.alpaca import new_york_today
from debates.models import DebateConsensus
from outcomes.brokers import broker_for
from outcomes.brokers.alpaca import AlpacaBroker, trading_client
from outcomes.brokers.base import BrokerConfigurationError, BrokerUnavailableError, LiveTradingRefusedError
from outcomes.models import BrokerOrder, Fill, IntentStatus, OrderIntent, TradingAccount
from outcomes.services import (
    TradingAccountSource,
    broker_order_cancel,
    broker_order_sync,
    decision_trade_open,
    session_account_attach,
    trading_account_create,
)
from outcomes.services.orders import order_request_for
from outcomes.tasks import order_submit
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.outcomes.conftest import add_bars

pytestmark = pytest.mark.django_db
Decide = Callable[..., DebateConsensus]
TODAY = new_york_today()


@pytest.fixture
def alpaca_account(arena: object, alpaca_server: FakeAlpacaServer) -> TradingAccount:
    add_bars("AAPL", [(TODAY, "100", "101", "99", "100", 1_000_000)])
    return trading_account_create(name="alpaca-paper", broker="alpaca", sizing_notional=D(1000))


def intent_for(account: TradingAccount, make_decision: Decide, **kwargs: Any) -> OrderIntent:
    consensus = make_decision(symbol="AAPL", as_of=TODAY, size=1.0, **kwargs)
    session_account_attach(session=consensus.session, account=account)
    intent = decision_trade_open(consensus_id=consensus.pk).intent
    assert intent is not None
    return intent


def failures(intent: OrderIntent) -> dict[str, str]:
    return {c.name: c.detail for c in intent.risk_checks.all() if not c.passed}


def test_paper_order_is_sent_once_and_partial_fills_are_summed(
    alpaca_server: FakeAlpacaServer, alpaca_account: TradingAccount, make_decision: Decide
) -> None:
    intent = intent_for(alpaca_account, make_decision)
    assert intent.status == IntentStatus.APPROVED and intent.quantity == 10, failures(intent)
    assert order_submit(intent.pk).startswith("linked")
    [posted] = [r for r in alpaca_server.requests if r.method == "POST"]
    assert posted.json["client_order_id"] == intent.client_order_id
    assert (posted.json["symbol"], posted.json["side"], posted.json["qty"]) == ("AAPL", "buy", 10.0)
    order = BrokerOrder.objects.get(intent=intent)
    assert (order.broker, order.status, order.filled_qty) == ("alpaca", "new", 0)
    assert order.metadata["decision_id"] == intent.consensus_id

    alpaca_server.fill(intent.client_order_id, qty=4, price=100)
    order = broker_order_sync(broker_order_id=order.pk)
    assert (order.status, order.filled_qty, order.filled_avg_price) == ("partially_filled", 4, D(100))
    alpaca_server.fill(intent.client_order_id, qty=6, price=110)
    order = broker_order_sync(broker_order_id=order.pk)
    order = broker_order_sync(broker_order_id=order.pk)  # syncing again adds nothing
    fills = list(Fill.objects.filter(broker_order=order).values_list("quantity", "price"))
    assert fills == [(D(4), D(100)), (D(6), D(110))]
    assert (order.status, order.filled_qty, order.filled_avg_price) == ("filled", 10, D(106))
    assert order_submit(intent.pk).startswith("skipped")
    assert alpaca_server.count("POST", "/v2/orders") == 1


def test_duplicate_client_order_id_is_treated_as_already_submitted(
    alpaca_server: FakeAlpacaServer, alpaca_account: TradingAccount, make_decision: Decide
) -> None:
    intent = intent_for(alpaca_account, make_decision)
    # An earlier attempt reached Alpaca; this one's first lookup misses it (answer lost), so it posts,
    # gets Alpaca's 422 "client_order_id must be unique", looks the order up and links it.
    AlpacaBroker(alpaca_account).submit(order_request_for(intent))
    alpaca_server.fail_next(
        "/v2/orders:by_client_order_id", 404, body={"code": 40410000, "message": "order not found"}
    )
    assert order_submit(intent.pk).startswith("linked")
    assert alpaca_server.count("POST", "/v2/orders") == 2
    assert len(alpaca_server.orders()) == 1 and BrokerOrder.objects.count() == 1
    assert BrokerOrder.objects.get().broker_order_id == alpaca_server.orders()[0]["id"]


def test_rate_limited_submission_is_retried_by_alpaca_py(
    alpaca_server: FakeAlpacaServer, alpaca_account: TradingAccount, make_decision: Decide
) -> None:
    intent = intent_for(alpaca_account, make_decision)
    alpaca_server.fail_next("/v2/orders", 429, count=2, method="POST")
    assert order_submit(intent.pk).startswith("linked")
    assert alpaca_server.count("POST", "/v2/orders") == 3 and len(alpaca_server.orders()) == 1


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(
            lambda s: s.fail_next("/v2/orders", 429, count=4, method="POST"), id="429-after-retries"
        ),
        pytest.param(lambda s: s.fail_next("/v2/orders", 500, method="POST"), id="500"),
        pytest.param(lambda s: s.fail_next("/v2/orders", 503, method="POST"), id="503"),
        pytest.param(lambda s: s.hang_next("/v2/orders", method="POST"), id="hang-timeout"),
    ],
)
def test_unreachable_broker_releases_the_claim_and_the_retry_submits_once(
    alpaca_server: FakeAlpacaServer,
    alpaca_account: TradingAccount,
    make_decision: Decide,
    fault: Callable[[FakeAlpacaServer], None],
) -> None:
    intent = intent_for(alpaca_account, make_decision)
    fault(alpaca_server)
    started = time.monotonic()
    with pytest.raises(BrokerUnavailableError):
        order_submit(intent.pk)  # django-q2 redelivers a task that raised
    assert time.monotonic() - started < 5  # the 0.5 s timeout held: nothing hangs
    intent.refresh_from_db()
    assert intent.status == IntentStatus.SUBMITTING and intent.last_error.startswith("Alpaca")
    assert not BrokerOrder.objects.exists()
    assert order_submit(intent.pk).startswith("linked")  # the released claim is taken again at once
    assert len(alpaca_server.orders()) == 1 and BrokerOrder.objects.count() == 1


def test_broker_refusal_is_recorded_with_alpacas_reason(
    alpaca_server: FakeAlpacaServer, alpaca_account: TradingAccount, make_decision: Decide
) -> None:
    intent = intent_for(alpaca_account, make_decision)
    alpaca_server.set_mark("AAPL", 100)  # lets the fake price the market order
    alpaca_server.set_cash(50)  # spent elsewhere after the checks ran
    assert order_submit(intent.pk) == "ended without a broker order"
    intent.refresh_from_db()
    assert intent.status == IntentStatus.BROKER_REJECTED
    assert intent.rejection_reason == "Alpaca 403: insufficient buying power"


def test_an_order_alpaca_rejects_later_and_a_cancel_are_synced(
    alpaca_server: FakeAlpacaServer, alpaca_account: TradingAccount, make_decision: Decide
) -> None:
    first = intent_for(alpaca_account, make_decision)
    order_submit(first.pk)
    alpaca_server.reject(first.client_order_id)
    rejected = broker_order_sync(broker_order_id=BrokerOrder.objects.get(intent=first).pk)
    assert (rejected.status, rejected.status_reason) == ("rejected", "alpaca status rejected")
    second = intent_for(alpaca_account, make_decision)
    order_submit(second.pk)
    cancelled = broker_order_cancel(broker_order_id=BrokerOrder.objects.get(intent=second).pk)
    assert (
        cancelled.status == "cancelled"
        and alpaca_server.order(second.client_order_id)["status"] == "canceled"
    )


def test_checks_read_alpacas_clock_and_account(
    alpaca_server: FakeAlpacaServer, alpaca_account: TradingAccount, make_decision: Decide
) -> None:
    alpaca_server.market_open = False
    alpaca_server.set_cash(500)
    intent = intent_for(alpaca_account, make_decision)
    assert set(failures(intent)) == {"market_hours", "buying_power"}
    assert failures(intent)["market_hours"].startswith("market closed; next open")
    assert alpaca_server.count("POST") == 0


def test_a_stale_decision_never_reaches_a_real_broker(
    alpaca_server: FakeAlpacaServer, alpaca_account: TradingAccount, make_decision: Decide
) -> None:
    consensus = make_decision(symbol="ACME", as_of=dt.date(2024, 3, 1))
    session_account_attach(session=consensus.session, account=alpaca_account)
    intent = decision_trade_open(consensus_id=consensus.pk).intent
    assert intent is not None and "stale for a real broker" in failures(intent)["market_hours"]


def test_live_is_refused_unless_both_switches_are_on(
    alpaca_server: FakeAlpacaServer, alpaca_account: TradingAccount, make_decision: Decide, settings: Any
) -> None:
    live = trading_account_create(name="alpaca-live", broker="alpaca", live=True, sizing_notional=D(1000))
    settings.ARENA_LIVE_TRADING = False
    with pytest.raises(LiveTradingRefusedError, match="refusing to trade real money"):
        broker_for(live)
    intent = intent_for(live, make_decision)
    assert intent.status == "rejected"
    assert "ARENA_LIVE_TRADING=1 is not set" in failures(intent)["broker_ready"]
    assert alpaca_server.count("POST") == 0

    settings.ARENA_LIVE_TRADING = True  # the environment alone does not make a paper account live
    paper = broker_for(alpaca_account)
    assert isinstance(paper, AlpacaBroker) and paper.live is False
    both = broker_for(live)
    assert isinstance(both, AlpacaBroker) and both.live is True


def test_paper_and_live_clients_point_at_their_endpoints(
    alpaca_server: FakeAlpacaServer, settings: Any
) -> None:
    settings.ARENA_ALPACA_TRADING_URL = ""
    assert trading_client(live=False)._base_url == "https://paper-api.alpaca.markets"
    assert trading_client(live=True)._base_url == "https://api.alpaca.markets"


def test_missing_keys_refuse_clearly(
    alpaca_server: FakeAlpacaServer, alpaca_account: TradingAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ALPACA_SECRET_KEY")
    with pytest.raises(BrokerConfigurationError, match="Set ALPACA_API_KEY and ALPACA_SECRET_KEY"):
        broker_for(alpaca_account)


def test_wrong_keys_are_a_configuration_error(
    alpaca_server: FakeAlpacaServer, alpaca_account: TradingAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALPACA_SECRET_KEY", "wrong")
    with pytest.raises(BrokerConfigurationError, match="refused the API keys"):
        broker_for(alpaca_account).account()


def test_a_debate_for_an_alpaca_account_reads_alpacas_book(
    alpaca_server: FakeAlpacaServer, alpaca_account: TradingAccount
) -> None:
    alpaca_server.set_position("AAPL", 3, 90)
    alpaca_server.set_mark("AAPL", 100)
    source = TradingAccountSource(alpaca_account)
    [position] = source.positions(as_of=TODAY)
    assert (position.symbol, position.quantity, position.market_value) == ("AAPL", D(3), D(300))
    assert source.account(as_of=TODAY).equity == D(100_300)
    # Alpaca has no past view: an old debate gets a flat account, not today's book
    old = source.account(as_of=dt.date(2024, 3, 1))
    assert old.equity == alpaca_account.starting_cash and "as-of" in old.source


def test_an_unreachable_broker_is_given_up_after_the_maximum_attempts_and_says_so(
    alpaca_server: FakeAlpacaServer, alpaca_account: TradingAccount, make_decision: Decide, settings: Any
) -> None:
    settings.ARENA_ORDER_MAX_ATTEMPTS = 2
    intent = intent_for(alpaca_account, make_decision)
    alpaca_server.fail_next("/v2/orders", 500, count=10)  # lookups and posts alike
    with pytest.raises(BrokerUnavailableError):
        order_submit(intent.pk)
    assert order_submit(intent.pk) == "ended without a broker order"
    intent.refresh_from_db()
    assert intent.status == IntentStatus.FAILED
    assert intent.last_error.startswith("gave up after 2 attempts (Alpaca 500")
    assert f"order {intent.client_order_id} is unknown" in intent.last_error
