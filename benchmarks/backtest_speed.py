"""Backtest speed: 1 year x 5 symbols x 3 traders on rules panels, simulated broker (PostgreSQL by default).

Every trader debates every symbol on every trading day (daily rebalancing: the worst case), each
debate fully persisted by the debate service, each decision going through the outcomes pipeline
(intent, sizing, risk checks, simulated broker, fills), plus the two baselines; then the scores.
Pinned to one core. Target (issue [5/6]): under 60 s.

    .venv/bin/python benchmarks/backtest_speed.py
    .venv/bin/python benchmarks/backtest_speed.py --start 2024-01-02 --end 2024-12-31 --profile
    BENCH_DATABASE_URL=sqlite:///var/bench.sqlite3 .venv/bin/python benchmarks/backtest_speed.py
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import os
import pstats
import sys
import time
from collections import Counter
from types import FrameType

from _setup import django_setup

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/arena_bench_backtest"
SYMBOLS = ["ACME", "BOLT", "CYAN", "DUNE", "EPIC"]
TRADERS = [("bench-steady", "0.10"), ("bench-bold", "0.30"), ("bench-careful", "0.05")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", default="2024-01-02")
    parser.add_argument("--end", default="2024-12-31")
    parser.add_argument("--symbols", default=",".join(SYMBOLS))
    parser.add_argument("--profile", action="store_true", help="Print the 30 most expensive calls.")
    parser.add_argument("--profile-out", help="Also save the profile's stats to this file (pstats).")
    parser.add_argument(
        "--by-part", action="store_true", help="Count SQL statements per part of the run (slower)."
    )
    args = parser.parse_args()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, as the target says
    django_setup(os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))

    from django.db import connection

    from agents.models import Panel
    from competition.models import CompetitionDecision, TraderProfile
    from competition.services.engine import competition_backtest_advance
    from competition.services.runs import competition_run_claim, competition_run_create
    from competition.services.traders import trader_profile_create

    panel = Panel.objects.get(is_default=True)
    for name, fraction in TRADERS:
        if not TraderProfile.objects.filter(name=name).exists():
            trader_profile_create(name=name, panel=panel, sizing_fraction=fraction)
    run = competition_run_create(
        traders=[name for name, _ in TRADERS],
        symbols=args.symbols.split(","),
        start=dt.date.fromisoformat(args.start),
        end=dt.date.fromisoformat(args.end),
        seed=1,
        enqueue=False,
    )
    assert competition_run_claim(run_id=run.pk)
    profiler = cProfile.Profile() if args.profile else None
    statements = 0
    by_part: Counter[str] = Counter()

    def count(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        nonlocal statements
        statements += 1
        if args.by_part:
            by_part[_part(sys._getframe(1))] += 1
        return execute(sql, params, many, context)

    started, cpu_started = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    with connection.execute_wrapper(count):
        result = competition_backtest_advance(run_id=run.pk)
    if profiler:
        profiler.disable()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    run.refresh_from_db()
    debates = CompetitionDecision.objects.filter(entry__run=run, session__isnull=False).count()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"database: {connection.vendor}; one core; run {run.pk}: {result}, {run.days_total} trading days")
    print(f"load average at the end: {load}")
    print(
        f"{len(TRADERS)} traders x {len(args.symbols.split(','))} symbols: {debates} debates, + 2 baselines"
    )
    print(f"elapsed: {elapsed:.1f} s ({elapsed / max(debates, 1) * 1000:.1f} ms per debate, all included)")
    # The machine is shared: this process's CPU time and its statement count move less with the load.
    print(
        f"this process's CPU: {cpu:.1f} s; SQL statements: {statements} "
        f"({statements / max(debates, 1):.1f} per debate)"
    )
    print(f"{'rank':>4} {'entry':<28} {'return':>8} {'sharpe':>7} {'trades':>6}")
    for score in run.scores.select_related("entry").order_by("rank"):
        sharpe = f"{score.sharpe:7.2f}" if score.sharpe is not None else "    n/a"
        print(
            f"{score.rank:>4} {score.entry.label:<28} {score.total_return:>+8.2%} {sharpe} {score.trades:>6}"
        )
    for part, n in by_part.most_common():
        print(f"  {part:<58} {n:>7} statements ({n / max(debates, 1):5.1f} per debate)")
    if profiler:
        if args.profile_out:
            profiler.dump_stats(args.profile_out)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


# The innermost of these functions on the stack names the part a statement belongs to.
PARTS = {
    "on_consensus_created": "decision -> outcome + intent (outcomes receiver)",
    "on_consensus_batch_created": "decision -> outcome + intent (outcomes receiver)",
    "debate_session_run": "the debate (debate_session_run)",
    "debate_sessions_run_batch": "the debate (debate_sessions_run_batch, the day's batch)",
    "_submit_approved": "submitting the day's approved intents to the broker",
    "_baseline_day": "baselines' decisions and orders",
    "_baseline_order": "baselines' decisions and orders",
    "_baseline_decision": "baselines' decisions and orders",
    "_decisions_create": "decision rows, sessions, account links, claims",
    "_decisions_record_actions": "decision rows, sessions, account links, claims",
    "_debate": "decision rows, sessions, account links, claims",
    "_settle_outcomes": "settling the run's outcomes",
    "competition_scores_compute": "scores",
}


def _part(frame: FrameType | None) -> str:
    while frame is not None:
        name = frame.f_code.co_name
        if name in PARTS:
            return PARTS[name]
        frame = frame.f_back
    return "the engine's own bookkeeping (equity, progress, fills)"


if __name__ == "__main__":
    main()
