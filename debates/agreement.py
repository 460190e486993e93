"""The agreement rate of a panel (defined in docs/architecture.md, "Agreement rate").

Agreement is the confidence-weighted share of the valid analysts that hold the majority stance:

    weight(s)      = sum of confidence of valid analysts whose stance is s
    majority       = the stance with the largest weight (ties: neutral, then bearish, then bullish)
    agreement_rate = weight(majority) / sum of all weights

1.0 means every confident voice says the same thing; with three stances it cannot fall below 1/3.
With no valid analyst, or all confidences zero, it is 0.0: there is nothing to agree on.
"""

from __future__ import annotations

from collections.abc import Iterable

from agents.schemas import AnalystOutput, Stance

_TIE_ORDER = (Stance.NEUTRAL, Stance.BEARISH, Stance.BULLISH)


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
    return round(weights[majority] / total, 6)


def _weights(outputs: Iterable[AnalystOutput]) -> dict[Stance, float]:
    weights = dict.fromkeys(Stance, 0.0)
    for output in outputs:
        weights[output.stance] += output.confidence
    return weights
