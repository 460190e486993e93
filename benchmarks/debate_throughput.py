"""Debates per second with the rules panel, fully persisted, in one process (PostgreSQL by default).

Each debate: 4 tool calls, 5 analyst messages, a judge message and a consensus, written in one
transaction after the session is created, claimed and run through the debate service — the same
path the worker takes. Target (issue [1/6]): >= 100 debates/s on one core.

    .venv/bin/python benchmarks/debate_throughput.py --debates 2000
    BENCH_DATABASE_URL=sqlite:///var/bench.sqlite3 .venv/bin/python benchmarks/debate_throughput.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time

from _setup import django_setup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--debates", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, as the target says
    django_setup()

    from django.db import connection

    from debates.models import Bar, DebateSession, DebateStatus
    from debates.services import debate_session_claim, debate_session_create, debate_session_run

    symbols = list(Bar.objects.values_list("instrument__symbol", flat=True).distinct())
    first = dt.date(2023, 1, 2)
    plan = [(symbols[i % len(symbols)], first + dt.timedelta(days=i % 700)) for i in range(args.debates)]

    def run(pairs: list[tuple[str, dt.date]]) -> tuple[float, float]:
        started, cpu = time.perf_counter(), time.process_time()
        for symbol, as_of in pairs:
            session = debate_session_create(symbol=symbol, as_of=as_of, enqueue=False)
            debate_session_claim(session_id=session.pk)
            debate_session_run(session_id=session.pk)
        return time.perf_counter() - started, time.process_time() - cpu

    run(plan[: args.warmup])
    elapsed, cpu = run(plan)
    completed = DebateSession.objects.filter(status=DebateStatus.COMPLETED).count()
    print(f"database: {connection.vendor}; one core; {args.debates} debates (after {args.warmup} warm-up)")
    print(
        f"elapsed: {elapsed:.2f} s; {args.debates / elapsed:.1f} debates/s; "
        f"{elapsed / args.debates * 1000:.2f} ms per debate "
        f"({cpu / args.debates * 1000:.2f} ms of it CPU in this process, the rest waiting on the database)"
    )
    print(f"sessions completed in the database so far: {completed}")


if __name__ == "__main__":
    main()
