"""Each trigger fires strictly below its threshold, not at it, and never when switched off."""

from __future__ import annotations

import pytest

from agents.schemas import Stance
from agents.selectors import PanelPolicy
from debates.agreement import PanelStats
from debates.escalation import (
    Trigger,
    TriggerFiring,
    analyst_triggers,
    escalation_due,
    escalation_targets,
    judge_trigger,
    remaining_targets,
)
from tests.coordinator.scripted import analyst, judge_output

ALL = ("bull", "bear", "risk_manager", "technical_analyst", "fundamental_analyst")


def stats(**changes) -> PanelStats:
    base = {
        "valid": 5,
        "agreement_rate": 1.0,
        "majority": Stance.BULLISH,
        "mean_confidence": 0.8,
        "weighted_confidence": 0.8,
        "high_risk": False,
    }
    return PanelStats(**{**base, **changes})


def names(fired) -> list[str]:
    return [f.trigger for f in fired]


@pytest.mark.parametrize(
    ("switch", "threshold_field", "threshold", "stat_field", "trigger"),
    [
        ("escalate_on_low_agreement", "agreement_threshold", 0.6, "agreement_rate", Trigger.LOW_AGREEMENT),
        (
            "escalate_on_low_confidence",
            "confidence_threshold",
            0.45,
            "mean_confidence",
            Trigger.LOW_CONFIDENCE,
        ),
    ],
)
def test_threshold_trigger_fires_below_not_at(switch, threshold_field, threshold, stat_field, trigger):
    policy = PanelPolicy(**{switch: True, threshold_field: threshold})
    assert names(analyst_triggers(policy, stats(**{stat_field: threshold}), quorum=3)) == []
    assert names(analyst_triggers(policy, stats(**{stat_field: threshold - 0.000001}), quorum=3)) == [trigger]
    assert names(analyst_triggers(policy, stats(**{stat_field: threshold + 0.1}), quorum=3)) == []
    off = PanelPolicy(**{threshold_field: threshold})
    assert analyst_triggers(off, stats(**{stat_field: 0.0}), quorum=3) == []


def test_confidence_trigger_uses_the_chosen_measure():
    low_mean = stats(mean_confidence=0.4, weighted_confidence=0.7)
    mean = PanelPolicy(escalate_on_low_confidence=True, confidence_threshold=0.5)
    weighted = mean.replace(confidence_measure="weighted")
    assert names(analyst_triggers(mean, low_mean, quorum=3)) == [Trigger.LOW_CONFIDENCE]
    assert analyst_triggers(weighted, low_mean, quorum=3) == []


def test_high_risk_trigger():
    policy = PanelPolicy(escalate_on_high_risk=True)
    assert names(analyst_triggers(policy, stats(high_risk=True), quorum=3)) == [Trigger.HIGH_RISK]
    assert analyst_triggers(policy, stats(high_risk=False), quorum=3) == []
    assert analyst_triggers(PanelPolicy(), stats(high_risk=True), quorum=3) == []


def test_quorum_trigger_fires_below_quorum_only():
    policy = PanelPolicy(escalate_on_quorum_shortfall=True)
    fired = analyst_triggers(policy, stats(valid=2), quorum=3)
    assert names(fired) == [Trigger.QUORUM_SHORTFALL]
    assert (fired[0].value, fired[0].threshold) == (2, 3)
    assert analyst_triggers(policy, stats(valid=3), quorum=3) == []
    assert analyst_triggers(PanelPolicy(), stats(valid=0), quorum=3) == []


def test_judge_trigger_fires_below_not_at_and_on_no_decision():
    policy = PanelPolicy(escalate_on_low_judge_confidence=True, judge_confidence_threshold=0.3)
    assert judge_trigger(policy, judge_output("buy", 0.3)) is None
    fired = judge_trigger(policy, judge_output("buy", 0.29))
    assert fired is not None and fired.trigger == Trigger.LOW_JUDGE_CONFIDENCE and fired.value == 0.29
    no_decision = judge_trigger(policy, None, "invalid_output")
    assert no_decision is not None and "invalid_output" in no_decision.detail
    assert judge_trigger(PanelPolicy(), judge_output("buy", 0.0)) is None


def test_several_triggers_fire_together_in_a_fixed_order():
    policy = PanelPolicy(
        escalate_on_low_agreement=True,
        escalate_on_low_confidence=True,
        escalate_on_high_risk=True,
        escalate_on_quorum_shortfall=True,
    )
    fired = analyst_triggers(
        policy, stats(valid=2, agreement_rate=0.5, mean_confidence=0.2, high_risk=True), quorum=3
    )
    assert names(fired) == [
        Trigger.QUORUM_SHORTFALL,
        Trigger.LOW_AGREEMENT,
        Trigger.LOW_CONFIDENCE,
        Trigger.HIGH_RISK,
    ]


def _targets(policy, answers, *, asked=ALL, escalation_roles=ALL, fired=(), switch=True):
    from debates.agreement import panel_stats

    return [
        (t.role, t.reason)
        for t in escalation_targets(
            policy,
            panel_stats(answers),
            asked=asked,
            answers=answers,
            escalation_roles=escalation_roles,
            fired=fired,
            judge_switches=switch,
        )
    ]


def test_dissenters_scope_reruns_disagreeing_low_confidence_and_failed_roles():
    answers = {
        "bull": analyst("bullish", 0.8),
        "bear": analyst("bearish", 0.8),
        "technical_analyst": analyst("bullish", 0.2),
        "fundamental_analyst": analyst("bullish", 0.8),
    }  # the risk manager failed
    targets = _targets(PanelPolicy(low_confidence_floor=0.3), answers)
    assert targets == [
        ("bear", "disagrees (bearish vs majority bullish)"),
        ("risk_manager", "no valid answer in the first round"),
        ("technical_analyst", "low confidence (0.20 < 0.30)"),
    ]


def test_dissenters_scope_only_roles_with_an_escalation_seat():
    answers = {
        "bull": analyst("bullish", 0.8),
        "bear": analyst("bearish", 0.8),
        "risk_manager": analyst("bullish", 0.8),
    }
    assert _targets(PanelPolicy(), answers, escalation_roles=("bull",)) == []


def test_dissenters_scope_reruns_the_risk_manager_on_high_risk():
    from debates.escalation import TriggerFiring

    answers = {role: analyst("bullish", 0.8) for role in ALL}
    answers["risk_manager"] = analyst("bullish", 0.8, risk="high")
    fired = [TriggerFiring(Trigger.HIGH_RISK, "high", None, "")]
    assert _targets(PanelPolicy(), answers, fired=fired) == [("risk_manager", "flags high risk")]


def test_dissenters_scope_adds_escalation_only_roles_on_quorum_shortfall():
    from debates.escalation import TriggerFiring

    answers = {"bull": analyst("bullish", 0.8)}
    fired = [TriggerFiring(Trigger.QUORUM_SHORTFALL, 1, 3, "")]
    targets = _targets(PanelPolicy(), answers, asked=("bull",), fired=fired)
    assert [role for role, _ in targets] == [
        "bear",
        "risk_manager",
        "technical_analyst",
        "fundamental_analyst",
    ]
    assert _targets(PanelPolicy(), answers, asked=("bull",)) == []


def test_panel_and_none_scopes_and_the_fallback():
    agree = {role: analyst("bullish", 0.8) for role in ALL}
    assert [r for r, _ in _targets(PanelPolicy(escalation_scope="panel"), agree)] == list(ALL)
    assert _targets(PanelPolicy(escalation_scope="none"), agree) == []
    # nothing specific to rerun and no judge to switch to: the whole panel, so escalation changes something
    fallback = _targets(PanelPolicy(), agree, switch=False)
    assert [r for r, _ in fallback] == list(ALL)
    assert _targets(PanelPolicy(), agree, switch=True) == []


def firing(*triggers: str) -> list[TriggerFiring]:
    return [TriggerFiring(t, None, None, t) for t in triggers]


def test_any_trigger_escalates_by_default():
    policy = PanelPolicy(escalate_on_low_agreement=True, escalate_on_low_judge_confidence=True)
    assert not policy.escalation_needs_all_triggers
    assert escalation_due(policy, firing(Trigger.LOW_AGREEMENT), judge_asked=False)
    assert escalation_due(policy, firing(Trigger.LOW_JUDGE_CONFIDENCE), judge_asked=True)
    assert not escalation_due(policy, [], judge_asked=True)


def test_all_triggers_needs_every_switched_on_one():
    policy = PanelPolicy(
        escalate_on_low_agreement=True,
        escalate_on_low_confidence=True,
        escalation_needs_all_triggers=True,
    )
    assert not escalation_due(policy, firing(Trigger.LOW_AGREEMENT), judge_asked=False)
    assert not escalation_due(policy, firing(Trigger.LOW_CONFIDENCE), judge_asked=True)
    both = firing(Trigger.LOW_AGREEMENT, Trigger.LOW_CONFIDENCE)
    assert escalation_due(policy, both, judge_asked=False)


def test_all_triggers_waits_for_a_switched_on_judge_trigger():
    policy = PanelPolicy(
        escalate_on_low_agreement=True,
        escalate_on_low_judge_confidence=True,
        escalation_needs_all_triggers=True,
    )
    agreement = firing(Trigger.LOW_AGREEMENT)
    assert not escalation_due(policy, agreement, judge_asked=False)  # the judge has not spoken yet
    assert not escalation_due(policy, agreement, judge_asked=True)
    assert not escalation_due(policy, firing(Trigger.LOW_JUDGE_CONFIDENCE), judge_asked=True)
    both = firing(Trigger.LOW_AGREEMENT, Trigger.LOW_JUDGE_CONFIDENCE)
    assert escalation_due(policy, both, judge_asked=True)


def test_all_triggers_lets_a_quorum_shortfall_escalate_alone():
    policy = PanelPolicy(
        escalate_on_low_agreement=True,
        escalate_on_quorum_shortfall=True,
        escalate_on_low_judge_confidence=True,
        escalation_needs_all_triggers=True,
    )
    assert escalation_due(policy, firing(Trigger.QUORUM_SHORTFALL), judge_asked=False)
    only_quorum = PanelPolicy(escalate_on_quorum_shortfall=True, escalation_needs_all_triggers=True)
    assert not escalation_due(only_quorum, [], judge_asked=True)
    assert not escalation_due(PanelPolicy(escalation_needs_all_triggers=True), [], judge_asked=True)


def test_remaining_targets_are_the_roles_not_yet_rerun_and_only_when_staged():
    staged = PanelPolicy(escalation_scope="staged")
    roles = ["bull", "bear", "risk_manager", "technical_analyst"]
    left = remaining_targets(staged, escalation_roles=roles, rerun=["bear", "fundamental_analyst"])
    assert [t.role for t in left] == ["bull", "risk_manager", "technical_analyst"]
    assert remaining_targets(staged, escalation_roles=roles, rerun=roles) == []
    for scope in ("dissenters", "panel", "none"):
        policy = PanelPolicy(escalation_scope=scope)
        assert remaining_targets(policy, escalation_roles=roles, rerun=[]) == []
