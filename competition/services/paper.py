"""Paper runs: on each tick of the run's django-q2 schedule, debate and trade as of the latest bar.

A tick takes the run with a lease (one tick at a time per run), finds the latest day with bars for
the run's symbols (today's bars as the market-data source delivers them), and if that day is new
for the run: values every entry's book through its broker, records the equity point, lets the
traders debate (as of that day, reading their broker's book) and trade through the outcomes
pipeline, and places the baselines' orders. Orders fill when the next bar arrives (simulated
broker) or at Alpaca (an Alpaca paper trader). A tick with no new bar does nothing, so a redelivered
or overlapping tick never trades twice. The run completes after its end date (if it has one).
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

from django.conf import settings
from django.db.models import F, Max, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from arena_project.bulk import bulk_update_rows
from debates.market.sources import get_source
from debates.models import Bar, Timeframe
from outcomes.brokers import broker_for
from outcomes.brokers.base import BrokerError

from ..calendar import opens_period
from ..models import CompetitionEntry, CompetitionRun, EntryKind, EquityPoint, RebalanceFrequency, RunStatus
from .book import Book, Holding
from .engine import _Stepper
from .runs import competition_run_finish, competition_run_heartbeat
from .scoring import competition_scores_compute

logger = logging.getLogger(__name__)
ZERO = Decimal(0)


def _tick_claim(run_id: int) -> bool:
    """Start a tick: a queued run becomes running; a running one is taken only if no tick holds it."""
    now = timezone.now()
    lease = now + dt.timedelta(seconds=settings.ARENA_COMPETITION_LEASE_SECONDS)
    free = Q(status=RunStatus.QUEUED) | Q(status=RunStatus.RUNNING) & (
        Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    )
    updated = CompetitionRun.objects.filter(free, pk=run_id).update(
        status=RunStatus.RUNNING, lease_expires_at=lease, started_at=Coalesce(F("started_at"), Value(now))
    )
    return updated == 1


def _tick_release(run_id: int) -> None:
    CompetitionRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(lease_expires_at=None)


def latest_bar_date(symbols: list[str]) -> dt.date | None:
    """The latest day with a daily bar for any of the symbols, not after today."""
    return (
        Bar.objects.filter(
            instrument__symbol__in=symbols, timeframe=Timeframe.DAY, date__lte=timezone.localdate()
        )
        .aggregate(last=Max("date"))
        .get("last")
    )


class PaperTicker(_Stepper):
    def __init__(self, run: CompetitionRun) -> None:
        self.run = run
        self.market = get_source()

    def tick(self, day: dt.date) -> None:
        entries = list(
            CompetitionEntry.objects.filter(run=self.run)
            .select_related("trader__panel", "account")
            .order_by("id")
        )
        symbols = list(
            Bar.objects.filter(instrument__symbol__in=self.run.symbols, timeframe=Timeframe.DAY, date=day)
            .values_list("instrument__symbol", flat=True)
            .distinct()
        )
        first = self.run.last_date is None
        for entry in entries:
            book = self._book(entry, day)
            if book is None:
                continue
            close = lambda s: self._close(s, day)  # noqa: E731 - a one-line valuation callback
            EquityPoint.objects.get_or_create(
                entry=entry,
                date=day,
                defaults={
                    "equity": book.equity(close).quantize(Decimal("0.0001")),
                    "cash": book.cash.quantize(Decimal("0.0001")),
                    "gross_exposure": book.gross_exposure(close).quantize(Decimal("0.0001")),
                    "cost_usd": entry.cost_usd,
                },
            )
            frequency = entry.trader.rebalance_frequency if entry.trader else RebalanceFrequency.DAILY
            if not opens_period(self.run.last_date, day, frequency):
                continue
            if entry.kind == EntryKind.TRADER:
                self._trader_day(entry, day, symbols, accounts=None)  # the broker's own book
            elif entry.kind == EntryKind.BUY_AND_HOLD:
                if first:
                    self._buy_and_hold(entry, book, day, symbols)
            else:
                self._random_day(entry, book, day, symbols)
            entry.last_date = day
        bulk_update_rows(CompetitionEntry, entries, ["last_date", "decisions", "cost_usd"])

    def _book(self, entry: CompetitionEntry, day: dt.date) -> Book | None:
        """The entry's book as its broker reports it now (the simulated broker first matches new bars)."""
        assert entry.account is not None  # noqa: S101 - every entry has an account
        try:
            broker = broker_for(entry.account)
            state = broker.account(as_of=day)
            positions = broker.positions(as_of=day)
        except BrokerError as exc:
            logger.warning("paper run %s: %s's broker unavailable: %s", self.run.pk, entry.label, exc.message)
            return None
        return Book(
            cash=state.cash,
            holdings={p.symbol: Holding(p.quantity, p.average_price) for p in positions if p.quantity},
        )


def competition_paper_advance(*, run_id: int) -> str:
    """One tick; returns what it did. Finishes the run (scores) once its end date has passed."""
    run = CompetitionRun.objects.filter(pk=run_id).first()
    if run is None or run.finished:
        return "skipped: no such run, or finished"
    if not _tick_claim(run_id):
        return "skipped: a tick is in progress"
    run.refresh_from_db()
    try:
        day = latest_bar_date(run.symbols)
        if run.end_date is not None and timezone.localdate() > run.end_date:
            competition_scores_compute(run=run)
            competition_run_finish(run_id=run_id, status=RunStatus.COMPLETED)
            return "completed"
        if day is None or (run.last_date is not None and day <= run.last_date):
            return "no new bar"
        PaperTicker(run).tick(day)
        cost = sum((e.cost_usd for e in CompetitionEntry.objects.filter(run=run)), ZERO)
        competition_run_heartbeat(run_id=run_id, last_date=day, days_done=run.days_done + 1, cost_usd=cost)
        run.refresh_from_db()
        competition_scores_compute(run=run)
        if run.budget_usd is not None and not run.confirmed and cost > run.budget_usd:
            competition_run_finish(
                run_id=run_id,
                status=RunStatus.FAILED,
                error=f"Stopped: spent ${cost} of a ${run.budget_usd} budget.",
            )
        return f"ticked {day}"
    except Exception as exc:
        logger.exception("paper run %s tick failed", run_id)
        return f"tick failed: {type(exc).__name__}: {exc}"
    finally:
        _tick_release(run_id)
