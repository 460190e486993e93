"""Agreement rate: the confidence-weighted share of the valid analysts holding the majority stance."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.schemas import AnalystOutput, Stance
from debates.agreement import agreement_rate, majority_stance

B, R, N = Stance.BULLISH, Stance.BEARISH, Stance.NEUTRAL


def out(stance: Stance, confidence: float) -> AnalystOutput:
    return AnalystOutput(
        stance=stance, confidence=confidence, signals=[], reasoning="", key_risks=[], risk_level=None
    )


@pytest.mark.parametrize(
    ("votes", "majority", "rate"),
    [
        ([(B, 0.9), (B, 0.5)], B, 1.0),
        ([(R, 0.7)], R, 1.0),
        ([(B, 0.6), (R, 0.2), (N, 0.2)], B, 0.6),
        ([(B, 0.5), (B, 0.3), (R, 0.4), (N, 0.1)], B, 0.615385),  # 0.8 / 1.3
        ([(R, 0.9), (B, 0.3), (B, 0.3), (B, 0.2)], R, 0.529412),  # 0.9 / 1.7: confidence outweighs headcount
        ([(N, 0.1), (N, 0.1), (B, 0.15)], N, 0.571429),  # 0.2 / 0.35
        # ties: neutral beats bearish beats bullish
        ([(B, 0.5), (R, 0.5)], R, 0.5),
        ([(B, 0.4), (N, 0.4)], N, 0.5),
        ([(R, 0.25), (N, 0.25)], N, 0.5),
        ([(B, 0.3), (R, 0.3), (N, 0.3)], N, 0.333333),
        # zero confidence counts for nothing
        ([(B, 0.0), (B, 0.0), (R, 0.2)], R, 1.0),
        ([(B, 0.0), (R, 0.0), (N, 0.0)], None, 0.0),
        ([(B, 0.0)], None, 0.0),
        ([], None, 0.0),
    ],
)
def test_agreement_rate_hand_computed(votes, majority, rate):
    outputs = [out(stance, confidence) for stance, confidence in votes]
    assert majority_stance(outputs) == majority
    assert agreement_rate(outputs) == rate
    assert agreement_rate(iter(outputs)) == rate  # a one-shot iterable gives the same answer


def test_agreement_rate_is_rounded_to_six_places():
    rate = agreement_rate([out(B, 0.1), out(R, 0.1), out(B, 0.1)])
    assert rate == 0.666667
    assert rate != 2 / 3


@settings(max_examples=200, derandomize=True, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(list(Stance)), st.floats(min_value=0, max_value=1, allow_nan=False)),
        max_size=8,
    )
)
def test_agreement_rate_bounds_and_order_independence(votes):
    outputs = [out(stance, confidence) for stance, confidence in votes]
    rate = agreement_rate(outputs)
    total = sum(confidence for _, confidence in votes)
    if total == 0:
        assert rate == 0.0
        assert majority_stance(outputs) is None
    else:
        assert 1 / 3 - 1e-6 <= rate <= 1.0
        majority = majority_stance(outputs)
        assert majority is not None
        weight = sum(c for s, c in votes if s == majority)
        assert all(weight >= sum(c for s, c in votes if s == other) for other in Stance)
    assert agreement_rate(list(reversed(outputs))) == pytest.approx(rate, abs=1e-6)


@pytest.mark.django_db
def test_debate_consensus_stores_the_agreement_of_its_analysts(arena):
    from debates.services import debate_run_now

    session = debate_run_now(symbol="DUNE", as_of=dt.date(2022, 9, 30))
    analysts = session.messages.exclude(role="judge")
    expected = agreement_rate(out(Stance(m.stance), m.confidence) for m in analysts)
    assert session.consensus.agreement_rate == expected
    assert session.consensus.valid_analysts == analysts.count() == 5
