"""The one broker interface: submit, get by client order id, cancel, list fills, account, positions.

Brokers speak in these plain dataclasses, never in our models, so the order pipeline
(outcomes.services) is the same whether the broker is the simulated one or Alpaca. Errors are
classified by what the caller must do next:

* DuplicateClientOrderIdError - the broker already has an order with this id: look it up, link it.
* BrokerRejectedError - the broker refused the order for good (e.g. buying power): record why.
* BrokerUnavailableError - timeout, 5xx, 429 after retries: the order may or may not exist, retry
  later (a retry looks the order up by its client order id before sending anything again).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar, Protocol

from rest_framework import status

from arena_project.errors import ArenaError


class BrokerError(ArenaError):
    code = "broker_error"
    http_status: ClassVar[int] = status.HTTP_502_BAD_GATEWAY


class DuplicateClientOrderIdError(BrokerError):
    code = "duplicate_client_order_id"
    http_status = status.HTTP_409_CONFLICT


class BrokerRejectedError(BrokerError):
    code = "broker_rejected"
    http_status = status.HTTP_409_CONFLICT


class BrokerUnavailableError(BrokerError):
    code = "broker_unavailable"
    http_status = status.HTTP_503_SERVICE_UNAVAILABLE


class BrokerConfigurationError(BrokerError):
    """Missing keys or an impossible setting: nothing is sent until an operator fixes it."""

    code = "broker_not_configured"
    http_status = status.HTTP_409_CONFLICT


class LiveTradingRefusedError(BrokerConfigurationError):
    code = "live_trading_refused"


class BrokerOrderNotFoundError(BrokerError):
    code = "broker_order_not_found"
    http_status = status.HTTP_404_NOT_FOUND


@dataclass(frozen=True)
class OrderRequest:
    client_order_id: str
    symbol: str
    side: str  # "buy" | "sell"
    quantity: Decimal
    order_type: str  # "market" | "limit"
    limit_price: Decimal | None
    time_in_force: str  # "day" | "gtc"
    as_of: dt.date
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BrokerOrderState:
    """An order as the broker reports it; ``status`` is a BrokerOrderStatus value."""

    broker_order_id: str
    client_order_id: str
    symbol: str
    side: str
    quantity: Decimal
    order_type: str
    limit_price: Decimal | None
    time_in_force: str
    status: str
    filled_qty: Decimal
    filled_avg_price: Decimal | None
    submitted_at: dt.datetime
    reason: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BrokerFill:
    fill_id: str
    quantity: Decimal
    price: Decimal
    commission: Decimal
    filled_at: dt.datetime
    trade_date: dt.date


@dataclass(frozen=True)
class AccountState:
    cash: Decimal
    equity: Decimal
    buying_power: Decimal


@dataclass(frozen=True)
class PositionState:
    symbol: str
    quantity: Decimal  # signed: negative is short
    average_price: Decimal
    market_value: Decimal


@dataclass(frozen=True)
class SessionState:
    """Whether an order for ``symbol`` decided as of a date may go out now, and why (market hours)."""

    open: bool
    detail: str


class Broker(Protocol):
    kind: str

    def submit(self, request: OrderRequest) -> BrokerOrderState: ...

    def get_by_client_order_id(self, client_order_id: str) -> BrokerOrderState | None: ...

    def get_order(self, broker_order_id: str) -> BrokerOrderState: ...

    def cancel(self, broker_order_id: str) -> BrokerOrderState: ...

    def list_fills(self, order: BrokerOrderState) -> list[BrokerFill]: ...

    def account(self, *, as_of: dt.date | None = None) -> AccountState: ...

    def positions(self, *, as_of: dt.date | None = None) -> list[PositionState]: ...

    def book(self, *, as_of: dt.date | None = None) -> tuple[AccountState, list[PositionState]]:
        """Account and positions together (one round trip where the broker allows it)."""
        ...

    def trading_session(self, *, symbol: str, as_of: dt.date) -> SessionState: ...
