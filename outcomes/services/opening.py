"""Decisions become intents: each stored decision gets its pending outcome and, for buy/sell, a sized,
risk-checked order intent (docs/outcomes.md, "Opening trades").

One decision (:func:`decision_trade_open`, the ``consensus_created`` hook) and a batch of them
(:func:`decisions_trade_open`, the ``consensus_batch_created`` hook) go through the same pieces, in
the same order, under the accounts' row locks:

1. lock the accounts (a batch: all of them in one statement, by pk, so two batches never deadlock);
2. read each decision's facts in one query: its outcome if it already has one, and the last daily bar
   on or before its as-of date (the reference price, and whether the simulated market traded);
3. read the intents the checks look at in one query (:class:`_Ledger`): the decisions' own and each
   account's unsent ones, the ones of the as-of dates and the ones with an open broker order;
4. read each simulated account's book as of all its decisions' dates at once, when first needed (the
   book does not change while we hold the lock: nothing is submitted before commit);
5. size and check each decision in Python, in order, adding each new intent to the ledger so the
   next decision of the same account sees it exactly as it would have seen the stored row;
6. insert the intents, their checks and the outcomes in one statement each (:class:`_Writes`).

Every read that a limit depends on is its own statement *after* the lock: folding them into the
locking statement would read them from that statement's snapshot, taken before it waited for the
lock, and so miss what the previous lock holder just committed (PostgreSQL, read committed).
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import DecimalField, F, OuterRef, Q, Subquery
from django_q.tasks import async_task

from arena_project.bulk import bulk_insert
from arena_project.errors import InvalidInputError
from debates.models import DebateConsensus
from debates.selectors import daily_bars
from outcomes import risk
from outcomes.brokers import broker_for
from outcomes.brokers.base import AccountState, BrokerError, SessionState
from outcomes.brokers.simulated import SimulatedBroker, simulated_session
from outcomes.models import (
    OPEN_INTENT_STATUSES,
    OPEN_ORDER_STATUSES,
    BrokerKind,
    BrokerOrderStatus,
    IntentStatus,
    OrderIntent,
    OrderType,
    Outcome,
    RiskCheck,
    SessionAccount,
    Side,
    TimeInForce,
    TradingAccount,
)
from outcomes.services.accounts import trading_account_default_get
from outcomes.services.orders import order_submit_enqueue

logger = logging.getLogger(__name__)

ZERO = Decimal(0)
BPS = Decimal(10_000)
PRICE_Q = Decimal("0.0001")
CLIENT_ORDER_ID_MAX = 48  # Alpaca's documented limit (older docs); we stay within it
NOT_AT_BROKER = (IntentStatus.APPROVED, IntentStatus.SUBMITTING)
NOT_COUNTED = (IntentStatus.REJECTED, IntentStatus.BROKER_REJECTED, IntentStatus.FAILED)
CLOSED_ORDER_STATUSES = tuple(s for s in BrokerOrderStatus.values if s not in OPEN_ORDER_STATUSES)


@dataclass(frozen=True)
class IntentSpec:
    side: str
    size_fraction: Decimal
    order_type: str = OrderType.MARKET
    limit_price: Decimal | None = None
    time_in_force: str = TimeInForce.DAY
    quantity: Decimal | None = None  # explicit quantity; otherwise sized from the account settings


@dataclass(frozen=True)
class BrokerSnapshot:
    """What the broker said before the checks ran (read outside any transaction for remote brokers)."""

    error: str = ""
    session: SessionState | None = None
    account: AccountState | None = None
    position_qty: Decimal = ZERO


@dataclass(frozen=True)
class _Decision:
    consensus: DebateConsensus  # with its session loaded
    account: TradingAccount  # row-locked by the caller
    spec: IntentSpec | None  # None: a hold, nothing to trade
    snapshot: BrokerSnapshot | None = None  # a remote broker's, read before the lock


# --- entry points -------------------------------------------------------------------------------


def decision_trade_open(*, consensus_id: int, consensus: DebateConsensus | None = None) -> Outcome:
    """Turn a stored decision into its pending outcome and, for buy/sell, a risk-checked intent.

    Idempotent: a decision that already has its outcome is returned as is. The intent, its checks and
    the outcome are written in one transaction, so "no outcome yet" means "never handled"; an approved
    intent's submission is enqueued after commit. ``consensus`` (with its session loaded) may be
    passed by a caller that already holds it — the debate that just stored it — to save re-reading it.
    """
    if consensus is None or consensus.pk != consensus_id:
        consensus = DebateConsensus.objects.select_related("session").get(pk=consensus_id)
    spec = _spec_from_consensus(consensus) if consensus.action in Side.values else None
    with transaction.atomic():
        # The account's row lock serialises this with any other delivery of the same decision.
        account = _session_account_locked(consensus)
        if spec is None or account.broker == BrokerKind.SIMULATED:
            return _open_locked([_Decision(consensus, account, spec)], strict=True)[consensus.pk]
    # A remote broker is asked outside any row lock (no network inside a lock), then we lock again.
    snapshot = _broker_snapshot(account, consensus.session.symbol, consensus.session.as_of)
    with transaction.atomic():
        account = TradingAccount.objects.select_for_update().get(pk=account.pk)
        decision = _Decision(consensus, account, spec, snapshot)
        return _open_locked([decision], strict=True)[consensus.pk]


def decisions_trade_open(
    *, consensus_ids: Sequence[int], consensuses: Sequence[DebateConsensus] | None = None
) -> list[Outcome]:
    """:func:`decision_trade_open` for several decisions, in the order given: the same outcomes,
    intents and checks as calling it once per decision, for a few statements per account.

    ``consensuses`` (sessions loaded), when given, are the rows of ``consensus_ids``. The decisions of
    simulated accounts are opened in one transaction that locks their accounts once; those that
    trade on a remote broker (which is asked outside any lock) are opened one at a time after it.
    A decision whose trade cannot be opened is logged and skipped, so one bad decision does not cost
    the others theirs (``update_outcomes`` picks it up later); should the batch's transaction fail
    as a whole, its decisions are retried one at a time.
    """
    ids = list(consensus_ids)
    try:
        opened, one_at_a_time = _batch_open(ids, consensuses or ())
    except Exception:
        logger.exception("decisions %s: not opened as a batch; opening them one at a time", ids)
        opened, one_at_a_time = {}, ids
    given = {c.pk: c for c in consensuses or ()}
    for consensus_id in dict.fromkeys(one_at_a_time):
        try:
            opened[consensus_id] = decision_trade_open(
                consensus_id=consensus_id, consensus=given.get(consensus_id)
            )
        except Exception:
            logger.exception("decision %s: trade not opened", consensus_id)
    return [opened[consensus_id] for consensus_id in ids if consensus_id in opened]


def decision_trade_open_enqueue(*, consensus_id: int) -> None:
    """Queue :func:`decision_trade_open` for a decision just committed (``outcomes.tasks.trade_open``).

    The debate that made the decision does not wait for its trade: opening it is the outcomes
    worker's job, with its own retries, so a slow or unreachable broker (a remote account's snapshot
    is an HTTP call) never holds a debate. Delivery is at-least-once and the task is idempotent (a
    decision that has its outcome keeps it). Should the queue itself be unreachable, the decision is
    left without its outcome and ``outcomes_update`` opens it on its next pass.
    """
    async_task("outcomes.tasks.trade_open", consensus_id, task_name=f"trade-open-{consensus_id}")


def order_intent_create(
    *, consensus: DebateConsensus, account: TradingAccount, spec: IntentSpec
) -> OrderIntent:
    """Size, check and store an intent for ``consensus`` on ``account`` (returns the existing one if any).

    A failed check does not raise: the intent is stored as rejected with every check and its reason.
    """
    snapshot = None
    if account.broker != BrokerKind.SIMULATED:  # asked before the transaction: no network under a lock
        snapshot = _broker_snapshot(account, consensus.session.symbol, consensus.session.as_of)
    with transaction.atomic():
        account = TradingAccount.objects.select_for_update().get(pk=account.pk)
        decision = _Decision(consensus, account, spec, snapshot)
        writes = _Writes()
        ledger = _Ledger.read([decision], flush=writes.flush)
        facts = _decision_facts([consensus.pk])
        intent = _intent_for(decision, facts[consensus.pk], ledger, _Books([decision]), writes)
        writes.flush()
    return intent


# --- the pieces both paths use ------------------------------------------------------------------


def _batch_open(
    ids: list[int], consensuses: Sequence[DebateConsensus]
) -> tuple[dict[int, Outcome], list[int]]:
    """Open the simulated accounts' decisions of ``ids`` in one transaction; returns the outcomes by
    decision and the decisions left for the one-at-a-time path (remote brokers)."""
    linked = _decisions_linked(ids, consensuses)
    decisions: list[_Decision] = []
    one_at_a_time: list[int] = []
    with transaction.atomic():
        accounts, default = _accounts_locked(
            {a for _c, a in linked.values() if a is not None},
            with_default=any(a is None for _c, a in linked.values()),
        )
        for consensus_id in ids:
            if consensus_id not in linked:
                logger.error("decision %s: not found, trade not opened", consensus_id)
                continue
            consensus, account_id = linked[consensus_id]
            account = accounts[account_id] if account_id is not None else default
            assert account is not None  # noqa: S101 - _accounts_locked makes the default when needed
            spec = _spec_from_consensus(consensus) if consensus.action in Side.values else None
            if spec is not None and account.broker != BrokerKind.SIMULATED:
                one_at_a_time.append(consensus_id)
            else:
                decisions.append(_Decision(consensus, account, spec))
        opened = _open_locked(decisions, strict=False) if decisions else {}
    return opened, one_at_a_time


def _decisions_linked(
    ids: list[int], consensuses: Sequence[DebateConsensus]
) -> dict[int, tuple[DebateConsensus, int | None]]:
    """Each decision (session loaded) with its session's attached account (None: the default), in one
    query: the decisions with their links, or only the links of the decisions the caller passed."""
    wanted = set(ids)
    given = {c.pk: c for c in consensuses if c.pk in wanted}
    linked: dict[int, tuple[DebateConsensus, int | None]] = {}
    missing = [i for i in wanted if i not in given]
    if missing:
        rows = (
            DebateConsensus.objects.select_related("session")
            .filter(pk__in=missing)
            .annotate(linked_account=F("session__trading_account__account"))
        )
        linked.update({c.pk: (c, getattr(c, "linked_account", None)) for c in rows})
    if given:
        links = dict(
            SessionAccount.objects.filter(session_id__in={c.session_id for c in given.values()}).values_list(
                "session_id", "account_id"
            )
        )
        linked.update({pk: (c, links.get(c.session_id)) for pk, c in given.items()})
    return linked


def _accounts_locked(
    account_ids: set[int], *, with_default: bool
) -> tuple[dict[int, TradingAccount], TradingAccount | None]:
    """The accounts, row-locked in one statement in pk order (two batches then never wait on each
    other crosswise), plus the default account when ``with_default``. The caller is in a transaction.
    """
    wanted = Q(pk__in=account_ids)
    if with_default:
        wanted |= Q(is_default=True)
    accounts = {a.pk: a for a in TradingAccount.objects.select_for_update().filter(wanted).order_by("pk")}
    default = next((a for a in accounts.values() if a.is_default), None) if with_default else None
    if with_default and default is None:
        default = _default_created_locked()
        accounts[default.pk] = default
    return accounts, default


def _session_account_locked(consensus: DebateConsensus) -> TradingAccount:
    """The debate's account (attached, else the default), row-locked, in one statement.

    ``LIMIT 1`` with ``FOR UPDATE`` locks only the row returned, never the default account when an
    attached one wins. The caller is in a transaction.
    """
    attached = SessionAccount.objects.filter(session_id=consensus.session_id).values("account_id")
    account = (
        TradingAccount.objects.select_for_update()
        .filter(Q(pk__in=attached) | Q(is_default=True))
        .order_by("is_default")  # an attached account that is not the default first (False < True)
        .first()
    )
    return account if account is not None else _default_created_locked()


def _default_created_locked() -> TradingAccount:
    """No default account yet: create it (race-safe), then lock it (after any other lock we hold, and
    no lock is taken after it, so this never closes a cycle)."""
    return TradingAccount.objects.select_for_update().get(pk=trading_account_default_get().pk)


def _open_locked(decisions: Sequence[_Decision], *, strict: bool) -> dict[int, Outcome]:
    """Open ``decisions`` in order; returns their outcomes by decision. The caller is in a transaction
    and holds every decision's account row lock.

    ``strict``: a decision that cannot be opened raises (one decision); otherwise it is logged and
    skipped (a batch). A decision that already has its outcome keeps it (idempotent redelivery).
    """
    facts = _decision_facts([d.consensus.pk for d in decisions])
    opened = _outcomes_existing(facts)
    writes = _Writes()
    trades = [d for d in decisions if d.spec is not None and d.consensus.pk not in opened]
    ledger = _Ledger.read(trades, flush=writes.flush)
    books = _Books(trades)
    for decision in decisions:
        consensus, account = decision.consensus, decision.account
        if consensus.pk in opened:  # already opened (before, or earlier in this batch)
            continue
        try:
            intent = (
                _intent_for(decision, facts[consensus.pk], ledger, books, writes) if decision.spec else None
            )
        except Exception:
            if strict:
                raise
            logger.exception("decision %s: trade not opened", consensus.pk)
            continue
        outcome = Outcome(
            consensus=consensus, account=account, intent=intent, horizon_bars=account.outcome_horizon_bars
        )
        writes.outcomes.append(outcome)
        opened[consensus.pk] = outcome
    writes.flush()
    return opened


@dataclass(frozen=True)
class _Facts:
    outcome_id: int | None  # the decision's outcome, if it has one
    close: Decimal | None  # the reference price: the last daily close on or before the as-of date
    bar_date: dt.date | None  # that bar's date (the as-of date itself when the market traded that day)


def _decision_facts(consensus_ids: Sequence[int]) -> dict[int, _Facts]:
    """Per decision, in one query: its outcome and the last daily bar on or before its as-of date."""
    symbol = OuterRef(OuterRef("session__symbol"))  # seen from the instrument's subquery in daily_bars
    last_bar = daily_bars(symbol).filter(date__lte=OuterRef("session__as_of")).order_by("-date")
    rows = (
        DebateConsensus.objects.filter(pk__in=consensus_ids)
        .annotate(
            close=Subquery(last_bar.values("close")[:1], output_field=DecimalField()),
            bar_date=Subquery(last_bar.values("date")[:1]),
        )
        .values_list("pk", "outcome", "close", "bar_date")
    )
    return {pk: _Facts(outcome, close, bar_date) for pk, outcome, close, bar_date in rows}


def _outcomes_existing(facts: dict[int, _Facts]) -> dict[int, Outcome]:
    """The outcomes the decisions already have (one query, and only when there are some)."""
    ids = [f.outcome_id for f in facts.values() if f.outcome_id is not None]
    if not ids:
        return {}
    return {o.consensus_id: o for o in Outcome.objects.filter(pk__in=ids)}


@dataclass
class _Writes:
    """What a call writes, inserted one statement per table: intents, their checks, the outcomes."""

    intents: list[OrderIntent] = field(default_factory=list)
    checks: list[RiskCheck] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)

    def flush(self) -> None:
        """Insert what is pending (intents first: the others refer to them); approved intents are
        enqueued for submission after commit."""
        if self.intents:
            bulk_insert(OrderIntent, self.intents)
        if self.checks:
            bulk_insert(RiskCheck, self.checks)
        if self.outcomes:
            bulk_insert(Outcome, self.outcomes)
        for intent in self.intents:
            if intent.status == IntentStatus.APPROVED:
                transaction.on_commit(partial(order_submit_enqueue, intent_id=intent.pk), robust=True)
        self.intents, self.checks, self.outcomes = [], [], []


@dataclass(frozen=True)
class _Book:
    """A simulated account's book as of a date (read once per account and date under the lock)."""

    error: str
    account: AccountState | None
    positions: dict[str, Decimal]


def _intent_for(
    decision: _Decision,
    facts: _Facts,
    ledger: _Ledger,
    books: _Books,
    writes: _Writes,
) -> OrderIntent:
    """The decision's intent: the one it already has on its account, else a new one, sized and checked
    against the ledger (to which it is added) and queued in ``writes``."""
    consensus, account, spec = decision.consensus, decision.account, decision.spec
    assert spec is not None  # noqa: S101 - only buy/sell decisions get here
    existing = ledger.existing(consensus.pk, account.pk)
    if existing is not None and existing.pk is not None:  # stored before this call
        return OrderIntent.objects.get(pk=existing.pk)
    for name, value, allowed in (
        ("side", spec.side, Side.values),
        ("order_type", spec.order_type, OrderType.values),
        ("time_in_force", spec.time_in_force, TimeInForce.values),
    ):
        if value not in allowed:
            raise InvalidInputError.for_field(name, f"{value!r} is not one of {', '.join(allowed)}.")
    snapshot = decision.snapshot or _simulated_snapshot(decision, facts, books)
    intent, checks = _intent_build(decision, spec, snapshot, facts.close, ledger)
    ledger.add(intent)
    writes.intents.append(intent)
    writes.checks.extend(checks)
    return intent


def _simulated_snapshot(decision: _Decision, facts: _Facts, books: _Books) -> BrokerSnapshot:
    """The simulated broker's session (from the decision's facts) and book (read once per account and
    as-of date: nothing reaches the broker while the caller holds the account's lock)."""
    account, session = decision.account, decision.consensus.session
    if account.broker != BrokerKind.SIMULATED:
        raise ValueError(f"account {account.pk} is remote: its snapshot is read before the lock")
    book = books.get(account, session.as_of)
    if book.error:
        return BrokerSnapshot(error=book.error)
    return BrokerSnapshot(
        session=simulated_session(session.symbol, session.as_of, traded=facts.bar_date == session.as_of),
        account=book.account,
        position_qty=book.positions.get(session.symbol, ZERO),
    )


class _Books:
    """The simulated accounts' books as of their decisions' dates, read under the row locks the
    caller holds: on an account's first use, as of every date its decisions ask for, in one read
    (:meth:`SimulatedBroker.books_locked`); nothing reaches the broker before commit, so a book read
    first is the book a later decision would have read."""

    def __init__(self, decisions: Sequence[_Decision]) -> None:
        self._wanted: dict[int, list[dt.date]] = {}
        for decision in decisions:
            if decision.snapshot is None and decision.account.broker == BrokerKind.SIMULATED:
                self._wanted.setdefault(decision.account.pk, []).append(decision.consensus.session.as_of)
        self._books: dict[tuple[int, dt.date], _Book] = {}

    def get(self, account: TradingAccount, as_of: dt.date) -> _Book:
        """``account``'s book as of ``as_of`` (read with the account's other dates on first use)."""
        if (account.pk, as_of) not in self._books:
            dates = [d for d in self._wanted.get(account.pk, []) if (account.pk, d) not in self._books]
            for date, book in _simulated_books(account, [as_of, *dates]).items():
                self._books[account.pk, date] = book
        return self._books[account.pk, as_of]


def _simulated_books(account: TradingAccount, as_ofs: list[dt.date]) -> dict[dt.date, _Book]:
    """The simulated book as of each date, read under the account's row lock the caller holds."""
    try:
        broker = broker_for(account)
        if isinstance(broker, SimulatedBroker):
            books = broker.books_locked(account, as_ofs=as_ofs)
        else:  # pragma: no cover - a simulated account always gets the simulated broker
            books = {as_of: broker.book(as_of=as_of) for as_of in as_ofs}
    except BrokerError as exc:
        return dict.fromkeys(as_ofs, _Book(error=exc.message, account=None, positions={}))
    return {
        as_of: _Book(error="", account=state, positions={p.symbol: p.quantity for p in positions})
        for as_of, (state, positions) in books.items()
        if as_of is not None
    }


def _broker_snapshot(account: TradingAccount, symbol: str, as_of: dt.date) -> BrokerSnapshot:
    """A remote broker's session, account and position (asked outside any transaction)."""
    try:
        broker = broker_for(account)
        session = broker.trading_session(symbol=symbol, as_of=as_of)
        state, positions = broker.book(as_of=as_of)
        position = next((p.quantity for p in positions if p.symbol == symbol), ZERO)
    except BrokerError as exc:
        return BrokerSnapshot(error=exc.message)
    return BrokerSnapshot(session=session, account=state, position_qty=position)


def _intent_build(
    decision: _Decision,
    spec: IntentSpec,
    snapshot: BrokerSnapshot,
    reference: Decimal | None,
    ledger: _Ledger,
) -> tuple[OrderIntent, list[RiskCheck]]:
    """The (unsaved) intent and its checks: sized, then every risk check run against what the account
    has already promised (the ledger) and what its broker said (the snapshot)."""
    consensus, account = decision.consensus, decision.account
    symbol, as_of = consensus.session.symbol, consensus.session.as_of
    price = spec.limit_price if spec.order_type == OrderType.LIMIT and spec.limit_price else reference
    committed = ledger.commitments(account.pk, symbol, spec.side, as_of)
    pending_sells = committed.pending_sells
    quantity = spec.quantity
    if quantity is None:
        quantity = _size(account, spec, snapshot, price, available=snapshot.position_qty - pending_sells)
    # The order's terms, as the checks see them and as the intent stores them.
    terms: dict[str, Any] = {
        "symbol": symbol,
        "side": spec.side,
        "quantity": quantity,
        "order_type": spec.order_type,
        "limit_price": spec.limit_price,
        "time_in_force": spec.time_in_force,
        "reference_price": reference,
    }
    draft = risk.IntentDraft(**terms, cost_estimate=_cost_estimate(account, quantity, price))
    context = risk.RiskContext(
        active=account.active,
        kill_switch=account.kill_switch,
        broker_error=snapshot.error,
        session=snapshot.session,
        known_symbol=reference is not None,
        allowed_symbols=tuple(str(s).upper() for s in account.allowed_symbols or ()),
        max_order_notional=account.max_order_notional,
        max_position_notional=account.max_position_notional,
        max_daily_notional=account.max_daily_notional,
        day_notional_used=committed.day_notional,
        buying_power=snapshot.account.buying_power - committed.reserved_cash if snapshot.account else None,
        position_qty=snapshot.position_qty,
        pending_sell_qty=pending_sells,
        allow_short=account.allow_short,
        duplicate=ledger.duplicate(consensus.pk, symbol, spec.side, committed.same_trade),
    )
    results = risk.evaluate(draft, context)
    failed = [r for r in results if not r.passed]
    intent = OrderIntent(
        consensus=consensus,
        account=account,
        **terms,
        as_of=as_of,
        size_fraction=spec.size_fraction.quantize(PRICE_Q),
        notional=draft.notional.quantize(PRICE_Q),
        status=IntentStatus.REJECTED if failed else IntentStatus.APPROVED,
        rejection_reason="; ".join(f"{r.name}: {r.detail}" for r in failed)[:2000],
        client_order_id=client_order_id_for(consensus_id=consensus.pk, account_id=account.pk),
    )
    checks = [
        RiskCheck(intent=intent, sequence=i, name=r.name, passed=r.passed, detail=r.detail[:300])
        for i, r in enumerate(results, start=1)
    ]
    return intent, checks


def client_order_id_for(*, consensus_id: int, account_id: int) -> str:
    """``arena-<decision>-<account>-<nonce>``: names the decision; the nonce keeps ids from a reset
    database from ever matching an older order at the broker."""
    value = f"arena-{consensus_id}-{account_id}-{secrets.token_hex(4)}"
    if len(value) > CLIENT_ORDER_ID_MAX:  # only with ids beyond 10^16
        raise ValueError(f"client order id {value!r} exceeds {CLIENT_ORDER_ID_MAX} characters")
    return value


def _spec_from_consensus(consensus: DebateConsensus) -> IntentSpec:
    """The judge's proposal (validated by agents.schemas.OrderIntentSpec when it was made)."""
    proposal: dict[str, Any] = consensus.order_intent or {}
    size = _decimal(proposal.get("size_fraction"))
    return IntentSpec(
        side=consensus.action,
        size_fraction=size if size is not None and 0 <= size <= 1 else Decimal(str(consensus.size)),
        order_type=str(proposal.get("order_type") or OrderType.MARKET),
        limit_price=_limit_price(_decimal(proposal.get("limit_price"))),
        time_in_force=str(proposal.get("time_in_force") or TimeInForce.DAY),
    )


def _decimal(value: object) -> Decimal | None:
    """A finite Decimal from a JSON number, or None (an LLM's NaN or garbage is no price)."""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _limit_price(value: Decimal | None) -> Decimal | None:
    """Brokers take whole cents at or above $1 (sub-penny increments are refused)."""
    if value is None:
        return None
    quantum = Decimal("0.01") if value >= 1 else PRICE_Q
    return value.quantize(quantum, rounding=ROUND_HALF_EVEN)


def _size(
    account: TradingAccount,
    spec: IntentSpec,
    snapshot: BrokerSnapshot,
    price: Decimal | None,
    available: Decimal,
) -> Decimal:
    """Whole shares worth ``size x (sizing_notional or sizing_fraction x equity)``.

    A sell without shorting sells at most what is held (a full-size sell closes the position).
    """
    if price is None or price <= 0 or snapshot.account is None:
        return ZERO
    full = (
        account.sizing_notional
        if account.sizing_notional is not None
        else (snapshot.account.equity * account.sizing_fraction)
    )
    quantity = (full * spec.size_fraction / price).to_integral_value(rounding=ROUND_DOWN)
    if spec.side == Side.SELL and not account.allow_short:
        quantity = min(quantity, max(available, ZERO).to_integral_value(rounding=ROUND_DOWN))
    return max(quantity, ZERO)


def _cost_estimate(account: TradingAccount, quantity: Decimal, price: Decimal | None) -> Decimal:
    if price is None:
        return ZERO
    notional = abs(quantity) * price * (1 + account.slippage_bps / BPS)
    return notional + account.commission_per_order + notional * account.commission_bps / BPS


# --- what the accounts have already promised ----------------------------------------------------


@dataclass(frozen=True)
class _Commitments:
    reserved_cash: Decimal  # notional of our buys not yet at the broker
    pending_sells: Decimal  # shares our unsent sells and the broker's open sell orders still take
    day_notional: Decimal  # notional approved on the as-of date (rejected and failed ones excluded)
    same_trade: _IntentRow | None  # an open intent for the same symbol and side, if any


@dataclass
class _IntentRow:
    """An intent as the checks see it: a stored one, or one this call made (``made``; its pk is
    known once it is written)."""

    pk: int | None
    consensus_id: int
    account_id: int
    symbol: str
    side: str
    status: str
    as_of: dt.date
    quantity: Decimal
    notional: Decimal
    order_status: str | None  # its broker order's status, None when it has none
    order_open_qty: Decimal  # what its broker order has not filled yet (0 when it has none)
    made: OrderIntent | None = None

    @property
    def known_pk(self) -> int | None:
        return self.made.pk if self.made is not None else self.pk

    @property
    def unsent(self) -> bool:
        return self.status in NOT_AT_BROKER

    @property
    def still_open(self) -> bool:
        return self.status in OPEN_INTENT_STATUSES and not (
            self.status == IntentStatus.SUBMITTED and self.order_status in CLOSED_ORDER_STATUSES
        )


_ROW_FIELDS = (
    "pk",
    "consensus_id",
    "account_id",
    "symbol",
    "side",
    "status",
    "as_of",
    "quantity",
    "notional",
    "broker_order__status",
    "broker_order__quantity",
    "broker_order__filled_qty",
    "created_at",
)


def _row(
    pk: int,
    consensus_id: int,
    account_id: int,
    symbol: str,
    side: str,
    status: str,
    as_of: dt.date,
    quantity: Decimal,
    notional: Decimal,
    order_status: str | None,
    order_qty: Decimal | None,
    order_filled: Decimal | None,
    _created_at: dt.datetime,
) -> _IntentRow:
    """A stored intent's row (the fields of ``_ROW_FIELDS``)."""
    open_qty = (order_qty or ZERO) - (order_filled or ZERO)
    return _IntentRow(
        pk, consensus_id, account_id, symbol, side, status, as_of, quantity, notional, order_status, open_qty
    )


class _Ledger:
    """The intents the risk checks of some decisions depend on, read once under the accounts' row
    locks, oldest first, plus the ones made since (appended as they are made). What the one-at-a-time
    path read with three aggregate queries per decision is summed here in Python, so a batch's later
    decision sees its earlier intents exactly as it would have seen them stored."""

    def __init__(self, rows: list[_IntentRow], *, flush: Callable[[], None]) -> None:
        self.rows = rows
        self._flush = flush

    @classmethod
    def read(cls, decisions: Sequence[_Decision], *, flush: Callable[[], None]) -> _Ledger:
        """One query (a UNION whose every arm has its index): the decisions' own intents on any
        account, and each account's unsent intents, intents of the decisions' as-of dates and intents
        whose broker order is still open."""
        if not decisions:
            return cls([], flush=flush)
        consensus_ids = {d.consensus.pk for d in decisions}
        account_ids = {d.account.pk for d in decisions}
        as_ofs = {d.consensus.session.as_of for d in decisions}
        intents = OrderIntent.objects.values_list(*_ROW_FIELDS).order_by()
        arms = (
            intents.filter(consensus_id__in=consensus_ids),
            intents.filter(account_id__in=account_ids, status__in=NOT_AT_BROKER),
            intents.filter(account_id__in=account_ids, as_of__in=as_ofs),
            intents.filter(
                broker_order__account_id__in=account_ids, broker_order__status__in=OPEN_ORDER_STATUSES
            ),
        )
        union = arms[0].union(*arms[1:]).order_by("created_at", "pk")
        return cls([_row(*values) for values in union], flush=flush)

    def add(self, intent: OrderIntent) -> None:
        self.rows.append(
            _IntentRow(
                None,
                intent.consensus_id,
                intent.account_id,
                intent.symbol,
                intent.side,
                intent.status,
                intent.as_of,
                intent.quantity,
                intent.notional,
                None,
                ZERO,
                made=intent,
            )
        )

    def existing(self, consensus_id: int, account_id: int) -> _IntentRow | None:
        return next(
            (r for r in self.rows if r.consensus_id == consensus_id and r.account_id == account_id), None
        )

    def commitments(self, account_id: int, symbol: str, side: str, as_of: dt.date) -> _Commitments:
        """What the account has already promised, as the checks of a new ``side`` ``symbol`` intent
        dated ``as_of`` count it."""
        mine = [r for r in self.rows if r.account_id == account_id]
        unsent = [r for r in mine if r.unsent]
        open_orders = [r for r in mine if r.order_status in OPEN_ORDER_STATUSES and r.symbol == symbol]
        same = [r for r in unsent if r.symbol == symbol and r.side == side]
        # Made intents are newer than stored ones, so the lowest id is a stored one's if there is one.
        stored = [r for r in same if r.known_pk is not None]
        same_trade = min(stored, key=lambda r: r.known_pk or 0) if stored else (same[0] if same else None)
        if same_trade is None:  # else the lowest intent behind an open broker order for the same trade
            behind = [r for r in open_orders if r.side == side]
            same_trade = min(behind, key=lambda r: r.pk or 0) if behind else None
        return _Commitments(
            reserved_cash=sum((r.notional for r in unsent if r.side == Side.BUY), ZERO),
            pending_sells=sum(
                (r.quantity for r in unsent if r.side == Side.SELL and r.symbol == symbol), ZERO
            )
            + sum((r.order_open_qty for r in open_orders if r.side == Side.SELL), ZERO),
            day_notional=sum(
                (r.notional for r in mine if r.as_of == as_of and r.status not in NOT_COUNTED), ZERO
            ),
            same_trade=same_trade,
        )

    def duplicate(self, consensus_id: int, symbol: str, side: str, same_trade: _IntentRow | None) -> str:
        """Another open intent for this decision (on any account, newest first), or for the same trade
        on this account."""
        for r in reversed(self.rows):
            if r.consensus_id == consensus_id and r.still_open:
                return f"decision {consensus_id} already has open intent {self._pk(r)}"
        if same_trade is None:
            return ""
        known = same_trade.consensus_id
        return f"open {side} intent {self._pk(same_trade)} for {symbol} (decision {known}) here"

    def _pk(self, row: _IntentRow) -> int:
        """The row's intent id; one made by this call is written first (only a reason names it)."""
        if row.known_pk is None:
            self._flush()
        pk = row.known_pk
        assert pk is not None  # noqa: S101 - flushed above
        return pk
