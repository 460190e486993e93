"""debates.tasks.debate_run through django-q2 (sync mode): claims, retries, dead workers, idempotence."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from django_q.models import Task
from django_q.tasks import async_task, fetch

from agents.models import AgentProfile, Role
from arena_project.errors import ConflictError
from debates.models import (
    DebateConsensus,
    DebateMessage,
    DebateSession,
    DebateStatus,
    ToolCall,
    ValidationStatus,
)
from debates.services import debate_session_claim, debate_session_create, debate_session_run

pytestmark = pytest.mark.django_db

SKIPPED = "skipped: already claimed or finished"


@pytest.fixture
def queued(arena) -> DebateSession:
    return debate_session_create(symbol="ACME", as_of=dt.date(2024, 3, 1), enqueue=False)


def _run_task(session_id: int) -> Task:
    task_id = async_task("debates.tasks.debate_run", session_id)
    task = fetch(task_id)
    assert task is not None, "django-q2 saved no Task row"
    return task


def _assert_completed_once(session: DebateSession) -> None:
    session.refresh_from_db()
    assert session.status == DebateStatus.COMPLETED, session.error
    assert session.lease_expires_at is None
    assert session.finished_at is not None and session.finished_at >= session.started_at
    assert DebateConsensus.objects.filter(session=session).count() == 1
    assert DebateMessage.objects.filter(session=session).count() == 6
    assert ToolCall.objects.filter(session=session).count() == 4


def test_debate_run_task_runs_through_django_q(queued):
    task = _run_task(queued.pk)
    assert task.success is True
    assert task.func == "debates.tasks.debate_run"
    assert task.args == (queued.pk,)
    assert task.result == DebateStatus.COMPLETED
    _assert_completed_once(queued)
    queued.refresh_from_db()
    assert queued.attempts == 1


def test_debate_run_task_twice_leaves_one_consensus(queued):
    first = _run_task(queued.pk)
    consensus = DebateConsensus.objects.get(session=queued)
    second = _run_task(queued.pk)

    assert first.result == DebateStatus.COMPLETED
    assert second.success is True
    assert second.result == SKIPPED
    _assert_completed_once(queued)
    assert DebateConsensus.objects.get(session=queued).pk == consensus.pk  # untouched by the second run
    queued.refresh_from_db()
    assert queued.attempts == 1


def test_debate_run_task_for_an_unknown_session_is_skipped(arena):
    task = _run_task(987654)
    assert task.success is True
    assert task.result == SKIPPED
    assert not DebateSession.objects.exists()


def _simulate_dead_worker(session: DebateSession, *, lease_left: dt.timedelta) -> None:
    """What a worker that died mid-debate leaves: running, a lease, and half of its rows."""
    now = timezone.now()
    DebateSession.objects.filter(pk=session.pk).update(
        status=DebateStatus.RUNNING,
        started_at=now - dt.timedelta(minutes=10),
        lease_expires_at=now + lease_left,
        attempts=1,
    )
    ToolCall.objects.create(
        session=session, sequence=1, tool="get_bars", arguments={"stale": True}, result_summary="stale"
    )
    DebateMessage.objects.create(
        session=session,
        round=1,
        role=Role.BULL,
        profile=AgentProfile.objects.get(name="rules-bull"),
        stance="bullish",
        confidence=0.99,
        reasoning="STALE partial row from a dead worker",
        validation_status=ValidationStatus.VALID,
    )


def test_debate_run_task_reclaims_an_expired_lease_and_discards_stale_rows(queued):
    _simulate_dead_worker(queued, lease_left=-dt.timedelta(seconds=1))

    task = _run_task(queued.pk)

    assert task.success is True
    assert task.result == DebateStatus.COMPLETED
    _assert_completed_once(queued)
    queued.refresh_from_db()
    assert queued.attempts == 2
    assert not ToolCall.objects.filter(session=queued, result_summary="stale").exists()
    assert not DebateMessage.objects.filter(session=queued, reasoning__startswith="STALE").exists()
    bull = DebateMessage.objects.get(session=queued, role=Role.BULL)
    assert bull.reasoning != "STALE partial row from a dead worker"


def test_debate_run_task_leaves_a_session_with_a_live_lease_alone(queued):
    _simulate_dead_worker(queued, lease_left=dt.timedelta(minutes=5))

    task = _run_task(queued.pk)

    assert task.result == SKIPPED
    queued.refresh_from_db()
    assert queued.status == DebateStatus.RUNNING
    assert queued.attempts == 1
    # The live worker's rows are its own business: nothing discarded, nothing added.
    assert ToolCall.objects.filter(session=queued).count() == 1
    assert DebateMessage.objects.filter(session=queued).count() == 1
    assert not DebateConsensus.objects.exists()


def test_debate_session_claim_takes_a_queued_session_once(queued):
    assert debate_session_claim(session_id=queued.pk, lease=dt.timedelta(minutes=5)) is True
    assert debate_session_claim(session_id=queued.pk, lease=dt.timedelta(minutes=5)) is False
    queued.refresh_from_db()
    assert queued.status == DebateStatus.RUNNING
    assert queued.attempts == 1
    assert queued.lease_expires_at > timezone.now()


def test_debate_session_claim_refuses_a_running_session_with_a_live_lease(queued):
    DebateSession.objects.filter(pk=queued.pk).update(
        status=DebateStatus.RUNNING, lease_expires_at=timezone.now() + dt.timedelta(seconds=30), attempts=1
    )
    assert debate_session_claim(session_id=queued.pk) is False
    queued.refresh_from_db()
    assert queued.attempts == 1


@pytest.mark.parametrize("status", [DebateStatus.COMPLETED, DebateStatus.FAILED, DebateStatus.CANCELLED])
def test_debate_session_claim_refuses_a_finished_session(queued, status):
    past = timezone.now() - dt.timedelta(hours=1)
    DebateSession.objects.filter(pk=queued.pk).update(status=status, lease_expires_at=past)
    assert debate_session_claim(session_id=queued.pk) is False
    assert _run_task(queued.pk).result == SKIPPED
    queued.refresh_from_db()
    assert queued.status == status
    assert not DebateMessage.objects.exists()


def test_debate_session_run_refuses_an_unclaimed_session(queued):
    with pytest.raises(ConflictError):
        debate_session_run(session_id=queued.pk)
    queued.refresh_from_db()
    assert queued.status == DebateStatus.QUEUED
    assert not DebateMessage.objects.exists()
    assert not ToolCall.objects.exists()


def test_debate_run_task_ends_failed_with_its_reason_when_the_panel_has_no_judge(queued):
    AgentProfile.objects.filter(role=Role.JUDGE).update(active=False)

    task = _run_task(queued.pk)

    assert task.success is True
    assert task.result == DebateStatus.FAILED
    queued.refresh_from_db()
    assert queued.status == DebateStatus.FAILED
    assert "judge" in queued.error
    assert queued.lease_expires_at is None
    assert not DebateConsensus.objects.exists()


def test_debate_run_task_records_a_crash_as_failed(queued, monkeypatch):
    from debates.coordinator import ArenaCoordinator

    async def explode(self, context):
        raise RuntimeError("boom")

    monkeypatch.setattr(ArenaCoordinator, "arun", explode)  # every path's debate goes through it

    task = _run_task(queued.pk)

    assert task.success is True
    assert task.result == DebateStatus.FAILED
    queued.refresh_from_db()
    assert queued.status == DebateStatus.FAILED
    assert "RuntimeError: boom" in queued.error
    assert not DebateConsensus.objects.exists()
    assert not DebateMessage.objects.exists()


def test_debate_run_task_fails_on_quorum_without_a_consensus(queued):
    AgentProfile.objects.filter(role__in=[Role.BULL, Role.BEAR, Role.TECHNICAL_ANALYST], tier="cheap").update(
        active=False
    )

    task = _run_task(queued.pk)

    assert task.result == DebateStatus.FAILED
    queued.refresh_from_db()
    assert "Quorum not met" in queued.error
    assert not DebateConsensus.objects.exists()
    # The analysts that did answer are kept as the record of the failed debate.
    assert DebateMessage.objects.filter(session=queued).count() == 2
