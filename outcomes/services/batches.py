"""Batched paths of the order pipeline, for a caller that owns a whole day of work (the competition's
backtest engine): the same claims, broker, records and verdicts as the one-at-a-time services, in a
handful of statements per batch instead of a few dozen per order or outcome.

* :func:`simulated_intents_submit` = ``order_intent_claim`` + ``order_intent_submit`` for the approved
  intents of one simulated account;
* :func:`outcomes_settle_many` = ``outcome_settle`` for many outcomes.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from arena_project.bulk import bulk_update_rows
from arena_project.errors import ConflictError
from debates.models import Bar, Timeframe
from outcomes.brokers.base import (
    BrokerError,
    BrokerOrderState,
    BrokerRejectedError,
    DuplicateClientOrderIdError,
    OrderRequest,
)
from outcomes.brokers.simulated import (
    SimulatedBroker,
    fill_record,
    fill_terms,
    last_close,
    match_price,
    moved_average,
    order_refusal_check,
    order_state,
    price_round,
    sim_order_for,
)
from outcomes.models import (
    OPEN_ORDER_STATUSES,
    BrokerKind,
    BrokerOrder,
    BrokerOrderStatus,
    Fill,
    IntentStatus,
    OrderIntent,
    Outcome,
    OutcomeStatus,
    Side,
    SimFill,
    SimOrder,
    SimPosition,
    TimeInForce,
    TradingAccount,
)
from outcomes.services.orders import broker_order_build, order_request_for
from outcomes.services.settlement import SETTLED_FIELDS, outcome_judge, verdict_apply

ZERO = Decimal(0)
PRICE_Q = Decimal("0.0001")
BPS = Decimal(10_000)


@dataclass
class _Sent:
    intent: OrderIntent
    state: BrokerOrderState
    session_id: int


@transaction.atomic
def simulated_intents_submit(*, account_id: int, intent_ids: Sequence[int]) -> list[int]:
    """Claim, send (in id order) and link the given intents of a simulated account; returns the ids
    of the intents it took (claimed and finished: submitted, broker_rejected or failed).

    The guarantees of ``order_intent_claim`` + ``order_intent_submit``, in one transaction that holds
    the account's row lock (the simulated broker's own lock) and the intents' row locks: an intent is
    taken only while approved, or submitting with an expired lease; an intent that already has its
    broker order is only marked submitted; an order the broker already holds under the intent's
    client order id is linked, never sent again; a broker refusal ends the intent
    ``broker_rejected``; each intent gets at most one ``BrokerOrder`` (one-to-one), with the broker's
    fills as ``Fill`` rows. Intents it cannot claim (another worker's, or finished) are left alone.
    Raises ConflictError for an account on another broker (its orders go through the network, one
    at a time, outside any lock).
    """
    account = TradingAccount.objects.select_for_update().get(pk=account_id)
    if account.broker != BrokerKind.SIMULATED:
        raise ConflictError(f"Account {account_id} is on {account.broker}, not the simulated broker.")
    now = timezone.now()
    claimable = Q(status=IntentStatus.APPROVED) | Q(status=IntentStatus.SUBMITTING, lease_expires_at__lt=now)
    intents = list(
        OrderIntent.objects.select_for_update(of=("self",))
        .filter(claimable, account=account, pk__in=list(intent_ids))
        .annotate(session_id=F("consensus__session_id"))
        .order_by("id")
    )
    if not intents:
        return []
    session_of = {i.pk: i.session_id for i in intents}
    linked = set(BrokerOrder.objects.filter(intent__in=intents).values_list("intent_id", flat=True))
    held = set(
        SimOrder.objects.filter(
            account=account, client_order_id__in=[i.client_order_id for i in intents]
        ).values_list("client_order_id", flat=True)
    )

    to_send = []
    sent: list[_Sent] = []
    for intent in intents:
        intent.attempts += 1
        intent.lease_expires_at = None
        intent.updated_at = now
        if intent.pk in linked:  # an earlier attempt linked it; make the intent say so
            _finish(intent, IntentStatus.SUBMITTED, now=now)
        elif intent.attempts > settings.ARENA_ORDER_MAX_ATTEMPTS and intent.client_order_id not in held:
            # as order_intent_submit: an order the broker holds is still linked, whatever the count
            _finish(intent, IntentStatus.FAILED, f"gave up after {intent.attempts - 1} attempts", now=now)
        else:
            to_send.append(intent)
    requests = [order_request_for(i, session_id=session_of[i.pk]) for i in to_send]
    answers = simulated_orders_find_or_place(account=account, requests=requests)
    for intent, answer in zip(to_send, answers, strict=True):
        state = _answered(intent, answer, now=now)
        if state is not None:
            sent.append(_Sent(intent, state, session_of[intent.pk]))
    _link_all(account, sent, now=now)
    bulk_update_rows(
        OrderIntent,
        intents,
        [
            "status",
            "attempts",
            "lease_expires_at",
            "submitted_at",
            "last_error",
            "rejection_reason",
            "updated_at",
        ],
    )
    return [i.pk for i in intents]


def _answered(
    intent: OrderIntent, answer: BrokerOrderState | BrokerError, *, now: dt.datetime
) -> BrokerOrderState | None:
    """The intent's fate from the broker's answer: linked (submitted), refused, or failed."""
    if isinstance(answer, BrokerRejectedError):
        _finish(intent, IntentStatus.BROKER_REJECTED, answer.message, now=now)
        return None
    if isinstance(answer, BrokerError):  # cannot happen under the account's lock (found by id first)
        _finish(intent, IntentStatus.FAILED, answer.message, now=now)
        return None
    theirs, ours = (
        (answer.symbol, answer.side, answer.quantity),
        (intent.symbol, intent.side, intent.quantity),
    )
    if theirs != ours:
        reason = f"broker order {answer.broker_order_id} ({intent.client_order_id}) is {theirs}, not {ours}"
        _finish(intent, IntentStatus.FAILED, reason, now=now)
        return None
    _finish(intent, IntentStatus.SUBMITTED, now=now)
    return answer


def _finish(intent: OrderIntent, status: str, reason: str = "", *, now: dt.datetime) -> None:
    intent.status = status
    if status == IntentStatus.SUBMITTED:
        intent.submitted_at = intent.submitted_at or now
        intent.last_error = ""
        return
    intent.last_error = reason[:2000]
    if status == IntentStatus.BROKER_REJECTED:
        intent.rejection_reason = reason[:2000]


def _link_all(account: TradingAccount, sent: list[_Sent], *, now: dt.datetime) -> None:
    """One BrokerOrder per sent intent and its fills, in three statements for the batch."""
    if not sent:
        return
    fills: dict[int, list[SimFill]] = defaultdict(list)
    for fill in SimFill.objects.filter(order_id__in=[int(s.state.broker_order_id) for s in sent]).order_by(
        "id"
    ):
        fills[fill.order_id].append(fill)
    orders = []
    for item in sent:
        state, intent = item.state, item.intent
        own = fills[int(state.broker_order_id)]
        filled = sum((f.quantity for f in own), ZERO)
        average = (
            (sum((f.quantity * f.price for f in own), ZERO) / filled).quantize(
                PRICE_Q, rounding=ROUND_HALF_EVEN
            )
            if filled
            else None
        )
        order = broker_order_build(
            intent, state, broker_kind=SimulatedBroker.kind, session_id=item.session_id
        )
        order.filled_qty = filled
        order.filled_avg_price = average
        order.status_reason = state.reason[:300]
        order.raw = state.raw
        order.last_synced_at = now
        orders.append(order)
    BrokerOrder.objects.bulk_create(orders)
    Fill.objects.bulk_create(
        Fill(
            broker_order=order,
            account=account,
            broker_fill_id=f"sim-{fill.pk}",
            symbol=order.symbol,
            side=order.side,
            quantity=fill.quantity,
            price=fill.price,
            commission=fill.commission,
            filled_at=fill.filled_at,
            trade_date=fill.bar_date,
        )
        for order in orders
        for fill in fills[int(order.broker_order_id)]
    )


def outcomes_settle_many(*, outcome_ids: Sequence[int]) -> int:
    """Settle the judgeable ones among ``outcome_ids`` (what ``outcome_settle`` does for each); returns
    how many were settled. A settled outcome never changes again: the rows are re-read under their
    locks and only those still pending are written."""
    outcomes = list(
        Outcome.objects.select_related("consensus__session", "account", "intent__broker_order").filter(
            pk__in=list(outcome_ids), status=OutcomeStatus.PENDING
        )
    )
    bars = _BarsAfter.load(outcomes)
    verdicts = {
        o.pk: v
        for o in outcomes
        if (
            v := outcome_judge(
                o, bars_after=bars.after(o.consensus.session.symbol, o.consensus.session.as_of)
            )
        )
        is not None
    }
    if not verdicts:
        return 0
    now = timezone.now()
    with transaction.atomic():
        # Locked until commit, and re-read under the locks: only the still-pending rows are written.
        locked = list(
            Outcome.objects.select_for_update().filter(pk__in=list(verdicts), status=OutcomeStatus.PENDING)
        )
        for outcome in locked:
            verdict_apply(outcome, verdicts[outcome.pk], settled_at=now)
            outcome.updated_at = now  # what save() would set: bulk updates skip auto_now
        bulk_update_rows(Outcome, locked, SETTLED_FIELDS)  # one statement for the batch
    return len(locked)


# --- the simulated broker, a batch of orders at a time -------------------------------------------


def simulated_orders_find_or_place(
    *, account: TradingAccount, requests: Sequence[OrderRequest]
) -> list[BrokerOrderState | BrokerError]:
    """For each request in order: the simulated broker's order under its client order id, found or
    placed now (and matched against the bars); or the broker's refusal. The caller is in a
    transaction and holds the account's row lock.

    The rules are the simulated broker's own (``outcomes.brokers.simulated``): the same validation
    and refusal messages, fills at the next bar (slippage, commission, volume participation, cash
    at the fill), DAY orders expiring after their bar. When the batch is the common case - only new
    DAY orders on an account with no open order - it is matched in memory over one read of the bars
    and written with a few bulk statements; otherwise each request goes through
    ``SimulatedBroker`` one by one.
    """
    if not requests:
        return []
    ids = [r.client_order_id for r in requests]
    held = set(
        SimOrder.objects.filter(account=account, client_order_id__in=ids).values_list(
            "client_order_id", flat=True
        )
    )
    simple = (
        not held
        and len(set(ids)) == len(ids)
        and all(r.time_in_force == TimeInForce.DAY for r in requests)
        and not SimOrder.objects.filter(account=account, status__in=OPEN_ORDER_STATUSES).exists()
    )
    if simple:
        return _BatchBook(account, requests).place()
    broker = SimulatedBroker(account)
    answers: list[BrokerOrderState | BrokerError] = []
    for request in requests:
        try:
            found = (
                broker.get_by_client_order_id(request.client_order_id)
                if request.client_order_id in held
                else None
            )
            answers.append(found or broker.submit(request))
        except DuplicateClientOrderIdError:
            state = broker.get_by_client_order_id(request.client_order_id)
            answers.append(state or DuplicateClientOrderIdError("client_order_id must be unique"))
        except BrokerRejectedError as exc:
            answers.append(exc)
    return answers


class _BatchBook:
    """New DAY orders of one account matched in memory: cash and positions as the broker keeps them."""

    def __init__(self, account: TradingAccount, requests: Sequence[OrderRequest]) -> None:
        self.account = account
        self.requests = requests
        self.cash = account.cash
        self.positions = {p.symbol: p for p in SimPosition.objects.filter(account=account)}
        self.bars = _BarWindow.load({r.symbol for r in requests}, {r.as_of for r in requests})
        self.orders: list[SimOrder] = []
        self.fills: list[tuple[SimOrder, SimFill]] = []
        self.touched: set[str] = set()

    def place(self) -> list[BrokerOrderState | BrokerError]:
        results: list[SimOrder | BrokerError] = []
        for request in self.requests:
            try:
                self._validate(request)
            except BrokerRejectedError as exc:
                results.append(exc)
                continue
            order = sim_order_for(self.account, request)
            next_bar = self.bars.after(request.symbol, request.as_of)
            if next_bar is not None:
                self._advance(order, next_bar)
            self.orders.append(order)
            results.append(order)
        self._write()  # the orders get their ids here, before their states are read
        return [order_state(r) if isinstance(r, SimOrder) else r for r in results]

    def _validate(self, request: OrderRequest) -> None:
        """The simulated broker's refusals (:func:`order_refusal_check`) over the in-memory book."""

        def sellable(symbol: str) -> Decimal:
            position = self.positions.get(symbol)
            return (position.quantity if position else ZERO) - self._open_sell_qty(symbol)

        order_refusal_check(
            self.account,
            request,
            close=self.bars.close,
            available_cash=lambda: self.cash - self._reserved_cash(),
            sellable_qty=sellable,
        )

    def _open(self) -> list[SimOrder]:
        return [o for o in self.orders if o.status in OPEN_ORDER_STATUSES]

    def _reserved_cash(self) -> Decimal:
        reserved = ZERO
        for order in self._open():
            if order.side != Side.BUY:
                continue
            price = order.limit_price or self.bars.close(order.symbol, order.as_of) or ZERO
            reserved += (order.quantity - order.filled_qty) * price * (1 + self.account.slippage_bps / BPS)
        return reserved

    def _open_sell_qty(self, symbol: str) -> Decimal:
        return sum(
            (o.quantity - o.filled_qty for o in self._open() if o.side == Side.SELL and o.symbol == symbol),
            ZERO,
        )

    def _advance(self, order: SimOrder, bar: Bar) -> None:
        """``SimulatedBroker._advance`` for a new DAY order and its one next bar."""
        order.last_bar_date = bar.date
        price = match_price(self.account, order, bar)
        if price is not None:
            self._fill(order, bar, price)
        if order.status in OPEN_ORDER_STATUSES:
            order.status = BrokerOrderStatus.EXPIRED
            order.status_reason = order.status_reason or "day order not complete after its bar"

    def _fill(self, order: SimOrder, bar: Bar, price: Decimal) -> None:
        """``SimulatedBroker._fill`` on the in-memory cash and positions."""
        terms = fill_terms(self.account, order, bar, price, cash=self.cash)
        if terms.cash_short:
            order.status_reason = "insufficient cash at the fill"
        quantity, commission = terms.quantity, terms.commission
        if quantity <= 0:
            return
        fill = SimFill(
            quantity=quantity, price=price, commission=commission, bar_date=bar.date, filled_at=bar.ts
        )
        self.fills.append((order, fill))
        fill_record(order, quantity, price)
        signed = quantity if order.side == Side.BUY else -quantity
        # The broker moves cash with an UPDATE on a 4-decimal column: round the way the database does.
        self.cash = (self.cash - signed * price - commission).quantize(PRICE_Q, rounding=ROUND_HALF_UP)
        self._move_position(order.symbol, signed, price)

    def _move_position(self, symbol: str, delta: Decimal, price: Decimal) -> None:
        position = self.positions.get(symbol)
        old = position.quantity if position else ZERO
        self.touched.add(symbol)
        if old + delta == 0:
            self.positions.pop(symbol, None)
            return
        average = moved_average(old, position.average_price if position else price, delta, price)
        if position is None:
            position = self.positions[symbol] = SimPosition(account=self.account, symbol=symbol)
        position.quantity = old + delta
        position.average_price = price_round(average)

    def _write(self) -> None:
        """Orders, fills, positions and cash: five statements for the batch."""
        SimOrder.objects.bulk_create(self.orders)
        for order, fill in self.fills:
            fill.order = order
        SimFill.objects.bulk_create(fill for _o, fill in self.fills)
        if not self.touched:
            return
        gone = [s for s in self.touched if s not in self.positions]
        if gone:
            SimPosition.objects.filter(account=self.account, symbol__in=gone).delete()
        kept = [self.positions[s] for s in sorted(self.touched) if s in self.positions]
        if kept:
            SimPosition.objects.bulk_create(
                kept,
                update_conflicts=True,
                unique_fields=["account", "symbol"],
                update_fields=["quantity", "average_price", "updated_at"],
            )
        TradingAccount.objects.filter(pk=self.account.pk).update(cash=self.cash)
        self.account.cash = self.cash


@dataclass
class _BarWindow:
    """Daily bars of a few symbols around a few dates, read once; falls back to a query outside it."""

    rows: dict[str, list[Bar]]

    MARGIN = dt.timedelta(days=10)

    @classmethod
    def load(cls, symbols: set[str], days: set[dt.date]) -> _BarWindow:
        rows: dict[str, list[Bar]] = {s: [] for s in symbols}
        bars = (
            Bar.objects.filter(
                instrument__symbol__in=list(symbols),
                timeframe=Timeframe.DAY,
                date__gte=min(days) - cls.MARGIN,
                date__lte=max(days) + cls.MARGIN,
            )
            .order_by("date")
            .values_list("instrument__symbol", "date", "open", "high", "low", "close", "volume", "ts")
        )
        for symbol, day, o, h, lo, c, v, ts in bars:
            rows[symbol].append(Bar(date=day, open=o, high=h, low=lo, close=c, volume=v, ts=ts))
        return cls(rows)

    def close(self, symbol: str, as_of: dt.date) -> Decimal | None:
        """``last_close``: the close of the last bar on or before ``as_of``."""
        earlier = [b for b in self.rows.get(symbol, []) if b.date <= as_of]
        if earlier and as_of - earlier[-1].date <= self.MARGIN:
            return earlier[-1].close
        return last_close(symbol, as_of)

    def after(self, symbol: str, as_of: dt.date) -> Bar | None:
        """The first bar after ``as_of`` (an order placed as of that day fills on it), if any."""
        later = [b for b in self.rows.get(symbol, []) if b.date > as_of]
        if later:
            return later[0]
        return (
            Bar.objects.filter(instrument__symbol=symbol, timeframe=Timeframe.DAY, date__gt=as_of)
            .order_by("date")
            .first()
        )


@dataclass
class _BarsAfter:
    """The daily bars (date, open, close) of the outcomes' symbols from their earliest decision on."""

    rows: dict[str, list[tuple[dt.date, Decimal, Decimal]]]

    @classmethod
    def load(cls, outcomes: list[Outcome]) -> _BarsAfter:
        rows: dict[str, list[tuple[dt.date, Decimal, Decimal]]] = defaultdict(list)
        if outcomes:
            sessions = [o.consensus.session for o in outcomes]
            for symbol, day, open_, close in (
                Bar.objects.filter(
                    instrument__symbol__in={s.symbol for s in sessions},
                    timeframe=Timeframe.DAY,
                    date__gt=min(s.as_of for s in sessions),
                )
                .order_by("date")
                .values_list("instrument__symbol", "date", "open", "close")
            ):
                rows[symbol].append((day, open_, close))
        return cls(rows)

    def after(self, symbol: str, as_of: dt.date) -> list[tuple[dt.date, Decimal, Decimal]]:
        rows = self.rows.get(symbol, [])
        return rows[bisect.bisect_right(rows, (as_of, _MAX, _MAX)) :]


_MAX = Decimal("Infinity")
