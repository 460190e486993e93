"""Score a run's entries from their equity curves: metrics, intervals, rank and the baseline rule.

Every entry of a run shares the run's trading days, so one set of bootstrap day indices (seeded by
the run) resamples all of them: their intervals come from the same resampled histories. The
baseline rule (docs/competition.md): an entry whose total-return interval overlaps the buy-and-hold
or the random baseline's is *not distinguishable from baseline*; ranks are by total return, and a
rank whose entry is not distinguishable says so wherever it is shown.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
from django.db import transaction
from django.db.models import Count, Q, Sum

from debates.models import LlmCall
from outcomes.models import SimFill

from .. import metrics
from ..models import CompetitionEntry, CompetitionRun, CompetitionScore, EntryKind, EquityPoint

USD_Q = Decimal("0.000001")


def _curves(run: CompetitionRun) -> dict[int, list[tuple[float, float]]]:
    """Per entry, (equity, gross exposure) in date order: one query for the whole run."""
    curves: dict[int, list[tuple[float, float]]] = defaultdict(list)
    rows = (
        EquityPoint.objects.filter(entry__run=run)
        .order_by("entry_id", "date")
        .values_list("entry_id", "equity", "gross_exposure")
    )
    for entry_id, equity, gross in rows:
        curves[entry_id].append((float(equity), float(gross)))
    return curves


def _llm_costs(run: CompetitionRun) -> dict[int, tuple[Decimal, int]]:
    """Per entry, (known LLM spend, calls whose price is unknown), from the cost ledger."""
    rows = (
        LlmCall.objects.filter(session__competition_decision__entry__run=run)
        .values("session__competition_decision__entry_id")
        .annotate(cost=Sum("cost_usd"), unknown=Count("id", filter=Q(cost_usd__isnull=True)))
    )
    return {
        r["session__competition_decision__entry_id"]: (r["cost"] or Decimal(0), r["unknown"]) for r in rows
    }


def _fill_counts(run: CompetitionRun) -> dict[int, int]:
    rows = (
        SimFill.objects.filter(order__account__competition_entry__run=run)
        .values("order__account__competition_entry")
        .annotate(n=Count("id"))
    )
    return {r["order__account__competition_entry"]: r["n"] for r in rows}


@transaction.atomic
def competition_scores_compute(*, run: CompetitionRun) -> list[CompetitionScore]:
    """(Re)compute and store one score per entry of ``run``; returns them ranked."""
    entries = list(CompetitionEntry.objects.filter(run=run).order_by("id"))
    curves = _curves(run)
    costs = _llm_costs(run)
    fills = _fill_counts(run)
    days = max((len(c) - 1 for c in curves.values()), default=0)
    indices = metrics.bootstrap_indices(days, seed=run.seed) if days >= 2 else None
    computed: dict[int, dict[str, object]] = {}
    intervals: dict[int, metrics.Interval | None] = {}
    for entry in entries:
        curve = curves.get(entry.pk, [])
        equity = np.array([e for e, _ in curve], dtype=np.float64)
        gross = np.array([g for _, g in curve], dtype=np.float64)
        returns = metrics.returns_from_equity(equity)
        boot = (
            metrics.bootstrap_intervals(returns, indices)
            if indices is not None and returns.size == days
            else None
        )
        wins, active = metrics.win_days(returns)
        win_interval = metrics.wilson(wins, active)
        cost, unknown = costs.get(entry.pk, (Decimal(0), 0))
        with np.errstate(divide="ignore", invalid="ignore"):
            exposure = float(np.mean(np.where(equity > 0, gross / equity, 0.0))) if equity.size else 0.0
        intervals[entry.pk] = boot.total_return if boot else None
        computed[entry.pk] = {
            "days": int(returns.size),
            "total_return": metrics.total_return(returns),
            "total_return_low": boot.total_return.low if boot else None,
            "total_return_high": boot.total_return.high if boot else None,
            "annualised_return": metrics.annualised_return(returns),
            "sharpe": metrics.sharpe(returns),
            "sharpe_low": boot.sharpe.low if boot and boot.sharpe else None,
            "sharpe_high": boot.sharpe.high if boot and boot.sharpe else None,
            "sortino": metrics.sortino(returns),
            "max_drawdown": metrics.max_drawdown(returns),
            "win_days": wins,
            "active_days": active,
            "win_rate": wins / active if active else None,
            "win_rate_low": win_interval.low if win_interval else None,
            "win_rate_high": win_interval.high if win_interval else None,
            "trades": fills.get(entry.pk, 0),
            "decisions": entry.decisions,
            "exposure": exposure,
            "final_equity": Decimal(str(equity[-1])) if equity.size else Decimal(0),
            "llm_cost_usd": cost.quantize(USD_Q, rounding=ROUND_HALF_EVEN),
            "llm_cost_unknown_calls": unknown,
        }
    baselines = {e.kind: e.pk for e in entries if e.kind != EntryKind.TRADER}
    benchmark = computed.get(baselines.get(EntryKind.BUY_AND_HOLD, -1))
    ranked = sorted(entries, key=lambda e: (-float(computed[e.pk]["total_return"]), e.pk))  # type: ignore[arg-type]
    scores = []
    for rank, entry in enumerate(ranked, start=1):
        values = computed[entry.pk]
        alpha = None
        if benchmark is not None:
            alpha = (float(values["total_return"]) - float(benchmark["total_return"])) * 100  # type: ignore[arg-type]
        per_alpha = metrics.cost_per_alpha(float(values["llm_cost_usd"]), alpha)  # type: ignore[arg-type]
        scores.append(
            CompetitionScore(
                entry=entry,
                run=run,
                rank=rank,
                alpha_pp=alpha,
                cost_per_alpha_usd=None if per_alpha is None else Decimal(str(per_alpha)).quantize(USD_Q),
                distinguishable=_distinguishable(entry, intervals, baselines),
                **values,
            )
        )
    CompetitionScore.objects.filter(run=run).delete()
    CompetitionScore.objects.bulk_create(scores)
    return scores


def _distinguishable(
    entry: CompetitionEntry, intervals: dict[int, metrics.Interval | None], baselines: dict[str, int]
) -> bool:
    """True only if the entry's interval overlaps neither baseline's (a baseline is compared with the
    other baseline). No interval (too few days) is never distinguishable."""
    own = intervals.get(entry.pk)
    if own is None:
        return False
    others = [pk for kind, pk in baselines.items() if pk != entry.pk]
    for pk in others:
        other = intervals.get(pk)
        if other is None or own.overlaps(other):
            return False
    return bool(others)
