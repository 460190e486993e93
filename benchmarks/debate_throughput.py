"""Debates per second with the rules panel, fully persisted, in one process (PostgreSQL by default).

Each debate: 4 tool calls, 5 analyst messages, a judge message and a consensus, written in one
transaction after the session is created, claimed and run through the debate service — the same
path the worker takes. Target (issue [1/6]): >= 100 debates/s on one core.

With ``--batch N`` it then runs the same debates through the batched service as well, N at a time -
N sessions created claimed in one INSERT (``debate_sessions_create``), computed one after another
and written in one transaction (``debate_sessions_run_batch``, the path a backtest's day takes) -
and prints both figures. The worker's task still runs one session at a time.

    .venv/bin/python benchmarks/debate_throughput.py --debates 2000
    .venv/bin/python benchmarks/debate_throughput.py --debates 1000 --batch 15
    BENCH_DATABASE_URL=sqlite:///var/bench.sqlite3 .venv/bin/python benchmarks/debate_throughput.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from collections.abc import Callable

from _setup import django_setup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--debates", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--batch", type=int, default=0, help="Also run them batched, N at a time.")
    args = parser.parse_args()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, as the target says
    django_setup()

    from django.db import connection

    from agents.selectors import panel_get
    from debates.models import Bar, DebateSession, DebateStatus
    from debates.services import (
        DebateSessionRequest,
        debate_session_claim,
        debate_session_create,
        debate_session_run,
        debate_sessions_create,
        debate_sessions_run_batch,
    )

    # order_by(): Bar's default ordering would put its columns in the DISTINCT (one entry per bar).
    symbols = sorted(set(Bar.objects.order_by().values_list("instrument__symbol", flat=True).distinct()))
    first = dt.date(2023, 1, 2)
    plan = [(symbols[i % len(symbols)], first + dt.timedelta(days=i % 700)) for i in range(args.debates)]

    def one_at_a_time(pairs: list[tuple[str, dt.date]]) -> None:
        for symbol, as_of in pairs:
            session = debate_session_create(symbol=symbol, as_of=as_of, enqueue=False)
            debate_session_claim(session_id=session.pk)
            debate_session_run(session_id=session.pk)

    def batched(pairs: list[tuple[str, dt.date]]) -> None:
        panel = panel_get(name=None)
        for i in range(0, len(pairs), args.batch):
            chunk = pairs[i : i + args.batch]
            sessions = debate_sessions_create(
                requests=[DebateSessionRequest(symbol=s, as_of=d, panel=panel) for s, d in chunk]
            )
            debate_sessions_run_batch(runs=[(session.pk, None) for session in sessions])

    def measure(what: str, run: Callable[[list[tuple[str, dt.date]]], None]) -> None:
        run(plan[: args.warmup])
        statements = 0

        def count(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
            nonlocal statements
            statements += 1
            return execute(sql, params, many, context)

        started, cpu = time.perf_counter(), time.process_time()
        with connection.execute_wrapper(count):
            run(plan)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        n = len(plan)
        print(
            f"{what}: {elapsed:.2f} s; {n / elapsed:.1f} debates/s; {elapsed / n * 1000:.2f} ms per debate "
            f"({cpu / n * 1000:.2f} ms of it CPU in this process, the rest waiting on the database); "
            f"{statements / n:.1f} SQL statements per debate"
        )

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"database: {connection.vendor}; one core; {args.debates} debates (after {args.warmup} warm-up)")
    measure("one at a time (the worker's path)", one_at_a_time)
    if args.batch:
        measure(f"batched, {args.batch} at a time (debate_sessions_run_batch)", batched)
    completed = DebateSession.objects.filter(status=DebateStatus.COMPLETED).count()
    print(f"sessions completed in the database so far: {completed}; load average at the start: {load}")


if __name__ == "__main__":
    main()
