"""Settling outcomes: once a decision's horizon has passed, score it (rules in outcomes.scoring).

A decision is judgeable when the bars table holds ``horizon_bars`` daily bars after its as-of date
and its order is no longer on its way to the broker. Its horizon date is the last of those bars:
fills up to that day count, and open positions are marked at that day's close.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from arena_project.errors import ArenaError
from debates.market.sources import get_source
from debates.models import Bar, DebateConsensus, Timeframe
from outcomes import scoring
from outcomes.models import OPEN_ORDER_STATUSES, BrokerOrder, Fill, IntentStatus, Outcome, OutcomeStatus
from outcomes.services.opening import decision_trade_open
from outcomes.services.orders import intents_recover, open_orders_sync

logger = logging.getLogger(__name__)

_NOT_TRADED_WHY = {
    IntentStatus.REJECTED: "rejected by risk checks",
    IntentStatus.BROKER_REJECTED: "refused by the broker",
    IntentStatus.FAILED: "submission failed",
}


@dataclass(frozen=True)
class Verdict:
    status: str
    score: scoring.Score
    horizon_date: dt.date
    hypothetical: bool
    rule: str


@dataclass(frozen=True)
class UpdateSummary:
    opened: int = 0
    recovered: int = 0
    synced: int = 0
    sync_failed: int = 0
    settled: int = 0
    pending: int = 0
    errors: int = 0

    def __str__(self) -> str:
        return (
            f"{self.settled} settled, {self.pending} still pending; {self.synced} open orders synced"
            f" ({self.sync_failed} failed), {self.recovered} submissions re-enqueued, "
            f"{self.opened} late decisions opened, {self.errors} errors (see the log)"
        )


def outcome_judge(
    outcome: Outcome, *, bars_after: Sequence[tuple[dt.date, Decimal, Decimal]] | None = None
) -> Verdict | None:
    """The verdict for a pending outcome, or None while it cannot be judged yet. Writes nothing.

    ``bars_after``: the symbol's daily bars after the decision's date as (date, open, close),
    ascending, when the caller has read them already (a batch); otherwise they are queried.
    """
    session = outcome.consensus.session
    if bars_after is None:
        bars = list(
            Bar.objects.filter(
                instrument__symbol=session.symbol, timeframe=Timeframe.DAY, date__gt=session.as_of
            )
            .order_by("date")
            .values_list("date", "open", "close")[: outcome.horizon_bars]
        )
    else:
        bars = list(bars_after[: outcome.horizon_bars])
    if len(bars) < outcome.horizon_bars:
        return None
    horizon_date, mark, entry = bars[-1][0], bars[-1][2], bars[0][1]
    intent = outcome.intent
    if intent is not None and intent.status in (IntentStatus.APPROVED, IntentStatus.SUBMITTING):
        return None  # still on its way to the broker
    account = outcome.account
    action = outcome.consensus.action
    order = getattr(intent, "broker_order", None) if intent is not None else None
    if order is not None and order.fills.filter(trade_date__lte=horizon_date).exists():
        fills = Fill.objects.filter(
            account=account, symbol=order.symbol, trade_date__lte=horizon_date
        ).order_by("filled_at", "id")
        rows = [scoring.FillRow(f.broker_order_id, f.side, f.quantity, f.price, f.commission) for f in fills]
        score = scoring.score_trade(rows, order.pk, mark)
        assert score is not None  # noqa: S101 - the order has fills up to the horizon (checked above)
        status = scoring.status_for(action, score, flat_band=account.flat_band, hold_band=account.hold_band)
        how = (
            "realised PnL, closed by the horizon"
            if score.basis == scoring.REALISED
            else f"marked to market at the {outcome.horizon_bars}-bar horizon close {mark}"
        )
        rule = f"{how} on {horizon_date}, net of fees; win/loss beyond ±{account.flat_band:.2%} of cost"
        return Verdict(status, score, horizon_date, False, rule)
    quantity = intent.quantity if intent is not None and intent.quantity > 0 else None
    score = scoring.score_not_traded(action=action, entry=entry, mark=mark, quantity=quantity)
    status = scoring.status_for(action, score, flat_band=account.flat_band, hold_band=account.hold_band)
    move = Decimal(score.components["forward_return"])
    if action == "hold":
        rule = (
            f"hold: price moved {move:+.2%} from the next open to the {outcome.horizon_bars}-bar horizon "
            f"close; win if within ±{account.hold_band:.2%}"
        )
    else:
        why = _why_not_traded(outcome)
        rule = (
            f"not traded ({why}): the {action} called a {score.pnl_return:+.2%} move from the next open to "
            f"the {outcome.horizon_bars}-bar horizon close; win/loss beyond ±{account.flat_band:.2%}"
        )
    return Verdict(status, score, horizon_date, True, rule)


def _why_not_traded(outcome: Outcome) -> str:
    intent = outcome.intent
    if intent is None:
        return "no order intent"
    if intent.status in _NOT_TRADED_WHY:
        return _NOT_TRADED_WHY[IntentStatus(intent.status)]
    order = getattr(intent, "broker_order", None)
    return f"order {order.status if order else 'missing'}, unfilled by the horizon"


def outcome_settle(*, outcome_id: int) -> Outcome:
    """Settle one outcome if it is judgeable (a settled outcome never changes again)."""
    outcome = Outcome.objects.select_related("consensus__session", "account", "intent__broker_order").get(
        pk=outcome_id
    )
    if outcome.status != OutcomeStatus.PENDING:
        return outcome
    verdict = outcome_judge(outcome)
    if verdict is None:
        return outcome
    with transaction.atomic():
        locked = Outcome.objects.select_for_update().get(pk=outcome_id)
        if locked.status != OutcomeStatus.PENDING:
            return locked
        verdict_apply(locked, verdict, settled_at=timezone.now())
        locked.save(update_fields=SETTLED_FIELDS)
    return locked


SETTLED_FIELDS = [
    "status",
    "basis",
    "hypothetical",
    "horizon_date",
    "quantity",
    "entry_price",
    "exit_price",
    "pnl_amount",
    "pnl_return",
    "rule",
    "detail",
    "settled_at",
    "updated_at",
]


def verdict_apply(outcome: Outcome, verdict: Verdict, *, settled_at: dt.datetime) -> None:
    """Write ``verdict`` onto ``outcome`` in memory (the :data:`SETTLED_FIELDS`); the caller holds
    the outcome's row lock, has checked it is still pending, and saves it."""
    score = verdict.score
    outcome.status = verdict.status
    outcome.basis = score.basis
    outcome.hypothetical = verdict.hypothetical
    outcome.horizon_date = verdict.horizon_date
    outcome.quantity = score.quantity
    outcome.entry_price = score.entry_price
    outcome.exit_price = score.exit_price
    outcome.pnl_amount = score.pnl_amount
    outcome.pnl_return = score.pnl_return
    outcome.rule = verdict.rule[:300]
    outcome.detail = score.components
    outcome.settled_at = settled_at


def outcomes_update(*, backfill_since: dt.datetime | None = None) -> UpdateSummary:
    """The periodic job: open late decisions, recover lost submissions, sync open orders, settle.

    ``backfill_since``: decisions created since then that never got their outcome (the signal was
    lost with its process) are handled now; older ones are left alone rather than traded late.
    """
    since = backfill_since or timezone.now() - dt.timedelta(days=1)
    opened = errors = 0
    late = DebateConsensus.objects.filter(outcome__isnull=True, created_at__gte=since).values_list(
        "pk", flat=True
    )
    for consensus_id in late:
        try:
            decision_trade_open(consensus_id=consensus_id)
            opened += 1
        except Exception:  # one bad decision must not stop the job for all the others
            errors += 1
            logger.exception("decision %s: trade not opened", consensus_id)
    recovered = intents_recover()
    errors += _bars_refresh()
    synced, failed = open_orders_sync()
    settled = 0
    pending_ids = (
        Outcome.objects.filter(status=OutcomeStatus.PENDING).order_by("pk").values_list("pk", flat=True)
    )
    for outcome_id in pending_ids:
        try:
            if outcome_settle(outcome_id=outcome_id).status != OutcomeStatus.PENDING:
                settled += 1
        except Exception:
            errors += 1
            logger.exception("outcome %s: not settled", outcome_id)
    pending = Outcome.objects.filter(status=OutcomeStatus.PENDING).count()
    return UpdateSummary(opened, recovered, synced, failed, settled, pending, errors)


def _bars_refresh() -> int:
    """With a remote market-data source, fetch the days after the cached ones for every symbol that
    has an open order or a pending outcome: fills and horizons need bars nobody else may ask for.
    Returns how many symbols failed (logged); the embedded source has nothing to fetch."""
    if settings.ARENA_MARKET_DATA_SOURCE == "embedded":
        return 0
    symbols = set(
        Outcome.objects.filter(status=OutcomeStatus.PENDING).values_list(
            "consensus__session__symbol", flat=True
        )
    ) | set(BrokerOrder.objects.filter(status__in=OPEN_ORDER_STATUSES).values_list("symbol", flat=True))
    source, today, failed = get_source(), timezone.now().date(), 0
    for symbol in sorted(symbols):
        try:
            source.bars(symbol, as_of=today, lookback=1)
        except ArenaError as exc:
            failed += 1
            logger.warning("bars of %s not refreshed: %s", symbol, exc.message)
    return failed


def outcomes_preview() -> list[tuple[Outcome, Verdict | None]]:
    """What ``outcomes_update`` would settle now, without writing anything (the command's --dry-run)."""
    pending = Outcome.objects.filter(status=OutcomeStatus.PENDING).select_related(
        "consensus__session", "account", "intent__broker_order"
    )
    return [(outcome, outcome_judge(outcome)) for outcome in pending.order_by("pk")]
