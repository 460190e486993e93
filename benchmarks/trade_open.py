"""CPU and statements of opening trades: one decision at a time, or a backtest day's batch.

Each day: 15 buy decisions (3 simulated accounts x 5 symbols), opened either one at a time
(``decision_trade_open``, what the ``trade_open`` task runs) or as one batch (``decisions_trade_open``,
the ``consensus_batch_created`` hook), submission deferred as in a backtest. Statement counts are
exact (BEGIN and COMMIT included); judge CPU by ``time.process_time`` on a shared machine.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/arena_bench .venv/bin/python \
        benchmarks/trade_open.py --mode batch --days 20
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
import uuid
from decimal import Decimal

from _setup import django_setup

SYMBOLS = ("ACME", "BOLT", "CYAN", "DUNE", "EPIC")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("single", "batch"), default="batch")
    parser.add_argument("--days", type=int, default=20)
    args = parser.parse_args()
    django_setup()

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from agents.models import AgentProfile, Panel
    from debates.models import DebateConsensus, DebateSession, DebateStatus
    from outcomes.models import TradingAccount
    from outcomes.services import (
        decision_trade_open,
        decisions_trade_open,
        order_submission_deferred,
        session_account_attach,
        trading_account_create,
    )

    panel = Panel.objects.get(is_default=True)
    judge = AgentProfile.objects.filter(name__contains="judge").first()
    proposal = {"side": "buy", "order_type": "market", "limit_price": None, "time_in_force": "day"}

    def decision(symbol: str, as_of: dt.date, account: TradingAccount) -> DebateConsensus:
        session = DebateSession.objects.create(
            symbol=symbol, as_of=as_of, panel=panel, status=DebateStatus.COMPLETED
        )
        session_account_attach(session=session, account=account)
        consensus = DebateConsensus.objects.create(
            session=session,
            judge_profile=judge,
            action="buy",
            size=0.2,
            confidence=0.6,
            rationale="benchmark",
            order_intent={**proposal, "size_fraction": 0.2},
            agreement_rate=0.8,
            valid_analysts=5,
        )
        return DebateConsensus.objects.select_related("session").get(pk=consensus.pk)

    tag = uuid.uuid4().hex[:6]
    accounts = [
        trading_account_create(name=f"bench-{tag}-{i}", starting_cash=Decimal(1_000_000)) for i in range(3)
    ]
    weekdays = (dt.date(2023, 1, 2) + dt.timedelta(days=i) for i in range(args.days * 2))
    days = [d for d in weekdays if d.weekday() < 5][: args.days]
    cpu, statements, count = 0.0, 0, 0
    with order_submission_deferred():
        for day in days:
            batch = [decision(symbol, day, account) for account in accounts for symbol in SYMBOLS]
            started = time.process_time()
            with CaptureQueriesContext(connection) as queries:
                if args.mode == "single":
                    for consensus in batch:
                        decision_trade_open(consensus_id=consensus.pk, consensus=consensus)
                else:
                    decisions_trade_open(consensus_ids=[c.pk for c in batch], consensuses=batch)
            cpu += time.process_time() - started
            statements += len(queries.captured_queries)
            count += len(batch)
    print(
        f"{args.mode}: {count} decisions on {connection.vendor}; per decision {cpu / count * 1000:.2f} ms "
        f"CPU and {statements / count:.2f} statements (load average {os.getloadavg()[0]:.1f})"
    )


if __name__ == "__main__":
    main()
