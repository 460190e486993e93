"""Escalation end to end: the panel's policy decides what reruns, and the API and admin show it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from agents.models import AgentProfile, Mode, PanelSeat, PanelStage
from agents.selectors import panel_plan_get
from debates.models import DebateMessage, DebateStatus, LlmCall
from debates.services import debate_run_now
from tests.coordinator.scripted import (
    TWO_DISSENT,
    Answer,
    analyst,
    judge_output,
    script_analysts,
    scripted_panel,
)

pytestmark = pytest.mark.django_db
AS_OF = dt.date(2024, 3, 1)
ALL_AGREE = {role: ("bullish", 0.8) for role in TWO_DISSENT}


def run(panel):
    return debate_run_now(symbol="ACME", as_of=AS_OF, panel=panel)


def detail(client, session):
    response = client.get(f"/api/debate/sessions/{session.pk}")
    assert response.status_code == 200
    return response.json()


def test_two_dissenters_escalate_exactly_as_the_policy_says(arena, scripted, api_client, staff_user, client):
    panel = scripted_panel(escalate_on_low_agreement=True, agreement_threshold=0.7)
    script_analysts(scripted, "cheap", TWO_DISSENT)
    script_analysts(scripted, "powerful", {"bear": ("bullish", 0.9), "technical_analyst": ("bullish", 0.7)})
    session = run(panel)
    assert session.status == DebateStatus.COMPLETED, session.error

    # only the two disagreeing roles were rerun, with their escalation profiles; the judge switched
    assert sorted(r.role for r in scripted.calls_for(tier="powerful")) == [
        "bear",
        "judge",
        "technical_analyst",
    ]
    assert len(scripted.calls_for(tier="cheap", role="judge")) == 0  # no cheap judge was paid for
    body = detail(api_client, session)
    first, second = body["rounds"]
    assert first["triggers_fired"] == [
        {"trigger": "low_agreement", "value": 0.6, "threshold": 0.7, "detail": "agreement 0.60 < 0.70"}
    ]
    assert first["agreement_rate"] == 0.6 and first["calls"] == 5
    assert [(r["role"], r["profile"]) for r in second["escalated_roles"]] == [
        ("bear", "scripted-bear-powerful"),
        ("technical_analyst", "scripted-technical_analyst-powerful"),
    ]
    assert second["escalated_roles"][0]["reason"] == "disagrees (bearish vs majority bullish)"
    assert second["judge_switched"] and second["judge_profile"] == "scripted-judge-powerful"
    assert second["agreement_rate"] == 1.0 and second["calls"] == 3

    consensus = body["consensus"]
    assert consensus["escalated"] and consensus["triggers_fired"] == ["low_agreement"]
    assert consensus["decided_in_round"] == 2 and consensus["agreement_rate"] == 1.0
    # the escalation and its cost: per round, summed over that round's calls, and in the total
    escalation = body["escalation"]
    assert escalation["roles"] == ["bear", "technical_analyst"] and escalation["judge_switched"]
    costs = {
        n: sum((Decimal(m["cost_usd"] or 0) for m in body["messages"] if m["round"] == n), Decimal(0))
        for n in (1, 2)
    }
    assert Decimal(escalation["cost_usd"]) == costs[2] == Decimal(second["cost_usd"])
    assert Decimal(escalation["first_round_cost_usd"]) == costs[1]
    assert Decimal(body["total_cost_usd"]) == costs[1] + costs[2]
    # priced by the gateway from the profiles' prices: 1000 tokens in, 200 out per call
    cheap_call, powerful_call = (
        Decimal("0.0008"),
        Decimal("0.016"),
    )  # (1000*0.5+200*1.5)/1e6, (1000*10+200*30)/1e6
    assert costs[1] == 5 * cheap_call and costs[2] == 3 * powerful_call
    assert body["total_cost_complete"] and body["unknown_cost_calls"] == 0
    assert LlmCall.objects.filter(session=session).count() == 8
    assert LlmCall.objects.filter(session=session, purpose="escalation").count() == 2
    assert [m["round"] for m in body["messages"]].count(2) == 3

    # the admin shows the rounds and the escalation
    staff_user.is_superuser = True
    staff_user.save()
    client.force_login(staff_user)
    page = client.get(f"/admin/debates/debatesession/{session.pk}/change/").content.decode()
    assert "agreement 0.60 &lt; 0.70" in page
    assert "bear → scripted-bear-powerful (disagrees (bearish vs majority bullish))" in page


def test_all_agree_does_not_escalate(arena, scripted, api_client):
    panel = scripted_panel(escalate_on_low_agreement=True, agreement_threshold=0.7)
    script_analysts(scripted, "cheap", ALL_AGREE)
    session = run(panel)
    body = detail(api_client, session)
    assert body["status"] == "completed"
    assert len(body["rounds"]) == 1 and body["rounds"][0]["triggers_fired"] == []
    assert body["escalation"] is None
    assert not body["consensus"]["escalated"] and body["consensus"]["decided_in_round"] == 1
    assert scripted.calls_for(tier="powerful") == []


def test_panel_scope_reruns_everyone_and_judge_switch_can_be_off(arena, scripted):
    panel = scripted_panel(
        escalate_on_low_agreement=True,
        agreement_threshold=0.7,
        escalation_scope="panel",
        escalation_switches_judge=False,
    )
    script_analysts(scripted, "cheap", TWO_DISSENT)
    session = run(panel)
    assert session.status == DebateStatus.COMPLETED, session.error
    assert sorted(r.role for r in scripted.calls_for(tier="powerful")) == sorted(TWO_DISSENT)
    second = session.rounds.get(number=2)
    assert not second.judge_switched and second.judge_profile.name == "scripted-judge-cheap"


@pytest.mark.parametrize(
    ("policy", "cheap", "judge", "trigger"),
    [
        # agreement 0.6: fires below 0.61, not at 0.6
        (
            {"escalate_on_low_agreement": True, "agreement_threshold": 0.61},
            TWO_DISSENT,
            None,
            "low_agreement",
        ),
        ({"escalate_on_low_agreement": True, "agreement_threshold": 0.6}, TWO_DISSENT, None, None),
        # mean confidence 0.5
        (
            {"escalate_on_low_confidence": True, "confidence_threshold": 0.51},
            {role: ("bullish", 0.5) for role in TWO_DISSENT},
            None,
            "low_confidence",
        ),
        (
            {"escalate_on_low_confidence": True, "confidence_threshold": 0.5},
            {role: ("bullish", 0.5) for role in TWO_DISSENT},
            None,
            None,
        ),
        # judge confidence 0.25
        (
            {"escalate_on_low_judge_confidence": True, "judge_confidence_threshold": 0.26},
            ALL_AGREE,
            0.25,
            "low_judge_confidence",
        ),
        (
            {"escalate_on_low_judge_confidence": True, "judge_confidence_threshold": 0.25},
            ALL_AGREE,
            0.25,
            None,
        ),
    ],
)
def test_each_trigger_end_to_end_at_its_threshold(arena, scripted, policy, cheap, judge, trigger):
    panel = scripted_panel(**policy)
    script_analysts(scripted, "cheap", cheap)
    if judge is not None:
        scripted.set("cheap", "judge", Answer(output=judge_output("buy", judge)))
    session = run(panel)
    assert session.status == DebateStatus.COMPLETED, session.error
    assert session.consensus.escalated is (trigger is not None)
    assert session.consensus.triggers_fired == ([trigger] if trigger else [])
    assert session.rounds.count() == (2 if trigger else 1)


@pytest.mark.parametrize("risk", ["high", "medium"])
def test_high_risk_trigger_end_to_end(arena, scripted, risk):
    panel = scripted_panel(escalate_on_high_risk=True)
    script_analysts(scripted, "cheap", ALL_AGREE)
    scripted.set("cheap", "risk_manager", Answer(output=analyst("bullish", 0.8, risk=risk)))
    session = run(panel)
    assert session.consensus.escalated is (risk == "high")
    if risk == "high":
        assert [r["role"] for r in session.rounds.get(number=2).escalated_roles] == ["risk_manager"]


def test_judge_trigger_escalation_with_nothing_to_rerun_switches_the_judge_only(arena, scripted):
    panel = scripted_panel(escalate_on_low_judge_confidence=True, judge_confidence_threshold=0.5)
    script_analysts(scripted, "cheap", ALL_AGREE)
    scripted.set("cheap", "judge", Answer(output=judge_output("buy", 0.2)))
    scripted.set("powerful", "judge", Answer(output=judge_output("hold", 0.9)))
    session = run(panel)
    assert session.consensus.action == "hold" and session.consensus.decided_in_round == 2
    assert [r.role for r in scripted.calls_for(tier="powerful")] == ["judge"]
    # the first-round judge's answer is on record too
    judges = DebateMessage.objects.filter(session=session, role="judge").order_by("round")
    assert [(m.round, m.output["action"]) for m in judges] == [(1, "buy"), (2, "hold")]


def test_escalation_only_profiles_are_never_used_in_round_one(arena, scripted):
    panel = scripted_panel(escalate_on_low_agreement=True, agreement_threshold=0.7)
    # a cheap-first profile turned escalation-only after it was seated in the first round
    seat = PanelSeat.objects.get(panel=panel, stage=PanelStage.ANALYST, role="fundamental_analyst")
    AgentProfile.objects.filter(pk=seat.profile_id).update(mode=Mode.ESCALATION_ONLY)
    plan = panel_plan_get(panel_id=panel.pk)
    assert "fundamental_analyst" not in plan.analysts
    assert any("escalation-only" in s for s in plan.skipped)

    script_analysts(scripted, "cheap", TWO_DISSENT)
    session = run(panel)
    escalation_only = set(AgentProfile.objects.filter(mode=Mode.ESCALATION_ONLY).values_list("pk", flat=True))
    first_round = DebateMessage.objects.filter(session=session, round=1)
    assert first_round.exists() and not first_round.filter(profile_id__in=escalation_only).exists()
    assert all(r.profile.id not in escalation_only for r in scripted.calls if r.purpose == "analysis")
    assert DebateMessage.objects.filter(session=session, round=2, profile_id__in=escalation_only).exists()


def test_a_failed_escalation_call_keeps_the_first_round_answer(arena, scripted):
    panel = scripted_panel(escalate_on_low_agreement=True, agreement_threshold=0.7)
    script_analysts(scripted, "cheap", TWO_DISSENT)
    scripted.set("powerful", "bear", Answer(error="provider_error"))
    session = run(panel)
    second = session.rounds.get(number=2)
    assert "bear: escalation call provider_error, first-round answer kept" in second.notes
    assert second.valid_analysts == 5


@pytest.mark.parametrize(
    ("cheap", "judge", "escalates"),
    [
        (TWO_DISSENT, 0.2, True),  # split panel and a doubtful judge
        (TWO_DISSENT, 0.6, False),  # split panel, but the judge is sure
        (ALL_AGREE, 0.2, False),  # doubtful judge, but the panel agrees
    ],
)
def test_all_triggers_escalates_only_when_each_fires(arena, scripted, cheap, judge, escalates):
    panel = scripted_panel(
        escalate_on_low_agreement=True,
        agreement_threshold=0.7,
        escalate_on_low_judge_confidence=True,
        judge_confidence_threshold=0.3,
        escalation_needs_all_triggers=True,
        escalation_scope="panel",
    )
    script_analysts(scripted, "cheap", cheap)
    scripted.set("cheap", "judge", Answer(output=judge_output("buy", judge)))
    session = run(panel)
    assert session.status == DebateStatus.COMPLETED, session.error
    assert session.consensus.escalated is escalates
    fired = {"low_agreement"} if cheap is TWO_DISSENT else set()
    fired |= {"low_judge_confidence"} if judge < 0.3 else set()
    assert set(session.consensus.triggers_fired) == fired  # fired triggers are recorded either way
    assert len(scripted.calls_for(tier="powerful")) == (6 if escalates else 0)
    # the first-round judge is asked in every case: the judge trigger must have its say
    assert DebateMessage.objects.filter(session=session, role="judge", round=1).count() == 1
