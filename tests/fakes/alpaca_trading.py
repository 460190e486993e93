"""In-memory brokerage ledger behind the fake Alpaca trading endpoints.

It owns orders, fills, positions and cash so a test can drive an order through its real lifecycle
(new -> partially_filled -> filled, or rejected / canceled / expired) and see the consequences in the
account and position payloads, exactly as AlpacaBroker would observe them through alpaca-py.
Not thread-safe on its own: ``FakeAlpacaServer`` serialises every call with one lock.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

from .alpaca_common import (
    AlpacaHTTPError,
    Number,
    asset_id,
    fmt_decimal,
    forbidden,
    not_found,
    parse_time,
    quantize,
    rfc3339,
    to_decimal,
    unprocessable,
)

OPEN_STATUSES = frozenset(
    {
        "new",
        "accepted",
        "pending_new",
        "partially_filled",
        "accepted_for_bidding",
        "pending_cancel",
        "pending_replace",
        "held",
        "calculated",
        "stopped",
    }
)
SUPPORTED_TYPES = frozenset({"market", "limit"})
TIME_IN_FORCE = frozenset({"day", "gtc", "opg", "cls", "ioc", "fok"})
ZERO = Decimal(0)
_CENT = Decimal("0.01")
_NANO = Decimal("0.000000001")


@dataclass
class FakeOrder:
    """One order as the ledger tracks it; ``filled_value`` keeps the VWAP exact across partial fills."""

    id: str
    client_order_id: str
    symbol: str
    side: str
    type: str
    time_in_force: str
    qty: Decimal | None
    notional: Decimal | None
    limit_price: Decimal | None
    extended_hours: bool
    order_class: str
    position_intent: str
    status: str
    created_at: datetime
    seq: int
    updated_at: datetime = field(init=False)
    filled_qty: Decimal = ZERO
    filled_value: Decimal = ZERO
    filled_at: datetime | None = None
    canceled_at: datetime | None = None
    expired_at: datetime | None = None
    failed_at: datetime | None = None
    reject_reason: str | None = None

    def __post_init__(self) -> None:
        self.updated_at = self.created_at

    @property
    def is_open(self) -> bool:
        """Open orders can still fill or be canceled; closed ones are immutable, as at Alpaca."""
        return self.status in OPEN_STATUSES

    @property
    def avg_price(self) -> Decimal | None:
        """Volume-weighted average fill price, null until the first fill (Alpaca sends null too)."""
        return self.filled_value / self.filled_qty if self.filled_qty else None

    def is_complete(self) -> bool:
        """Quantity orders complete at qty; notional orders once less than a cent of notional remains."""
        if self.qty is not None:
            return self.filled_qty >= self.qty
        return (self.notional or ZERO) - self.filled_value < _CENT

    def remaining_qty(self, price: Decimal) -> Decimal:
        """Shares still to fill; for notional orders this depends on the price of the next fill."""
        if self.qty is not None:
            return self.qty - self.filled_qty
        left = (self.notional or ZERO) - self.filled_value
        return (left / price).quantize(_NANO, rounding=ROUND_DOWN) if left > 0 else ZERO

    def to_json(self) -> dict[str, Any]:
        """The complete Order payload; every key alpaca-py's ``Order`` model knows is present."""
        return {
            "id": self.id,
            "client_order_id": self.client_order_id,
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.updated_at),
            "submitted_at": rfc3339(self.created_at),
            "filled_at": rfc3339(self.filled_at),
            "expired_at": rfc3339(self.expired_at),
            "canceled_at": rfc3339(self.canceled_at),
            "failed_at": rfc3339(self.failed_at),
            "replaced_at": None,
            "replaced_by": None,
            "replaces": None,
            "asset_id": asset_id(self.symbol),
            "symbol": self.symbol,
            "asset_class": "us_equity",
            "notional": fmt_decimal(self.notional),
            "qty": fmt_decimal(self.qty),
            "filled_qty": fmt_decimal(self.filled_qty),
            "filled_avg_price": fmt_decimal(self.avg_price),
            "order_class": self.order_class,
            "order_type": self.type,
            "type": self.type,
            "side": self.side,
            "position_intent": self.position_intent,
            "time_in_force": self.time_in_force,
            "limit_price": fmt_decimal(self.limit_price),
            "stop_price": None,
            "status": self.status,
            "extended_hours": self.extended_hours,
            "legs": None,
            "trail_percent": None,
            "trail_price": None,
            "hwm": None,
            "subtag": None,
            "source": None,
            "expires_at": None,
        }


@dataclass
class FakePosition:
    """Signed quantity (negative = short) and average entry price for one symbol."""

    symbol: str
    qty: Decimal
    avg_entry_price: Decimal


def _choice(body: Mapping[str, Any], key: str, allowed: Iterable[str]) -> str:
    """Validate an enum-like field and phrase the 422 the way Alpaca's messages read."""
    value = body.get(key)
    if value is None:
        raise unprocessable(f"{key} is required")
    if str(value) not in allowed:
        raise unprocessable(f"invalid {key}: {value!r}")
    return str(value)


def int_param(query: Mapping[str, str], key: str, default: int, low: int, high: int) -> int:
    """Parse an integer query parameter, rejecting garbage and clamping to Alpaca's documented maximum."""
    raw = query.get(key)
    if raw in (None, ""):
        return default
    try:
        value = int(str(raw))
    except ValueError as exc:
        raise unprocessable(f"invalid {key}: {raw!r}") from exc
    if value < low:
        raise unprocessable(f"{key} must be >= {low}")
    return min(value, high)


def _direction(query: Mapping[str, str]) -> str:
    """Alpaca's list endpoints default to newest first."""
    direction = query.get("direction") or "desc"
    if direction not in {"asc", "desc"}:
        raise unprocessable(f"invalid direction: {direction!r}")
    return direction


def _optional_time(query: Mapping[str, str], key: str) -> datetime | None:
    """Parse an optional timestamp bound; absent or empty means unbounded."""
    raw = query.get(key)
    return parse_time(raw, key) if raw else None


class TradingLedger:
    """Orders, fills, positions and cash of one paper account."""

    def __init__(self, cash: Decimal, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.cash = cash
        self.last_equity = cash
        self.account_id = str(uuid.uuid4())
        self.account_number = "PA" + str(uuid.uuid4().int)[:10]
        self.created_at = clock()
        self.orders: dict[str, FakeOrder] = {}
        self.positions: dict[str, FakePosition] = {}
        self.marks: dict[str, Decimal] = {}
        self.lastday: dict[str, Decimal] = {}
        self.fills: list[tuple[datetime, dict[str, Any]]] = []
        self.allow_short = False
        self.initial_status = "new"
        self._by_client: dict[str, str] = {}
        self._seq = itertools.count()

    # ------------------------------------------------------------------ lookups

    def find(self, ref: str) -> FakeOrder:
        """Resolve an order id or client_order_id; tests use whichever they have at hand."""
        order_id = ref if ref in self.orders else self._by_client.get(ref)
        if order_id is None:
            raise KeyError(f"no order with id or client_order_id {ref!r}")
        return self.orders[order_id]

    def order_by_id(self, order_id: str) -> FakeOrder:
        """HTTP lookup by server id: unknown ids are Alpaca's 404."""
        order = self.orders.get(order_id)
        if order is None:
            raise not_found(f"order not found for {order_id}")
        return order

    def order_by_client_id(self, client_order_id: str) -> FakeOrder:
        """HTTP lookup by client_order_id: unknown ids are Alpaca's 404."""
        order_id = self._by_client.get(client_order_id)
        if order_id is None:
            raise not_found(f"order not found for client_order_id {client_order_id}")
        return self.orders[order_id]

    # ------------------------------------------------------------------ submit

    def submit(self, body: Mapping[str, Any], auto_fill_price: Decimal | None) -> FakeOrder:
        """POST /v2/orders: validate like Alpaca, enforce client_order_id uniqueness, maybe fill at once."""
        order = self._parse_order(body)
        self._check_affordable(order, auto_fill_price)
        self.orders[order.id] = order
        self._by_client[order.client_order_id] = order.id
        if auto_fill_price is not None and order.type == "market":
            self._apply_fill(order, order.remaining_qty(auto_fill_price), auto_fill_price)
        return order

    def _parse_order(self, body: Mapping[str, Any]) -> FakeOrder:
        """Turn the request JSON into a FakeOrder, raising the 422s Alpaca would raise."""
        symbol = str(body.get("symbol") or "").upper()
        if not symbol:
            raise unprocessable("symbol is required")
        side = _choice(body, "side", {"buy", "sell"})
        order_type = _choice(body, "type", SUPPORTED_TYPES)
        tif = _choice(body, "time_in_force", TIME_IN_FORCE)
        order_class = str(body.get("order_class") or "")
        if order_class not in {"", "simple"}:
            raise unprocessable(f"order_class {order_class!r} is not supported by the fake")
        qty, notional = self._parse_amount(body, order_type, tif)
        now = self.clock()
        return FakeOrder(
            id=str(uuid.uuid4()),
            client_order_id=self._parse_client_order_id(body),
            symbol=symbol,
            side=side,
            type=order_type,
            time_in_force=tif,
            qty=qty,
            notional=notional,
            limit_price=self._parse_limit_price(body, order_type),
            extended_hours=bool(body.get("extended_hours", False)),
            order_class=order_class,
            position_intent=self._position_intent(symbol, side),
            status=self.initial_status,
            created_at=now,
            seq=next(self._seq),
        )

    @staticmethod
    def _parse_amount(
        body: Mapping[str, Any], order_type: str, tif: str
    ) -> tuple[Decimal | None, Decimal | None]:
        """Exactly one of qty / notional; fractional and notional orders must be DAY, as at Alpaca."""
        raw_qty, raw_notional = body.get("qty"), body.get("notional")
        if raw_qty is None and raw_notional is None:
            raise unprocessable("qty or notional is required")
        if raw_qty is not None and raw_notional is not None:
            raise unprocessable("only one of qty or notional may be specified")
        name = "qty" if raw_qty is not None else "notional"
        raw: Any = raw_qty if raw_qty is not None else raw_notional  # exactly one is set (checked above)
        amount = to_decimal(raw, name)
        if amount <= 0:
            raise unprocessable(f"{name} must be > 0")
        fractional = raw_notional is not None or amount != amount.to_integral_value()
        if fractional and tif != "day":
            raise AlpacaHTTPError(422, 42210000, "fractional orders must be DAY orders")
        if raw_notional is not None and order_type != "market":
            raise unprocessable("notional orders are only supported for market orders by the fake")
        return (amount, None) if raw_qty is not None else (None, amount)

    @staticmethod
    def _parse_limit_price(body: Mapping[str, Any], order_type: str) -> Decimal | None:
        """Limit orders need a positive limit_price; market orders must not carry one."""
        raw = body.get("limit_price")
        if order_type == "market":
            if raw is not None:
                raise unprocessable("limit_price must not be set for market orders")
            return None
        if raw is None:
            raise unprocessable("limit_price is required for limit orders")
        price = to_decimal(raw, "limit_price")
        if price <= 0:
            raise unprocessable("limit_price must be > 0")
        return price

    def _parse_client_order_id(self, body: Mapping[str, Any]) -> str:
        """Alpaca generates a UUID when absent and rejects duplicates with 422 / 40010001."""
        client_order_id = str(body.get("client_order_id") or uuid.uuid4())
        if len(client_order_id) > 128:
            raise unprocessable("client_order_id must be no more than 128 characters")
        if client_order_id in self._by_client:
            raise unprocessable("client_order_id must be unique")
        return client_order_id

    def _position_intent(self, symbol: str, side: str) -> str:
        """Mirror Alpaca's inferred intent: closing if it reduces the current position, else opening."""
        held = self.positions[symbol].qty if symbol in self.positions else ZERO
        if side == "buy":
            return "buy_to_close" if held < 0 else "buy_to_open"
        return "sell_to_close" if held > 0 else "sell_to_open"

    # ------------------------------------------------------------------ risk checks

    def _check_affordable(self, order: FakeOrder, auto_fill_price: Decimal | None) -> None:
        """403 on insufficient buying power (buys) or insufficient qty (sells), when a price is knowable."""
        price = order.limit_price or auto_fill_price or self.marks.get(order.symbol)
        if order.side == "buy":
            cost = order.notional if order.notional is not None else None
            if cost is None and price is not None and order.qty is not None:
                cost = order.qty * price
            if cost is not None and cost > self.buying_power():
                raise forbidden("insufficient buying power")
            return
        requested = order.qty
        if requested is None and price is not None and order.notional is not None:
            requested = order.notional / price
        if requested is not None:
            self._check_sell_qty(order.symbol, requested)

    def _check_sell_qty(self, symbol: str, requested: Decimal) -> None:
        """Alpaca will not flip long->short in one order, and only shorts when shorting is enabled."""
        held = max(self.positions[symbol].qty, ZERO) if symbol in self.positions else ZERO
        available = held - self._open_sell_qty(symbol)
        if (held > 0 or not self.allow_short) and requested > available:
            raise forbidden(
                "insufficient qty available for order "
                f"(requested: {fmt_decimal(requested)}, available: {fmt_decimal(max(available, ZERO))})"
            )

    def _open_sell_qty(self, symbol: str) -> Decimal:
        """Shares already promised to open sell orders (Alpaca's held_for_orders)."""
        held = ZERO
        for order in self.orders.values():
            if order.is_open and order.side == "sell" and order.symbol == symbol and order.qty is not None:
                held += order.qty - order.filled_qty
        return held

    def buying_power(self) -> Decimal:
        """Cash minus what open buy orders with a known price have reserved (cash account, multiplier 1)."""
        reserved = ZERO
        for order in self.orders.values():
            if not order.is_open or order.side != "buy":
                continue
            if order.notional is not None:
                reserved += order.notional - order.filled_value
                continue
            price = order.limit_price or self.marks.get(order.symbol)
            if price is not None and order.qty is not None:
                reserved += (order.qty - order.filled_qty) * price
        return max(self.cash - reserved, ZERO)

    # ------------------------------------------------------------------ lifecycle (test-driven)

    def fill(self, ref: str, qty: Number | None, price: Number | None) -> FakeOrder:
        """Execute (part of) an open order; ``qty=None`` fills the remainder."""
        order = self.find(ref)
        if not order.is_open:
            raise ValueError(f"order {order.id} is {order.status}; only open orders can fill")
        fill_price = self._resolve_fill_price(order, price)
        fill_qty = order.remaining_qty(fill_price) if qty is None else to_decimal(qty, "qty")
        if fill_qty <= 0:
            raise ValueError(f"fill qty must be > 0, got {fill_qty}")
        if order.qty is not None and fill_qty > order.remaining_qty(fill_price):
            raise ValueError(f"fill qty {fill_qty} exceeds remaining {order.remaining_qty(fill_price)}")
        if order.notional is not None and fill_qty * fill_price > order.notional - order.filled_value + _CENT:
            raise ValueError("fill exceeds the order's remaining notional")
        self._apply_fill(order, fill_qty, fill_price)
        return order

    def _resolve_fill_price(self, order: FakeOrder, price: Number | None) -> Decimal:
        """Explicit price, else the limit price, else the symbol's mark; never worse than the limit."""
        if price is not None:
            resolved = to_decimal(price, "price")
        elif order.limit_price is not None:
            resolved = order.limit_price
        elif order.symbol in self.marks:
            resolved = self.marks[order.symbol]
        else:
            raise ValueError(f"no price given and no mark for {order.symbol}; pass price=")
        if resolved <= 0:
            raise ValueError("fill price must be > 0")
        limit = order.limit_price
        if limit is not None and (resolved > limit if order.side == "buy" else resolved < limit):
            raise ValueError(f"fill price {resolved} violates the {order.side} limit {limit}")
        return resolved

    def _apply_fill(self, order: FakeOrder, qty: Decimal, price: Decimal) -> None:
        """Book one execution: order progress, cash, position, mark and a FILL activity."""
        now = self.clock()
        order.filled_qty += qty
        order.filled_value += qty * price
        order.updated_at = now
        if order.is_complete():
            order.status, order.filled_at = "filled", now
        else:
            order.status = "partially_filled"
        signed = qty if order.side == "buy" else -qty
        self.cash = quantize(self.cash - signed * price)
        self._move_position(order.symbol, signed, price)
        self.marks[order.symbol] = price
        self.fills.append((now, self._fill_activity(order, qty, price, now)))

    def _fill_activity(self, order: FakeOrder, qty: Decimal, price: Decimal, now: datetime) -> dict[str, Any]:
        """An Alpaca FILL activity; ids sort by time, which Alpaca's page_token relies on."""
        leaves = ZERO if order.status == "filled" else order.remaining_qty(price)
        return {
            "id": f"{now:%Y%m%d%H%M%S%f}::{uuid.uuid4()}",
            "account_id": self.account_id,
            "activity_type": "FILL",
            "transaction_time": rfc3339(now),
            "type": "fill" if order.status == "filled" else "partial_fill",
            "price": fmt_decimal(price),
            "qty": fmt_decimal(qty),
            "side": order.side,
            "symbol": order.symbol,
            "leaves_qty": fmt_decimal(leaves),
            "order_id": order.id,
            "cum_qty": fmt_decimal(order.filled_qty),
            "order_status": order.status,
        }

    def _move_position(self, symbol: str, delta: Decimal, price: Decimal) -> None:
        """Adding re-weights the average entry; reducing keeps it; flipping restarts it at the fill price."""
        current = self.positions.get(symbol)
        old = current.qty if current else ZERO
        avg = current.avg_entry_price if current else price
        new = old + delta
        if new == 0:
            self.positions.pop(symbol, None)
            return
        if old == 0 or (old > 0) == (delta > 0):
            avg = (abs(old) * avg + abs(delta) * price) / abs(new)
        elif (old > 0) != (new > 0):
            avg = price
        self.positions[symbol] = FakePosition(symbol, new, quantize(avg))

    def close(self, ref: str, status: str, reason: str | None = None) -> FakeOrder:
        """Reject / expire / cancel an open order from the test side; filled quantity is kept."""
        order = self.find(ref)
        if not order.is_open:
            raise ValueError(f"order {order.id} is already {order.status}")
        if status == "rejected" and order.filled_qty > 0:
            raise ValueError("an order with fills cannot be rejected; cancel or expire it instead")
        self._close(order, status)
        order.reject_reason = reason
        return order

    def _close(self, order: FakeOrder, status: str) -> None:
        now = self.clock()
        order.status, order.updated_at = status, now
        if status == "canceled":
            order.canceled_at = now
        elif status == "expired":
            order.expired_at = now
        elif status == "rejected":
            order.failed_at = now

    def set_position(self, symbol: str, qty: Number, avg_entry_price: Number) -> None:
        """Seed a pre-existing position without touching cash (e.g. for reconciliation tests)."""
        amount = to_decimal(qty, "qty")
        if amount == 0:
            self.positions.pop(symbol.upper(), None)
            return
        self.positions[symbol.upper()] = FakePosition(symbol.upper(), amount, to_decimal(avg_entry_price))

    # ------------------------------------------------------------------ HTTP views

    def cancel(self, order_id: str) -> None:
        """DELETE /v2/orders/{id}: 404 if unknown, 422 if it is no longer open."""
        order = self.order_by_id(order_id)
        if not order.is_open:
            raise AlpacaHTTPError(422, 42210000, f'order is already in "{order.status}" state')
        self._close(order, "canceled")

    def cancel_all(self) -> list[dict[str, Any]]:
        """DELETE /v2/orders: the per-order 207 multi-status list alpaca-py parses."""
        results = []
        for order in [o for o in self.orders.values() if o.is_open]:
            self._close(order, "canceled")
            results.append({"id": order.id, "status": 200, "body": order.to_json()})
        return results

    def list_orders(self, query: Mapping[str, str]) -> list[dict[str, Any]]:
        """GET /v2/orders with Alpaca's status/limit/after/until/direction/symbols/side filters."""
        status = query.get("status") or "open"
        if status not in {"open", "closed", "all"}:
            raise unprocessable(f"invalid status: {status!r}")
        limit = int_param(query, "limit", 50, 1, 500)
        after, until = _optional_time(query, "after"), _optional_time(query, "until")
        symbols = {s.strip().upper() for s in (query.get("symbols") or "").split(",") if s.strip()}
        side = query.get("side")
        picked = [
            o
            for o in sorted(self.orders.values(), key=lambda o: o.seq)
            if (status == "all" or o.is_open == (status == "open"))
            and (after is None or o.created_at > after)
            and (until is None or o.created_at < until)
            and (not symbols or o.symbol in symbols)
            and (not side or o.side == side)
        ]
        if _direction(query) == "desc":
            picked.reverse()
        return [o.to_json() for o in picked[:limit]]

    def fill_activities(self, query: Mapping[str, str]) -> list[dict[str, Any]]:
        """GET /v2/account/activities/FILL with date/after/until/direction/page_size/page_token."""
        after, until = _optional_time(query, "after"), _optional_time(query, "until")
        on_date = parse_time(query["date"], "date").date() if query.get("date") else None
        page_size = int_param(query, "page_size", 100, 1, 100)
        rows = [
            activity
            for moment, activity in self.fills
            if (after is None or moment > after)
            and (until is None or moment < until)
            and (on_date is None or moment.date() == on_date)
        ]
        if _direction(query) == "desc":
            rows.reverse()
        token = query.get("page_token")
        if token:
            ids = [a["id"] for a in rows]
            rows = rows[ids.index(token) + 1 :] if token in ids else []
        return rows[:page_size]

    def position_json(self, position: FakePosition) -> dict[str, Any]:
        """A full Position payload, valued at the last fill / ``set_mark`` price."""
        current = self.marks.get(position.symbol, position.avg_entry_price)
        lastday = self.lastday.get(position.symbol, current)
        qty, avg = position.qty, position.avg_entry_price
        market_value, cost_basis = qty * current, qty * avg
        unrealized = market_value - cost_basis
        intraday = (current - lastday) * qty
        return {
            "asset_id": asset_id(position.symbol),
            "symbol": position.symbol,
            "exchange": "NASDAQ",
            "asset_class": "us_equity",
            "asset_marginable": True,
            "avg_entry_price": fmt_decimal(avg),
            "qty": fmt_decimal(qty),
            "qty_available": fmt_decimal(qty - self._open_sell_qty(position.symbol) if qty > 0 else qty),
            "side": "long" if qty > 0 else "short",
            "market_value": fmt_decimal(market_value),
            "cost_basis": fmt_decimal(cost_basis),
            "unrealized_pl": fmt_decimal(unrealized),
            "unrealized_plpc": fmt_decimal(unrealized / abs(cost_basis) if cost_basis else ZERO),
            "unrealized_intraday_pl": fmt_decimal(intraday),
            "unrealized_intraday_plpc": fmt_decimal(intraday / abs(lastday * qty) if lastday else ZERO),
            "current_price": fmt_decimal(current),
            "lastday_price": fmt_decimal(lastday),
            "change_today": fmt_decimal((current - lastday) / lastday if lastday else ZERO),
        }

    def open_position(self, symbol: str) -> dict[str, Any]:
        """GET /v2/positions/{symbol}: Alpaca's 404 when nothing is held."""
        position = self.positions.get(symbol.upper())
        if position is None:
            raise not_found("position does not exist")
        return self.position_json(position)

    def account_json(self) -> dict[str, Any]:
        """A complete TradeAccount payload derived from cash and marked-to-market positions."""
        long_value = sum((p.qty * self._mark(p) for p in self.positions.values() if p.qty > 0), ZERO)
        short_value = sum((p.qty * self._mark(p) for p in self.positions.values() if p.qty < 0), ZERO)
        equity = self.cash + long_value + short_value
        power = fmt_decimal(self.buying_power())
        return {
            "id": self.account_id,
            "account_number": self.account_number,
            "status": "ACTIVE",
            "crypto_status": "ACTIVE",
            "currency": "USD",
            "buying_power": power,
            "regt_buying_power": power,
            "daytrading_buying_power": "0",
            "non_marginable_buying_power": power,
            "options_buying_power": power,
            "cash": fmt_decimal(self.cash),
            "accrued_fees": "0",
            "pending_transfer_in": "0",
            "pending_transfer_out": "0",
            "portfolio_value": fmt_decimal(equity),
            "equity": fmt_decimal(equity),
            "last_equity": fmt_decimal(self.last_equity),
            "long_market_value": fmt_decimal(long_value),
            "short_market_value": fmt_decimal(short_value),
            "initial_margin": "0",
            "maintenance_margin": "0",
            "last_maintenance_margin": "0",
            "sma": "0",
            "daytrade_count": 0,
            "multiplier": "1",
            "shorting_enabled": self.allow_short,
            "pattern_day_trader": False,
            "trading_blocked": False,
            "transfers_blocked": False,
            "account_blocked": False,
            "trade_suspended_by_user": False,
            "created_at": rfc3339(self.created_at),
            "options_approved_level": 0,
            "options_trading_level": 0,
            "balance_asof": self.clock().date().isoformat(),
        }

    def _mark(self, position: FakePosition) -> Decimal:
        return self.marks.get(position.symbol, position.avg_entry_price)
