"""A debate's decision is queued for its trade: the debate does not wait for it, the worker opens it
(through django-q2), a second delivery changes nothing, and a queue that is down loses no decision."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.signals import post_execute
from django_q.signing import SignedPackage
from django_q.tasks import _sync

from debates.models import DebateConsensus, DebateStatus
from debates.services import debate_run_now
from outcomes.models import IntentStatus, OrderIntent, Outcome
from outcomes.services import outcomes_update

pytestmark = pytest.mark.django_db
AS_OF = dt.date(2024, 3, 1)  # the rules panel says BUY on ACME that day


def _queued(name_prefix: str) -> list[bytes | str]:
    """The packages waiting in django-q2's queue whose task name starts with ``name_prefix``."""
    packages = [package for _ack, package in get_broker().dequeue() or []]
    return [p for p in packages if SignedPackage.loads(p)["name"].startswith(name_prefix)]


def test_a_debate_queues_its_trade_and_the_worker_opens_it_once(
    arena: Any, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    monkeypatch.setattr(Conf, "SYNC", False)  # the enqueue only queues; the "worker" below runs it
    with django_capture_on_commit_callbacks(execute=True):
        session = debate_run_now(symbol="ACME", as_of=AS_OF)
    assert session.status == DebateStatus.COMPLETED
    consensus = DebateConsensus.objects.get(session=session)
    assert consensus.action == "buy"
    assert not Outcome.objects.exists()  # the debate returned before its trade was opened

    (package,) = _queued(f"trade-open-{consensus.pk}")
    assert SignedPackage.loads(package)["func"] == "outcomes.tasks.trade_open"
    monkeypatch.setattr(Conf, "SYNC", True)  # the worker runs in this process (and its test transaction)
    ran: list[tuple[bool, str]] = []

    def executed(sender: object, task: dict[str, Any], **kwargs: object) -> None:
        ran.append((task["success"], task["result"]))

    post_execute.connect(executed)
    try:
        with django_capture_on_commit_callbacks() as first_commit:
            _sync(package)
        with django_capture_on_commit_callbacks() as second_commit:
            _sync(package)  # at-least-once: a second delivery finds the outcome and changes nothing
    finally:
        post_execute.disconnect(executed)

    outcome = Outcome.objects.get()
    assert outcome.consensus_id == consensus.pk
    intent = OrderIntent.objects.get()
    assert outcome.intent_id == intent.pk and intent.status == IntentStatus.APPROVED
    assert ran == [(True, f"outcome {outcome.pk}, intent {intent.pk} approved")] * 2
    # the approved intent's submission is queued on the first delivery's commit, not again
    assert [c.func.__name__ for c in first_commit] == ["order_submit_enqueue"] and not second_commit


def test_a_queue_that_is_down_fails_no_debate_and_the_update_opens_the_trade_later(
    arena: Any, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    def queue_down(*args: object, **kwargs: object) -> None:
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr("outcomes.services.opening.async_task", queue_down)
    with django_capture_on_commit_callbacks(execute=True):
        session = debate_run_now(symbol="ACME", as_of=AS_OF)
    assert session.status == DebateStatus.COMPLETED and not Outcome.objects.exists()

    monkeypatch.undo()
    outcomes_update()
    outcome = Outcome.objects.get()
    assert outcome.consensus.session_id == session.pk and outcome.intent is not None
