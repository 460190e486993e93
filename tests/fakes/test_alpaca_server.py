"""Contract tests: alpaca-py's REAL clients against FakeAlpacaServer.

If alpaca-py changes a path, a query parameter or a required pydantic field, these tests fail here
rather than in the AlpacaBroker / market-data tests that build on the fake.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.requests import (
    StockBarsRequest,
    StockLatestQuoteRequest,
    StockLatestTradeRequest,
    StockSnapshotRequest,
)
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, OrderStatus, QueryOrderStatus, TimeInForce
from alpaca.trading.models import TradeActivity
from alpaca.trading.requests import GetOrdersRequest, LimitOrderRequest, MarketOrderRequest
from pydantic import TypeAdapter

from .alpaca_server import FakeAlpacaServer

KEY, SECRET = "test-key", "test-secret"
# alpaca-py's RESTClient sleeps `_retry_wait` seconds (DEFAULT_RETRY_WAIT_SECONDS = 3) before retrying
# a 429/504; the Trading/Data client constructors do not expose it, so tests set the attribute.
FAST_RETRY_S = 0.01
T0 = datetime(2024, 1, 2, 5, 0, tzinfo=UTC)


@pytest.fixture
def server() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer() as srv:
        yield srv


@pytest.fixture
def trading(server: FakeAlpacaServer) -> TradingClient:
    client = TradingClient(KEY, SECRET, paper=True, url_override=server.base_url)
    client._retry_wait = FAST_RETRY_S  # type: ignore[assignment]
    return client


@pytest.fixture
def data(server: FakeAlpacaServer) -> StockHistoricalDataClient:
    client = StockHistoricalDataClient(KEY, SECRET, url_override=server.base_url)
    client._retry_wait = FAST_RETRY_S  # type: ignore[assignment]
    return client


def market(
    qty: float = 10, symbol: str = "AAPL", cid: str | None = None, side: OrderSide = OrderSide.BUY
) -> Any:
    return MarketOrderRequest(
        symbol=symbol, qty=qty, side=side, time_in_force=TimeInForce.DAY, client_order_id=cid
    )


def limit(price: float, qty: float = 5, symbol: str = "AAPL", cid: str | None = None) -> Any:
    return LimitOrderRequest(
        symbol=symbol,
        qty=qty,
        side=OrderSide.BUY,
        time_in_force=TimeInForce.GTC,
        limit_price=price,
        client_order_id=cid,
    )


def daily_bars(count: int, base: float, start: datetime = T0) -> list[dict[str, Any]]:
    """Bars whose prices encode their index, so assertions can name exact values."""
    return [
        {
            "t": start + timedelta(days=i),
            "o": base + i,
            "h": base + i + 1,
            "l": base + i - 1,
            "c": base + i + 0.5,
            "v": 1000 + i,
            "n": 10 + i,
            "vw": base + i + 0.25,
        }
        for i in range(count)
    ]


def api_error(call: Any, *args: Any) -> APIError:
    with pytest.raises(APIError) as info:
        call(*args)
    return info.value


# ---------------------------------------------------------------------------- orders


def test_submitted_market_order_is_found_by_client_order_id(
    server: FakeAlpacaServer, trading: TradingClient
) -> None:
    submitted = trading.submit_order(market(cid="run-1-AAPL"))
    found = trading.get_order_by_client_id("run-1-AAPL")
    assert found.id == submitted.id
    assert found.status == OrderStatus.NEW
    assert (found.qty, found.filled_qty, found.filled_avg_price) == ("10", "0", None)
    posted = server.requests[0]
    assert (posted.method, posted.path) == ("POST", "/v2/orders")
    assert posted.json["client_order_id"] == "run-1-AAPL"
    assert posted.headers["apca-api-key-id"] == KEY


def test_duplicate_client_order_id_is_rejected_with_422(trading: TradingClient) -> None:
    trading.submit_order(market(cid="dup"))
    error = api_error(trading.submit_order, market(cid="dup"))
    assert error.status_code == 422
    assert (error.code, error.message) == (40010001, "client_order_id must be unique")


def test_partial_then_full_fill_updates_order_position_account_and_activities(
    server: FakeAlpacaServer, trading: TradingClient
) -> None:
    order = trading.submit_order(market(qty=10, cid="c1"))
    server.fill("c1", qty=4, price=100)
    partial = trading.get_order_by_id(order.id)
    assert partial.status == OrderStatus.PARTIALLY_FILLED
    assert (partial.filled_qty, partial.filled_avg_price) == ("4", "100")
    server.fill(order.id, qty=6, price=110)
    done = trading.get_order_by_id(order.id)
    assert (done.status, done.filled_qty, done.filled_avg_price) == (OrderStatus.FILLED, "10", "106")
    assert done.filled_at is not None

    [position] = trading.get_all_positions()
    assert (position.symbol, position.qty, position.avg_entry_price) == ("AAPL", "10", "106")
    assert trading.get_open_position("AAPL").market_value == "1100"
    account = trading.get_account()
    assert Decimal(account.cash) == Decimal(100_000) - 400 - 660
    assert Decimal(account.equity) == Decimal(account.cash) + 1100

    raw = trading.get("/account/activities/FILL", {"direction": "asc"})
    fills = TypeAdapter(list[TradeActivity]).validate_python(raw)
    progress = [(f.type.value, f.qty, f.cum_qty, f.leaves_qty) for f in fills]
    assert progress == [("partial_fill", 4, 4, 6), ("fill", 6, 10, 0)]
    assert {f.order_id for f in fills} == {order.id}


def test_notional_order_fills_by_dollar_amount(server: FakeAlpacaServer, trading: TradingClient) -> None:
    order = trading.submit_order(
        MarketOrderRequest(symbol="MSFT", notional=500, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    )
    server.fill(str(order.id), price=250)
    done = trading.get_order_by_id(order.id)
    assert (done.status, done.notional, done.qty, done.filled_qty) == (OrderStatus.FILLED, "500", None, "2")


def test_auto_fill_price_fills_market_orders_on_submit(
    server: FakeAlpacaServer, trading: TradingClient
) -> None:
    server.auto_fill_price = Decimal("50.5")
    order = trading.submit_order(market(qty=2))
    assert (order.status, order.filled_avg_price) == (OrderStatus.FILLED, "50.5")
    resting = trading.submit_order(limit(price=40))
    assert resting.status == OrderStatus.NEW


def test_reject_and_cancel_lifecycle(server: FakeAlpacaServer, trading: TradingClient) -> None:
    rejected = trading.submit_order(limit(price=10, cid="r"))
    server.reject("r", "insufficient liquidity")
    assert trading.get_order_by_id(rejected.id).status == OrderStatus.REJECTED

    resting = trading.submit_order(limit(price=10, cid="x"))
    assert trading.cancel_order_by_id(resting.id) is None
    canceled = trading.get_order_by_id(resting.id)
    assert (canceled.status, canceled.canceled_at is not None) == (OrderStatus.CANCELED, True)
    assert server.requests[-2].method == "DELETE"

    filled = trading.submit_order(market(cid="f"))
    server.fill("f", price=99)
    for order_id in (rejected.id, resting.id, filled.id):
        assert api_error(trading.cancel_order_by_id, order_id).status_code == 422
    assert api_error(trading.get_order_by_id, "00000000-0000-4000-8000-000000000000").status_code == 404


def test_get_orders_filters_like_alpaca(server: FakeAlpacaServer, trading: TradingClient) -> None:
    now = [T0]
    server.clock = lambda: now[0]
    first = trading.submit_order(market(symbol="AAPL", cid="a"))
    now[0] = T0 + timedelta(minutes=1)
    trading.submit_order(market(symbol="MSFT", cid="m"))
    now[0] = T0 + timedelta(minutes=2)
    trading.submit_order(market(symbol="AAPL", cid="b"))
    server.fill("b", price=10)

    def ids(**kwargs: Any) -> list[str]:
        return [o.client_order_id for o in trading.get_orders(GetOrdersRequest(**kwargs))]

    assert ids() == ["m", "a"]  # default: open, newest first
    assert ids(status=QueryOrderStatus.CLOSED) == ["b"]
    assert ids(status=QueryOrderStatus.ALL, symbols=["AAPL"], direction="asc") == ["a", "b"]
    assert ids(status=QueryOrderStatus.ALL, limit=1) == ["b"]
    assert ids(
        status=QueryOrderStatus.ALL, after=T0 + timedelta(seconds=30), until=T0 + timedelta(seconds=90)
    ) == ["m"]
    assert trading.get_order_by_client_id("a").created_at == T0 == first.submitted_at


def test_selling_more_than_held_is_403(server: FakeAlpacaServer, trading: TradingClient) -> None:
    server.set_position("AAPL", 3, 100)
    error = api_error(trading.submit_order, market(qty=5, side=OrderSide.SELL))
    assert (error.status_code, error.code) == (403, 40310000)
    assert "available: 3" in error.message
    assert trading.submit_order(market(qty=3, side=OrderSide.SELL)).status == OrderStatus.NEW


def test_missing_or_wrong_credentials_are_401(server: FakeAlpacaServer) -> None:
    response = requests.get(f"{server.base_url}/v2/account", timeout=5)
    assert (response.status_code, response.json()) == (
        401,
        {"code": 40110000, "message": "request is not authorized"},
    )
    server.api_key = "the-real-key"
    wrong = TradingClient("other", SECRET, paper=True, url_override=server.base_url)
    assert api_error(wrong.get_account).status_code == 401


# ---------------------------------------------------------------------------- faults


def test_fail_next_500_surfaces_as_api_error(server: FakeAlpacaServer, trading: TradingClient) -> None:
    server.fail_next("/v2/account", 500)
    error = api_error(trading.get_account)
    assert (error.status_code, error.code) == (500, 50010000)
    assert trading.get_account().status.value == "ACTIVE"
    assert server.count("GET", "/v2/account") == 2


@pytest.mark.parametrize("status", [429, 504])
def test_retryable_status_once_is_retried_by_the_client(
    server: FakeAlpacaServer, trading: TradingClient, status: int
) -> None:
    server.fail_next("/v2/orders", status, headers={"Retry-After": "1"}, method="POST")
    order = trading.submit_order(market(cid="retried"))
    assert order.client_order_id == "retried"
    assert server.count("POST", "/v2/orders") == 2
    assert len(server.orders()) == 1


def test_persistent_429_exhausts_client_retries(server: FakeAlpacaServer, trading: TradingClient) -> None:
    server.fail_next("/v2/account", 429, count=10)
    assert api_error(trading.get_account).status_code == 429
    assert server.count("GET", "/v2/account") == 1 + trading._retry


def test_hang_next_is_released_by_stop_without_hanging() -> None:
    server = FakeAlpacaServer().start()
    client = TradingClient(KEY, SECRET, paper=True, url_override=server.base_url)
    server.hang_next("/v2/account")
    outcome: list[Exception] = []

    def call() -> None:
        try:
            client.get_account()
        except Exception as exc:
            outcome.append(exc)

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    deadline = time.monotonic() + 2
    while server.count("GET", "/v2/account") == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    assert worker.is_alive()
    started = time.monotonic()
    server.stop()
    worker.join(2)
    assert time.monotonic() - started < 1.5
    assert not worker.is_alive()
    assert isinstance(outcome[0], requests.ConnectionError)


def test_delay_s_slows_every_answer(server: FakeAlpacaServer) -> None:
    server.delay_s = 0.3
    with pytest.raises(requests.Timeout):
        requests.get(f"{server.base_url}/v2/clock", headers=_auth(), timeout=0.05)
    server.delay_s = 0
    assert requests.get(f"{server.base_url}/v2/clock", headers=_auth(), timeout=5).json()["is_open"] is True


def _auth() -> dict[str, str]:
    return {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}


# ---------------------------------------------------------------------------- market data


def test_bars_for_two_symbols_are_paginated_and_complete(
    server: FakeAlpacaServer, data: StockHistoricalDataClient
) -> None:
    server.max_page_size = 5
    server.add_bars("AAPL", "1Day", daily_bars(8, 100))
    server.add_bars("MSFT", TimeFrame.Day, daily_bars(7, 300))
    server.add_bars("AAPL", "1Hour", daily_bars(3, 1))
    request = StockBarsRequest(symbol_or_symbols=["AAPL", "MSFT", "NOPE"], timeframe=TimeFrame.Day, start=T0)
    barset = data.get_stock_bars(request)
    assert set(barset.data) == {"AAPL", "MSFT"}
    assert [len(barset["AAPL"]), len(barset["MSFT"])] == [8, 7]
    assert barset["MSFT"][6].close == 306.5
    assert barset["AAPL"][0].timestamp == T0
    assert server.count("GET", "/v2/stocks/bars") == 3
    assert server.requests[0].query["timeframe"] == "1Day"


def test_bars_limit_caps_the_total_across_pages(
    server: FakeAlpacaServer, data: StockHistoricalDataClient
) -> None:
    server.max_page_size = 5
    server.add_bars("AAPL", "1Day", daily_bars(8, 100))
    server.add_bars("MSFT", "1Day", daily_bars(7, 300))
    request = StockBarsRequest(
        symbol_or_symbols=["MSFT", "AAPL"],
        timeframe=TimeFrame.Day,
        start=T0 + timedelta(days=1),
        end=T0 + timedelta(days=6),
        limit=9,
    )
    barset = data.get_stock_bars(request)
    assert [len(barset["AAPL"]), len(barset["MSFT"])] == [6, 3]
    assert barset["AAPL"][-1].timestamp == T0 + timedelta(days=6)
    assert [r.query["limit"] for r in server.requests] == ["9", "4"]


def test_single_symbol_bars_endpoint(server: FakeAlpacaServer, data: StockHistoricalDataClient) -> None:
    server.add_bars("AAPL", "1Day", daily_bars(3, 100))
    raw = data.get("/stocks/AAPL/bars", {"timeframe": "1Day", "limit": 2, "sort": "desc"})
    assert raw["symbol"] == "AAPL"
    assert [b["t"] for b in raw["bars"]] == ["2024-01-04T05:00:00Z", "2024-01-03T05:00:00Z"]
    assert raw["next_page_token"] is not None


def test_latest_quote_trade_and_snapshot(server: FakeAlpacaServer, data: StockHistoricalDataClient) -> None:
    server.set_quote("AAPL", bid=189.9, ask=190.1, bid_size=3, ask_size=4)
    server.add_bars("MSFT", "1Day", daily_bars(2, 300))
    quotes = data.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols=["AAPL", "MSFT", "NOPE"]))
    assert set(quotes) == {"AAPL", "MSFT"}
    assert (quotes["AAPL"].bid_price, quotes["AAPL"].ask_price, quotes["AAPL"].ask_size) == (189.9, 190.1, 4)
    assert quotes["MSFT"].ask_price == 301.5
    trades = data.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols="MSFT"))
    assert trades["MSFT"].price == 301.5
    snapshots = data.get_stock_snapshot(StockSnapshotRequest(symbol_or_symbols=["MSFT", "NOPE"]))
    assert set(snapshots) == {"MSFT"}
    assert (snapshots["MSFT"].daily_bar.close, snapshots["MSFT"].previous_daily_bar.close) == (301.5, 300.5)
