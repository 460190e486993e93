"""Database constraints: the database itself refuses rows the domain forbids (no model validation involved).

Each bad row is written with ``objects.create`` (which skips ``full_clean``) inside its own atomic
block, so the refusal must come from a CHECK or UNIQUE constraint in the schema.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from agents.models import AgentProfile, Panel, PanelSeat, PanelStage, Role
from debates.models import (
    Bar,
    DebateConsensus,
    DebateMessage,
    DebateRound,
    DebateSession,
    Instrument,
    ToolCall,
    ValidationStatus,
)

pytestmark = pytest.mark.django_db

DAY = dt.date(2030, 1, 2)
TS = dt.datetime(2030, 1, 2, tzinfo=dt.UTC)


@pytest.fixture
def world(arena) -> dict[str, Any]:
    """Valid parents for every bad row: an instrument, a session, profiles, the default panel."""
    instrument = Instrument.objects.create(symbol="CNST")
    session = DebateSession.objects.create(symbol="ACME", as_of=dt.date(2024, 3, 1), panel=arena)
    return {
        "panel": arena,
        "instrument": instrument,
        "session": session,
        "bull": AgentProfile.objects.get(name="rules-bull"),
        "judge": AgentProfile.objects.get(name="rules-judge"),
    }


def _bar(w: dict[str, Any], **overrides: Any) -> Bar:
    values = {
        "instrument": w["instrument"],
        "date": DAY,
        "ts": TS,
        "open": Decimal(10),
        "high": Decimal(11),
        "low": Decimal(9),
        "close": Decimal(10),
        "volume": 100,
        **overrides,
    }
    return Bar.objects.create(**values)


def _profile(**overrides: Any) -> AgentProfile:
    values = {"name": "constraint-probe", "role": Role.BULL, "provider": "rules", "model": "m", **overrides}
    return AgentProfile.objects.create(**values)


def _message(w: dict[str, Any], **overrides: Any) -> DebateMessage:
    values = {
        "session": w["session"],
        "role": Role.BULL,
        "profile": w["bull"],
        "stance": "bullish",
        "confidence": 0.5,
        "validation_status": ValidationStatus.VALID,
        **overrides,
    }
    return DebateMessage.objects.create(**values)


def _consensus(w: dict[str, Any], **overrides: Any) -> DebateConsensus:
    values = {
        "session": w["session"],
        "judge_profile": w["judge"],
        "action": "buy",
        "size": 0.5,
        "confidence": 0.5,
        "rationale": "r",
        "agreement_rate": 0.8,
        "valid_analysts": 5,
        **overrides,
    }
    return DebateConsensus.objects.create(**values)


def _seat(w: dict[str, Any], **overrides: Any) -> PanelSeat:
    values = {"panel": w["panel"], "stage": PanelStage.ANALYST, "role": Role.BULL, "profile": w["bull"]}
    return PanelSeat.objects.create(**{**values, **overrides})


def _session(w: dict[str, Any], **overrides: Any) -> DebateSession:
    values = {"symbol": "ACME", "as_of": dt.date(2024, 3, 1), "panel": w["panel"], **overrides}
    return DebateSession.objects.create(**values)


BAD_ROWS: dict[str, Callable[[dict[str, Any]], object]] = {
    # agents
    "agentprofile_budget_gte_0": lambda w: _profile(budget_usd=Decimal("-0.01")),
    "agentprofile_role_valid": lambda w: _profile(role="oracle"),
    "agentprofile_provider_valid": lambda w: _profile(provider="magic"),
    "agentprofile_tier_valid": lambda w: _profile(tier="premium"),
    "agentprofile_mode_valid": lambda w: _profile(mode="always"),
    "agentprofile_budget_period_valid": lambda w: _profile(budget_period="decade"),
    "agentprofile_name_unique": lambda w: _profile(name="rules-bull"),
    "panel_one_default": lambda w: Panel.objects.create(name="second-default", is_default=True),
    "panel_quorum_lte_5": lambda w: Panel.objects.create(name="big-quorum", quorum=6),
    "panel_escalation_scope_valid": lambda w: Panel.objects.create(name="p4", escalation_scope="everyone"),
    "panel_name_unique": lambda w: Panel.objects.create(name=w["panel"].name),
    "panelseat_one_per_role_stage": lambda w: _seat(w),
    "panelseat_stage_valid": lambda w: _seat(w, stage="lobby"),
    "panelseat_role_valid": lambda w: _seat(w, stage=PanelStage.ESCALATION, role="oracle"),
    "panelseat_judge_in_analyst_stage": lambda w: _seat(
        w, panel=Panel.objects.create(name="p2"), role=Role.JUDGE, profile=w["judge"]
    ),
    "panelseat_analyst_in_judge_stage": lambda w: _seat(
        w, panel=Panel.objects.create(name="p3"), stage=PanelStage.JUDGE
    ),
    # market data
    "instrument_symbol_upper": lambda w: Instrument.objects.create(symbol="lower"),
    "instrument_symbol_unique": lambda w: Instrument.objects.create(symbol="ACME"),
    "bar_high_below_low": lambda w: _bar(
        w, high=Decimal(8), low=Decimal(9), open=Decimal(8), close=Decimal(8)
    ),
    "bar_high_below_close": lambda w: _bar(w, close=Decimal(12)),
    "bar_low_above_open": lambda w: _bar(w, open=Decimal("8.5")),
    "bar_prices_positive": lambda w: _bar(w, low=Decimal(0), open=Decimal(0), close=Decimal(0)),
    "bar_volume_gte_0": lambda w: _bar(w, volume=-1),
    "bar_timeframe_valid": lambda w: _bar(w, timeframe="1Week"),
    "bar_unique_per_ts": lambda w: (_bar(w), _bar(w)),
    # debates
    "debatesession_status_valid": lambda w: _session(w, status="paused"),
    "debatesession_cost_gte_0": lambda w: _session(w, total_cost_usd=Decimal("-1")),
    "debatesession_finished_after_started": lambda w: _session(
        w, started_at=timezone.now(), finished_at=timezone.now() - dt.timedelta(seconds=1)
    ),
    "debatemessage_confidence_above_1": lambda w: _message(w, confidence=1.5),
    "debatemessage_confidence_below_0": lambda w: _message(w, confidence=-0.01),
    "debatemessage_stance_valid": lambda w: _message(w, stance="euphoric"),
    "debatemessage_validation_status_valid": lambda w: _message(w, validation_status="maybe"),
    "debatemessage_role_valid": lambda w: _message(w, role="oracle"),
    "debatemessage_one_per_role_round": lambda w: (_message(w), _message(w)),
    "debateround_number_1_3": lambda w: DebateRound.objects.create(session=w["session"], number=4),
    "consensus_one_per_session": lambda w: (_consensus(w), _consensus(w)),
    "consensus_action_valid": lambda w: _consensus(w, action="yolo"),
    "consensus_size_0_1": lambda w: _consensus(w, size=1.01),
    "consensus_confidence_0_1": lambda w: _consensus(w, confidence=-0.5),
    "consensus_agreement_0_1": lambda w: _consensus(w, agreement_rate=2.0),
    "toolcall_unique_sequence": lambda w: (
        ToolCall.objects.create(session=w["session"], sequence=1, tool="get_bars"),
        ToolCall.objects.create(session=w["session"], sequence=1, tool="get_quote"),
    ),
}

COUNTED = (
    AgentProfile,
    Panel,
    PanelSeat,
    Instrument,
    Bar,
    DebateSession,
    DebateMessage,
    DebateConsensus,
    ToolCall,
)


@pytest.mark.parametrize("name", BAD_ROWS)
def test_database_refuses_bad_row(world, name):
    counts = {model: model.objects.count() for model in COUNTED}

    with pytest.raises(IntegrityError), transaction.atomic():
        BAD_ROWS[name](world)

    assert {model: model.objects.count() for model in COUNTED} == counts


def test_good_rows_are_accepted(world):
    """The control: the builders make valid rows unless told otherwise."""
    with transaction.atomic():
        _bar(world)
        _message(world)
        _consensus(world)
        _profile(budget_usd=Decimal(0))
        _seat(world, panel=Panel.objects.create(name="good-seat"))
        _seat(world, panel=Panel.objects.get(name="good-seat"), stage=PanelStage.ESCALATION)
        _session(world, started_at=timezone.now(), finished_at=timezone.now())
        _message(world, role=Role.JUDGE, profile=world["judge"], stance="", confidence=None)
        ToolCall.objects.create(session=world["session"], sequence=1, tool="get_bars")
        Panel.objects.create(name="not-default", quorum=5, escalation_scope="staged")
        DebateRound.objects.create(session=world["session"], number=3)  # a staged escalation's last round


def test_a_second_debate_session_for_the_same_symbol_and_date_is_fine(world):
    _session(world)
    _session(world)
    assert DebateSession.objects.filter(symbol="ACME", as_of=dt.date(2024, 3, 1)).count() == 3


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda w: AgentProfile(name="x", role="oracle", provider="rules", model="m"), "role"),
        (
            lambda w: AgentProfile(name="x", role="bull", provider="rules", model="m", budget_usd=-1),
            "budget_usd",
        ),
        (
            lambda w: DebateMessage(
                session=w["session"],
                role="bull",
                profile=w["bull"],
                confidence=1.5,
                validation_status="valid",
            ),
            "confidence",
        ),
    ],
)
def test_full_clean_reports_the_same_rules_as_field_errors(world, build, field):
    with pytest.raises(ValidationError) as info:
        build(world).full_clean()
    assert field in info.value.message_dict
