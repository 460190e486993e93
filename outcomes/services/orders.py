"""The order pipeline: decision -> order intent (sized, risk-checked) -> broker order -> fills.

Idempotency, in three layers (docs/outcomes.md):
1. one intent per (decision, account), and each intent's client order id is fixed at creation;
2. a submission first *claims* the intent with one conditional UPDATE (approved -> submitting, or a
   submitting intent whose lease ran out because its worker died), so two workers never both send;
3. before sending, and after any answer that leaves the order's fate unknown, the broker is asked
   for the order by its client order id; a found order is linked, never sent again. The broker's own
   refusal of a reused client order id (Alpaca's 422) is treated the same way.
The link (BrokerOrder, one-to-one with the intent) is written under the intent's row lock, so a
late second writer finds it instead of adding another.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Min, Q, Sum
from django.utils import timezone
from django_q.tasks import async_task

from arena_project.errors import ConflictError, InvalidInputError
from debates.bulk import bulk_insert
from debates.models import DebateConsensus
from outcomes import risk
from outcomes.brokers import broker_for
from outcomes.brokers.base import (
    AccountState,
    Broker,
    BrokerConfigurationError,
    BrokerError,
    BrokerFill,
    BrokerOrderState,
    BrokerRejectedError,
    BrokerUnavailableError,
    DuplicateClientOrderIdError,
    OrderRequest,
    SessionState,
)
from outcomes.brokers.simulated import SimulatedBroker, last_close
from outcomes.models import (
    OPEN_INTENT_STATUSES,
    OPEN_ORDER_STATUSES,
    BrokerKind,
    BrokerOrder,
    BrokerOrderStatus,
    Fill,
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

logger = logging.getLogger(__name__)

ZERO = Decimal(0)
CLOSED_ORDER_STATUSES = tuple(s for s in BrokerOrderStatus.values if s not in OPEN_ORDER_STATUSES)
BPS = Decimal(10_000)
PRICE_Q = Decimal("0.0001")
CLIENT_ORDER_ID_MAX = 48  # Alpaca's documented limit (older docs); we stay within it
NOT_AT_BROKER = (IntentStatus.APPROVED, IntentStatus.SUBMITTING)
# Intents a real broker will still take: older approved ones have missed their market.
STALE_AFTER = dt.timedelta(days=1)


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


# --- decisions become intents -------------------------------------------------------------------


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
            return _trade_open_locked(consensus, account, spec, None)
    # A remote broker is asked outside any row lock (no network inside a lock), then we lock again.
    snapshot = _remote_snapshot(account, consensus)
    with transaction.atomic():
        account = TradingAccount.objects.select_for_update().get(pk=account.pk)
        return _trade_open_locked(consensus, account, spec, snapshot)


def decisions_trade_open(
    *, consensus_ids: Sequence[int], consensuses: Sequence[DebateConsensus] | None = None
) -> list[Outcome]:
    """:func:`decision_trade_open` for several decisions, in the order given; same results, same
    idempotency. ``consensuses`` (sessions loaded), when given, are the rows of ``consensus_ids``.

    A decision whose trade cannot be opened is logged and skipped, so one bad decision does not
    cost the others theirs (``update_outcomes`` picks it up later).
    """
    given = {c.pk: c for c in consensuses or ()}
    opened = []
    for consensus_id in consensus_ids:
        try:
            opened.append(decision_trade_open(consensus_id=consensus_id, consensus=given.get(consensus_id)))
        except Exception:
            logger.exception("decision %s: trade not opened", consensus_id)
    return opened


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
    if account is None:  # no default account yet: create it (race-safe), then lock it
        account = TradingAccount.objects.select_for_update().get(pk=trading_account_default_get().pk)
    return account


def _trade_open_locked(
    consensus: DebateConsensus,
    account: TradingAccount,
    spec: IntentSpec | None,
    snapshot: BrokerSnapshot | None,
) -> Outcome:
    """Caller holds the account's row lock (see :func:`decision_trade_open`)."""
    existing = Outcome.objects.filter(consensus=consensus).first()
    if existing is not None:
        return existing
    intent = _intent_create_locked(consensus, account, spec, snapshot) if spec else None
    return Outcome.objects.create(
        consensus=consensus, account=account, intent=intent, horizon_bars=account.outcome_horizon_bars
    )


def order_intent_create(
    *, consensus: DebateConsensus, account: TradingAccount, spec: IntentSpec
) -> OrderIntent:
    """Size, check and store an intent for ``consensus`` on ``account`` (returns the existing one if any).

    A failed check does not raise: the intent is stored as rejected with every check and its reason.
    """
    snapshot = _remote_snapshot(account, consensus)
    with transaction.atomic():
        account = TradingAccount.objects.select_for_update().get(pk=account.pk)
        return _intent_create_locked(consensus, account, spec, snapshot)


def _remote_snapshot(account: TradingAccount, consensus: DebateConsensus) -> BrokerSnapshot | None:
    """A remote broker is asked before the transaction (no network inside a row lock); the simulated
    broker's book is read under the lock instead (None here)."""
    if account.broker == BrokerKind.SIMULATED:
        return None
    return _broker_snapshot(account, consensus.session.symbol, consensus.session.as_of)


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


def _broker_snapshot(
    account: TradingAccount, symbol: str, as_of: dt.date, *, locked: bool = False
) -> BrokerSnapshot:
    """The broker's session, account and position; ``locked``: the caller holds ``account``'s row lock
    (the simulated book then reads under it instead of locking the row again)."""
    try:
        broker = broker_for(account)
        session = broker.trading_session(symbol=symbol, as_of=as_of)
        if locked and isinstance(broker, SimulatedBroker):
            state, positions = broker.book_locked(account, as_of=as_of)
        else:
            state, positions = broker.book(as_of=as_of)
        position = next((p.quantity for p in positions if p.symbol == symbol), ZERO)
    except BrokerError as exc:
        return BrokerSnapshot(error=exc.message)
    return BrokerSnapshot(session=session, account=state, position_qty=position)


def _intent_create_locked(
    consensus: DebateConsensus, account: TradingAccount, spec: IntentSpec, snapshot: BrokerSnapshot | None
) -> OrderIntent:
    """Caller is in a transaction and holds the account's row lock, so concurrent intents see each other."""
    session = consensus.session
    symbol, as_of = session.symbol, session.as_of
    related = _related_intents(consensus, account, symbol, spec.side)
    existing = next(
        (r for r in related if r.consensus_id == consensus.pk and r.account_id == account.pk), None
    )
    if existing is not None:
        return OrderIntent.objects.get(pk=existing.pk)
    for field, value, allowed in (
        ("side", spec.side, Side.values),
        ("order_type", spec.order_type, OrderType.values),
        ("time_in_force", spec.time_in_force, TimeInForce.values),
    ):
        if value not in allowed:
            raise InvalidInputError.for_field(field, f"{value!r} is not one of {', '.join(allowed)}.")
    if snapshot is None:
        snapshot = _broker_snapshot(account, symbol, as_of, locked=True)  # the simulated book, under the lock
    reference = last_close(symbol, as_of)
    price = spec.limit_price if spec.order_type == OrderType.LIMIT and spec.limit_price else reference
    committed = _commitments(account, symbol, spec.side, as_of, related)
    pending_sells = committed.pending_sells
    quantity = spec.quantity
    if quantity is None:
        quantity = _size(account, spec, snapshot, price, available=snapshot.position_qty - pending_sells)
    draft = risk.IntentDraft(
        symbol=symbol,
        side=spec.side,
        quantity=quantity,
        order_type=spec.order_type,
        limit_price=spec.limit_price,
        time_in_force=spec.time_in_force,
        reference_price=reference,
        cost_estimate=_cost_estimate(account, quantity, price),
    )
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
        duplicate=_duplicate(consensus, symbol, spec.side, committed.same_trade_intent, related),
    )
    results = risk.evaluate(draft, context)
    failed = [r for r in results if not r.passed]
    intent = OrderIntent.objects.create(
        consensus=consensus,
        account=account,
        symbol=symbol,
        side=spec.side,
        quantity=quantity,
        order_type=spec.order_type,
        limit_price=spec.limit_price,
        time_in_force=spec.time_in_force,
        as_of=as_of,
        size_fraction=spec.size_fraction.quantize(PRICE_Q),
        reference_price=reference,
        notional=draft.notional.quantize(PRICE_Q),
        status=IntentStatus.REJECTED if failed else IntentStatus.APPROVED,
        rejection_reason="; ".join(f"{r.name}: {r.detail}" for r in failed)[:2000],
        client_order_id=client_order_id_for(consensus_id=consensus.pk, account_id=account.pk),
    )
    bulk_insert(
        RiskCheck,
        (
            RiskCheck(intent=intent, sequence=i, name=r.name, passed=r.passed, detail=r.detail[:300])
            for i, r in enumerate(results, start=1)
        ),
    )
    if not failed:
        intent_id = intent.pk
        transaction.on_commit(lambda: order_submit_enqueue(intent_id=intent_id), robust=True)
    return intent


def client_order_id_for(*, consensus_id: int, account_id: int) -> str:
    """``arena-<decision>-<account>-<nonce>``: names the decision; the nonce keeps ids from a reset
    database from ever matching an older order at the broker."""
    value = f"arena-{consensus_id}-{account_id}-{secrets.token_hex(4)}"
    if len(value) > CLIENT_ORDER_ID_MAX:  # only with ids beyond 10^16
        raise ValueError(f"client order id {value!r} exceeds {CLIENT_ORDER_ID_MAX} characters")
    return value


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


@dataclass(frozen=True)
class _Commitments:
    reserved_cash: Decimal  # notional of our buys not yet at the broker
    pending_sells: Decimal  # shares our unsent sells and the broker's open sell orders still take
    day_notional: Decimal  # notional approved on the as-of date (rejected and failed ones excluded)
    same_trade_intent: int | None  # an open intent for the same symbol and side, if any


@dataclass(frozen=True)
class _RelatedIntent:
    pk: int
    consensus_id: int
    account_id: int
    symbol: str
    side: str
    status: str
    order_status: str | None  # its broker order's status, None when it has none


def _related_intents(
    consensus: DebateConsensus, account: TradingAccount, symbol: str, side: str
) -> list[_RelatedIntent]:
    """In one query, newest first: every intent of this decision (on any account) and this account's
    unsent intents for the same trade (the caller holds the account's row lock)."""
    rows = (
        OrderIntent.objects.filter(
            Q(consensus=consensus) | Q(account=account, symbol=symbol, side=side, status__in=NOT_AT_BROKER)
        )
        .order_by("-created_at", "-id")
        .values_list("pk", "consensus_id", "account_id", "symbol", "side", "status", "broker_order__status")
    )
    return [_RelatedIntent(*row) for row in rows]


def _commitments(
    account: TradingAccount, symbol: str, side: str, as_of: dt.date, related: list[_RelatedIntent]
) -> _Commitments:
    """What the account has already promised, in two queries (the caller holds its row lock)."""
    unsent = Q(status__in=NOT_AT_BROKER)
    counted = ~Q(status__in=[IntentStatus.REJECTED, IntentStatus.BROKER_REJECTED, IntentStatus.FAILED])
    intents = OrderIntent.objects.filter(Q(account=account) & (unsent | Q(as_of=as_of))).aggregate(
        buys=Sum("notional", filter=unsent & Q(side=Side.BUY)),
        sells=Sum("quantity", filter=unsent & Q(side=Side.SELL, symbol=symbol)),
        day=Sum("notional", filter=Q(as_of=as_of) & counted),
    )
    orders = BrokerOrder.objects.filter(
        account=account, symbol=symbol, status__in=OPEN_ORDER_STATUSES
    ).aggregate(
        sells=Sum(F("quantity") - F("filled_qty"), filter=Q(side=Side.SELL)),
        same=Min("intent_id", filter=Q(side=side)),
    )
    same_unsent = [
        r.pk
        for r in related
        if r.account_id == account.pk and r.symbol == symbol and r.side == side and r.status in NOT_AT_BROKER
    ]
    return _Commitments(
        reserved_cash=intents["buys"] or ZERO,
        pending_sells=(intents["sells"] or ZERO) + (orders["sells"] or ZERO),
        day_notional=intents["day"] or ZERO,
        same_trade_intent=min(same_unsent) if same_unsent else orders["same"],
    )


def _duplicate(
    consensus: DebateConsensus,
    symbol: str,
    side: str,
    same_trade_intent: int | None,
    related: list[_RelatedIntent],
) -> str:
    """Another open intent for this decision (on any account), or for the same trade on this account."""
    for r in related:
        still_open = r.status in OPEN_INTENT_STATUSES and not (
            r.status == IntentStatus.SUBMITTED and r.order_status in CLOSED_ORDER_STATUSES
        )
        if r.consensus_id == consensus.pk and still_open:
            return f"decision {consensus.pk} already has open intent {r.pk}"
    if same_trade_intent is None:
        return ""
    known = next((r.consensus_id for r in related if r.pk == same_trade_intent), None)
    if known is None:  # found through its open broker order, not among the unsent intents
        known = OrderIntent.objects.only("consensus_id").get(pk=same_trade_intent).consensus_id
    return f"open {side} intent {same_trade_intent} for {symbol} (decision {known}) here"


# --- submission ---------------------------------------------------------------------------------


# Set by a caller that submits approved intents itself (the competition's backtest engine).
_SUBMISSION_DEFERRED: ContextVar[bool] = ContextVar("outcomes_submission_deferred", default=False)


@contextmanager
def order_submission_deferred() -> Iterator[None]:
    """Within this block approved intents are not enqueued for submission: the caller submits them.

    A backtest needs that: the simulated broker fills an order as soon as it is submitted when the
    next bar already exists, so an intent submitted mid-day would put tomorrow's open into the book
    that sizes the day's later decisions. The engine submits a day's intents after all its decisions.
    An intent left approved is still picked up by ``intents_recover``.
    """
    token = _SUBMISSION_DEFERRED.set(True)
    try:
        yield
    finally:
        _SUBMISSION_DEFERRED.reset(token)


def order_submit_enqueue(*, intent_id: int) -> None:
    if _SUBMISSION_DEFERRED.get():
        return
    async_task("outcomes.tasks.order_submit", intent_id, task_name=f"order-submit-{intent_id}")


def order_intent_claim(*, intent_id: int, lease: dt.timedelta | None = None) -> bool:
    """Take an approved intent, or a submitting one whose lease ran out, for this worker: one UPDATE."""
    now = timezone.now()
    lease = lease or dt.timedelta(seconds=settings.ARENA_ORDER_LEASE_SECONDS)
    claimable = Q(status=IntentStatus.APPROVED) | Q(status=IntentStatus.SUBMITTING, lease_expires_at__lt=now)
    updated = OrderIntent.objects.filter(claimable, pk=intent_id).update(
        status=IntentStatus.SUBMITTING, lease_expires_at=now + lease, attempts=F("attempts") + 1
    )
    return updated == 1


def order_intent_submit(*, intent_id: int) -> BrokerOrder | None:
    """Send a claimed intent to its broker at most once and link the broker's order to it.

    The caller holds the claim (order_intent_claim). Returns the linked order, or None when the intent
    ended without one (broker refused, configuration refused, gave up). Raises BrokerUnavailableError
    when the broker could not be reached and the order's fate is unknown: the claim is released so a
    retry (which looks the order up first) can take over.
    """
    intent = OrderIntent.objects.select_related("account", "consensus").get(pk=intent_id)
    linked = BrokerOrder.objects.filter(intent=intent).first()
    if linked is not None:  # an earlier attempt (or another worker) linked it; make the intent say so
        _intent_finish(intent, IntentStatus.SUBMITTED)
        return linked
    if intent.status != IntentStatus.SUBMITTING:
        raise ConflictError(f"Intent {intent_id} is {intent.status}, not submitting; claim it first.")
    try:
        broker = broker_for(intent.account)
    except BrokerConfigurationError as exc:
        _intent_finish(intent, IntentStatus.FAILED, exc.message)
        return None
    try:
        state = _find_or_send(broker, intent)
        if state is None:
            return None
        fills = _fills_or_none(broker, state)
    except (BrokerUnavailableError, BrokerConfigurationError) as exc:
        if intent.attempts >= settings.ARENA_ORDER_MAX_ATTEMPTS:
            _intent_finish(
                intent,
                IntentStatus.FAILED,
                f"gave up after {intent.attempts} attempts ({exc.message}); whether the broker has an "
                f"order {intent.client_order_id} is unknown: check before trading it again",
            )
            return None
        _intent_release(intent, exc.message)
        raise
    mismatch = _mismatch(intent, state)
    if mismatch:
        _intent_finish(intent, IntentStatus.FAILED, mismatch)
        return None
    return _link(intent, state, fills or [], broker.kind)


def _find_or_send(broker: Broker, intent: OrderIntent) -> BrokerOrderState | None:
    """The broker's order for this intent: found by client order id, or sent now (exactly once)."""
    state = broker.get_by_client_order_id(intent.client_order_id)
    if state is not None:
        return state
    if intent.attempts > settings.ARENA_ORDER_MAX_ATTEMPTS:
        _intent_finish(intent, IntentStatus.FAILED, f"gave up after {intent.attempts - 1} attempts")
        return None
    if intent.account.broker != BrokerKind.SIMULATED and timezone.now() - intent.created_at > STALE_AFTER:
        _intent_finish(intent, IntentStatus.FAILED, "stale: approved more than a day ago, never sent")
        return None
    try:
        return broker.submit(order_request_for(intent))
    except DuplicateClientOrderIdError:
        state = broker.get_by_client_order_id(intent.client_order_id)
        if state is None:
            raise BrokerUnavailableError(
                "broker reports the client order id in use but cannot find it"
            ) from None
        return state
    except BrokerRejectedError as exc:
        _intent_finish(intent, IntentStatus.BROKER_REJECTED, exc.message)
        return None
    except BrokerUnavailableError:
        # The request may have reached the broker before the answer was lost: ask before giving up.
        found = _lookup_quietly(broker, intent.client_order_id)
        if found is None:
            raise
        return found


def _lookup_quietly(broker: Broker, client_order_id: str) -> BrokerOrderState | None:
    try:
        return broker.get_by_client_order_id(client_order_id)
    except BrokerError:
        return None


def _fills_or_none(broker: Broker, state: BrokerOrderState) -> list[BrokerFill] | None:
    """Fills if the broker answers; the order is linked either way and the next sync fetches them."""
    try:
        return broker.list_fills(state)
    except BrokerUnavailableError as exc:
        logger.warning("fills of order %s not fetched yet: %s", state.broker_order_id, exc.message)
        return None


def order_request_for(intent: OrderIntent, *, session_id: int | None = None) -> OrderRequest:
    """What is sent to the broker for ``intent``; ``session_id`` spares reading the decision's session
    when the caller has it (batches)."""
    return OrderRequest(
        client_order_id=intent.client_order_id,
        symbol=intent.symbol,
        side=intent.side,
        quantity=intent.quantity,
        order_type=intent.order_type,
        limit_price=intent.limit_price,
        time_in_force=intent.time_in_force,
        as_of=intent.as_of,
        metadata=_metadata(intent, session_id),
    )


def broker_order_build(
    intent: OrderIntent, state: BrokerOrderState, *, broker_kind: str, session_id: int | None = None
) -> BrokerOrder:
    """The (unsaved) link of ``intent`` to the broker's order ``state``: one place names the fields,
    for the one-at-a-time link and the batched one. Fills and their totals are the caller's."""
    return BrokerOrder(
        intent=intent,
        account_id=intent.account_id,
        broker=broker_kind,
        broker_order_id=state.broker_order_id,
        client_order_id=state.client_order_id,
        symbol=state.symbol,
        side=state.side,
        quantity=state.quantity,
        order_type=state.order_type,
        limit_price=state.limit_price,
        time_in_force=state.time_in_force,
        status=state.status,
        metadata=_metadata(intent, session_id),
        submitted_at=state.submitted_at,
    )


def _metadata(intent: OrderIntent, session_id: int | None) -> dict[str, Any]:
    return {
        "decision_id": intent.consensus_id,
        "session_id": session_id if session_id is not None else intent.consensus.session_id,
        "intent_id": intent.pk,
        "account_id": intent.account_id,
    }


def _mismatch(intent: OrderIntent, state: BrokerOrderState) -> str:
    """Refuse to link an order that is not this intent's (e.g. another system reused the id)."""
    theirs = (state.symbol, state.side, state.quantity)
    ours = (intent.symbol, intent.side, intent.quantity)
    if theirs != ours:
        return f"broker order {state.broker_order_id} ({intent.client_order_id}) is {theirs}, not {ours}"
    return ""


def _link(
    intent: OrderIntent, state: BrokerOrderState, fills: list[BrokerFill], broker_kind: str
) -> BrokerOrder:
    """Record the broker's order as this intent's one link (under the intent's row lock)."""
    with transaction.atomic():
        locked = OrderIntent.objects.select_for_update().get(pk=intent.pk)
        existing = BrokerOrder.objects.filter(intent=locked).first()
        if existing is not None:
            return existing
        session_id = intent.consensus.session_id
        order = broker_order_build(locked, state, broker_kind=broker_kind, session_id=session_id)
        order.save(force_insert=True)
        _apply_state(order, state, fills)
        locked.status = IntentStatus.SUBMITTED
        locked.submitted_at = timezone.now()
        locked.lease_expires_at = None
        locked.last_error = ""
        locked.save(update_fields=["status", "submitted_at", "lease_expires_at", "last_error", "updated_at"])
    return order


def _apply_state(order: BrokerOrder, state: BrokerOrderState, fills: Iterable[BrokerFill]) -> None:
    """Add fills not seen before (by the broker's fill id) and recompute the order from all of them."""
    known = set(order.fills.values_list("broker_fill_id", flat=True))
    Fill.objects.bulk_create(
        Fill(
            broker_order=order,
            account_id=order.account_id,
            broker_fill_id=f.fill_id,
            symbol=order.symbol,
            side=order.side,
            quantity=f.quantity,
            price=f.price,
            commission=f.commission,
            filled_at=f.filled_at,
            trade_date=f.trade_date,
        )
        for f in fills
        if f.fill_id not in known
    )
    rows = list(order.fills.values_list("quantity", "price"))
    filled = sum((q for q, _p in rows), ZERO)
    order.filled_qty = filled
    order.filled_avg_price = (
        (sum((q * p for q, p in rows), ZERO) / filled).quantize(PRICE_Q, rounding=ROUND_HALF_EVEN)
        if filled
        else None
    )
    order.status = state.status
    order.status_reason = state.reason[:300]
    order.raw = state.raw
    order.last_synced_at = timezone.now()
    order.save()


def _intent_finish(intent: OrderIntent, status: str, reason: str = "") -> None:
    fields: dict[str, Any] = {"status": status, "lease_expires_at": None, "updated_at": timezone.now()}
    if status == IntentStatus.SUBMITTED:
        fields["submitted_at"] = intent.submitted_at or timezone.now()
    else:
        fields["last_error"] = reason[:2000]
        if status == IntentStatus.BROKER_REJECTED:
            fields["rejection_reason"] = reason[:2000]
    OrderIntent.objects.filter(pk=intent.pk, status=IntentStatus.SUBMITTING).update(**fields)


def _intent_release(intent: OrderIntent, reason: str) -> None:
    """Give the claim back (lease ends now) so the next delivery may retry; the status stays unknown."""
    now = timezone.now()
    OrderIntent.objects.filter(pk=intent.pk, status=IntentStatus.SUBMITTING).update(
        lease_expires_at=now, last_error=reason[:2000], updated_at=now
    )


# --- keeping orders in step with the broker -------------------------------------------------------


def broker_order_sync(*, broker_order_id: int) -> BrokerOrder:
    """Fetch an order's state and fills from its broker and record what is new. Raises BrokerError."""
    order = BrokerOrder.objects.select_related("account").get(pk=broker_order_id)
    broker = broker_for(order.account)
    state = broker.get_order(order.broker_order_id)
    fills = broker.list_fills(state)
    with transaction.atomic():
        locked = BrokerOrder.objects.select_for_update().get(pk=order.pk)
        _apply_state(locked, state, fills)
    return locked


def broker_order_cancel(*, broker_order_id: int) -> BrokerOrder:
    """Ask the broker to cancel what has not filled; the order's final state is synced back."""
    order = BrokerOrder.objects.select_related("account").get(pk=broker_order_id)
    if order.status not in OPEN_ORDER_STATUSES:
        raise ConflictError(f"Order {order.pk} is {order.status}; only open orders can be cancelled.")
    broker_for(order.account).cancel(order.broker_order_id)
    return broker_order_sync(broker_order_id=order.pk)


def open_orders_sync() -> tuple[int, int]:
    """Sync every open order; returns (synced, failed). One broker failing does not stop the others."""
    synced = failed = 0
    for order_id in BrokerOrder.objects.filter(status__in=OPEN_ORDER_STATUSES).values_list("pk", flat=True):
        try:
            broker_order_sync(broker_order_id=order_id)
            synced += 1
        except BrokerError as exc:
            failed += 1
            logger.warning("order %s not synced: %s", order_id, exc.message)
        except Exception:  # a bug with one order must not stop the others from syncing
            failed += 1
            logger.exception("order %s not synced", order_id)
    return synced, failed


def intents_recover(*, now: dt.datetime | None = None, grace: dt.timedelta = dt.timedelta(minutes=2)) -> int:
    """Re-enqueue submissions that were lost: approved but never picked up (the process died between
    commit and enqueue), or submitting with an expired lease (the worker died). Returns how many."""
    now = now or timezone.now()
    stuck = OrderIntent.objects.filter(
        Q(status=IntentStatus.APPROVED, created_at__lt=now - grace)
        | Q(status=IntentStatus.SUBMITTING, lease_expires_at__lt=now)
    ).values_list("pk", flat=True)
    count = 0
    for intent_id in stuck:
        order_submit_enqueue(intent_id=intent_id)
        count += 1
    return count
