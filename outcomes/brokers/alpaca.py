"""AlpacaBroker: the broker interface over alpaca-py's ``TradingClient``; paper unless both switches say live.

What alpaca-py does not do for us, done here:
* a timeout on every request (debates.market.alpaca.harden_client), and a configurable retry wait;
* alpaca-py itself retries ``POST /v2/orders`` on 429/504, so a first attempt that reached Alpaca can
  come back as 422 "client_order_id must be unique": that is DuplicateClientOrderIdError, and the
  order pipeline then looks the order up by its client order id and links it;
* every failure is classified (duplicate / refused for good / try later), never leaked raw.
Fills are synced by polling the account's FILL activities (``/v2/account/activities/FILL``), which
give each execution its own id, quantity, price and time; TradingClient has no method for them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide
from alpaca.trading.enums import TimeInForce as AlpacaTimeInForce
from alpaca.trading.models import Clock, Order, Position, TradeAccount
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest
from django.conf import settings

from debates.market.alpaca import (
    NEW_YORK,
    AlpacaNotConfiguredError,
    alpaca_credentials,
    api_error_detail,
    harden_client,
    new_york_today,
)
from outcomes.brokers.base import (
    AccountState,
    BrokerConfigurationError,
    BrokerError,
    BrokerFill,
    BrokerOrderNotFoundError,
    BrokerOrderState,
    BrokerRejectedError,
    BrokerUnavailableError,
    DuplicateClientOrderIdError,
    OrderRequest,
    PositionState,
    SessionState,
)
from outcomes.models import BrokerOrderStatus, OrderType, TradingAccount

T = TypeVar("T")
M = TypeVar("M")
ZERO = Decimal(0)
DUPLICATE_CLIENT_ORDER_ID = 40010001
_ACTIVITY_PAGE = 100
# A decision about Friday's close may still trade on Monday; anything older is stale for a real broker.
FRESH_DECISION_DAYS = 4
_STATUS = {
    "filled": BrokerOrderStatus.FILLED,
    "partially_filled": BrokerOrderStatus.PARTIALLY_FILLED,
    "canceled": BrokerOrderStatus.CANCELLED,
    "replaced": BrokerOrderStatus.CANCELLED,
    "expired": BrokerOrderStatus.EXPIRED,
    "rejected": BrokerOrderStatus.REJECTED,
}


def trading_client(*, live: bool) -> TradingClient:
    """A hardened TradingClient from the environment's keys; paper unless ``live``."""
    try:
        key, secret = alpaca_credentials()
    except AlpacaNotConfiguredError as exc:
        raise BrokerConfigurationError(exc.message) from None
    client = TradingClient(
        key, secret, paper=not live, url_override=settings.ARENA_ALPACA_TRADING_URL or None
    )
    harden_client(client)
    return client


class AlpacaBroker:
    kind = "alpaca"

    def __init__(
        self, account: TradingAccount, *, live: bool = False, client: TradingClient | None = None
    ) -> None:
        self.account_id = account.pk
        self.live = live
        self.client = client or trading_client(live=live)

    def submit(self, request: OrderRequest) -> BrokerOrderState:
        common: dict[str, Any] = {
            "symbol": request.symbol,
            "qty": float(request.quantity),
            "side": OrderSide(request.side),
            "time_in_force": AlpacaTimeInForce(request.time_in_force),
            "client_order_id": request.client_order_id,
        }
        if request.order_type == OrderType.LIMIT:
            assert request.limit_price is not None  # noqa: S101 - intents guarantee it
            order_data: MarketOrderRequest | LimitOrderRequest = LimitOrderRequest(
                **common, limit_price=float(request.limit_price)
            )
        else:
            order_data = MarketOrderRequest(**common)
        order = self._call(lambda: self.client.submit_order(order_data))
        return _state(order)

    def get_by_client_order_id(self, client_order_id: str) -> BrokerOrderState | None:
        try:
            return _state(self._call(lambda: self.client.get_order_by_client_id(client_order_id)))
        except BrokerOrderNotFoundError:
            return None

    def get_order(self, broker_order_id: str) -> BrokerOrderState:
        return _state(self._call(lambda: self.client.get_order_by_id(broker_order_id)))

    def cancel(self, broker_order_id: str) -> BrokerOrderState:
        # 422 means it is no longer open (filled, expired...): its current state below says which.
        with contextlib.suppress(BrokerRejectedError):
            self._call(lambda: self.client.cancel_order_by_id(broker_order_id))
        return self.get_order(broker_order_id)

    def list_fills(self, order: BrokerOrderState) -> list[BrokerFill]:
        """The order's executions from the FILL activities since it was submitted, oldest first."""
        params: dict[str, Any] = {
            "after": (order.submitted_at - dt.timedelta(minutes=1)).isoformat(),
            "direction": "asc",
            "page_size": _ACTIVITY_PAGE,
        }
        fills: list[BrokerFill] = []
        while True:
            page = self._call(lambda: self.client.get("/account/activities/FILL", dict(params)))
            rows = page if isinstance(page, list) else []
            for row in rows:
                if str(row.get("order_id")) == order.broker_order_id:
                    filled_at = dt.datetime.fromisoformat(str(row["transaction_time"]).replace("Z", "+00:00"))
                    fills.append(
                        BrokerFill(
                            fill_id=str(row["id"]),
                            quantity=Decimal(str(row["qty"])),
                            price=Decimal(str(row["price"])),
                            commission=ZERO,  # Alpaca charges no commission on equities
                            filled_at=filled_at,
                            trade_date=filled_at.astimezone(NEW_YORK).date(),
                        )
                    )
            if len(rows) < _ACTIVITY_PAGE:
                return fills
            params["page_token"] = rows[-1]["id"]

    def account(self, *, as_of: dt.date | None = None) -> AccountState:
        """Alpaca's account now (it has no as-of view)."""
        account = _typed(self._call(self.client.get_account), TradeAccount)
        return AccountState(
            cash=Decimal(str(account.cash)),
            equity=Decimal(str(account.equity)),
            buying_power=Decimal(str(account.buying_power)),
        )

    def positions(self, *, as_of: dt.date | None = None) -> list[PositionState]:
        return [
            PositionState(
                symbol=p.symbol,
                quantity=Decimal(str(p.qty)),
                average_price=Decimal(str(p.avg_entry_price)),
                market_value=Decimal(str(p.market_value or 0)),
            )
            for p in (_typed(row, Position) for row in self._call(self.client.get_all_positions))
        ]

    def book(self, *, as_of: dt.date | None = None) -> tuple[AccountState, list[PositionState]]:
        return self.account(as_of=as_of), self.positions(as_of=as_of)

    def trading_session(self, *, symbol: str, as_of: dt.date) -> SessionState:
        """Open only while the market is, and only for a decision about the last few days' prices."""
        oldest = new_york_today() - dt.timedelta(days=FRESH_DECISION_DAYS)
        if as_of < oldest:
            return SessionState(False, f"decision as of {as_of} is stale for a real broker (before {oldest})")
        clock = _typed(self._call(self.client.get_clock), Clock)
        if not clock.is_open:
            return SessionState(False, f"market closed; next open {clock.next_open:%Y-%m-%d %H:%M %Z}")
        return SessionState(True, "market open")

    def _call(self, call: Callable[[], T]) -> T:
        try:
            return call()
        except APIError as exc:
            raise _classify(exc) from None
        except requests.RequestException as exc:
            raise BrokerUnavailableError(f"Alpaca unreachable: {type(exc).__name__}") from None


def _classify(exc: APIError) -> BrokerError:
    """Map Alpaca's answer to what the caller must do next (see brokers.base)."""
    status, code, message = api_error_detail(exc)
    text = f"Alpaca {status}: {message}"
    if status == 422 and (code == DUPLICATE_CLIENT_ORDER_ID or "client_order_id must be unique" in message):
        return DuplicateClientOrderIdError(text)
    if status == 404:
        return BrokerOrderNotFoundError(text)
    if status in (401,):
        return BrokerConfigurationError(f"Alpaca refused the API keys ({status}).")
    if status is not None and (status == 429 or status >= 500):
        return BrokerUnavailableError(text)
    if status is not None and 400 <= status < 500:
        return BrokerRejectedError(text)
    return BrokerUnavailableError(text)


def _typed(value: object, model: type[M]) -> M:
    """alpaca-py answers ``Model | dict`` (raw mode); we always use models."""
    if not isinstance(value, model):
        raise BrokerUnavailableError(f"Alpaca gave an unexpected answer ({type(value).__name__}).")
    return value


def _decimal(value: object) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def _state(order: Order | dict[str, Any]) -> BrokerOrderState:
    if isinstance(order, dict):  # raw_data clients
        order = Order(**order)
    status = order.status.value if hasattr(order.status, "value") else str(order.status)
    filled = _decimal(order.filled_qty) or ZERO
    mapped = _STATUS.get(status)
    if mapped is None:  # new, accepted, pending_new, held, done_for_day...: still open
        mapped = BrokerOrderStatus.PARTIALLY_FILLED if filled > 0 else BrokerOrderStatus.NEW
    order_type = order.type or order.order_type
    return BrokerOrderState(
        broker_order_id=str(order.id),
        client_order_id=order.client_order_id,
        symbol=str(order.symbol),
        side=order.side.value if order.side is not None else "",
        quantity=_decimal(order.qty) or ZERO,
        order_type=order_type.value if order_type is not None else "",
        limit_price=_decimal(order.limit_price),
        time_in_force=order.time_in_force.value,
        status=mapped,
        filled_qty=filled,
        filled_avg_price=_decimal(order.filled_avg_price),
        submitted_at=order.submitted_at or order.created_at,
        reason=f"alpaca status {status}" if mapped in (BrokerOrderStatus.REJECTED,) else "",
        raw=order.model_dump(mode="json"),
    )
