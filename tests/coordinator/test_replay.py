"""Replaying a recorded debate on its recorded context, without fetching market data."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from agents.models import Panel, PanelSeat
from debates.market.sources import register_source
from debates.models import DebateSession, ToolCall
from debates.replay import debate_replay
from debates.services import debate_run_now

pytestmark = pytest.mark.django_db
AS_OF = dt.date(2024, 3, 1)


class ExplodingSource:
    name = "exploding"

    def bars(self, *args, **kwargs):
        raise AssertionError("a replay fetched bars")

    def quote(self, *args, **kwargs):
        raise AssertionError("a replay fetched a quote")


@pytest.fixture
def no_market_data():
    register_source("exploding", ExplodingSource)
    with override_settings(ARENA_MARKET_DATA_SOURCE="exploding"):
        yield


def escalating_copy(panel: Panel, **policy) -> Panel:
    """The same seats as ``panel`` with an escalation policy."""
    copy = Panel.objects.create(name=f"{panel.name}-escalating", **policy)
    PanelSeat.objects.bulk_create(
        [PanelSeat(panel=copy, stage=s.stage, role=s.role, profile=s.profile) for s in panel.seats.all()]
    )
    return copy


def test_replay_on_the_rules_provider_is_equal(arena, no_market_data):
    with override_settings(ARENA_MARKET_DATA_SOURCE="embedded"):
        session = debate_run_now(symbol="ACME", as_of=AS_OF, panel=arena)
    comparison = debate_replay(session_id=session.pk)
    old, new = comparison.original, comparison.replay
    assert comparison.same_decision
    assert (new.action, new.size, new.confidence, new.agreement_rate) == (
        old.action,
        old.size,
        old.confidence,
        old.agreement_rate,
    )
    assert new.stances == old.stances and new.cost_usd == old.cost_usd == 0
    assert new.prompt_versions == old.prompt_versions and comparison.prompt_versions_differ == []
    # nothing was saved by the replay
    assert DebateSession.objects.count() == 1 and ToolCall.objects.count() == 4


def test_replay_with_another_panel_and_policy_prints_both_sides(arena, no_market_data):
    with override_settings(ARENA_MARKET_DATA_SOURCE="embedded"):
        session = debate_run_now(symbol="ACME", as_of=AS_OF, panel=arena)
    other = escalating_copy(arena, escalate_on_low_agreement=True, agreement_threshold=1.0)
    out = StringIO()
    call_command("replay_debate", session.pk, "--panel", other.name, stdout=out)
    text = out.getvalue()
    assert f"Replay of debate #{session.pk} (ACME as of 2024-03-01)" in text
    assert "rules-default" in text and other.name in text
    assert "yes (low_agreement)" in text  # the replay escalated, the original did not
    assert "Same decision:" in text

    out = StringIO()
    call_command(
        "replay_debate",
        session.pk,
        "--set",
        "escalate_on_low_agreement=true",
        "--set",
        "agreement_threshold=1",
        "--json",
        stdout=out,
    )
    data = json.loads(out.getvalue())
    assert data["replay"]["escalated"] is True and data["original"]["escalated"] is False
    assert data["replay"]["calls"] > data["original"]["calls"]


def test_replay_of_an_escalated_debate_with_its_own_panel_is_equal(arena, no_market_data):
    panel = escalating_copy(arena, escalate_on_low_agreement=True, agreement_threshold=1.0)
    with override_settings(ARENA_MARKET_DATA_SOURCE="embedded"):
        session = debate_run_now(symbol="ACME", as_of=AS_OF, panel=panel)
    assert session.consensus.escalated
    comparison = debate_replay(session_id=session.pk)
    assert comparison.same_decision and comparison.replay.escalated
    assert comparison.replay.triggers_fired == comparison.original.triggers_fired == ["low_agreement"]
    assert comparison.replay.stances == comparison.original.stances


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["999999"], "No debate session 999999."),
        (["{id}", "--panel", "nope"], "Unknown panel 'nope'."),
        (
            ["{id}", "--set", "agreement_threshold=2"],
            "agreement_threshold: Ensure this value is less than or equal to 1.0.",
        ),
        (["{id}", "--set", "colour=blue"], "'colour=blue': expected NAME=VALUE"),
        (["{id}", "--set", "quorum=lots"], "quorum:"),
    ],
)
def test_replay_command_refuses_bad_input_in_one_line(arena, args, message):
    session = debate_run_now(symbol="ACME", as_of=AS_OF, panel=arena)
    with pytest.raises(CommandError) as excinfo:
        call_command("replay_debate", *[a.format(id=session.pk) for a in args], stdout=StringIO())
    assert message in str(excinfo.value)
    assert "\n" not in str(excinfo.value)


def test_a_debate_without_recorded_context_cannot_be_replayed(arena):
    session = DebateSession.objects.create(symbol="ACME", as_of=AS_OF, panel=arena, status="failed")
    with pytest.raises(CommandError, match="cannot be replayed: Nothing recorded"):
        call_command("replay_debate", session.pk, stdout=StringIO())


def test_seeded_escalation_panel_escalates_some_rules_debates(arena):
    call_command("seed_demo", "--escalation-panel", stdout=StringIO())
    call_command("seed_demo", "--escalation-panel", stdout=StringIO())  # idempotent
    panel = Panel.objects.get(name="rules-escalation")
    assert panel.seats.count() == 12 and not panel.is_default
    outcomes = [
        debate_run_now(symbol=symbol, as_of=dt.date(2023, 9, 1), panel=panel)
        for symbol in ("ACME", "BOLT", "CYAN", "DUNE", "EPIC", "FLUX")
    ]
    assert all(s.status == "completed" for s in outcomes)
    for session in outcomes:
        first = session.rounds.get(number=1)
        assert session.consensus.escalated is (first.agreement_rate < 0.55)
    # on this date three of six symbols fall below 0.55 (agreement 0.537, 0.518, 0.537)
    assert sum(s.consensus.escalated for s in outcomes) == 3
