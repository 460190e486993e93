"""Scores from hand-made equity curves: values, ranks, alpha, cost per alpha, and the baseline rule."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from competition.models import CompetitionEntry, CompetitionScore, EntryKind, EquityPoint
from competition.services.runs import competition_run_create
from competition.services.scoring import competition_scores_compute

from .conftest import END, START

pytestmark = pytest.mark.django_db


def _curve(entry: CompetitionEntry, values: list[float], *, cost: str = "0") -> None:
    day = dt.date(2024, 1, 1)
    EquityPoint.objects.bulk_create(
        EquityPoint(
            entry=entry,
            date=day + dt.timedelta(days=i),
            equity=Decimal(str(v)),
            cash=Decimal(str(v)),
            gross_exposure=Decimal(0),
            cost_usd=Decimal(cost),
        )
        for i, v in enumerate(values)
    )


@pytest.fixture
def run(traders):
    return competition_run_create(
        traders=["steady", "bold"], symbols=["ACME"], start=START, end=END, enqueue=False
    )


def _entries(run):
    entries = {e.label if e.kind == EntryKind.TRADER else e.kind: e for e in run.entries.all()}
    return entries["steady"], entries["bold"], entries[EntryKind.BUY_AND_HOLD], entries[EntryKind.RANDOM]


def test_scores_on_hand_computed_curves(run, settings):
    steady, bold, held, rand = _entries(run)
    _curve(steady, [100.0, 110.0, 99.0, 108.9, 108.9])  # +8.9 %, max drawdown -10 %
    _curve(bold, [100.0, 90.0, 80.0, 85.0, 95.0])  # -5 %
    _curve(held, [100.0, 101.0, 102.0, 103.0, 104.0])  # +4 %
    _curve(rand, [100.0, 100.0, 100.0, 100.0, 100.0])  # flat
    steady.decisions = 4
    steady.save()

    scores = {s.entry_id: s for s in competition_scores_compute(run=run)}

    s = scores[steady.pk]
    assert s.rank == 1 and s.days == 4
    assert s.total_return == pytest.approx(0.089)
    assert s.max_drawdown == pytest.approx(-0.1)
    assert (s.win_days, s.active_days, s.win_rate) == (2, 3, pytest.approx(2 / 3))
    assert s.alpha_pp == pytest.approx(8.9 - 4.0)
    assert s.cost_per_alpha_usd == Decimal(0)  # a rules panel: free alpha
    assert s.decisions == 4 and s.final_equity == Decimal("108.9")
    assert scores[held.pk].rank == 2 and scores[held.pk].alpha_pp == 0.0
    assert scores[held.pk].cost_per_alpha_usd is None
    b = scores[bold.pk]
    assert b.rank == 4 and b.alpha_pp == pytest.approx(-9.0) and b.cost_per_alpha_usd is None
    assert scores[rand.pk].sharpe is None and scores[rand.pk].sortino is None  # no variance: undefined
    assert list(CompetitionScore.objects.filter(run=run).order_by("rank").values_list("rank", flat=True)) == [
        1,
        2,
        3,
        4,
    ]
    # recomputing replaces, never duplicates
    competition_scores_compute(run=run)
    assert CompetitionScore.objects.filter(run=run).count() == 4


def test_an_entry_is_distinguishable_only_when_its_interval_clears_both_baselines(run):
    steady, bold, held, rand = _entries(run)
    days = 120
    _curve(steady, [100.0 * 1.01**i for i in range(days)])  # +1 % every day: no luck about it
    _curve(bold, [100.0 * (1.002 if i % 2 else 0.999) ** i for i in range(days)])
    _curve(held, [100.0 * (1.01 if i % 2 else 0.99) ** (i % 7) for i in range(days)])
    _curve(rand, [100.0 * (1.012 if i % 3 else 0.985) ** (i % 5) for i in range(days)])

    scores = {s.entry_id: s for s in competition_scores_compute(run=run)}

    assert scores[steady.pk].distinguishable is True
    assert scores[steady.pk].total_return_low > max(
        scores[held.pk].total_return_high, scores[rand.pk].total_return_high
    )
    assert scores[bold.pk].distinguishable is False
    assert scores[bold.pk].total_return_low <= scores[held.pk].total_return_high


def test_too_short_a_curve_has_no_interval_and_is_never_distinguishable(run):
    for entry in run.entries.all():
        _curve(entry, [100.0, 105.0])
    scores = competition_scores_compute(run=run)
    assert all(s.total_return_low is None and s.distinguishable is False for s in scores)
