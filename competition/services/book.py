"""An entry's book as of a day, rebuilt from its simulated broker's fills (never from later ones).

The simulated broker fills an order as soon as the next bar exists, which in a backtest is at
submission: its account row's cash may already hold tomorrow's fills. The engine therefore values
an entry from the broker's fill records dated up to the day in question, carried forward day by
day; the same view is what the entry's debates read as their account (so no debate ever sees a
fill, or a price, from after its date).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

from agents.schemas import Account, Position
from outcomes.models import Side, SimFill

ZERO = Decimal(0)
PRICE_Q = Decimal("0.0001")


@dataclass(frozen=True)
class FillRecord:
    account_id: int
    symbol: str
    side: str
    quantity: Decimal
    price: Decimal
    commission: Decimal


@dataclass
class Holding:
    quantity: Decimal
    average_price: Decimal


@dataclass
class Book:
    """Cash and holdings; ``apply`` moves them exactly as the simulated broker does."""

    cash: Decimal
    holdings: dict[str, Holding] = field(default_factory=dict)

    def apply(self, fill: FillRecord) -> None:
        signed = fill.quantity if fill.side == Side.BUY else -fill.quantity
        self.cash -= signed * fill.price + fill.commission
        held = self.holdings.get(fill.symbol)
        old = held.quantity if held else ZERO
        new = old + signed
        if new == 0:
            self.holdings.pop(fill.symbol, None)
            return
        average = held.average_price if held else fill.price
        if old == 0 or (old > 0) == (signed > 0):
            average = (abs(old) * average + abs(signed) * fill.price) / abs(new)
        elif (old > 0) != (new > 0):
            average = fill.price
        self.holdings[fill.symbol] = Holding(new, average.quantize(PRICE_Q, rounding=ROUND_HALF_EVEN))

    def quantity(self, symbol: str) -> Decimal:
        held = self.holdings.get(symbol)
        return held.quantity if held else ZERO

    def values(self, close: Callable[[str], Decimal | None]) -> dict[str, Decimal]:
        """Each holding at ``close(symbol)`` (its average price if the symbol has no close yet)."""
        return {
            symbol: held.quantity * (close(symbol) or held.average_price)
            for symbol, held in self.holdings.items()
        }

    def equity(self, close: Callable[[str], Decimal | None]) -> Decimal:
        return self.cash + sum(self.values(close).values(), ZERO)

    def gross_exposure(self, close: Callable[[str], Decimal | None]) -> Decimal:
        return sum((abs(v) for v in self.values(close).values()), ZERO)


def fills_query(
    account_ids: Iterable[int], *, through: dt.date | None = None, on: dt.date | None = None
) -> list[FillRecord]:
    """The simulated fills of ``account_ids`` dated ``on`` a day, or up to ``through``, in fill order."""
    qs = SimFill.objects.filter(order__account_id__in=list(account_ids))
    if on is not None:
        qs = qs.filter(bar_date=on)
    if through is not None:
        qs = qs.filter(bar_date__lte=through)
    rows = qs.order_by("bar_date", "id").values_list(
        "order__account_id", "order__symbol", "order__side", "quantity", "price", "commission"
    )
    return [FillRecord(a, s, side, q, p, c) for a, s, side, q, p, c in rows]


class BookAccountSource:
    """The debates' AccountSource for an entry: its book as of the debate's date, valued at closes."""

    def __init__(self, book: Book, close: Callable[[str, dt.date], Decimal | None], label: str) -> None:
        self.book = book
        self._close = close
        self.name = f"simulated:{label}"

    def account(self, *, as_of: dt.date) -> Account:
        equity = self.book.equity(lambda s: self._close(s, as_of))
        return Account(
            cash=self.book.cash, equity=equity, buying_power=max(self.book.cash, ZERO), source=self.name
        )

    def positions(self, *, as_of: dt.date) -> list[Position]:
        values = self.book.values(lambda s: self._close(s, as_of))
        return [
            Position(
                symbol=symbol,
                quantity=held.quantity,
                average_price=held.average_price,
                market_value=values[symbol].quantize(PRICE_Q, rounding=ROUND_HALF_EVEN),
            )
            for symbol, held in sorted(self.book.holdings.items())
        ]
