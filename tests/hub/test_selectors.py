"""The hub's cross-app selectors, on hand-built rows with known answers."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from arena_project.hub import selectors
from debates.models import DebateConsensus, DebateMessage, DebateSession, DebateStatus, LlmCall
from tests.hub.factories import make_debates

pytestmark = pytest.mark.django_db

# A Wednesday at noon: "today" starts at midnight, "this week" on Monday the 12th.
NOW = timezone.make_aware(dt.datetime(2026, 1, 14, 12, 0))


def _at(day: int, hour: int = 10) -> dt.datetime:
    return timezone.make_aware(dt.datetime(2026, 1, day, hour, 0))


def test_period_starts_are_local_midnight_and_monday():
    (today_key, _, today), (week_key, label, week) = selectors.period_starts(NOW)
    assert (today_key, week_key) == ("today", "week")
    assert today == _at(14, 0)
    assert week == _at(12, 0)
    assert "Mon 12 Jan" in label


def test_overview_periods_split_today_from_this_week(arena, django_assert_num_queries):
    make_debates(arena, 2, created_at=_at(14), cost=Decimal("0.10"), escalated=True)
    make_debates(arena, 1, created_at=_at(14), status=DebateStatus.FAILED, cost=Decimal("0.05"))
    make_debates(arena, 3, created_at=_at(12), cost=Decimal("1.00"))
    make_debates(arena, 4, created_at=_at(9), cost=Decimal("9.00"))  # last week: in neither
    DebateMessage.objects.update(created_at=_at(12))
    DebateMessage.objects.filter(session__created_at=_at(14)).update(created_at=_at(14))
    DebateMessage.objects.filter(session__created_at=_at(9)).update(created_at=_at(9))
    with django_assert_num_queries(2):
        today, week = selectors.overview_periods(now=NOW)
    assert (today.debates, today.completed, today.failed, today.escalated) == (3, 2, 1, 2)
    assert today.cost_usd == pytest.approx(Decimal("0.25"), abs=Decimal("1e-8"))  # 10 decimals on PostgreSQL
    assert today.pass_rate == pytest.approx(2 / 3)
    assert today.escalation_rate == 1.0
    assert today.calls == 2 * 6 + 5
    assert today.tokens == (2 * 6 + 5) * 1200
    assert (week.debates, week.completed, week.failed) == (6, 5, 1)
    assert week.cost_usd == pytest.approx(Decimal("3.25"), abs=Decimal("1e-8"))
    assert week.escalation_rate == pytest.approx(2 / 5)
    assert week.calls == 5 * 6 + 5


def test_overview_periods_with_nothing_have_no_rates():
    today, _ = selectors.overview_periods(now=NOW)
    assert today.debates == 0
    assert today.cost_usd == Decimal(0)
    assert today.pass_rate is None
    assert today.escalation_rate is None


def test_agreement_histogram_bins_in_sql(arena, django_assert_num_queries):
    for rate in (0.0, 0.35, 0.5, 0.55, 0.999, 1.0):
        make_debates(arena, 1, agreement=rate)
    with django_assert_num_queries(1):
        hist = selectors.agreement_histogram(bins=10)
    assert hist.counts == [1, 0, 0, 1, 0, 2, 0, 0, 0, 2]
    assert hist.edges[0] == 0.0 and hist.edges[-1] == 1.0
    assert hist.total == DebateConsensus.objects.count()


def test_daily_costs_are_zero_filled_and_summed_per_day(arena, django_assert_num_queries):
    make_debates(arena, 2, created_at=_at(14), cost=Decimal("0.5"))
    make_debates(arena, 1, created_at=_at(10), cost=Decimal("2"))
    make_debates(arena, 1, created_at=_at(1), cost=Decimal("7"))  # before the window
    with django_assert_num_queries(1):
        days = selectors.daily_costs(days=7, now=NOW)
    assert [d.day for d in days] == [dt.date(2026, 1, 8) + dt.timedelta(days=i) for i in range(7)]
    by_day = {d.day.day: (d.debates, d.cost_usd) for d in days}
    assert by_day[14] == (2, Decimal("1.0"))
    assert by_day[10] == (1, Decimal("2"))
    assert by_day[11] == (0, Decimal(0))


def test_active_debates_count_answers_so_far(arena, django_assert_num_queries):
    make_debates(arena, 1, status=DebateStatus.RUNNING)
    make_debates(arena, 1, status=DebateStatus.QUEUED)
    make_debates(arena, 1)
    with django_assert_num_queries(1):
        active = selectors.active_debates()
        answers = [(s.status, s.answers, s.panel.name) for s in active]
    assert answers == [("running", 5, arena.name), ("queued", 0, arena.name)]


def test_hub_debate_get_and_not_found(arena, django_assert_num_queries):
    (session,) = make_debates(arena, 1, rounds=2, escalated=True)
    # session (+consensus, judge), rounds, messages, their ledger rows, tools
    with django_assert_num_queries(5):
        got = selectors.hub_debate_get(session_id=session.pk)
        assert got.consensus.judge_profile.name == "rules-judge"
        assert len(got.messages.all()) == 12
        assert len(got.tool_calls.all()) == 4
    with pytest.raises(selectors.NotFoundError, match=r"No debate #0\."):
        selectors.hub_debate_get(session_id=0)


def test_cost_breakdown_and_timeline_follow_the_coordinator(arena, django_assert_num_queries):
    (session,) = make_debates(arena, 1, rounds=2, cost=Decimal("1.2"))
    session = selectors.hub_debate_get(session_id=session.pk)
    with django_assert_num_queries(1):  # the ledger summed per answer; the timeline reads prefetched rows
        breakdown = selectors.debate_cost_breakdown(session)
        timeline = selectors.debate_timeline(session)
    assert len(breakdown.per_agent) == 12
    assert breakdown.total_cost_usd == Decimal("1.2")
    assert breakdown.tools_latency_ms == 3 + 6 + 9 + 12
    assert breakdown.cost_known
    kinds = [e.kind for e in timeline]
    assert kinds == ["tool"] * 4 + ["analyst"] * 5 + ["judge"] + ["escalation"] * 5 + ["judge"]
    # Tools in sequence; analysts together after them; judge after the slowest analyst.
    assert [e.start_ms for e in timeline[:4]] == [0, 3, 9, 18]
    assert {e.start_ms for e in timeline[4:9]} == {30}
    assert timeline[9].start_ms == 30 + 110
    assert {e.start_ms for e in timeline[10:15]} == {30 + 110 + 200}
    assert timeline[15].start_ms == 30 + 110 + 200 + 120


def test_cost_breakdown_marks_unknown_cost(arena):
    (session,) = make_debates(arena, 1)
    LlmCall.objects.filter(session=session, role="bull").update(cost_usd=None)
    breakdown = selectors.debate_cost_breakdown(selectors.hub_debate_get(session_id=session.pk))
    assert not breakdown.cost_known
    assert breakdown.per_agent[0].cost_usd is None
    assert breakdown.per_round[0].cost_usd is None


def test_cost_breakdown_sums_retries_and_unlinked_calls_from_the_ledger(arena):
    (session,) = make_debates(arena, 1, cost=Decimal("0.6"))
    bull = DebateMessage.objects.get(session=session, role="bull")
    first = LlmCall.objects.get(message=bull)
    # the bull's first try timed out (unpriced, no tokens), the second (the answer) succeeded
    LlmCall.objects.filter(pk=first.pk).update(attempt=2)
    timeout = LlmCall.objects.create(
        profile=bull.profile,
        session=session,
        message=bull,
        role="bull",
        purpose="analysis",
        provider="rules",
        model="rules",
        attempt=1,
        status="timeout",
        latency_ms=500,
    )
    LlmCall.objects.create(  # a repair call whose answer was thrown away
        profile=bull.profile,
        session=session,
        role="bull",
        purpose="repair",
        provider="rules",
        model="rules",
        attempt=3,
        status="ok",
        input_tokens=10,
        output_tokens=5,
        cost_usd=Decimal("0.001"),
        latency_ms=7,
    )
    loaded = selectors.hub_debate_get(session_id=session.pk)
    breakdown = selectors.debate_cost_breakdown(loaded)
    line = breakdown.per_agent[0]
    assert (line.role, line.calls, line.failed_attempts) == ("bull", 2, 1)
    assert line.latency_ms == 500 + bull.latency_ms
    assert line.cost_usd is None and line.input_tokens is None  # the timeout's cost and tokens are unknown
    assert not breakdown.cost_known
    assert breakdown.unattributed is not None
    assert (breakdown.unattributed.calls, breakdown.unattributed.input_tokens) == (1, 10)
    # every known cost counts: the bull's priced second attempt and the unlinked repair
    assert breakdown.total_cost_usd == Decimal("0.6") + Decimal("0.001")
    spans = [e for e in selectors.debate_timeline(loaded) if e.label.startswith("R1 Bull")]
    assert [(e.label, e.kind, e.duration_ms) for e in spans] == [
        ("R1 Bull #1", "failed", 500),
        ("R1 Bull #2", "analyst", bull.latency_ms),
    ]
    assert spans[1].start_ms == spans[0].start_ms + 500
    assert timeout.pk  # recorded


def test_cost_breakdown_without_ledger_rows_falls_back_to_the_answers(arena):
    (session,) = make_debates(arena, 1, cost=Decimal("0.6"), ledger=False)
    breakdown = selectors.debate_cost_breakdown(selectors.hub_debate_get(session_id=session.pk))
    assert not breakdown.tokens_known
    assert breakdown.total_cost_usd == Decimal("0.6")
    assert breakdown.per_agent[0].input_tokens is None


def test_panel_policy_lists_policy_fields_only(arena):
    labels = [label for label, _, _ in selectors.panel_policy(arena)]
    assert labels == [
        "Call timeout s",
        "Deadline s",
        "Quorum",
        "Escalate on low agreement",
        "Agreement threshold",
        "Escalate on low confidence",
        "Confidence measure",
        "Confidence threshold",
        "Escalate on high risk",
        "Escalate on quorum shortfall",
        "Escalate on low judge confidence",
        "Judge confidence threshold",
        "Escalation needs all triggers",
        "Escalation scope",
        "Low confidence floor",
        "Escalation switches judge",
    ]  # the coordinator's escalation policy appears without any hub change; name, seats etc. do not


def test_panel_results_aggregate_without_multiplying(arena, django_assert_num_queries):
    make_debates(arena, 3, agreement=0.5, cost=Decimal("1"), escalated=True)
    make_debates(arena, 1, status=DebateStatus.FAILED, cost=Decimal("0.5"))
    with django_assert_num_queries(2):
        (panel,) = list(selectors.panel_results())
        seats = selectors.sorted_seats(panel)
    assert (panel.debates, panel.completed, panel.failed, panel.escalated) == (4, 3, 1, 3)
    assert panel.avg_agreement == pytest.approx(0.5)
    assert panel.cost_usd == Decimal("3.5")
    assert [s.stage for s in seats][:5] == ["analyst"] * 5
    assert seats[-1].stage == "escalation_judge"


def test_profile_activity_counts_valid_repaired_and_filters(arena, django_assert_num_queries):
    make_debates(arena, 2, symbol="ACME")
    make_debates(arena, 1, symbol="BOLT")
    DebateMessage.objects.filter(role="bear", session__symbol="BOLT").update(validation_status="invalid")
    DebateMessage.objects.filter(role="bull", session__symbol="BOLT").update(validation_status="repaired")
    with django_assert_num_queries(2):
        rows = {p.name: p for p in selectors.profile_activity()}
    assert rows["rules-bear"].answers == 3
    assert rows["rules-bear"].valid_share == pytest.approx(2 / 3)
    assert rows["rules-bull"].repaired == 1
    assert rows["rules-bull"].valid_share == 1
    assert set(rows) == {
        "rules-bull",
        "rules-bear",
        "rules-risk-manager",
        "rules-technical-analyst",
        "rules-fundamental-analyst",
        "rules-judge",
    }
    assert [p.name for p in selectors.profile_activity(symbol="bolt", role="bear")] == ["rules-bear"]
    assert selectors.profile_activity(tier="powerful") == []
    assert list(selectors.profile_activity(provider="openai")) == []
    ordered = [p.name for p in selectors.profile_activity(sort="valid")]
    assert ordered[-1] == "rules-bear"
    assert [p.name for p in selectors.profile_activity(sort="name")] == sorted(rows)
    assert [p.answers for p in selectors.profile_activity(sort="nonsense")] == [3] * 6


def test_profile_activity_window(arena):
    make_debates(arena, 1)
    DebateMessage.objects.update(created_at=timezone.now() - dt.timedelta(days=10))
    assert selectors.profile_activity(window="7d") == []
    assert len(selectors.profile_activity(window="30d")) == 6
    assert len(selectors.profile_activity(window="nonsense")) == 6  # unknown -> all


def test_tool_stats_lists_router_tools_first_and_unknown_after(arena):
    make_debates(arena, 2)
    (session,) = make_debates(arena, 1)
    session.tool_calls.filter(sequence=4).update(tool="retired_tool", error="gone")
    stats = selectors.tool_stats(
        tool_names=["get_quote", "get_bars", "get_account", "get_positions", "new_tool"]
    )
    names = [s.tool for s in stats]
    assert names == ["get_quote", "get_bars", "get_account", "get_positions", "new_tool", "retired_tool"]
    by_name = {s.tool: s for s in stats}
    assert by_name["new_tool"].calls == 0 and by_name["new_tool"].error_rate is None
    assert by_name["retired_tool"].error_rate == 1.0
    assert by_name["get_positions"].calls == 2


def test_recent_debates_is_one_query_per_page(arena, django_assert_num_queries):
    make_debates(arena, 5)
    with django_assert_num_queries(1):
        rows = [(s.panel.name, s.consensus.action) for s in selectors.recent_debates()[:5]]
    assert len(rows) == 5
    assert DebateSession.objects.count() == 5
