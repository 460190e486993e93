"""SimulatedBroker on hand-made bars: next-open fills, limits, slippage, fees, partial fills, refusals."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from typing import Any

import pytest

from outcomes.brokers.base import BrokerRejectedError, DuplicateClientOrderIdError, OrderRequest
from outcomes.brokers.simulated import SimulatedBroker
from outcomes.models import SimFill, SimOrder, SimPosition, TradingAccount
from outcomes.services import trading_account_create
from tests.outcomes.conftest import add_bars

pytestmark = pytest.mark.django_db

D0, D1, D2, D3, D4 = (dt.date(2030, 1, d) for d in (2, 3, 4, 7, 8))


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


def sim(**fields: object) -> tuple[TradingAccount, SimulatedBroker]:
    defaults: dict[str, object] = {"name": "sim", "starting_cash": D(100_000), "slippage_bps": D(0)}
    account = trading_account_create(**{**defaults, **fields})  # type: ignore[arg-type]
    return account, SimulatedBroker(account)


def order(
    cid: str = "c1",
    side: str = "buy",
    qty: str = "10",
    kind: str = "market",
    limit: str | None = None,
    tif: str = "day",
    as_of: dt.date = D0,
) -> OrderRequest:
    return OrderRequest(
        client_order_id=cid,
        symbol="TEST",
        side=side,
        quantity=D(qty),
        order_type=kind,
        limit_price=D(limit) if limit else None,
        time_in_force=tif,
        as_of=as_of,
        metadata={"decision_id": 1},
    )


def test_market_order_fills_at_the_next_bars_open_with_slippage_and_fees(bars: None) -> None:
    account, broker = sim(slippage_bps=D(10), commission_per_order=D(1), commission_bps=D(5))
    state = broker.submit(order())
    # next bar D1 opens at 102; 10 bps slippage against the buyer -> 102.102
    assert (state.status, state.filled_qty, state.filled_avg_price) == ("filled", D(10), D("102.1020"))
    [fill] = broker.list_fills(state)
    assert (fill.trade_date, fill.price) == (D1, D("102.1020"))
    assert fill.commission == D("1.5105")  # 1 per order + 5 bps of 1,021.02
    account.refresh_from_db()
    assert account.cash == D(100_000) - D("1021.02") - D("1.5105")
    position = SimPosition.objects.get(account=account, symbol="TEST")
    assert (position.quantity, position.average_price) == (D(10), D("102.1020"))
    assert SimOrder.objects.get().metadata == {"decision_id": 1}


def test_an_order_on_the_last_bar_waits_for_the_next_one(bars: None) -> None:
    _account, broker = sim()
    state = broker.submit(order(as_of=D3))
    assert (state.status, state.filled_qty) == ("new", 0)
    assert broker.get_order(state.broker_order_id).status == "new"  # asking again changes nothing
    add_bars("TEST", [(D4, "97", "98", "96", "97", 1000)])
    filled = broker.get_order(state.broker_order_id)
    assert (filled.status, filled.filled_avg_price) == ("filled", D(97))
    broker.get_order(state.broker_order_id)
    assert SimFill.objects.count() == 1  # matching is idempotent: one bar, one fill


def test_limit_day_order_expires_when_its_bar_does_not_cross(bars: None) -> None:
    _account, broker = sim()
    state = broker.submit(order(kind="limit", limit="100.5"))  # D1 low is 101
    assert (state.status, state.filled_qty) == ("expired", 0)


def test_limit_gtc_order_fills_at_its_limit_when_a_later_bar_crosses(bars: None) -> None:
    _account, broker = sim(slippage_bps=D(50))
    state = broker.submit(order(kind="limit", limit="100", tif="gtc"))
    # D1 low 101 > 100: waits; D2 low 98 crosses; opens at 103 so it fills at the limit (slippage capped)
    assert (state.status, state.filled_avg_price) == ("filled", D(100))
    assert broker.list_fills(state)[0].trade_date == D2


def test_limit_that_the_open_gaps_through_fills_at_the_open(bars: None) -> None:
    account, broker = sim()
    broker.submit(order(cid="b"))  # 10 shares at 102 on D1
    state = broker.submit(order(cid="s", side="sell", kind="limit", limit="101", as_of=D1, tif="gtc"))
    # D2 opens at 103 >= 101: a sell limit fills at the better open price
    assert (state.status, state.filled_avg_price) == ("filled", D(103))
    assert not SimPosition.objects.filter(account=account).exists()
    account.refresh_from_db()
    assert account.cash == D(100_000) - 1020 + 1030


def test_participation_cap_gives_partial_fills_that_sum_up(bars: None) -> None:
    _account, broker = sim(max_bar_participation=D("0.01"))
    gtc = broker.submit(order(cid="gtc", qty="25", tif="gtc"))
    # 1% of volume per bar: D1 10 @102, D2 5 @103, D3 10 @99
    fills = broker.list_fills(gtc)
    assert [(f.trade_date, f.quantity, f.price) for f in fills] == [(D1, 10, 102), (D2, 5, 103), (D3, 10, 99)]
    assert (gtc.status, gtc.filled_qty) == ("filled", D(25))
    assert gtc.filled_avg_price == D(101)  # (1020 + 515 + 990) / 25
    day = broker.submit(order(cid="day", qty="25"))
    assert (day.status, day.filled_qty) == ("expired", D(10))  # one bar, then the day is over


def test_buy_beyond_buying_power_is_refused_and_leaves_nothing(bars: None) -> None:
    _account, broker = sim(starting_cash=D(1000))
    with pytest.raises(BrokerRejectedError, match="insufficient buying power"):
        broker.submit(order(qty="11"))  # 11 x 100 (last close) > 1,000
    assert not SimOrder.objects.exists()


def test_open_buys_reserve_cash(bars: None) -> None:
    _account, broker = sim(starting_cash=D(1500))
    broker.submit(order(cid="first", as_of=D3))  # 10 x 96 reserved, not yet filled
    assert broker.account().buying_power == D(1500) - 960
    with pytest.raises(BrokerRejectedError):
        broker.submit(order(cid="second", as_of=D3))


def test_sell_without_shares_is_refused_unless_shorting_is_allowed(bars: None) -> None:
    _account, broker = sim()
    with pytest.raises(BrokerRejectedError, match="insufficient qty"):
        broker.submit(order(side="sell"))
    short_account, short_broker = sim(name="short", allow_short=True)
    state = short_broker.submit(order(side="sell"))
    assert state.status == "filled"
    assert SimPosition.objects.get(account=short_account).quantity == D(-10)
    [position] = short_broker.positions(as_of=D1)
    assert position.market_value == D(-1030)  # marked at the D1 close
    short_account.refresh_from_db()
    assert short_account.cash == D(100_000) + 1020


def test_reused_client_order_id_is_refused(bars: None) -> None:
    _account, broker = sim()
    broker.submit(order(cid="same"))
    with pytest.raises(DuplicateClientOrderIdError):
        broker.submit(order(cid="same"))
    assert SimOrder.objects.count() == 1
    assert broker.get_by_client_order_id("same") is not None
    assert broker.get_by_client_order_id("other") is None


def test_cancel_stops_an_open_order(bars: None) -> None:
    _account, broker = sim()
    state = broker.submit(order(as_of=D3, tif="gtc"))
    assert broker.cancel(state.broker_order_id).status == "cancelled"
    add_bars("TEST", [(D4, "97", "98", "96", "97", 1000)])
    assert broker.get_order(state.broker_order_id).status == "cancelled"
    assert not SimFill.objects.exists()


def test_account_values_positions_at_the_as_of_close(bars: None) -> None:
    _account, broker = sim()
    broker.submit(order())  # 10 @ 102
    assert broker.account(as_of=D2).equity == D(100_000) - 1020 + 990  # D2 close 99
    assert broker.account(as_of=D3).equity == D(100_000) - 1020 + 960


def test_trading_session_follows_the_bars(bars: None) -> None:
    _account, broker = sim()
    assert broker.trading_session(symbol="TEST", as_of=D0).open
    closed = broker.trading_session(symbol="TEST", as_of=dt.date(2030, 1, 5))  # a Saturday
    assert not closed.open and "not a trading day" in closed.detail


def test_a_debate_reads_the_book_as_it_stood_on_its_date(bars: None) -> None:
    from outcomes.services import TradingAccountSource

    account, broker = sim(commission_per_order=D(1))
    broker.submit(order())  # 10 @ 102 on D1, fee 1
    broker.submit(order(cid="s", side="sell", qty="4", as_of=D2))  # 4 @ 99 on D3
    before = TradingAccountSource(account)
    assert before.positions(as_of=D0) == [] and before.account(as_of=D0).cash == D(100_000)
    [held] = TradingAccountSource(account).positions(as_of=D2)
    assert (held.quantity, held.average_price, held.market_value) == (D(10), D(102), D(990))
    after = TradingAccountSource(account)
    [left] = after.positions(as_of=D3)
    assert (left.quantity, left.average_price) == (D(6), D(102))
    assert after.account(as_of=D3).cash == D(100_000) - 1020 - 1 + 396 - 1
    account.refresh_from_db()
    assert after.account(as_of=D3).cash == account.cash  # the replay agrees with the live book


def test_books_as_of_several_dates_are_each_dates_book(bars: None) -> None:
    """One read for several dates (a batch opening trades) gives each date's own book: the marks
    move with the date, the cash and what open buys reserve do not."""
    account, broker = sim()
    broker.submit(order())  # 10 @ 102 on D1
    broker.submit(order(cid="open", kind="limit", limit="50", tif="gtc", as_of=D1))  # reserves 500
    account.refresh_from_db()
    dates = [D3, D1, None, D2, D1]
    books = broker.books_locked(account, as_ofs=dates)
    assert list(books) == [D3, D1, None, D2]
    assert books == {as_of: broker.book_locked(account, as_of=as_of) for as_of in dates}
    equity = {as_of: state.equity for as_of, (state, _positions) in books.items()}
    cash = D(100_000) - 1020
    assert equity == {D1: cash + 1030, D2: cash + 990, D3: cash + 960, None: cash + 960}
    assert {state.buying_power for state, _positions in books.values()} == {cash - 500}
    assert [p.market_value for p in books[D2][1]] == [D(990)]


def test_a_batchs_source_reads_each_dates_book_as_one_debate_would(
    bars: None, django_assert_num_queries: Any
) -> None:
    """A source shared by a batch replays the fills once for all its debates' dates (and marks the
    positions in one query), and each date's book is the one a debate alone reads."""
    from outcomes.services import TradingAccountSource

    account, broker = sim(commission_per_order=D(1))
    broker.submit(order())  # 10 @ 102 on D1, fee 1
    broker.submit(order(cid="s", side="sell", qty="4", as_of=D2))  # 4 @ 99 on D3
    dates = [D3, D0, D4, D1, D2]
    shared = TradingAccountSource(account, as_ofs=dates)
    with django_assert_num_queries(2):  # the fills, the marks
        books = {as_of: (shared.account(as_of=as_of), shared.positions(as_of=as_of)) for as_of in dates}
    alone = {
        as_of: (
            TradingAccountSource(account).account(as_of=as_of),
            TradingAccountSource(account).positions(as_of=as_of),
        )
        for as_of in dates
    }
    assert books == alone
    assert [len(positions) for _state, positions in (books[d] for d in (D0, D1, D3))] == [0, 1, 1]
    assert books[D1][1][0].market_value == D(1030) and books[D4][1][0].market_value == D(6 * 96)
    assert books[D3][0].cash == D(100_000) - 1020 - 1 + 396 - 1
