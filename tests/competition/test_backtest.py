"""The backtest engine: day by day, as of each day, through the debate service and the outcomes pipeline."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

import pytest
from django.db.models import F

from competition.calendar import trading_days
from competition.models import (
    CompetitionDecision,
    CompetitionEntry,
    CompetitionScore,
    EntryKind,
    EquityPoint,
    RunStatus,
)
from competition.services.engine import BacktestEngine, StepResult, competition_backtest_advance
from competition.services.runs import competition_run_cancel, competition_run_claim, competition_run_release
from debates.models import Bar, DebateConsensus, DebateSession, ToolCall
from outcomes.models import OrderIntent, SimFill

from .conftest import END, START

pytestmark = pytest.mark.django_db


def _curve(run, kind=EntryKind.TRADER, label=None):
    entries = CompetitionEntry.objects.filter(run=run, kind=kind)
    if label:
        entries = entries.filter(label=label)
    return list(EquityPoint.objects.filter(entry__in=entries).order_by("date").values_list("date", "equity"))


def test_backtest_runs_every_day_for_traders_and_baselines(traders, run_backtest):
    run = run_backtest(traders=["steady", "weekly"])

    days = trading_days(["ACME"], START, END)
    assert run.status == RunStatus.COMPLETED
    assert (run.days_done, run.days_total, run.progress) == (len(days), len(days), 1.0)
    entries = list(run.entries.order_by("id"))
    assert [e.kind for e in entries] == [
        EntryKind.TRADER,
        EntryKind.TRADER,
        EntryKind.BUY_AND_HOLD,
        EntryKind.RANDOM,
    ]
    for entry in entries:
        points = list(entry.equity_points.order_by("date"))
        assert [p.date for p in points] == days
        assert points[0].equity == entry.account.starting_cash  # nothing fills on the first day
    # daily trader: one debate a day but the last; weekly: the first trading day of each week
    steady = CompetitionDecision.objects.filter(entry__label="steady", entry__run=run)
    weekly = CompetitionDecision.objects.filter(entry__label="weekly", entry__run=run)
    assert steady.count() == len(days) - 1
    assert sorted(weekly.values_list("date", flat=True)) == [
        dt.date(2024, 3, 4),
        dt.date(2024, 3, 11),
        dt.date(2024, 3, 18),
    ]
    assert all(d.session.as_of == d.date for d in steady.select_related("session"))
    scores = list(CompetitionScore.objects.filter(run=run).order_by("rank"))
    assert [s.rank for s in scores] == [1, 2, 3, 4]
    held = next(s for s in scores if s.entry.kind == EntryKind.BUY_AND_HOLD)
    assert held.alpha_pp == 0.0 and held.trades == 1


def test_a_debate_as_of_d_never_reads_a_later_bar(traders, run_backtest):
    run = run_backtest(traders=["steady"])

    sessions = DebateSession.objects.filter(competition_decision__entry__run=run)
    assert sessions.count() == len(trading_days(["ACME"], START, END)) - 1
    for call in ToolCall.objects.filter(session__in=sessions).select_related("session"):
        as_of = call.session.as_of
        if call.tool == "get_bars":
            dates = [dt.date.fromisoformat(b["date"]) for b in call.result_document["bars"]]
            assert max(dates) == as_of  # its own day's close, never the next
        if call.tool == "get_quote":
            assert dt.date.fromisoformat(call.result["as_of"]) == as_of


def test_rewriting_the_future_does_not_change_past_decisions(traders, run_backtest):
    first = run_backtest(traders=["steady"], name="original")
    cutoff = dt.date(2024, 3, 13)
    # a 50 % jump in every bar after the cutoff: the days up to it must not notice
    Bar.objects.filter(instrument__symbol="ACME", date__gt=cutoff).update(
        open=F("open") * Decimal("1.5"),
        high=F("high") * Decimal("1.5"),
        low=F("low") * Decimal("1.5"),
        close=F("close") * Decimal("1.5"),
    )
    second = run_backtest(traders=["steady"], name="future rewritten")

    def decisions(run, through):
        rows = CompetitionDecision.objects.filter(
            entry__run=run, entry__kind=EntryKind.TRADER, date__lte=through
        )
        return list(rows.order_by("date").values_list("date", "action", "size"))

    assert decisions(first, cutoff) == decisions(second, cutoff)
    assert [e for d, e in _curve(first) if d <= cutoff] == [e for d, e in _curve(second) if d <= cutoff]
    assert _curve(first)[-1][1] != _curve(second)[-1][1]  # ...while the future did change the end


def test_orders_fill_at_the_next_bars_open_with_slippage(traders, run_backtest):
    run = run_backtest(traders=["bold"])

    entry = run.entries.get(label="bold")
    fills = list(SimFill.objects.filter(order__account=entry.account).select_related("order"))
    assert fills, "a 15-day run of a daily trader should trade at least once"
    days = trading_days(["ACME"], START, END)
    for fill in fills:
        placed = fill.order.as_of
        next_day = days[days.index(placed) + 1]
        bar = Bar.objects.get(instrument__symbol="ACME", date=next_day)
        slip = Decimal(1) + (Decimal(5) if fill.order.side == "buy" else Decimal(-5)) / Decimal(10_000)
        assert fill.bar_date == next_day
        assert fill.price == (bar.open * slip).quantize(Decimal("0.0001"))
    # every trade went through an intent that passed the risk checks
    assert OrderIntent.objects.filter(account=entry.account, status="submitted").count() == len(
        {f.order_id for f in fills}
    )


def test_random_baseline_is_reproducible_from_its_seed(traders, run_backtest):
    def random_decisions(seed):
        run = run_backtest(traders=["weekly"], end=dt.date(2024, 3, 12), seed=seed)
        rows = CompetitionDecision.objects.filter(entry__run=run, entry__kind=EntryKind.RANDOM)
        return list(rows.order_by("date").values_list("date", "action", "size")), _curve(
            run, EntryKind.RANDOM
        )

    assert random_decisions(11) == random_decisions(11)
    assert random_decisions(11)[0] != random_decisions(12)[0]


def test_a_run_resumed_slice_by_slice_equals_one_run_straight_through(traders, run_backtest):
    straight = run_backtest(traders=["steady"], end=dt.date(2024, 3, 14), name="straight")
    from competition.services.runs import competition_run_create

    sliced = competition_run_create(
        traders=["steady"], symbols=["ACME"], start=START, end=dt.date(2024, 3, 14), seed=7, enqueue=False
    )
    slices = 0
    while True:
        assert competition_run_claim(run_id=sliced.pk)
        result = competition_backtest_advance(
            run_id=sliced.pk, deadline=time.monotonic() - 1
        )  # one day a slice
        slices += 1
        if result != StepResult.PAUSED:
            break
        assert competition_run_release(run_id=sliced.pk)
    sliced.refresh_from_db()

    assert result == StepResult.COMPLETED and slices == sliced.days_total
    for kind in (EntryKind.TRADER, EntryKind.BUY_AND_HOLD, EntryKind.RANDOM):
        assert [e for _, e in _curve(straight, kind)] == [e for _, e in _curve(sliced, kind)]


def test_stepping_a_day_again_debates_and_trades_nothing_twice(traders, run_backtest):
    from competition.services.runs import competition_run_create

    run = competition_run_create(
        traders=["bold"], symbols=["ACME"], start=START, end=END, seed=7, enqueue=False
    )
    competition_run_claim(run_id=run.pk)
    run.refresh_from_db()
    engine = BacktestEngine(run)
    for index in range(3):
        engine._step(index, engine.days[index])
    counts = (DebateSession.objects.count(), OrderIntent.objects.count(), SimFill.objects.count())

    again = BacktestEngine(run)  # a new worker: the run's last_date was never recorded
    again._step(2, again.days[2])

    assert (DebateSession.objects.count(), OrderIntent.objects.count(), SimFill.objects.count()) == counts


def test_a_day_whose_worker_died_after_creating_its_debates_is_debated_once_when_resumed(traders):
    from competition.services.engine import _decisions_create
    from competition.services.runs import competition_run_create

    run = competition_run_create(
        traders=["steady", "bold"], symbols=["ACME", "BOLT"], start=START, end=END, seed=7, enqueue=False
    )
    competition_run_claim(run_id=run.pk)
    run.refresh_from_db()
    engine = BacktestEngine(run)
    day = engine.days[0]
    seats = [p.entry for p in engine.participants if p.entry.kind == EntryKind.TRADER]
    # The dead worker created (and claimed) the day's debates, then died before running any.
    created = _decisions_create([(e, s) for e in seats for s in ["ACME", "BOLT"]], day)
    assert DebateSession.objects.filter(status="running").count() == len(created) == 4

    resumed = BacktestEngine(run)
    resumed._step(0, day)  # their leases still hold: a live worker may be running them
    assert DebateSession.objects.filter(status="running").count() == 4
    assert not OrderIntent.objects.exists()

    DebateSession.objects.update(lease_expires_at=F("started_at"))  # the leases ran out
    resumed._step(0, day)

    assert DebateSession.objects.count() == 4  # no second debate for any (entry, symbol, day)
    assert set(DebateSession.objects.values_list("status", flat=True)) == {"completed"}
    assert set(DebateSession.objects.values_list("attempts", flat=True)) == {2}
    decisions = CompetitionDecision.objects.filter(entry__in=seats, date=day)
    assert decisions.count() == 4 and not decisions.filter(action="").exists()
    assert OrderIntent.objects.count() == OrderIntent.objects.values("consensus").distinct().count()


def test_cancel_stops_a_running_backtest_before_its_next_day(traders):
    from competition.services.runs import competition_run_create

    run = competition_run_create(
        traders=["steady"], symbols=["ACME"], start=START, end=END, seed=7, enqueue=False
    )
    competition_run_claim(run_id=run.pk)

    def cancel_after_three(current):
        if current.days_done == 3:
            competition_run_cancel(run=current)

    result = competition_backtest_advance(run_id=run.pk, on_day=cancel_after_three)

    run.refresh_from_db()
    assert result == StepResult.STOPPED
    assert run.status == RunStatus.CANCELLED and run.finished_at is not None
    assert run.days_done == 3
    assert EquityPoint.objects.filter(entry__run=run).values("date").distinct().count() == 4  # day 4 began
    assert not CompetitionScore.objects.filter(run=run).exists()


def test_a_crash_marks_the_run_failed_with_the_reason(traders, monkeypatch):
    from competition.services.runs import competition_run_create

    run = competition_run_create(
        traders=["steady"], symbols=["ACME"], start=START, end=END, seed=7, enqueue=False
    )
    competition_run_claim(run_id=run.pk)

    def broken(self, *args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(BacktestEngine, "_random_day", broken)
    with pytest.raises(RuntimeError):
        competition_backtest_advance(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "disk on fire" in run.error
    assert not competition_run_claim(run_id=run.pk)  # a redelivered task does not rerun it


@pytest.mark.django_db(transaction=True)  # commits happen, so the trades open from the receivers
def test_a_day_batched_scores_exactly_as_one_debate_at_a_time(traders, run_backtest, monkeypatch):
    """The engine writes a day's debates in one transaction; the run must be the one it was when each
    debate was written (and its trade opened) on its own."""
    from competition.services import engine
    from debates.services import debate_session_run

    def one_at_a_time(*, runs, market=None):
        return [debate_session_run(session_id=i, market=market, accounts=a) for i, a in runs]

    def fingerprint(run):
        entries = CompetitionEntry.objects.filter(run=run)
        return (
            sorted(
                (s.entry.label, s.rank, s.total_return, s.sharpe, s.trades)
                for s in CompetitionScore.objects.filter(run=run).select_related("entry")
            ),
            sorted(
                CompetitionDecision.objects.filter(entry__in=entries).values_list(
                    "entry__label", "symbol", "date", "action", "size", "session__status"
                )
            ),
            sorted(
                EquityPoint.objects.filter(entry__in=entries).values_list("entry__label", "date", "equity")
            ),
            sorted(
                OrderIntent.objects.filter(account__competition_entry__in=entries).values_list(
                    "account__competition_entry__label", "symbol", "as_of", "side", "quantity", "status"
                )
            ),
        )

    def not_needed(**kwargs):
        raise AssertionError("the receiver should have opened this trade on commit")

    # the engine's fallback must find every trade already opened by the receivers on commit
    monkeypatch.setattr(engine, "decision_trade_open", not_needed)
    batched = run_backtest(traders=["steady", "bold"], symbols=["ACME", "BOLT"])
    monkeypatch.setattr(engine, "debate_sessions_run_batch", one_at_a_time)
    single = run_backtest(traders=["steady", "bold"], symbols=["ACME", "BOLT"])

    assert batched.status == single.status == RunStatus.COMPLETED
    assert fingerprint(batched) == fingerprint(single)
    assert fingerprint(batched)[3]  # it traded
    assert not DebateConsensus.objects.filter(outcome__isnull=True).exists()
