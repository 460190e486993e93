"""Competition runs: create (with the cost estimate and the budget guard), claim, release, cancel, fail.

A run is created ``queued`` with one entry per trader plus the two baselines, each with a fresh
trading account, all in one transaction; its work is enqueued after commit (a backtest task, or a
paper run's django-q2 schedule). Workers take it with a conditional UPDATE (:func:`competition_run_claim`),
so two deliveries of the same task never both run it.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task

from outcomes.models import BrokerKind, TradingAccount
from outcomes.services import trading_account_create

from ..calendar import trading_days
from ..errors import BudgetExceededError, RunNotCancellableError
from ..models import (
    CompetitionEntry,
    CompetitionRun,
    EntryKind,
    RunMode,
    RunStatus,
    TraderBroker,
    TraderProfile,
)
from .estimates import CostEstimate, competition_cost_estimate, paper_cost_estimate
from .traders import symbols_normalise

MAX_SYMBOLS = 50
MAX_TRADERS = 20
PAPER_DEFAULT_TICKS = 20  # the estimate of an open-ended paper run covers this many ticks
BASELINE_LABELS = {EntryKind.BUY_AND_HOLD: "Baseline: buy and hold", EntryKind.RANDOM: "Baseline: random"}


def _error(field: str, message: str) -> ValidationError:
    return ValidationError({field: [message]})


def _traders(values: Sequence[TraderProfile | str]) -> list[TraderProfile]:
    if not values:
        raise _error("traders", "Name at least one trader.")
    if len(values) > MAX_TRADERS:
        raise _error("traders", f"At most {MAX_TRADERS} traders per run.")
    names = [v.name if isinstance(v, TraderProfile) else str(v).strip() for v in values]
    if len(set(names)) != len(names):
        raise _error("traders", "A trader is named twice.")
    found = {t.name: t for t in TraderProfile.objects.filter(name__in=names).select_related("panel")}
    unknown = [n for n in names if n not in found]
    if unknown:
        raise _error("traders", f"Unknown trader(s): {', '.join(unknown)}.")
    inactive = [n for n in names if not found[n].active]
    if inactive:
        raise _error("traders", f"Inactive trader(s): {', '.join(inactive)}.")
    return [found[n] for n in names]


def _check_universe(traders: Sequence[TraderProfile], symbols: Sequence[str]) -> None:
    for trader in traders:
        universe = {str(s).upper() for s in trader.symbols or ()}
        missing = [s for s in symbols if universe and s not in universe]
        if missing:
            raise _error(
                "symbols",
                f"Trader {trader.name!r} does not trade {', '.join(missing)} (outside its universe).",
            )


def _check_period(symbols: Sequence[str], start: dt.date | None, end: dt.date | None) -> None:
    if start is None or end is None:
        raise _error("start" if start is None else "end", "A backtest needs a start and an end date.")
    if start > end:
        raise _error("end", f"The end ({end}) is before the start ({start}).")
    days = trading_days(symbols, start, end)
    if len(days) < 3:
        raise _error(
            "start",
            f"Only {len(days)} trading day(s) with bars between {start} and {end}; a backtest needs 3.",
        )


def budget_check(*, estimate: CostEstimate, budget_usd: Decimal | None, confirmed: bool) -> None:
    """Refuse a run whose estimate is over budget (or unknown while a budget is set) unless confirmed."""
    if budget_usd is None or confirmed:
        return
    cost = estimate.cost_usd
    if cost is not None and cost <= budget_usd:
        return
    extra = {
        "cost_estimate_usd": None if cost is None else str(cost),
        "budget_usd": str(budget_usd),
        "unknown_profiles": estimate.unknown_profiles,
        "fields": {"confirm": ["Confirm to run over budget."]},
    }
    if cost is None:
        message = (
            f"The cost cannot be estimated (no price for {', '.join(estimate.unknown_profiles)}) and the "
            f"budget is ${budget_usd}; confirm to run anyway."
        )
    else:
        message = f"Estimated cost ${cost} exceeds the budget of ${budget_usd}; confirm to run anyway."
    raise BudgetExceededError(message, extra=extra)


def default_budget() -> Decimal | None:
    raw = str(settings.ARENA_COMPETITION_DEFAULT_BUDGET_USD).strip()
    return Decimal(raw) if raw else None


def _account_for(
    run: CompetitionRun, entry: CompetitionEntry, trader: TraderProfile | None, capital: Decimal
) -> TradingAccount:
    """A fresh book for one entry; backtests always trade on the simulated broker. Baselines start
    with ``capital`` (the largest trader's, so whole-share rounding weighs no more on them)."""
    name = f"competition-{run.pk}-{entry.pk}"
    common: dict[str, Any] = {
        "description": f"Competition run {run.pk}: {entry.label}",
        "allowed_symbols": list(run.symbols),
    }
    if trader is None:  # baselines: default sizing, no limits
        return trading_account_create(name=name, starting_cash=capital, **common)
    broker = (
        BrokerKind.ALPACA
        if run.mode == RunMode.PAPER and trader.broker == TraderBroker.ALPACA_PAPER
        else BrokerKind.SIMULATED
    )
    return trading_account_create(
        name=name,
        broker=broker,
        starting_cash=trader.starting_capital,
        sizing_fraction=trader.sizing_fraction,
        sizing_notional=trader.sizing_notional,
        max_position_notional=trader.max_position_notional,
        max_order_notional=trader.max_order_notional,
        max_daily_notional=trader.max_daily_notional,
        allow_short=trader.allow_short,
        slippage_bps=trader.slippage_bps,
        commission_bps=trader.commission_bps,
        **common,
    )


@dataclass(frozen=True)
class RunPlan:
    """A run as it would be created: validated traders and symbols, its period, the budget it is held
    to and the cost estimate. Nothing is written; :func:`competition_run_create` stores it."""

    traders: list[TraderProfile]
    symbols: list[str]
    mode: str
    start: dt.date | None
    end: dt.date | None
    tick_minutes: int | None
    budget_usd: Decimal | None
    estimate: CostEstimate

    def budget_refusal(self) -> str:
        """Why the budget guard would refuse the run unconfirmed ("" when it would not)."""
        try:
            budget_check(estimate=self.estimate, budget_usd=self.budget_usd, confirmed=False)
        except BudgetExceededError as exc:
            return exc.message
        return ""

    @property
    def within_budget(self) -> bool:
        return not self.budget_refusal()


def competition_run_plan(
    *,
    traders: Sequence[TraderProfile | str],
    symbols: Sequence[str],
    mode: str = RunMode.BACKTEST,
    start: dt.date | None = None,
    end: dt.date | None = None,
    tick_minutes: int | None = None,
    budget_usd: Decimal | None = None,
    use_default_budget: bool = True,
) -> RunPlan:
    """Validate a run and estimate its cost, without writing: what a form shows before confirming.

    Raises ValidationError naming the field (unknown trader or symbol, bad period, a symbol outside a
    trader's universe).
    """
    if mode not in RunMode.values:
        raise _error("mode", f"Unknown mode {mode!r}; use backtest or paper.")
    chosen = _traders(traders)
    if not symbols:
        raise _error("symbols", "Name at least one symbol.")
    if len(symbols) > MAX_SYMBOLS:
        raise _error("symbols", f"At most {MAX_SYMBOLS} symbols per run.")
    normalised = symbols_normalise(symbols)
    _check_universe(chosen, normalised)
    if budget_usd is None and use_default_budget:
        budget_usd = default_budget()
    if mode == RunMode.BACKTEST:
        _check_period(normalised, start, end)
        assert start is not None and end is not None  # noqa: S101 - checked above
        estimate = competition_cost_estimate(traders=chosen, symbols=normalised, start=start, end=end)
    else:
        if tick_minutes is None or tick_minutes < 1:
            raise _error("tick_minutes", "A paper run needs tick_minutes >= 1.")
        if end is not None and end < timezone.localdate():
            raise _error("end", f"The end ({end}) is in the past.")
        if sum(1 for t in chosen if t.broker == TraderBroker.ALPACA_PAPER) > 1:
            raise _error("traders", "At most one Alpaca paper trader per run: they would share one account.")
        ticks = _paper_ticks(end, tick_minutes)
        estimate = paper_cost_estimate(traders=chosen, symbols=normalised, ticks=ticks)
    return RunPlan(
        traders=chosen,
        symbols=normalised,
        mode=mode,
        start=start if mode == RunMode.BACKTEST else None,
        end=end,
        tick_minutes=tick_minutes if mode == RunMode.PAPER else None,
        budget_usd=budget_usd,
        estimate=estimate,
    )


def competition_run_create(
    *,
    traders: Sequence[TraderProfile | str],
    symbols: Sequence[str],
    mode: str = RunMode.BACKTEST,
    start: dt.date | None = None,
    end: dt.date | None = None,
    tick_minutes: int | None = None,
    budget_usd: Decimal | None = None,
    use_default_budget: bool = True,
    confirm: bool = False,
    seed: int | None = None,
    name: str = "",
    requested_by: User | AnonymousUser | None = None,
    enqueue: bool = True,
) -> CompetitionRun:
    """Validate, estimate, guard the budget, and store a queued run with its entries and accounts.

    Raises ValidationError naming the field (see :func:`competition_run_plan`) or
    BudgetExceededError (estimate over budget, or unknown, without ``confirm``).
    With ``enqueue`` the backtest task (or the paper schedule) starts after commit.
    """
    plan = competition_run_plan(
        traders=traders,
        symbols=symbols,
        mode=mode,
        start=start,
        end=end,
        tick_minutes=tick_minutes,
        budget_usd=budget_usd,
        use_default_budget=use_default_budget,
    )
    budget_check(estimate=plan.estimate, budget_usd=plan.budget_usd, confirmed=confirm)
    user = requested_by if requested_by is not None and requested_by.is_authenticated else None
    with transaction.atomic():
        run = CompetitionRun(
            name=name.strip(),
            mode=plan.mode,
            symbols=plan.symbols,
            start_date=plan.start,
            end_date=plan.end,
            tick_minutes=plan.tick_minutes,
            seed=secrets.randbelow(2**31) if seed is None else seed,
            budget_usd=plan.budget_usd,
            cost_estimate_usd=plan.estimate.cost_usd,
            cost_estimate=plan.estimate.as_json(),
            confirmed=confirm,
            requested_by=user,
        )
        run.full_clean()
        run.save()
        _entries_create(run, plan.traders)
        if enqueue:
            run_id = run.pk
            if plan.mode == RunMode.BACKTEST:
                transaction.on_commit(lambda: competition_backtest_enqueue(run_id=run_id))
            else:
                transaction.on_commit(lambda: competition_paper_schedule(run_id=run_id))
    return run


def _paper_ticks(end: dt.date | None, tick_minutes: int) -> int:
    if end is None:
        return PAPER_DEFAULT_TICKS
    days = max(1, (end - timezone.localdate()).days + 1)
    return max(1, min(days, days * 24 * 60 // tick_minutes))


def _entries_create(run: CompetitionRun, traders: Sequence[TraderProfile]) -> None:
    entries = [CompetitionEntry(run=run, kind=EntryKind.TRADER, trader=t, label=t.name) for t in traders]
    entries += [CompetitionEntry(run=run, kind=kind, label=label) for kind, label in BASELINE_LABELS.items()]
    capital = max(t.starting_capital for t in traders)
    for entry in entries:
        entry.save()
        entry.account = _account_for(run, entry, entry.trader, capital)
        entry.save(update_fields=["account"])


def competition_backtest_enqueue(*, run_id: int) -> None:
    async_task("competition.tasks.competition_backtest", run_id, task_name=f"competition-{run_id}")


def competition_paper_schedule(*, run_id: int) -> None:
    """Create the paper run's django-q2 schedule (idempotent: one schedule per run, by name)."""
    run = CompetitionRun.objects.get(pk=run_id)
    name = f"competition-paper-{run_id}"
    Schedule.objects.update_or_create(
        name=name,
        defaults={
            "func": "competition.tasks.competition_paper_tick",
            "args": repr((run_id,)),
            "schedule_type": Schedule.MINUTES,
            "minutes": run.tick_minutes,
            "repeats": -1,
            "next_run": timezone.now(),
        },
    )
    CompetitionRun.objects.filter(pk=run_id).update(schedule_name=name)


def competition_run_claim(*, run_id: int, lease: dt.timedelta | None = None) -> bool:
    """Take a queued run, or a running one whose lease expired (its worker died): one conditional UPDATE."""
    lease = lease or dt.timedelta(seconds=settings.ARENA_COMPETITION_LEASE_SECONDS)
    now = timezone.now()
    claimable = Q(status=RunStatus.QUEUED) | Q(status=RunStatus.RUNNING, lease_expires_at__lt=now)
    updated = CompetitionRun.objects.filter(claimable, pk=run_id).update(
        status=RunStatus.RUNNING,
        lease_expires_at=now + lease,
        attempts=F("attempts") + 1,
        started_at=Coalesce(F("started_at"), Value(now)),  # the first claim; later slices keep it
    )
    return updated == 1


def competition_run_heartbeat(*, run_id: int, **fields: object) -> bool:
    """Renew the lease and record progress, only while the run is still running (False: it was
    cancelled or taken over, and the caller must stop)."""
    lease = dt.timedelta(seconds=settings.ARENA_COMPETITION_LEASE_SECONDS)
    updated = CompetitionRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(
        lease_expires_at=timezone.now() + lease, updated_at=timezone.now(), **fields
    )
    return updated == 1


def competition_run_release(*, run_id: int) -> bool:
    """End a slice: the run goes back to queued (progress kept) for the next task to continue it."""
    return bool(
        CompetitionRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(
            status=RunStatus.QUEUED, lease_expires_at=None, updated_at=timezone.now()
        )
    )


def competition_run_finish(*, run_id: int, status: str, error: str = "") -> bool:
    """Move a running run to a final status (False if it was cancelled meanwhile)."""
    now = timezone.now()
    updated = CompetitionRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(
        status=status, error=error[:4000], finished_at=now, lease_expires_at=None, updated_at=now
    )
    if updated:
        _unschedule(run_id)
    return updated == 1


def competition_run_cancel(*, run: CompetitionRun) -> CompetitionRun:
    """Cancel a queued or running run; a running backtest stops before its next day.

    Raises RunNotCancellableError for a run that already finished.
    """
    now = timezone.now()
    updated = CompetitionRun.objects.filter(
        pk=run.pk, status__in=[RunStatus.QUEUED, RunStatus.RUNNING]
    ).update(status=RunStatus.CANCELLED, finished_at=now, lease_expires_at=None, updated_at=now)
    run.refresh_from_db()
    if not updated:
        raise RunNotCancellableError(
            f"Run {run.pk} is already {run.status}; only queued or running runs stop."
        )
    _unschedule(run.pk)
    return run


def _unschedule(run_id: int) -> None:
    Schedule.objects.filter(name=f"competition-paper-{run_id}").delete()
