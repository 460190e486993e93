"""The worker is SIGKILLed after the broker accepted the order and before our bookkeeping: the retry
leaves one broker order and one link. Real processes, real PostgreSQL, no hooks in the code under test.

How the kill is timed: this test holds ``LOCK TABLE outcomes_brokerorder IN SHARE MODE`` from a
separate connection. Reads still work, so the worker claims the intent, asks the broker for the order,
sends it (the broker records it) and then blocks on its INSERT of the link. The test waits until the
broker has the order *and* the worker's backend is waiting on that lock, SIGKILLs the worker, releases
the lock (the dead worker's transaction is rolled back: nothing of the link survives), lets the lease
run out as django-q2's redelivery would, and runs the task again in a fresh process.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from debates.market.alpaca import new_york_today
from debates.models import DebateConsensus
from outcomes.models import BrokerOrder, IntentStatus, OrderIntent, SimOrder, TradingAccount
from outcomes.services import decision_trade_open, session_account_attach, trading_account_create
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.outcomes.conftest import KEY, SECRET, add_bars

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL and a second process"),
    pytest.mark.django_db(transaction=True),
]
ROOT = Path(__file__).resolve().parents[2]
WORKER = "arena-kill-test-worker"
RUN_TASK = (
    "import sys, django; django.setup(); from outcomes.tasks import order_submit; "
    "print(order_submit(int(sys.argv[1])), flush=True)"
)
Decide = Callable[..., DebateConsensus]


def _database_url(application_name: str) -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST']}:{s['PORT']}/{s['NAME']}?application_name={application_name}"


def _worker(intent_id: int, extra_env: dict[str, str]) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DEBUG": "1",
        "DJANGO_SETTINGS_MODULE": "arena_project.settings",
        "DATABASE_URL": _database_url(WORKER),
        "LOG_LEVEL": "WARNING",
        **extra_env,
    }
    return subprocess.Popen(  # noqa: S603 - our own interpreter and a constant script
        [sys.executable, "-c", RUN_TASK, str(intent_id)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _worker_state(cursor: psycopg.Cursor[Any]) -> str | None:
    cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE application_name = %s", [WORKER])
    row = cursor.fetchone()
    return row[0] if row else None


def _kill_between_submit_and_save(
    intent: OrderIntent, broker_has_it: Callable[[], bool], env: dict[str, str]
) -> None:
    s = connection.settings_dict
    blocker = psycopg.connect(
        host=s["HOST"], port=s["PORT"], dbname=s["NAME"], user=s["USER"], password=s.get("PASSWORD") or None
    )
    watcher = psycopg.connect(
        host=s["HOST"],
        port=s["PORT"],
        dbname=s["NAME"],
        user=s["USER"],
        password=s.get("PASSWORD") or None,
        autocommit=True,
    )
    try:
        blocker.execute("LOCK TABLE outcomes_brokerorder IN SHARE MODE")
        worker = _worker(intent.pk, env)
        deadline = time.monotonic() + 60
        with watcher.cursor() as cursor:
            while not (broker_has_it() and _worker_state(cursor) == "Lock"):
                assert worker.poll() is None, worker.communicate()
                assert time.monotonic() < deadline, "the worker never reached the bookkeeping"
                time.sleep(0.05)
            worker.send_signal(signal.SIGKILL)
            assert worker.wait(10) == -signal.SIGKILL
            blocker.rollback()  # release: the dead worker's backend rolls back and goes away
            while _worker_state(cursor) is not None or cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [WORKER]
            ).fetchone() != (0,):
                assert time.monotonic() < deadline, "the dead worker's backend never went away"
                time.sleep(0.05)
    finally:
        blocker.close()
        watcher.close()


def _retry(intent: OrderIntent, env: dict[str, str]) -> str:
    # django-q2 redelivers the unacknowledged task after `retry` seconds; the lease has run out by then.
    OrderIntent.objects.filter(pk=intent.pk).update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
    worker = _worker(intent.pk, env)
    out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err
    return out.strip()


def _approved(
    account: TradingAccount, consensus: DebateConsensus, monkeypatch: pytest.MonkeyPatch
) -> OrderIntent:
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)  # the enqueue only queues; the processes below run the task
    session_account_attach(session=consensus.session, account=account)
    intent = decision_trade_open(consensus_id=consensus.pk).intent
    assert intent is not None and intent.status == IntentStatus.APPROVED
    return intent


def test_killed_worker_then_retry_leaves_one_simulated_order_and_one_link(
    account: TradingAccount, make_decision: Decide, monkeypatch: pytest.MonkeyPatch
) -> None:
    intent = _approved(account, make_decision(), monkeypatch)
    orders = SimOrder.objects.filter(client_order_id=intent.client_order_id)
    _kill_between_submit_and_save(intent, orders.exists, env={})

    intent.refresh_from_db()
    assert orders.count() == 1 and orders.get().status == "filled"  # the broker accepted (and filled) it
    assert (
        not BrokerOrder.objects.exists() and intent.status == IntentStatus.SUBMITTING
    )  # we recorded nothing

    assert _retry(intent, env={}).startswith(f"linked broker order {orders.get().pk}")
    intent.refresh_from_db()
    assert orders.count() == 1 and BrokerOrder.objects.count() == 1
    assert BrokerOrder.objects.get().intent == intent and intent.status == IntentStatus.SUBMITTED
    assert intent.attempts == 2
    assert BrokerOrder.objects.get().fills.count() == 1


def test_killed_worker_then_retry_leaves_one_alpaca_order_and_one_link(
    arena: object, make_decision: Decide, monkeypatch: pytest.MonkeyPatch
) -> None:
    today = new_york_today()
    add_bars("AAPL", [(today, "100", "101", "99", "100", 1_000_000)])
    with FakeAlpacaServer(api_key=KEY, secret_key=SECRET) as server:
        env = {
            "ALPACA_API_KEY": KEY,
            "ALPACA_SECRET_KEY": SECRET,
            "ALPACA_TRADING_URL": server.base_url,
            "ARENA_ALPACA_TIMEOUT_S": "5",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        from django.conf import settings

        monkeypatch.setattr(settings, "ARENA_ALPACA_TRADING_URL", server.base_url)
        account = trading_account_create(name="alpaca-kill", broker="alpaca", sizing_notional=D(1000))
        intent = _approved(account, make_decision(symbol="AAPL", as_of=today, size=1.0), monkeypatch)
        _kill_between_submit_and_save(intent, lambda: bool(server.orders()), env)
        assert len(server.orders()) == 1 and not BrokerOrder.objects.exists()

        assert _retry(intent, env).startswith("linked broker order")
        assert server.count("POST", "/v2/orders") == 1  # found by its client order id, never sent again
        assert len(server.orders()) == 1 and BrokerOrder.objects.count() == 1
        assert BrokerOrder.objects.get().broker_order_id == server.orders()[0]["id"]
