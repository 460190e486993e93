"""Per-call timeout, debate deadline and quorum: late or failed analysts abstain, the debate goes on
while the quorum holds, and otherwise it escalates or fails with the reason."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from debates.models import DebateConsensus, DebateMessage, DebateStatus, ValidationStatus
from debates.services import debate_run_now
from tests.coordinator.scripted import Answer, analyst, scripted_panel

pytestmark = pytest.mark.django_db
AS_OF = dt.date(2024, 3, 1)


def run(panel):
    started = time.monotonic()
    session = debate_run_now(symbol="ACME", as_of=AS_OF, panel=panel)
    return session, time.monotonic() - started


def test_a_slow_analyst_times_out_and_the_debate_goes_on(arena, scripted):
    panel = scripted_panel(call_timeout_s=0.3, deadline_s=10, quorum=3)
    scripted.set("cheap", "bear", Answer(delay_s=5))
    session, elapsed = run(panel)
    assert session.status == DebateStatus.COMPLETED, session.error
    assert elapsed < 2  # the per-call timeout, not the slow agent, bounds the round
    bear = DebateMessage.objects.get(session=session, role="bear")
    assert bear.validation_status == ValidationStatus.FAILED
    assert "no answer within 0.30 s (the per-call timeout (0.3 s))" in bear.validation_error
    assert session.consensus.valid_analysts == 4


def test_the_deadline_cuts_calls_shorter_than_the_per_call_timeout(arena, scripted):
    panel = scripted_panel(call_timeout_s=0.8, deadline_s=0.8, quorum=3)
    for role in ("bear", "risk_manager"):
        scripted.set("cheap", role, Answer(hang=True))
    session, elapsed = run(panel)
    assert session.status == DebateStatus.COMPLETED, session.error
    assert elapsed < 1.5
    late = DebateMessage.objects.get(session=session, role="bear")
    assert "the debate deadline (0.8 s" in late.validation_error
    # analysts may use at most half the time left, so the judge still had its turn
    assert (
        DebateMessage.objects.get(session=session, role="judge").validation_status == ValidationStatus.VALID
    )


def test_quorum_failure_ends_failed_with_the_reason(arena, scripted):
    panel = scripted_panel(call_timeout_s=0.3, deadline_s=10, quorum=3)
    scripted.set("cheap", "bull", Answer(text="not json at all"))
    scripted.set("cheap", "bear", Answer(error="rate_limited"))
    scripted.set("cheap", "risk_manager", Answer(hang=True))
    session, _ = run(panel)
    assert session.status == DebateStatus.FAILED
    assert session.error.startswith("Quorum not met: 2 valid analyst(s) of 5 asked (quorum 3).")
    assert "bull (round 1): invalid_output" in session.error
    assert "bear (round 1): rate_limited" in session.error
    assert "risk_manager (round 1): timeout" in session.error
    assert not DebateConsensus.objects.filter(session=session).exists()
    statuses = dict(DebateMessage.objects.filter(session=session).values_list("role", "validation_status"))
    assert statuses["bull"] == ValidationStatus.INVALID
    assert statuses["bear"] == statuses["risk_manager"] == ValidationStatus.FAILED
    assert "judge" not in statuses  # no judge without a quorum
    assert session.rounds.get().valid_analysts == 2


def test_quorum_shortfall_escalates_when_the_trigger_is_on(arena, scripted):
    panel = scripted_panel(call_timeout_s=0.3, deadline_s=10, quorum=3, escalate_on_quorum_shortfall=True)
    for role in ("bull", "bear", "risk_manager"):
        scripted.set("cheap", role, Answer(error="provider_error"))
    session, _ = run(panel)
    assert session.status == DebateStatus.COMPLETED, session.error
    consensus = session.consensus
    assert consensus.escalated and consensus.triggers_fired == ["quorum_shortfall"]
    second = session.rounds.get(number=2)
    assert [r["role"] for r in second.escalated_roles] == ["bull", "bear", "risk_manager"]
    assert second.valid_analysts == 5 and consensus.valid_analysts == 5


def test_quorum_still_short_after_escalation_fails_with_both_rounds_named(arena, scripted):
    panel = scripted_panel(call_timeout_s=0.3, deadline_s=10, quorum=3, escalate_on_quorum_shortfall=True)
    for role in ("bull", "bear", "risk_manager"):
        scripted.set("cheap", role, Answer(error="provider_error"))
        scripted.set("powerful", role, Answer(error="provider_error"))
    session, _ = run(panel)
    assert session.status == DebateStatus.FAILED
    assert session.error.startswith("Quorum not met after escalation: 2 valid analyst(s) of 5 asked")
    assert "bull (round 2): provider_error" in session.error
    assert session.rounds.count() == 2


def test_no_escalation_seats_means_the_first_round_judge_decides(arena, scripted):
    panel = scripted_panel(
        escalation=(),
        escalation_judge=False,
        escalate_on_low_agreement=True,
        agreement_threshold=0.9,
        escalation_switches_judge=False,
    )
    scripted.set("cheap", "bear", Answer(output=analyst("bearish", 0.8)))
    session, _ = run(panel)
    assert session.status == DebateStatus.COMPLETED, session.error
    first = session.rounds.get()
    assert [f["trigger"] for f in first.triggers_fired] == ["low_agreement"]
    assert first.notes == [
        "escalation not run: the panel has no escalation seats for these roles "
        "and no escalation judge to switch to"
    ]
    assert not session.consensus.escalated and session.consensus.triggers_fired == ["low_agreement"]
