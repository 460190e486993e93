"""Pre-trade risk checks: pure functions of an intent draft and what the services gathered.

Every check is always evaluated and recorded (pass or fail, with its reason), so a rejected intent
says everything that was wrong with it, not just the first thing. The services gather the context
under the account's row lock, which is what makes the daily and buying-power limits hold when
several decisions for one account arrive at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from outcomes.brokers.base import SessionState
from outcomes.models import OrderType, Side, TimeInForce

ZERO = Decimal(0)


@dataclass(frozen=True)
class IntentDraft:
    symbol: str
    side: str
    quantity: Decimal
    order_type: str
    limit_price: Decimal | None
    time_in_force: str
    reference_price: Decimal | None  # close on the as-of date; None when the symbol has no price
    cost_estimate: Decimal  # notional plus slippage and commission, for buying power

    @property
    def price(self) -> Decimal | None:
        return (
            self.limit_price
            if self.order_type == OrderType.LIMIT and self.limit_price
            else self.reference_price
        )

    @property
    def notional(self) -> Decimal:
        price = self.price
        return abs(self.quantity) * price if price is not None else ZERO


@dataclass(frozen=True)
class RiskContext:
    active: bool
    kill_switch: bool
    broker_error: str  # "" when the broker can be used
    session: SessionState | None
    known_symbol: bool
    allowed_symbols: tuple[str, ...]
    max_order_notional: Decimal | None
    max_position_notional: Decimal | None
    max_daily_notional: Decimal | None
    day_notional_used: Decimal
    buying_power: Decimal | None  # after what our own not-yet-submitted intents reserve
    position_qty: Decimal
    pending_sell_qty: Decimal
    allow_short: bool
    duplicate: str  # "" or what the other open intent is


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    detail: str


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _qty(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _limit(name: str, used: Decimal, limit: Decimal | None, what: str, price: Decimal | None) -> CheckResult:
    if price is None:
        return CheckResult(name, False, "not evaluated: no price for the symbol")
    if limit is None:
        return CheckResult(name, True, f"{what} {_money(used)}; no limit set")
    ok = used <= limit
    return CheckResult(name, ok, f"{what} {_money(used)} {'<=' if ok else '>'} limit {_money(limit)}")


def evaluate(draft: IntentDraft, ctx: RiskContext) -> list[CheckResult]:
    """All checks, in a fixed order; the intent may go to a broker only if every one passed."""
    price = draft.price
    notional = draft.notional
    signed = draft.quantity if draft.side == Side.BUY else -draft.quantity
    position_after = ctx.position_qty + signed
    return [
        _kill_switch(ctx),
        CheckResult(
            "broker_ready", not ctx.broker_error, ctx.broker_error or "broker configured and reachable"
        ),
        CheckResult(
            "known_symbol",
            ctx.known_symbol,
            f"{draft.symbol} has a price on the as-of date"
            if ctx.known_symbol
            else f"unknown symbol {draft.symbol!r} (no bars on or before the as-of date)",
        ),
        _allowed(draft.symbol, ctx.allowed_symbols),
        _quantity(draft, ctx),
        _terms(draft),
        _session(ctx),
        _limit("max_order_notional", notional, ctx.max_order_notional, "order notional", price),
        _limit(
            "max_position_notional",
            abs(position_after) * price if price is not None else ZERO,
            ctx.max_position_notional,
            f"position after the order ({_qty(position_after)} shares)",
            price,
        ),
        _limit(
            "max_daily_notional",
            ctx.day_notional_used + notional,
            ctx.max_daily_notional,
            "notional approved on the day incl. this order",
            price,
        ),
        _buying_power(draft, ctx) if draft.side == Side.BUY else _position_available(draft, ctx),
        CheckResult("no_duplicate_open_intent", not ctx.duplicate, ctx.duplicate or "no other open intent"),
    ]


def _kill_switch(ctx: RiskContext) -> CheckResult:
    if ctx.kill_switch:
        return CheckResult("kill_switch", False, "kill switch is on: no new orders")
    if not ctx.active:
        return CheckResult("kill_switch", False, "account is inactive: no new orders")
    return CheckResult("kill_switch", True, "off")


def _allowed(symbol: str, allowed: tuple[str, ...]) -> CheckResult:
    if not allowed:
        return CheckResult("allowed_symbol", True, "every symbol allowed")
    ok = symbol in allowed
    return CheckResult(
        "allowed_symbol",
        ok,
        f"{symbol} {'is' if ok else 'is not'} in the allowed list ({', '.join(allowed)})",
    )


def _quantity(draft: IntentDraft, ctx: RiskContext) -> CheckResult:
    if draft.quantity > 0:
        return CheckResult("quantity_positive", True, f"{_qty(draft.quantity)} shares")
    if draft.quantity < 0:
        return CheckResult("quantity_positive", False, f"quantity {_qty(draft.quantity)} is negative")
    if draft.side == Side.SELL and not ctx.allow_short and ctx.position_qty - ctx.pending_sell_qty <= 0:
        return CheckResult(
            "quantity_positive", False, f"nothing to sell: no {draft.symbol} position and shorting is off"
        )
    return CheckResult(
        "quantity_positive", False, "quantity is zero (size x sizing buys less than one share)"
    )


def _terms(draft: IntentDraft) -> CheckResult:
    if draft.order_type not in OrderType.values:
        return CheckResult("order_terms", False, f"unknown order type {draft.order_type!r}")
    if draft.time_in_force not in TimeInForce.values:
        return CheckResult("order_terms", False, f"unknown time in force {draft.time_in_force!r}")
    if draft.order_type == OrderType.LIMIT and (draft.limit_price is None or draft.limit_price <= 0):
        return CheckResult("order_terms", False, "a limit order needs a positive limit price")
    if draft.order_type == OrderType.MARKET and draft.limit_price is not None:
        return CheckResult("order_terms", False, "a market order takes no limit price")
    return CheckResult("order_terms", True, f"{draft.order_type} {draft.time_in_force}")


def _session(ctx: RiskContext) -> CheckResult:
    if ctx.session is None:
        return CheckResult("market_hours", False, "not evaluated: broker unavailable")
    return CheckResult("market_hours", ctx.session.open, ctx.session.detail)


def _buying_power(draft: IntentDraft, ctx: RiskContext) -> CheckResult:
    if ctx.buying_power is None or draft.price is None:
        return CheckResult("buying_power", False, "not evaluated: no account state or no price")
    ok = draft.cost_estimate <= ctx.buying_power
    return CheckResult(
        "buying_power",
        ok,
        f"cost with slippage and fees {_money(draft.cost_estimate)} {'<=' if ok else '>'} "
        f"buying power {_money(ctx.buying_power)}",
    )


def _position_available(draft: IntentDraft, ctx: RiskContext) -> CheckResult:
    available = ctx.position_qty - ctx.pending_sell_qty
    if ctx.allow_short:
        return CheckResult("position_available", True, f"shorting allowed; {_qty(available)} held")
    ok = draft.quantity <= available
    return CheckResult(
        "position_available",
        ok,
        f"selling {_qty(draft.quantity)} {'<=' if ok else '>'} {_qty(max(available, ZERO))} held "
        "and not already being sold",
    )
