"""Persistence while a debate runs, cancel, and a dead worker's retry: never two consensus rows."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from debates.coordinator import DebateOutcome
from debates.models import (
    DebateConsensus,
    DebateMessage,
    DebateSession,
    DebateStatus,
    ToolCall,
    ValidationStatus,
)
from debates.services import (
    _persist,
    debate_run_now,
    debate_session_cancel,
    debate_session_claim,
    debate_session_create,
    debate_session_run,
)
from debates.tasks import debate_run
from tests.coordinator.scripted import Answer, analyst, scripted_panel

pytestmark = pytest.mark.django_db
AS_OF = dt.date(2024, 3, 1)


class WorkerKilled(BaseException):
    """Stands in for SIGKILL: not an Exception, so nothing in the service catches it."""


def queued(panel) -> DebateSession:
    return debate_session_create(symbol="ACME", as_of=AS_OF, panel=panel, enqueue=False)


def expire_lease(session_id: int) -> None:
    DebateSession.objects.filter(pk=session_id).update(
        lease_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )


def test_finished_agents_are_persisted_while_others_still_think(arena, scripted):
    panel = scripted_panel(call_timeout_s=5)
    session = queued(panel)
    seen: dict[str, object] = {}

    async def look(_request):
        await asyncio.sleep(0.05)  # let the four quick answers arrive and be written
        seen["roles"] = await sync_to_async(
            lambda: sorted(DebateMessage.objects.filter(session_id=session.pk).values_list("role", flat=True))
        )()
        seen["tool_calls"] = await sync_to_async(ToolCall.objects.filter(session_id=session.pk).count)()
        seen["status"] = await sync_to_async(lambda: DebateSession.objects.get(pk=session.pk).status)()

    scripted.set("cheap", "bear", Answer(hook=look, output=analyst("bearish", 0.6)))
    debate_session_claim(session_id=session.pk)
    debate_session_run(session_id=session.pk)
    assert seen == {
        "roles": ["bull", "fundamental_analyst", "risk_manager", "technical_analyst"],
        "tool_calls": 4,  # the context goes in with the first answers (a retry resumes on it)
        "status": "running",
    }
    session.refresh_from_db()
    assert session.status == DebateStatus.COMPLETED
    assert DebateMessage.objects.filter(session=session).count() == 6
    assert ToolCall.objects.filter(session=session).count() == 4


def test_rules_debates_write_everything_in_the_final_transaction(arena):
    session = queued(arena)
    debate_session_claim(session_id=session.pk)
    with CaptureQueriesContext(connection) as queries:
        debate_session_run(session_id=session.pk)
    message_inserts = [q for q in queries if q["sql"].startswith('INSERT INTO "debates_debatemessage"')]
    assert len(message_inserts) == 1  # the six messages in one statement, no write mid-debate
    assert DebateMessage.objects.filter(session=session).count() == 6


def test_cancel_a_queued_debate(arena, api_client, user):
    session = debate_session_create(symbol="ACME", as_of=AS_OF, panel=arena, requested_by=user, enqueue=False)
    response = api_client.post(
        f"/api/debate/sessions/{session.pk}/cancel", {"reason": "changed my mind"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    session.refresh_from_db()
    assert session.error == "Cancelled by request: changed my mind" and session.finished_at is not None
    assert debate_run(session.pk) == "skipped: already claimed or finished"  # the queued task finds it gone
    assert not DebateMessage.objects.filter(session=session).exists()
    again = api_client.post(f"/api/debate/sessions/{session.pk}/cancel/")
    assert again.status_code == 409 and again.json()["code"] == "debate_finished"


def test_cancel_a_running_debate_stops_at_the_next_safe_point(arena, scripted, staff_user):
    panel = scripted_panel(call_timeout_s=10, deadline_s=30)
    session = queued(panel)

    async def cancel(_request):
        await sync_to_async(debate_session_cancel)(session_id=session.pk, user=staff_user, reason="stop")

    scripted.set("cheap", "bull", Answer(hook=cancel))
    for role in ("bear", "risk_manager"):
        scripted.set("cheap", role, Answer(delay_s=5))
    debate_session_claim(session_id=session.pk)
    started = time.monotonic()
    debate_session_run(session_id=session.pk)
    assert time.monotonic() - started < 2  # did not wait for the slow agents
    session.refresh_from_db()
    assert session.status == DebateStatus.CANCELLED and session.error == "Cancelled by request: stop"
    assert not DebateConsensus.objects.filter(session=session).exists()
    messages = dict(DebateMessage.objects.filter(session=session).values_list("role", "validation_status"))
    # finished agents are on record; the canceller itself was still mid-call at the safe point
    assert messages["technical_analyst"] == messages["fundamental_analyst"] == ValidationStatus.VALID
    stopped = DebateMessage.objects.get(session=session, role="bear")
    assert stopped.validation_status == ValidationStatus.FAILED and "stopped" in stopped.validation_error
    assert "judge" not in messages
    assert session.rounds.count() == 1


def test_cancel_api_running_conflict_permissions_and_input(arena, api_client, user, staff_client):
    mine = debate_session_create(symbol="ACME", as_of=AS_OF, panel=arena, requested_by=user, enqueue=False)
    debate_session_claim(session_id=mine.pk)
    response = api_client.post(f"/api/debate/sessions/{mine.pk}/cancel")
    assert response.status_code == 202 and response.json()["status"] == "running"
    assert response.json()["cancel_requested_at"] is not None
    # the worker sees the request before it runs anything
    debate_session_run(session_id=mine.pk)
    mine.refresh_from_db()
    assert mine.status == DebateStatus.CANCELLED and not mine.messages.exists()

    finished = debate_run_now(symbol="ACME", as_of=AS_OF, panel=arena)
    conflict = staff_client.post(f"/api/debate/sessions/{finished.pk}/cancel")
    assert conflict.status_code == 409 and "already completed" in conflict.json()["message"]
    other = debate_session_create(symbol="ACME", as_of=AS_OF, panel=arena, enqueue=False)
    assert api_client.post(f"/api/debate/sessions/{other.pk}/cancel").status_code == 403
    assert staff_client.post("/api/debate/sessions/999999/cancel").status_code == 404
    bad = staff_client.post(f"/api/debate/sessions/{other.pk}/cancel", {"why": "x"}, format="json")
    assert bad.status_code == 400 and bad.json()["extra"]["fields"] == {"why": ["Unknown field."]}


def test_cancel_of_a_running_debate_whose_worker_died_is_immediate(arena, staff_user):
    session = queued(arena)
    debate_session_claim(session_id=session.pk)
    expire_lease(session.pk)
    cancelled, stopped = debate_session_cancel(session_id=session.pk, user=staff_user)
    assert stopped and cancelled.status == DebateStatus.CANCELLED
    assert not debate_session_claim(session_id=session.pk)


def test_a_cancel_request_just_before_the_final_write_wins(arena):
    session = queued(arena)
    debate_session_claim(session_id=session.pk)
    session.refresh_from_db()
    DebateSession.objects.filter(pk=session.pk).update(cancel_requested_at=timezone.now())
    from agents.selectors import panel_plan_get
    from debates.coordinator import ArenaCoordinator
    from debates.market.sources import PaperAccountSource, get_source
    from debates.tools import ToolRouter

    router = ToolRouter(get_source(), PaperAccountSource())
    outcome = ArenaCoordinator(panel_plan_get(panel_id=arena.pk), lookback=260).run(router, "ACME", AS_OF)
    assert outcome.decision is not None
    _persist(session, attempt=session.attempts, outcome=outcome, calls=router.calls)
    session.refresh_from_db()
    assert session.status == DebateStatus.CANCELLED and session.error == "Cancelled by request."
    assert not DebateConsensus.objects.filter(session=session).exists()


def test_a_killed_workers_retry_resumes_and_leaves_one_consensus(arena, scripted):
    panel = scripted_panel(call_timeout_s=5)
    session = queued(panel)
    scripted.set("cheap", "bear", Answer(delay_s=0.05, raise_exc=WorkerKilled()))
    debate_session_claim(session_id=session.pk)
    with pytest.raises(WorkerKilled):
        debate_session_run(session_id=session.pk)
    session.refresh_from_db()
    assert session.status == DebateStatus.RUNNING  # the dead worker left it running, partly written
    assert DebateMessage.objects.filter(session=session).count() == 4
    asked_before = len(scripted.calls)

    scripted.set("cheap", "bear", Answer(output=analyst("bearish", 0.6)))
    assert debate_run(session.pk) == "skipped: already claimed or finished"  # the lease still holds
    expire_lease(session.pk)
    assert debate_run(session.pk) == DebateStatus.COMPLETED
    # resumed: only the bear and the judge were asked again, on the recorded context
    assert sorted(r.role for r in scripted.calls[asked_before:]) == ["bear", "judge"]
    assert DebateConsensus.objects.filter(session=session).count() == 1
    assert DebateMessage.objects.filter(session=session).count() == 6
    assert ToolCall.objects.filter(session=session).count() == 4
    assert debate_run(session.pk) == "skipped: already claimed or finished"
    session.refresh_from_db()
    assert session.attempts == 2


def test_a_superseded_worker_stops_and_writes_nothing_more(arena, scripted):
    panel = scripted_panel(call_timeout_s=5)
    session = queued(panel)

    async def lose_the_lease(_request):
        # while this worker waits on a slow agent its lease runs out and another worker claims it
        await sync_to_async(expire_lease)(session.pk)
        assert await sync_to_async(debate_session_claim)(session_id=session.pk)

    scripted.set("cheap", "bull", Answer(hook=lose_the_lease))
    scripted.set("cheap", "bear", Answer(delay_s=0.3))
    debate_session_claim(session_id=session.pk)
    first = debate_session_run(session_id=session.pk)
    assert first.status == DebateStatus.RUNNING  # attempt 2 owns it now; attempt 1 wrote no final state
    assert not DebateConsensus.objects.filter(session=session).exists()
    assert not DebateMessage.objects.filter(session=session, role="bear").exists()

    scripted.set("cheap", "bull", Answer())
    second = debate_session_run(session_id=session.pk)
    assert second.status == DebateStatus.COMPLETED
    assert DebateConsensus.objects.filter(session=session).count() == 1
    assert DebateMessage.objects.filter(session=session).count() == 6


def test_a_provider_bug_is_recorded_and_the_debate_goes_on(arena, scripted):
    panel = scripted_panel()
    session = queued(panel)
    scripted.set("cheap", "bull", Answer(delay_s=0.01, raise_exc=RuntimeError("boom in a provider")))
    debate_session_claim(session_id=session.pk)
    debate_session_run(session_id=session.pk)
    session.refresh_from_db()
    # run_agent does not catch a provider bug; the coordinator records it and the debate goes on
    bull = DebateMessage.objects.get(session=session, role="bull")
    assert bull.validation_status == ValidationStatus.FAILED and "boom in a provider" in bull.validation_error
    assert session.status == DebateStatus.COMPLETED


def test_outcome_of_a_superseded_attempt_is_not_persisted(arena):
    session = queued(arena)
    debate_session_claim(session_id=session.pk)
    _persist(session, attempt=session.attempts + 5, outcome=DebateOutcome(failure="late"), calls=[])
    session.refresh_from_db()
    assert session.status == DebateStatus.RUNNING and session.error == ""


def test_a_batch_runs_debates_concurrently_on_one_loop(arena, scripted):
    from debates.tasks import debate_run_batch

    panel = scripted_panel(call_timeout_s=5)
    for role in ("bull", "bear", "risk_manager", "technical_analyst", "fundamental_analyst", "judge"):
        scripted.set("cheap", role, Answer(delay_s=0.3))
    sessions = [queued(panel) for _ in range(6)]
    finished = debate_run_now(symbol="ACME", as_of=AS_OF, panel=arena)
    started = time.monotonic()
    result = debate_run_batch([s.pk for s in sessions] + [finished.pk])
    elapsed = time.monotonic() - started
    # six debates of two 0.3 s rounds each: concurrent, so about 0.6 s, not 3.6 s
    assert elapsed < 1.8, elapsed
    assert result[str(finished.pk)] == "skipped: already claimed or finished"
    assert all(result[str(s.pk)] == "completed" for s in sessions)
    assert DebateConsensus.objects.filter(session__in=sessions).count() == 6
    assert DebateMessage.objects.filter(session__in=sessions).count() == 36
