"""Escalation triggers and the choice of what an escalation reruns: pure functions of a round's state.

Each trigger has its own switch and threshold on the panel (:class:`agents.selectors.PanelPolicy`)
and fires when its value is strictly below the threshold, compared at 6 decimal places (see
debates/agreement.py). The coordinator calls :func:`analyst_triggers` after the first analyst round
and :func:`judge_trigger` after a first-round judge; :func:`escalation_due` says whether the
triggers that fired escalate (any one of them, or all switched-on ones), and
:func:`escalation_targets` then says which roles the escalation profiles rerun (and, for the
``staged`` scope's last round, :func:`remaining_targets`). Nothing here
touches the database or the clock, so every rule is tested directly (tests/coordinator/test_triggers.py)
and the simulator reuses it unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from agents.models import ANALYST_ROLES, EscalationScope, Role
from agents.schemas import AnalystOutput, JudgeOutput
from agents.selectors import PanelPolicy
from debates.agreement import PRECISION, PanelStats


class Trigger(StrEnum):
    LOW_AGREEMENT = "low_agreement"
    LOW_CONFIDENCE = "low_confidence"
    HIGH_RISK = "high_risk"
    QUORUM_SHORTFALL = "quorum_shortfall"
    LOW_JUDGE_CONFIDENCE = "low_judge_confidence"


@dataclass(frozen=True)
class TriggerFiring:
    """One trigger that fired: its value, the threshold it fell below, and a sentence for people."""

    trigger: str
    value: float | int | str | None
    threshold: float | int | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "trigger": self.trigger,
            "value": self.value,
            "threshold": self.threshold,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class EscalationTarget:
    """An analyst role the escalation reruns with its escalation profile, and why."""

    role: str
    reason: str


def _below(value: float, threshold: float) -> bool:
    return round(value, PRECISION) < round(threshold, PRECISION)


def analyst_triggers(policy: PanelPolicy, stats: PanelStats, *, quorum: int) -> list[TriggerFiring]:
    """The analyst-round triggers that fire for ``stats``, in a fixed order (only switched-on ones)."""
    fired: list[TriggerFiring] = []
    if policy.escalate_on_quorum_shortfall and stats.valid < quorum:
        fired.append(
            TriggerFiring(
                Trigger.QUORUM_SHORTFALL,
                stats.valid,
                quorum,
                f"{stats.valid} valid analyst(s), quorum {quorum}",
            )
        )
    if policy.escalate_on_low_agreement and _below(stats.agreement_rate, policy.agreement_threshold):
        fired.append(
            TriggerFiring(
                Trigger.LOW_AGREEMENT,
                stats.agreement_rate,
                policy.agreement_threshold,
                f"agreement {stats.agreement_rate:.2f} < {policy.agreement_threshold:.2f}",
            )
        )
    confidence = stats.confidence(policy.confidence_measure)
    if policy.escalate_on_low_confidence and _below(confidence, policy.confidence_threshold):
        measure, threshold = policy.confidence_measure, policy.confidence_threshold
        fired.append(
            TriggerFiring(
                Trigger.LOW_CONFIDENCE,
                confidence,
                threshold,
                f"{measure} confidence {confidence:.2f} < {threshold:.2f}",
            )
        )
    if policy.escalate_on_high_risk and stats.high_risk:
        fired.append(TriggerFiring(Trigger.HIGH_RISK, "high", None, "the risk manager flags high risk"))
    return fired


def switched_on(policy: PanelPolicy) -> set[str]:
    """The triggers the policy has switched on."""
    switches = {
        Trigger.LOW_AGREEMENT: policy.escalate_on_low_agreement,
        Trigger.LOW_CONFIDENCE: policy.escalate_on_low_confidence,
        Trigger.HIGH_RISK: policy.escalate_on_high_risk,
        Trigger.QUORUM_SHORTFALL: policy.escalate_on_quorum_shortfall,
        Trigger.LOW_JUDGE_CONFIDENCE: policy.escalate_on_low_judge_confidence,
    }
    return {trigger for trigger, on in switches.items() if on}


def escalation_due(policy: PanelPolicy, fired: Iterable[TriggerFiring], *, judge_asked: bool) -> bool:
    """Whether the triggers that ``fired`` escalate the debate.

    By default any one trigger escalates. With ``escalation_needs_all_triggers`` every switched-on
    trigger must fire (e.g. low agreement *and* a doubtful judge: a split panel whose judge is still
    sure, or a unanimous one whose judge is not, stays cheap), except a quorum shortfall, which
    escalates alone: without it the debate would fail. Before the judge was asked (``judge_asked``
    false) a switched-on judge trigger has not had its say, so the combination cannot be complete.
    """
    names = {f.trigger for f in fired}
    if not policy.escalation_needs_all_triggers:
        return bool(names)
    if Trigger.QUORUM_SHORTFALL in names:
        return True
    required = switched_on(policy) - {Trigger.QUORUM_SHORTFALL}
    if not judge_asked and Trigger.LOW_JUDGE_CONFIDENCE in required:
        return False
    return bool(required) and required <= names


def judge_trigger(policy: PanelPolicy, decision: JudgeOutput | None, error: str = "") -> TriggerFiring | None:
    """The judge-confidence trigger; a judge without a valid decision counts as confidence 0."""
    if not policy.escalate_on_low_judge_confidence:
        return None
    if decision is None:
        return TriggerFiring(
            Trigger.LOW_JUDGE_CONFIDENCE,
            None,
            policy.judge_confidence_threshold,
            f"the judge gave no valid decision ({error or 'no answer'})",
        )
    if _below(decision.confidence, policy.judge_confidence_threshold):
        return TriggerFiring(
            Trigger.LOW_JUDGE_CONFIDENCE,
            decision.confidence,
            policy.judge_confidence_threshold,
            f"judge confidence {decision.confidence:.2f} < {policy.judge_confidence_threshold:.2f}",
        )
    return None


def escalation_targets(
    policy: PanelPolicy,
    stats: PanelStats,
    *,
    asked: Iterable[str],
    answers: Mapping[str, AnalystOutput],
    escalation_roles: Iterable[str],
    fired: Iterable[TriggerFiring],
    judge_switches: bool,
) -> list[EscalationTarget]:
    """Which analyst roles the escalation reruns, in panel order.

    ``asked`` are the first-round roles, ``answers`` their valid outputs, ``escalation_roles`` the
    roles that have an escalation seat (only those can be rerun). Scope ``panel`` reruns every one
    of them; ``none`` reruns none; ``dissenters`` (and ``staged``, for its first escalation round)
    reruns a role that failed, disagrees with the majority, answered below the low-confidence floor,
    or is the risk manager flagging high risk, and adds escalation-only roles when the quorum fell
    short. When that leaves nothing to rerun
    and the judge does not switch either, the whole panel is rerun, so an escalation always
    changes something.
    """
    available = [r for r in ANALYST_ROLES if r in set(escalation_roles)]
    fired_names = {f.trigger for f in fired}
    if policy.escalation_scope == EscalationScope.PANEL:
        return [EscalationTarget(role, "whole panel") for role in available]
    if policy.escalation_scope == EscalationScope.NONE:
        return []
    asked_set = set(asked)
    targets = []
    for role in available:
        reason = _dissent_reason(policy, stats, role, asked_set, answers, fired_names)
        if reason:
            targets.append(EscalationTarget(role, reason))
    if not targets and not judge_switches:
        return [EscalationTarget(role, "nothing specific to rerun: whole panel") for role in available]
    return targets


def _dissent_reason(
    policy: PanelPolicy,
    stats: PanelStats,
    role: str,
    asked: set[str],
    answers: Mapping[str, AnalystOutput],
    fired: set[str],
) -> str:
    if role not in asked:
        return "adds a voice toward the quorum" if Trigger.QUORUM_SHORTFALL in fired else ""
    output = answers.get(role)
    if output is None:
        return "no valid answer in the first round"
    reasons = []
    if stats.majority is not None and output.stance != stats.majority:
        reasons.append(f"disagrees ({output.stance.value} vs majority {stats.majority.value})")
    if _below(output.confidence, policy.low_confidence_floor):
        reasons.append(f"low confidence ({output.confidence:.2f} < {policy.low_confidence_floor:.2f})")
    if role == Role.RISK_MANAGER and Trigger.HIGH_RISK in fired:
        reasons.append("flags high risk")
    return "; ".join(reasons)


def remaining_targets(
    policy: PanelPolicy, *, escalation_roles: Iterable[str], rerun: Iterable[str]
) -> list[EscalationTarget]:
    """The roles a ``staged`` escalation's last round reruns: every role with an escalation seat
    that the first escalation round did not rerun (none is paid for twice), in panel order. Any
    other scope has no such round."""
    if policy.escalation_scope != EscalationScope.STAGED:
        return []
    done = set(rerun)
    available = set(escalation_roles)
    return [
        EscalationTarget(role, "the triggers still fire after the dissenters were rerun")
        for role in ANALYST_ROLES
        if role in available and role not in done
    ]
