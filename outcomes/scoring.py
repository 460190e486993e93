"""How a decision is scored: pure functions over fills and prices (the rules of docs/outcomes.md).

Executed decisions are matched first-in first-out against every fill of the same account and symbol
up to the horizon. A decision's fills either *open* lots or *close* lots opened earlier:

* an opened lot closed again by the horizon earns its realised PnL, ``side x (exit - entry) x qty``;
* an opened lot still open at the horizon is marked to market at the horizon close;
* a fill that closed an earlier lot is scored by the move it stepped out of, ``side x (mark - price)
  x qty`` (a sell before a fall avoided that fall: positive);
* the decision pays the commissions of its own fills.

Return is PnL over the cost of the decision's own fills. Decisions that did not trade are scored by
the forward return from the next bar's open to the horizon close: a buy or sell by the move it called
(hypothetical PnL), a hold by whether it stayed out of a market that barely moved.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

ZERO = Decimal(0)
MONEY_Q = Decimal("0.0001")
RETURN_Q = Decimal("0.000001")
WIN, LOSS, FLAT = "win", "loss", "flat"
REALISED, MARK_TO_MARKET, FORWARD_RETURN = "realised", "mark_to_market", "forward_return"


@dataclass(frozen=True)
class FillRow:
    order: Hashable  # the order (so the decision) the fill belongs to
    side: str  # "buy" | "sell"
    quantity: Decimal
    price: Decimal
    commission: Decimal = ZERO

    @property
    def sign(self) -> int:
        return 1 if self.side == "buy" else -1


@dataclass(frozen=True)
class Score:
    quantity: Decimal | None
    entry_price: Decimal | None
    exit_price: Decimal | None
    pnl_amount: Decimal
    pnl_return: Decimal
    basis: str
    components: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Lot:
    order: Hashable
    quantity: Decimal  # signed
    price: Decimal


def _q(value: Decimal, quantum: Decimal) -> Decimal:
    return value.quantize(quantum, rounding=ROUND_HALF_EVEN)


def classify(pnl_return: Decimal, band: Decimal) -> str:
    """Win above +band, loss below -band, flat in between (inclusive)."""
    if pnl_return > band:
        return WIN
    if pnl_return < -band:
        return LOSS
    return FLAT


def score_trade(fills: Sequence[FillRow], order: Hashable, mark: Decimal) -> Score | None:
    """Score ``order``'s fills among all ``fills`` (time order, up to the horizon); None if it has none."""
    own = [f for f in fills if f.order == order]
    if not own:
        return None
    lots: deque[_Lot] = deque()
    realised = unrealised = avoided = ZERO
    closed_qty = open_qty = closing_qty = exit_value = ZERO
    for fill in fills:
        remaining = fill.quantity * fill.sign
        while remaining and lots and (lots[0].quantity > 0) != (remaining > 0):
            lot = lots[0]
            matched = min(abs(remaining), abs(lot.quantity))
            lot_sign = 1 if lot.quantity > 0 else -1
            if lot.order == order:  # our lot closed by a later fill: realised
                realised += lot_sign * (fill.price - lot.price) * matched
                closed_qty += matched
                exit_value += fill.price * matched
            if fill.order == order:  # our fill closed an earlier lot: the move it stepped out of
                avoided += fill.sign * (mark - fill.price) * matched
                closing_qty += matched
                exit_value += mark * matched
            lot.quantity -= lot_sign * matched
            remaining -= (1 if remaining > 0 else -1) * matched
            if not lot.quantity:
                lots.popleft()
        if remaining:
            lots.append(_Lot(fill.order, remaining, fill.price))
    for lot in lots:
        if lot.order == order:
            unrealised += (mark - lot.price) * lot.quantity
            open_qty += abs(lot.quantity)
            exit_value += mark * abs(lot.quantity)
    quantity = sum((f.quantity for f in own), ZERO)
    cost = sum((f.quantity * f.price for f in own), ZERO)
    commission = sum((f.commission for f in own), ZERO)
    pnl = realised + unrealised + avoided - commission
    basis = REALISED if closed_qty and not open_qty and not closing_qty else MARK_TO_MARKET
    return Score(
        quantity=quantity,
        entry_price=_q(cost / quantity, MONEY_Q),
        exit_price=_q(exit_value / quantity, MONEY_Q),
        pnl_amount=_q(pnl, MONEY_Q),
        pnl_return=_q(pnl / cost, RETURN_Q),
        basis=basis,
        components={
            "realised": str(_q(realised, MONEY_Q)),
            "unrealised": str(_q(unrealised, MONEY_Q)),
            "avoided": str(_q(avoided, MONEY_Q)),
            "commission": str(_q(commission, MONEY_Q)),
            "closed_by_horizon_qty": str(closed_qty),
            "open_at_horizon_qty": str(open_qty),
            "closing_qty": str(closing_qty),
            "mark": str(mark),
        },
    )


def score_not_traded(*, action: str, entry: Decimal, mark: Decimal, quantity: Decimal | None) -> Score:
    """Forward return from ``entry`` (next open) to ``mark`` (horizon close), signed by the call.

    A hold is unsigned: its return is the market's move it sat out, and it earns no money.
    """
    forward = mark / entry - 1
    sign = {"buy": 1, "sell": -1}.get(action, 0)
    pnl = sign * (mark - entry) * quantity if sign and quantity else ZERO
    return Score(
        quantity=quantity if sign else None,
        entry_price=_q(entry, MONEY_Q),
        exit_price=_q(mark, MONEY_Q),
        pnl_amount=_q(pnl, MONEY_Q),
        pnl_return=_q(sign * forward if sign else forward, RETURN_Q),
        basis=FORWARD_RETURN,
        components={"forward_return": str(_q(forward, RETURN_Q))},
    )


def status_for(action: str, score: Score, *, flat_band: Decimal, hold_band: Decimal) -> str:
    """A hold wins when the market stayed within ±hold_band; anything else by its signed return."""
    if score.basis == FORWARD_RETURN and action == "hold":
        return WIN if abs(score.pnl_return) <= hold_band else LOSS
    return classify(score.pnl_return, flat_band)
