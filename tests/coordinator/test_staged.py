"""The ``staged`` escalation scope: the dissenters first, the rest of the panel only if still needed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from debates.models import DebateMessage, DebateStatus
from debates.replay import debate_replay
from debates.services import debate_run_now
from tests.coordinator.scripted import TWO_DISSENT, Answer, judge_output, script_analysts, scripted_panel

pytestmark = pytest.mark.django_db
AS_OF = dt.date(2024, 3, 1)
DISSENTERS = ["bear", "technical_analyst"]
MAJORITY = ["bull", "risk_manager", "fundamental_analyst"]
#: The powerful dissenters confirm their dissent: merged agreement 2.4 / 4.2 = 0.571429.
CONFIRMED = {"bear": ("bearish", 0.9), "technical_analyst": ("bearish", 0.9)}
#: The powerful dissenters join the majority: merged agreement 1.0.
RETRACTED = {"bear": ("bullish", 0.9), "technical_analyst": ("bullish", 0.7)}
CHEAP_CALL, POWERFUL_CALL = Decimal("0.0008"), Decimal("0.016")  # 1000 in / 200 out at the seats' prices


def staged_panel(**fields):
    policy = {"escalate_on_low_agreement": True, "agreement_threshold": 0.7, "escalation_scope": "staged"}
    return scripted_panel(**{**policy, **fields})


def run(panel):
    session = debate_run_now(symbol="ACME", as_of=AS_OF, panel=panel)
    assert session.status == DebateStatus.COMPLETED, session.error
    return session


def powerful_roles(scripted):
    return sorted(r.role for r in scripted.calls_for(tier="powerful"))


def test_stage_two_suffices_when_the_dissenters_come_round(arena, scripted):
    script_analysts(scripted, "cheap", TWO_DISSENT)
    script_analysts(scripted, "powerful", RETRACTED)
    session = run(staged_panel())

    assert powerful_roles(scripted) == sorted([*DISSENTERS, "judge"])
    rounds = list(session.rounds.order_by("number"))
    assert [r.number for r in rounds] == [1, 2]
    assert [r["role"] for r in rounds[1].escalated_roles] == DISSENTERS
    assert rounds[1].agreement_rate == 1.0 and rounds[1].triggers_fired == []
    assert session.consensus.decided_in_round == 2 and session.consensus.action == "buy"


def test_stage_three_reruns_only_the_roles_not_yet_rerun(arena, scripted, api_client, staff_user, client):
    script_analysts(scripted, "cheap", TWO_DISSENT)
    script_analysts(scripted, "powerful", {**CONFIRMED, **{r: ("bearish", 0.9) for r in MAJORITY}})
    session = run(staged_panel())

    # every role paid for once with its powerful profile; no round-2 judge (its triggers fired alone)
    analysts = [r.role for r in scripted.calls_for(tier="powerful") if r.role != "judge"]
    assert sorted(analysts) == sorted([*DISSENTERS, *MAJORITY])
    assert [(r.role, r.round) for r in scripted.calls_for(role="judge")] == [("judge", 3)]
    rounds = list(session.rounds.order_by("number"))
    assert [r.number for r in rounds] == [1, 2, 3]
    assert [r["role"] for r in rounds[1].escalated_roles] == DISSENTERS
    assert rounds[1].agreement_rate == 0.571429
    assert [f["trigger"] for f in rounds[1].triggers_fired] == ["low_agreement"]
    assert [r["role"] for r in rounds[2].escalated_roles] == MAJORITY
    assert rounds[2].escalated_roles[0]["reason"] == "the triggers still fire after the dissenters were rerun"
    assert rounds[2].judge_switched and rounds[2].judge_profile.name == "scripted-judge-powerful"
    assert rounds[2].agreement_rate == 1.0 and rounds[2].valid_analysts == 5
    assert session.consensus.decided_in_round == 3 and session.consensus.action == "sell"

    # cost per round: what that round's calls cost, and the escalation summary adds rounds 2 and 3
    assert [r.calls for r in rounds] == [5, 2, 4]
    assert [r.cost_usd for r in rounds] == [5 * CHEAP_CALL, 2 * POWERFUL_CALL, 4 * POWERFUL_CALL]
    assert session.total_cost_usd == 5 * CHEAP_CALL + 6 * POWERFUL_CALL
    body = api_client.get(f"/api/debate/sessions/{session.pk}").json()
    escalation = body["escalation"]
    assert escalation["rounds"] == 2 and escalation["roles"] == [*DISSENTERS, *MAJORITY]
    assert Decimal(escalation["cost_usd"]) == 6 * POWERFUL_CALL
    assert [m["round"] for m in body["messages"]] == [1] * 5 + [2] * 2 + [3] * 4

    # the admin lists the third round with what it reran
    staff_user.is_superuser = True
    staff_user.save()
    client.force_login(staff_user)
    page = client.get(f"/admin/debates/debatesession/{session.pk}/change/").content.decode()
    assert "bull → scripted-bull-powerful (the triggers still fire after the dissenters were rerun)" in page


@pytest.mark.parametrize(("second_judge", "rounds"), [(0.2, 3), (0.6, 2)])
def test_stage_three_under_all_triggers_needs_the_judge_to_doubt_again(arena, scripted, second_judge, rounds):
    panel = staged_panel(
        escalate_on_low_judge_confidence=True,
        judge_confidence_threshold=0.3,
        escalation_needs_all_triggers=True,
        escalation_switches_judge=False,
    )
    script_analysts(scripted, "cheap", TWO_DISSENT)
    script_analysts(scripted, "powerful", CONFIRMED)
    confidence = {1: 0.2, 2: second_judge, 3: 0.9}
    scripted.set("cheap", "judge", lambda r: Answer(output=judge_output("hold", confidence[r.round])))
    session = run(panel)

    assert session.rounds.count() == rounds and session.consensus.decided_in_round == rounds
    fired = [f["trigger"] for f in session.rounds.get(number=2).triggers_fired]
    assert fired == (["low_agreement", "low_judge_confidence"] if rounds == 3 else ["low_agreement"])
    # the round-2 judge was asked (the judge trigger needs its answer), then round 3's if it ran
    judges = DebateMessage.objects.filter(session=session, role="judge").order_by("round")
    assert [m.round for m in judges] == list(range(1, rounds + 1))
    assert session.consensus.confidence == confidence[rounds]
    expected = [*DISSENTERS, *MAJORITY] if rounds == 3 else DISSENTERS
    assert powerful_roles(scripted) == sorted(expected)


def test_no_third_round_when_round_two_reran_every_role(arena, scripted):
    # a floor above every confidence makes the whole panel "unsure": round 2 reruns all five
    script_analysts(scripted, "cheap", TWO_DISSENT)
    script_analysts(scripted, "powerful", {**CONFIRMED, **{r: ("bullish", 0.8) for r in MAJORITY}})
    session = run(staged_panel(low_confidence_floor=0.9))

    second = session.rounds.get(number=2)
    assert session.rounds.count() == 2 and len(second.escalated_roles) == 5
    assert "third round not run: every role with an escalation seat was already rerun" in second.notes
    assert session.consensus.decided_in_round == 2
    assert len(scripted.calls_for(tier="powerful")) == 6  # five analysts once, and the judge


def test_other_scopes_never_run_a_third_round(arena, scripted):
    script_analysts(scripted, "cheap", TWO_DISSENT)
    script_analysts(scripted, "powerful", CONFIRMED)
    session = run(staged_panel(escalation_scope="dissenters"))
    second = session.rounds.get(number=2)
    assert session.rounds.count() == 2 and session.consensus.decided_in_round == 2
    assert [f["trigger"] for f in second.triggers_fired] == ["low_agreement"]  # informational
    assert powerful_roles(scripted) == sorted([*DISSENTERS, "judge"])


def test_replay_of_a_staged_debate_is_equal_and_shows_its_rounds(arena, scripted):
    script_analysts(scripted, "cheap", TWO_DISSENT)
    script_analysts(scripted, "powerful", {**CONFIRMED, **{r: ("bearish", 0.9) for r in MAJORITY}})
    session = run(staged_panel())
    comparison = debate_replay(session_id=session.pk)
    old, new = comparison.original, comparison.replay
    assert comparison.same_decision and old.rounds == new.rounds == 3
    assert new.cost_usd == old.cost_usd and new.stances == old.stances
    assert len(comparison.outcome.rounds[2].escalated) == 3
