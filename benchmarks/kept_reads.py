"""What the process's kept reads save one debate: its panel plan and its bar history, kept or not.

A debate's prepare step loads its session with its panel (and the panel plans' version) and builds
the panel's plan; its context reads the bar history. Both are kept by the process under a version
the database changes on every write (docs/architecture.md, "Panel plans are kept", "Bar histories
are kept"). This times each read both ways on the same database, alternating, and counts the
statements: built (the plan without a version; nothing kept) against kept (the same call again);
for the bars also the plain read of 260 bars each debate made before, and the first read of a
window (the versions, then about 630 bars a year ahead: paid once for a year of dates).

    .venv/bin/python benchmarks/kept_reads.py
    .venv/bin/python benchmarks/kept_reads.py --calls 5000
    BENCH_DATABASE_URL=sqlite:///var/bench.sqlite3 .venv/bin/python benchmarks/kept_reads.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import time
from collections.abc import Callable

from _setup import django_setup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="Calls per way and round.")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, as the throughput benchmark
    django_setup()

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from agents.selectors import panel_plan_build, panel_plans_forget
    from debates.market.history import HISTORIES
    from debates.market.sources import EmbeddedSource
    from debates.models import DebateSession
    from debates.services import debate_session_create

    session = DebateSession.objects.first() or debate_session_create(
        symbol="ACME", as_of=dt.date(2024, 3, 1), enqueue=False
    )
    loaded = DebateSession.objects.select_related("panel")

    def plan_built() -> None:
        panel_plan_build(panel=loaded.get(pk=session.pk).panel)

    def plan_kept() -> None:
        from debates.services import _plan_of, _with_panel

        _plan_of(_with_panel().get(pk=session.pk))

    def history_alone() -> None:
        EmbeddedSource()._read(session.symbol, session.as_of, 260)  # what each debate did before

    def history_read() -> None:
        HISTORIES.clear()
        EmbeddedSource().bars(session.symbol, as_of=session.as_of, lookback=260)

    def history_kept() -> None:
        EmbeddedSource().bars(session.symbol, as_of=session.as_of, lookback=260)

    def timed(call: Callable[[], None]) -> tuple[float, float, float]:
        """ms of wall and CPU per call, and statements per call."""
        call()  # warm: the kept ways keep here
        with CaptureQueriesContext(connection) as captured:
            call()
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(args.calls):
            call()
        n = args.calls
        return (time.perf_counter() - started) / n * 1e3, (time.process_time() - cpu) / n * 1e3, len(captured)

    panel_plans_forget()
    ways = {
        "session and plan, built": plan_built,
        "session and plan, kept": plan_kept,
        "bar history (260 bars), read alone": history_alone,
        "bar history, window read ahead": history_read,
        "bar history (260 bars), kept": history_kept,
    }
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, call in ways.items():
            results[name].append(timed(call))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"database: {connection.vendor}; one core; {args.calls} calls x {args.rounds} rounds; load {load}")
    for name, rows in results.items():
        wall = statistics.median(r[0] for r in rows)
        cpu = statistics.median(r[1] for r in rows)
        print(f"{name:36s} {wall:6.3f} ms ({cpu:.3f} ms CPU), {rows[0][2]:.0f} statements per call")


if __name__ == "__main__":
    main()
