"""The agreement rate and confidence measures, on hand-computed cases (docs/coordinator.md)."""

from __future__ import annotations

import pytest

from agents.schemas import Stance
from debates.agreement import (
    agreement_rate,
    majority_stance,
    mean_confidence,
    panel_stats,
    weighted_confidence,
)
from tests.coordinator.scripted import analyst


def outputs(*pairs: tuple[str, float]):
    return [analyst(stance, confidence) for stance, confidence in pairs]


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([("bullish", 0.8)] * 5, 1.0),
        # two of five disagree at equal confidence: 3 * 0.8 / (5 * 0.8)
        ([("bullish", 0.8)] * 3 + [("bearish", 0.8)] * 2, 0.6),
        # confidence weighting: one confident bull outweighs two unsure voices
        ([("bullish", 0.9), ("bearish", 0.3), ("neutral", 0.3)], 0.6),
        # three stances at equal weight: the floor, 1/3
        ([("bullish", 0.5), ("bearish", 0.5), ("neutral", 0.5)], 0.333333),
        # a near-abstaining analyst barely counts
        ([("bullish", 0.7), ("bullish", 0.7), ("neutral", 0.1)], 0.933333),
        ([], 0.0),
        ([("bullish", 0.0), ("bearish", 0.0)], 0.0),
    ],
)
def test_agreement_rate_cases(pairs, expected):
    assert agreement_rate(outputs(*pairs)) == expected


def test_majority_tie_breaks_towards_caution():
    assert majority_stance(outputs(("bullish", 0.5), ("bearish", 0.5))) == Stance.BEARISH
    assert majority_stance(outputs(("bullish", 0.5), ("neutral", 0.5))) == Stance.NEUTRAL
    assert majority_stance(outputs(("bullish", 0.0))) is None


def test_confidence_measures():
    pair = outputs(("bullish", 0.9), ("neutral", 0.1))
    assert mean_confidence(pair) == 0.5
    assert weighted_confidence(pair) == 0.82  # (0.81 + 0.01) / 1.0
    assert mean_confidence([]) == weighted_confidence([]) == 0.0


def test_panel_stats_high_risk_is_the_risk_managers_call_only():
    high = analyst("bearish", 0.7, risk="high")
    assert panel_stats({"risk_manager": high}).high_risk is True
    assert panel_stats({"bear": high}).high_risk is False
    stats = panel_stats({"bull": analyst("bullish", 0.8), "bear": analyst("bearish", 0.4)})
    assert (stats.valid, stats.majority, stats.agreement_rate) == (2, Stance.BULLISH, 0.666667)
