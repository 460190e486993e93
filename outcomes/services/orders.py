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
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django_q.tasks import async_task

from arena_project.errors import ConflictError
from outcomes.brokers import broker_for
from outcomes.brokers.base import (
    Broker,
    BrokerConfigurationError,
    BrokerError,
    BrokerFill,
    BrokerOrderState,
    BrokerRejectedError,
    BrokerUnavailableError,
    DuplicateClientOrderIdError,
    OrderRequest,
)
from outcomes.models import (
    OPEN_ORDER_STATUSES,
    BrokerKind,
    BrokerOrder,
    BrokerOrderStatus,
    Fill,
    IntentStatus,
    OrderIntent,
)

logger = logging.getLogger(__name__)

ZERO = Decimal(0)
CLOSED_ORDER_STATUSES = tuple(s for s in BrokerOrderStatus.values if s not in OPEN_ORDER_STATUSES)
BPS = Decimal(10_000)
PRICE_Q = Decimal("0.0001")
CLIENT_ORDER_ID_MAX = 48  # Alpaca's documented limit (older docs); we stay within it
NOT_AT_BROKER = (IntentStatus.APPROVED, IntentStatus.SUBMITTING)
# Intents a real broker will still take: older approved ones have missed their market.
STALE_AFTER = dt.timedelta(days=1)


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
