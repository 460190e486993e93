"""The agreement rate and confidence measures of a panel (defined in docs/coordinator.md, "Agreement").

Agreement is the confidence-weighted share of the valid analysts that hold the majority stance:

    weight(s)      = sum of confidence of valid analysts whose stance is s
    majority       = the stance with the largest weight (ties: neutral, then bearish, then bullish)
    agreement_rate = weight(majority) / sum of all weights

1.0 means every confident voice says the same thing; with three stances it cannot fall below 1/3.
With no valid analyst, or all confidences zero, it is 0.0: there is nothing to agree on.
Invalid, failed and late analysts abstain: they are not in ``outputs`` at all.

The two confidence measures the low-confidence trigger can use:

    mean     = sum(c) / n                 every analyst counts the same
    weighted = sum(c * c) / sum(c)        each confidence weighted by itself, so a near-abstaining
                                          analyst (confidence 0.1) barely pulls the measure down

Both are 0.0 with no valid analyst. Values are rounded to 6 decimal places, and triggers compare
the rounded values, so a threshold of exactly 0.6 is met by an agreement of exactly 0.6.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from agents.schemas import AnalystOutput, RiskLevel, Stance

_TIE_ORDER = (Stance.NEUTRAL, Stance.BEARISH, Stance.BULLISH)
PRECISION = 6


def majority_stance(outputs: Iterable[AnalystOutput]) -> Stance | None:
    weights = _weights(outputs)
    if not any(weights.values()):
        return None
    return max(_TIE_ORDER, key=lambda s: (weights[s], -_TIE_ORDER.index(s)))


def agreement_rate(outputs: Iterable[AnalystOutput]) -> float:
    outputs = list(outputs)
    weights = _weights(outputs)
    total = sum(weights.values())
    majority = majority_stance(outputs)
    if majority is None or total <= 0:
        return 0.0
    return round(weights[majority] / total, PRECISION)


def mean_confidence(outputs: Iterable[AnalystOutput]) -> float:
    values = [o.confidence for o in outputs]
    return round(sum(values) / len(values), PRECISION) if values else 0.0


def weighted_confidence(outputs: Iterable[AnalystOutput]) -> float:
    values = [o.confidence for o in outputs]
    total = sum(values)
    return round(sum(c * c for c in values) / total, PRECISION) if total > 0 else 0.0


@dataclass(frozen=True)
class PanelStats:
    """What the triggers look at, computed once per round from the valid analysts' outputs."""

    valid: int
    agreement_rate: float
    majority: Stance | None
    mean_confidence: float
    weighted_confidence: float
    high_risk: bool

    def confidence(self, measure: str) -> float:
        return self.weighted_confidence if measure == "weighted" else self.mean_confidence


def panel_stats(by_role: dict[str, AnalystOutput]) -> PanelStats:
    """Statistics of the valid analysts, keyed by role (high risk is the risk manager's call only)."""
    outputs = list(by_role.values())
    risk = by_role.get("risk_manager")
    return PanelStats(
        valid=len(outputs),
        agreement_rate=agreement_rate(outputs),
        majority=majority_stance(outputs),
        mean_confidence=mean_confidence(outputs),
        weighted_confidence=weighted_confidence(outputs),
        high_risk=risk is not None and risk.risk_level == RiskLevel.HIGH,
    )


def _weights(outputs: Iterable[AnalystOutput]) -> dict[Stance, float]:
    weights = dict.fromkeys(Stance, 0.0)
    for output in outputs:
        weights[output.stance] += output.confidence
    return weights
