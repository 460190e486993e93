"""SimulatedBroker: a deterministic paper broker that executes against the bars table.

Rules (docs/outcomes.md):
* an order placed as of day D never fills on D: market orders fill at the open of the first bar
  after D; limit orders when a later bar crosses the limit (at the open if it gaps through);
* slippage moves the fill price against the trader by ``slippage_bps`` (never past a limit);
  commission is ``commission_per_order`` on the first fill plus ``commission_bps`` of each fill;
* ``max_bar_participation`` caps each fill at that fraction of the bar's volume (partial fills);
  a DAY order that is not complete after its one bar expires with what it filled, a GTC order waits;
* a buy never spends more cash than the book has: it fills what the cash allows.

Orders are matched lazily: whenever the broker is asked about an account, its open orders are first
advanced over the bars that appeared since they were last looked at, so the result depends only on
the bars, never on when or how often it is asked. Its records (SimOrder, SimFill, SimPosition and the
account's cash) are the broker's side; our view of them lives in BrokerOrder and Fill.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

from django.db import IntegrityError, transaction
from django.db.models import F, OuterRef, Subquery
from django.utils import timezone

from debates.models import Bar, Instrument, Timeframe
from debates.selectors import daily_bars
from outcomes.brokers.base import (
    AccountState,
    BrokerFill,
    BrokerOrderNotFoundError,
    BrokerOrderState,
    BrokerRejectedError,
    DuplicateClientOrderIdError,
    OrderRequest,
    PositionState,
    SessionState,
)
from outcomes.models import (
    OPEN_ORDER_STATUSES,
    BrokerOrderStatus,
    OrderType,
    Side,
    SimFill,
    SimOrder,
    SimPosition,
    TimeInForce,
    TradingAccount,
)

PRICE_Q = Decimal("0.0001")
ZERO = Decimal(0)
BPS = Decimal(10_000)


def price_round(value: Decimal) -> Decimal:
    """A price or amount as the broker records it: 4 decimals, banker's rounding."""
    return value.quantize(PRICE_Q, rounding=ROUND_HALF_EVEN)


def match_price(account: TradingAccount, order: SimOrder, bar: Bar) -> Decimal | None:
    """The price ``order`` fills at on ``bar``, slippage included, or None when the bar does not
    reach its limit: a market order at the open; a limit order at the open if the bar gaps through
    its limit, else at the limit, slipped but never past it.

    Public so that a batch placing many orders in memory (outcomes.services.batches) matches them
    exactly as this broker does."""
    slip = account.slippage_bps / BPS
    buy = order.side == Side.BUY
    if order.order_type == OrderType.MARKET:
        return price_round(bar.open * (1 + slip if buy else 1 - slip))
    limit = order.limit_price
    assert limit is not None  # noqa: S101 - a limit order always has one (validated on submit)
    if buy and bar.low <= limit:
        return min(price_round(min(bar.open, limit) * (1 + slip)), limit)
    if not buy and bar.high >= limit:
        return max(price_round(max(bar.open, limit) * (1 - slip)), limit)
    return None


@dataclass(frozen=True)
class FillTerms:
    """One fill of an order on a bar, as :func:`fill_terms` works it out."""

    quantity: Decimal  # zero or less: nothing fills
    commission: Decimal
    cash_short: bool  # the cash cut a buy short ("insufficient cash at the fill")


def fill_terms(
    account: TradingAccount, order: SimOrder, bar: Bar, price: Decimal, *, cash: Decimal
) -> FillTerms:
    """How much of ``order`` fills on ``bar`` at ``price``, and its commission: what is left of the
    order, capped at ``max_bar_participation`` of the bar's volume and, for a buy, at what ``cash``
    pays for (commission included); ``commission_per_order`` on the first fill plus
    ``commission_bps`` of each fill.

    Public, with :func:`fill_record`, so that the batch in outcomes.services.batches (which keeps
    the cash in memory) fills exactly as this broker does."""
    quantity = order.quantity - order.filled_qty
    if account.max_bar_participation is not None:
        cap = (Decimal(bar.volume) * account.max_bar_participation).to_integral_value(ROUND_DOWN)
        quantity = min(quantity, cap)
    fixed = account.commission_per_order if order.filled_qty == 0 else ZERO
    rate = account.commission_bps / BPS
    cash_short = False
    if order.side == Side.BUY:
        affordable = ((cash - fixed) / (price * (1 + rate))).to_integral_value(ROUND_DOWN)
        if affordable < quantity:
            quantity, cash_short = max(affordable, ZERO), True
    return FillTerms(quantity, price_round(fixed + quantity * price * rate), cash_short)


def fill_record(order: SimOrder, quantity: Decimal, price: Decimal) -> None:
    """Move the order's filled quantity, average fill price and status by one fill (in memory)."""
    order.filled_avg_price = price_round(
        ((order.filled_avg_price or ZERO) * order.filled_qty + quantity * price)
        / (order.filled_qty + quantity)
    )
    order.filled_qty += quantity
    order.status = (
        BrokerOrderStatus.FILLED if order.filled_qty >= order.quantity else BrokerOrderStatus.PARTIALLY_FILLED
    )


def moved_average(old: Decimal, average: Decimal, delta: Decimal, price: Decimal) -> Decimal:
    """Average entry price after ``delta`` shares at ``price``: adding re-weights it, reducing keeps
    it, flipping from long to short (or back) restarts it at the fill price."""
    new = old + delta
    if new == 0:
        return ZERO
    if old == 0 or (old > 0) == (delta > 0):
        return (abs(old) * average + abs(delta) * price) / abs(new)
    if (old > 0) != (new > 0):
        return price
    return average


def book_as_of(account: TradingAccount, as_of: dt.date) -> tuple[Decimal, dict[str, tuple[Decimal, Decimal]]]:
    """The simulated book as it stood after the bar of ``as_of``: (cash, {symbol: (qty, average)}).

    Replayed from the fills, so a debate dated in the past never sees positions bought after it.
    """
    return books_as_of(account, [as_of])[as_of]


def books_as_of(
    account: TradingAccount, as_ofs: Iterable[dt.date]
) -> dict[dt.date, tuple[Decimal, dict[str, tuple[Decimal, Decimal]]]]:
    """:func:`book_as_of` for each of several dates (a batch of debates), from one read of the fills:
    they are replayed once, in date order, and the book is taken as it stands after each date."""
    dates = sorted(set(as_ofs))
    books: dict[dt.date, tuple[Decimal, dict[str, tuple[Decimal, Decimal]]]] = {}
    if not dates:
        return books
    cash = account.starting_cash
    held: dict[str, tuple[Decimal, Decimal]] = {}

    def taken() -> tuple[Decimal, dict[str, tuple[Decimal, Decimal]]]:
        return cash, {s: (q, price_round(a)) for s, (q, a) in held.items() if q != 0}

    pending = iter(dates)
    upcoming = next(pending, None)
    fills = SimFill.objects.filter(order__account=account, bar_date__lte=dates[-1]).order_by("bar_date", "id")
    for symbol, side, quantity, price, commission, bar_date in fills.values_list(
        "order__symbol", "order__side", "quantity", "price", "commission", "bar_date"
    ):
        while upcoming is not None and upcoming < bar_date:
            books[upcoming] = taken()
            upcoming = next(pending, None)
        delta = quantity if side == Side.BUY else -quantity
        cash -= delta * price + commission
        old, average = held.get(symbol, (ZERO, ZERO))
        held[symbol] = (old + delta, moved_average(old, average, delta, price))
    while upcoming is not None:
        books[upcoming] = taken()
        upcoming = next(pending, None)
    return books


def last_closes(
    symbols: Iterable[str], as_ofs: Iterable[dt.date | None]
) -> dict[tuple[str, dt.date | None], Decimal | None]:
    """:func:`last_close` of each symbol as of each date (None: the latest), in one query with one
    column per date, and none at all without symbols."""
    dates = list(dict.fromkeys(as_ofs))
    wanted = sorted(set(symbols))
    if not dates or not wanted:
        return {}
    columns = {}
    for i, as_of in enumerate(dates):
        bars = Bar.objects.filter(instrument=OuterRef("pk"), timeframe=Timeframe.DAY)
        if as_of is not None:
            bars = bars.filter(date__lte=as_of)
        columns[f"close_{i}"] = Subquery(bars.order_by("-date").values("close")[:1])
    rows = Instrument.objects.filter(symbol__in=wanted).order_by().annotate(**columns)
    found = {row.symbol: row for row in rows}
    return {
        (symbol, as_of): getattr(found[symbol], f"close_{i}") if symbol in found else None
        for symbol in wanted
        for i, as_of in enumerate(dates)
    }


def simulated_session(symbol: str, as_of: dt.date, *, traded: bool) -> SessionState:
    """The simulated clock's answer for a decision on ``symbol`` dated ``as_of``, given whether that
    day has a bar (public: the trade hook knows it from the bar it reads for the reference price)."""
    if traded:
        return SessionState(True, f"{as_of} is a trading day for {symbol}; the order fills from the next bar")
    return SessionState(False, f"no {symbol} bar on {as_of}: not a trading day on the simulated clock")


def last_close(symbol: str, as_of: dt.date | None) -> Decimal | None:
    """The close of the last daily bar on or before ``as_of`` (the latest bar when None)."""
    bars = daily_bars(symbol)
    if as_of is not None:
        bars = bars.filter(date__lte=as_of)
    return bars.order_by("-date").values_list("close", flat=True).first()


def sim_order_for(account: TradingAccount, request: OrderRequest) -> SimOrder:
    """The (unsaved) simulated order for ``request``: the broker's and the batched backtest's."""
    return SimOrder(
        account=account,
        client_order_id=request.client_order_id,
        symbol=request.symbol,
        side=request.side,
        quantity=request.quantity,
        order_type=request.order_type,
        limit_price=request.limit_price,
        time_in_force=request.time_in_force,
        as_of=request.as_of,
        metadata=request.metadata,
    )


def order_refusal_check(
    account: TradingAccount,
    request: OrderRequest,
    *,
    close: Callable[[str, dt.date], Decimal | None],
    available_cash: Callable[[], Decimal],
    sellable_qty: Callable[[str], Decimal],
) -> None:
    """The broker's own refusals (a broker checks again whatever our risk checks said); raises
    :class:`BrokerRejectedError`. The book is read through the callables, only when a rule needs
    it, so the broker (over the database) and the batched backtest (over its in-memory book) share
    one set of rules."""
    if request.quantity <= 0:
        raise BrokerRejectedError(f"qty must be > 0, got {request.quantity}")
    if (request.order_type == OrderType.LIMIT) != (request.limit_price is not None):
        raise BrokerRejectedError("limit_price is required for limit orders and only for them")
    if request.limit_price is not None and request.limit_price <= 0:
        raise BrokerRejectedError("limit_price must be > 0")
    reference = request.limit_price or close(request.symbol, request.as_of)
    if reference is None:
        raise BrokerRejectedError(f"unknown symbol or no price: {request.symbol}")
    if request.side == Side.BUY:
        estimate = request.quantity * reference * (1 + account.slippage_bps / BPS)
        estimate += account.commission_per_order + estimate * account.commission_bps / BPS
        available = available_cash()
        if estimate > available:
            raise BrokerRejectedError(
                f"insufficient buying power (needs {estimate:.2f}, has {max(available, ZERO):.2f})"
            )
    elif not account.allow_short:
        held = sellable_qty(request.symbol)
        if request.quantity > held:
            raise BrokerRejectedError(
                f"insufficient qty available for order (requested {request.quantity.normalize():f}, "
                f"available {max(held, ZERO).normalize():f})"
            )


class SimulatedBroker:
    kind = "simulated"

    def __init__(self, account: TradingAccount) -> None:
        self.account_id = account.pk

    # --- orders ---------------------------------------------------------------------------------

    def submit(self, request: OrderRequest) -> BrokerOrderState:
        """Accept (and, if later bars exist, fill) an order; refuses a reused client order id."""
        try:
            with transaction.atomic():
                account = self._lock()
                if SimOrder.objects.filter(account=account, client_order_id=request.client_order_id).exists():
                    raise DuplicateClientOrderIdError("client_order_id must be unique")
                self._validate(account, request)
                order = sim_order_for(account, request)
                order.save(force_insert=True)
                self._advance(account, order)
        except IntegrityError:
            # Two submissions raced past the existence check: the unique constraint decided.
            if SimOrder.objects.filter(
                account_id=self.account_id, client_order_id=request.client_order_id
            ).exists():
                raise DuplicateClientOrderIdError("client_order_id must be unique") from None
            raise
        return order_state(order)

    def get_by_client_order_id(self, client_order_id: str) -> BrokerOrderState | None:
        with transaction.atomic():
            account = self._lock()
            order = SimOrder.objects.filter(account=account, client_order_id=client_order_id).first()
            if order is None:
                return None
            self._advance(account, order)
        return order_state(order)

    def get_order(self, broker_order_id: str) -> BrokerOrderState:
        with transaction.atomic():
            account = self._lock()
            order = self._order(account, broker_order_id)
            self._advance(account, order)
        return order_state(order)

    def cancel(self, broker_order_id: str) -> BrokerOrderState:
        """Cancel what has not filled yet (bars already out are matched first); closed orders stay."""
        with transaction.atomic():
            account = self._lock()
            order = self._order(account, broker_order_id)
            self._advance(account, order)
            if order.status in OPEN_ORDER_STATUSES:
                order.status = BrokerOrderStatus.CANCELLED
                order.status_reason = "cancelled on request"
                order.save(update_fields=["status", "status_reason", "updated_at"])
        return order_state(order)

    def list_fills(self, order: BrokerOrderState) -> list[BrokerFill]:
        return [
            BrokerFill(
                fill_id=f"sim-{fill.pk}",
                quantity=fill.quantity,
                price=fill.price,
                commission=fill.commission,
                filled_at=fill.filled_at,
                trade_date=fill.bar_date,
            )
            for fill in SimFill.objects.filter(
                order_id=int(order.broker_order_id), order__account_id=self.account_id
            ).order_by("id")
        ]

    # --- book -----------------------------------------------------------------------------------

    def account(self, *, as_of: dt.date | None = None) -> AccountState:
        """Cash, equity (positions at the close on ``as_of``) and cash not promised to open buys."""
        return self.book(as_of=as_of)[0]

    def positions(self, *, as_of: dt.date | None = None) -> list[PositionState]:
        return self.book(as_of=as_of)[1]

    def book(self, *, as_of: dt.date | None = None) -> tuple[AccountState, list[PositionState]]:
        with transaction.atomic(savepoint=False):  # nested in the caller's transaction when there is one
            return self.book_locked(self._lock(), as_of=as_of)

    def book_locked(
        self, account: TradingAccount, *, as_of: dt.date | None = None
    ) -> tuple[AccountState, list[PositionState]]:
        """:meth:`book` for a caller that already holds ``account``'s row lock in its transaction
        (the trade hook): the same reads and matching, without locking the row a second time."""
        return self.books_locked(account, as_ofs=[as_of])[as_of]

    def books_locked(
        self, account: TradingAccount, *, as_ofs: Sequence[dt.date | None]
    ) -> dict[dt.date | None, tuple[AccountState, list[PositionState]]]:
        """:meth:`book_locked` as of each of several dates, for the price of one: the open orders are
        advanced and the cash they reserve is read once, and every date's marks come in one query.

        Only the marks depend on the date (cash, positions and open orders are the book as it
        stands), and under the row lock nothing else moves them, so this is exactly what calling
        :meth:`book_locked` once per date returns (a batch of decisions opening trades asks this)."""
        if account.pk != self.account_id:
            raise ValueError(f"account {account.pk} is not this broker's account {self.account_id}")
        still_open = self._advance_all(account)
        reserved = self._reserved_cash(account, still_open)
        cash, buying_power = account.cash, max(account.cash - reserved, ZERO)
        books = {}
        for as_of, positions in self._positions_at(account, as_ofs).items():
            value = sum((p.market_value for p in positions), ZERO)
            state = AccountState(cash=cash, equity=cash + value, buying_power=buying_power)
            books[as_of] = (state, positions)
        return books

    def trading_session(self, *, symbol: str, as_of: dt.date) -> SessionState:
        """The simulated clock: a decision dated on a trading day trades from the next bar."""
        traded = Bar.objects.filter(instrument__symbol=symbol, timeframe=Timeframe.DAY, date=as_of).exists()
        return simulated_session(symbol, as_of, traded=traded)

    # --- internals ------------------------------------------------------------------------------

    def _lock(self) -> TradingAccount:
        """The account row, locked: one writer at a time per book (the caller is in a transaction)."""
        return TradingAccount.objects.select_for_update().get(pk=self.account_id)

    def _order(self, account: TradingAccount, broker_order_id: str) -> SimOrder:
        order = (
            SimOrder.objects.filter(account=account, pk=int(broker_order_id)).first()
            if broker_order_id.isdigit()
            else None
        )
        if order is None:
            raise BrokerOrderNotFoundError(f"No simulated order {broker_order_id}.")
        return order

    def _validate(self, account: TradingAccount, request: OrderRequest) -> None:
        order_refusal_check(
            account,
            request,
            close=last_close,
            available_cash=lambda: account.cash - self._reserved_cash(account),
            sellable_qty=lambda symbol: self._held(account, symbol) - self._open_sell_qty(account, symbol),
        )

    def _held(self, account: TradingAccount, symbol: str) -> Decimal:
        position = SimPosition.objects.filter(account=account, symbol=symbol).first()
        return position.quantity if position else ZERO

    def _open_sell_qty(self, account: TradingAccount, symbol: str) -> Decimal:
        rows = SimOrder.objects.filter(
            account=account, symbol=symbol, side=Side.SELL, status__in=OPEN_ORDER_STATUSES
        ).values_list("quantity", "filled_qty")
        return sum((qty - filled for qty, filled in rows), ZERO)

    def _reserved_cash(self, account: TradingAccount, open_orders: list[SimOrder] | None = None) -> Decimal:
        """What open buy orders may still spend, at their limit or their as-of close."""
        if open_orders is None:
            open_orders = list(SimOrder.objects.filter(account=account, status__in=OPEN_ORDER_STATUSES))
        reserved = ZERO
        for order in open_orders:
            if order.side != Side.BUY or order.status not in OPEN_ORDER_STATUSES:
                continue
            price = order.limit_price or last_close(order.symbol, order.as_of) or ZERO
            reserved += (order.quantity - order.filled_qty) * price * (1 + account.slippage_bps / BPS)
        return reserved

    def _positions_at(
        self, account: TradingAccount, as_ofs: Sequence[dt.date | None]
    ) -> dict[dt.date | None, list[PositionState]]:
        """Each position at its last close on or before each of ``as_ofs`` (the latest close for None;
        its average price when it has none): the positions in one query, their marks in another."""
        dates = list(dict.fromkeys(as_ofs))
        rows = list(SimPosition.objects.filter(account=account).order_by("symbol"))
        closes = last_closes({p.symbol for p in rows}, dates)
        return {
            as_of: [
                PositionState(
                    symbol=position.symbol,
                    quantity=position.quantity,
                    average_price=position.average_price,
                    market_value=price_round(
                        position.quantity * (closes[position.symbol, as_of] or position.average_price)
                    ),
                )
                for position in rows
            ]
            for as_of in dates
        }

    def _advance_all(self, account: TradingAccount) -> list[SimOrder]:
        """Advance every open order; returns them (some may have closed since)."""
        orders = list(SimOrder.objects.filter(account=account, status__in=OPEN_ORDER_STATUSES).order_by("id"))
        for order in orders:
            self._advance(account, order)
        return orders

    def _advance(self, account: TradingAccount, order: SimOrder) -> None:
        """Match an open order against the bars after the last one it saw (caller holds the lock)."""
        if order.status not in OPEN_ORDER_STATUSES:
            return
        after = order.last_bar_date or order.as_of
        bars = Bar.objects.filter(
            instrument__symbol=order.symbol, timeframe=Timeframe.DAY, date__gt=after
        ).order_by("date")
        seen = False
        for bar in bars.iterator():
            seen = True
            order.last_bar_date = bar.date
            price = match_price(account, order, bar)
            if price is not None:
                self._fill(account, order, bar, price)
            if order.status in OPEN_ORDER_STATUSES and order.time_in_force == TimeInForce.DAY:
                order.status = BrokerOrderStatus.EXPIRED
                order.status_reason = order.status_reason or "day order not complete after its bar"
            if order.status not in OPEN_ORDER_STATUSES:
                break
        if seen:
            order.save()

    def _fill(self, account: TradingAccount, order: SimOrder, bar: Bar, price: Decimal) -> None:
        terms = fill_terms(account, order, bar, price, cash=account.cash)
        if terms.cash_short:
            order.status_reason = "insufficient cash at the fill"
        quantity, commission = terms.quantity, terms.commission
        if quantity <= 0:
            return
        SimFill.objects.create(
            order=order,
            quantity=quantity,
            price=price,
            commission=commission,
            bar_date=bar.date,
            filled_at=bar.ts,
        )
        fill_record(order, quantity, price)
        signed = quantity if order.side == Side.BUY else -quantity
        TradingAccount.objects.filter(pk=account.pk).update(cash=F("cash") - signed * price - commission)
        account.refresh_from_db(fields=["cash"])
        self._move_position(account, order.symbol, signed, price)

    @staticmethod
    def _move_position(account: TradingAccount, symbol: str, delta: Decimal, price: Decimal) -> None:
        position = SimPosition.objects.filter(account=account, symbol=symbol).first()
        old = position.quantity if position else ZERO
        if old + delta == 0:
            if position is not None:
                position.delete()
            return
        average = moved_average(old, position.average_price if position else price, delta, price)
        SimPosition.objects.update_or_create(
            account=account,
            symbol=symbol,
            defaults={"quantity": old + delta, "average_price": price_round(average)},
        )


def order_state(order: SimOrder) -> BrokerOrderState:
    """The broker's answer about one of its orders (public: a batch placing orders answers the same)."""
    return BrokerOrderState(
        broker_order_id=str(order.pk),
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=order.side,
        quantity=order.quantity,
        order_type=order.order_type,
        limit_price=order.limit_price,
        time_in_force=order.time_in_force,
        status=order.status,
        filled_qty=order.filled_qty,
        filled_avg_price=order.filled_avg_price,
        submitted_at=order.created_at or timezone.now(),
        reason=order.status_reason,
        raw={
            "id": order.pk,
            "status": order.status,
            "filled_qty": str(order.filled_qty),
            "filled_avg_price": None if order.filled_avg_price is None else str(order.filled_avg_price),
            "last_bar_date": order.last_bar_date.isoformat() if order.last_bar_date else None,
            "metadata": order.metadata,
        },
    )
