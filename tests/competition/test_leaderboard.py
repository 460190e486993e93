"""The leaderboard on a small hand-built fixture: every window and filter, the rollup, the baseline rule."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from agents.models import AgentProfile, Provider, Role, Tier
from competition.models import LeaderboardDaily
from competition.selectors import LeaderboardQuery, leaderboard_rows
from competition.services.rollup import HOURLY_DAYS, leaderboard_rollup_refresh
from debates.models import DebateConsensus, DebateMessage, DebateSession, DebateStatus, LlmCall
from outcomes.models import Outcome
from outcomes.services import trading_account_default_get

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2025, 6, 15, 12, 0, tzinfo=dt.UTC)


@dataclass
class Call:
    cost: str | None
    tokens_in: int
    tokens_out: int
    latency: int


@dataclass
class Decision:
    symbol: str
    at: dt.datetime
    views: dict[str, tuple[str, float]]  # profile name -> (stance, confidence)
    action: str
    judge_confidence: float
    outcome: tuple[str, str, str, str, str, bool] | None  # status, entry, exit, pnl, return, hypothetical
    escalated: bool = False
    calls: dict[str, Call] = field(default_factory=dict)


def _profiles(arena):
    return {
        "gpt-bull": AgentProfile.objects.create(
            name="gpt-bull", role=Role.BULL, provider=Provider.OPENAI, model="gpt-4o-mini", tier=Tier.CHEAP
        ),
        "claude-bear": AgentProfile.objects.create(
            name="claude-bear",
            role=Role.BEAR,
            provider=Provider.ANTHROPIC,
            model="claude-x",
            tier=Tier.POWERFUL,
        ),
        "rules-judge-x": AgentProfile.objects.create(
            name="rules-judge-x", role=Role.JUDGE, provider=Provider.RULES, model="rules-v1", tier=Tier.CHEAP
        ),
    }


def _build(arena, profiles, decision: Decision) -> None:
    session = DebateSession.objects.create(
        symbol=decision.symbol, as_of=decision.at.date(), panel=arena, status=DebateStatus.COMPLETED
    )
    judge = profiles["rules-judge-x"]
    messages = {}
    for name, (stance, confidence) in decision.views.items():
        profile = profiles[name]
        messages[name] = DebateMessage.objects.create(
            session=session,
            role=profile.role,
            profile=profile,
            stance=stance,
            confidence=confidence,
            validation_status="valid",
        )
    messages[judge.name] = DebateMessage.objects.create(
        session=session,
        role=Role.JUDGE,
        profile=judge,
        confidence=decision.judge_confidence,
        validation_status="valid",
    )
    consensus = DebateConsensus.objects.create(
        session=session,
        judge_profile=judge,
        action=decision.action,
        size=0.5,
        confidence=decision.judge_confidence,
        rationale="test",
        agreement_rate=0.5,
        valid_analysts=2,
        escalated=decision.escalated,
    )
    account = trading_account_default_get()
    if decision.outcome is None:
        Outcome.objects.create(consensus=consensus, account=account, horizon_bars=5)
    else:
        status, entry, exit_, pnl, ret, hypothetical = decision.outcome
        Outcome.objects.create(
            consensus=consensus,
            account=account,
            horizon_bars=5,
            status=status,
            hypothetical=hypothetical,
            horizon_date=decision.at.date() + dt.timedelta(days=7),
            entry_price=Decimal(entry),
            exit_price=Decimal(exit_),
            pnl_amount=Decimal(pnl),
            pnl_return=Decimal(ret),
            settled_at=decision.at,
            basis="forward_return" if hypothetical else "mark_to_market",
        )
    for name, call in decision.calls.items():
        profile = profiles[name]
        LlmCall.objects.create(
            profile=profile,
            session=session,
            message=messages[name],
            role=profile.role,
            purpose="analysis",
            provider=profile.provider,
            model=profile.model,
            attempt=1,
            status="ok",
            input_tokens=call.tokens_in,
            output_tokens=call.tokens_out,
            cost_usd=None if call.cost is None else Decimal(call.cost),
            latency_ms=call.latency,
        )
    DebateMessage.objects.filter(session=session).update(created_at=decision.at)
    LlmCall.objects.filter(session=session).update(created_at=decision.at)
    Outcome.objects.filter(consensus__session=session).update(created_at=decision.at, updated_at=decision.at)
    DebateConsensus.objects.filter(session=session).update(created_at=decision.at)


DECISIONS = [
    Decision(  # D1, today: everyone's call was up, and it went up
        "ACME",
        NOW - dt.timedelta(hours=2),
        {"gpt-bull": ("bullish", 0.8), "claude-bear": ("bearish", 0.6)},
        "buy",
        0.7,
        ("win", "100", "110", "100", "0.1", False),
        calls={
            "gpt-bull": Call("0.01", 100, 50, 200),
            "claude-bear": Call("0.02", 200, 100, 400),
            "rules-judge-x": Call("0", 0, 0, 1),
        },
    ),
    Decision(  # D2, three days ago: a sell that lost; escalated; one unpriced call
        "BOLT",
        NOW - dt.timedelta(days=3),
        {"gpt-bull": ("bullish", 0.9), "claude-bear": ("bearish", 0.7)},
        "sell",
        0.6,
        ("loss", "50", "55", "-50", "-0.1", False),
        escalated=True,
        calls={
            "gpt-bull": Call("0.01", 100, 50, 300),
            "claude-bear": Call(None, 200, 100, 500),
            "rules-judge-x": Call("0", 0, 0, 1),
        },
    ),
    Decision(  # D3, ten days ago: a hold that won (untraded: hypothetical)
        "ACME",
        NOW - dt.timedelta(days=10),
        {"gpt-bull": ("bearish", 0.55), "claude-bear": ("bearish", 0.8)},
        "hold",
        0.5,
        ("win", "100", "99", "0", "-0.01", True),
        calls={"gpt-bull": Call("0.01", 100, 50, 100), "claude-bear": Call("0.02", 200, 100, 600)},
    ),
    Decision(  # D4, forty days ago: still pending
        "ACME",
        NOW - dt.timedelta(days=40),
        {"gpt-bull": ("bullish", 0.6)},
        "buy",
        0.6,
        None,
        calls={"gpt-bull": Call("0.01", 100, 50, 100)},
    ),
]


@pytest.fixture
def fixture_board(arena):
    profiles = _profiles(arena)
    for decision in DECISIONS:
        _build(arena, profiles, decision)
    return profiles


def _rows(**query):
    board = leaderboard_rows(query=LeaderboardQuery(**query), now=NOW)
    return board, {row.name: row for row in board.rows}


# name, window/range, expected for gpt-bull:
# (decisions, hits/directional, wins/settled, pnl, brier, conf, alpha pp, calls, tokens, cost, latency, esc)
EXPECTED_BULL = {
    "24h": (1, (1, 1), (1, 1), "100", 0.04, 0.8, 0.0, 1, 150, "0.01", 200.0, (0, 1)),
    "7d": (2, (2, 2), (1, 2), "50", 0.025, 0.85, -20.0, 2, 300, "0.02", 250.0, (1, 2)),
    "30d": (3, (3, 3), (2, 3), "50", (0.04 + 0.01 + 0.2025) / 3, 0.75, -19.0, 3, 450, "0.03", 200.0, (1, 3)),
    "all": (
        4,
        (3, 3),
        (2, 3),
        "50",
        (0.04 + 0.01 + 0.2025) / 3,
        0.7125,
        -19.0,
        4,
        600,
        "0.04",
        175.0,
        (1, 4),
    ),
}


@pytest.mark.parametrize("window", list(EXPECTED_BULL))
def test_agent_numbers_for_each_window(fixture_board, window):
    _board, rows = _rows(window=window)
    bull = rows["gpt-bull"]
    decisions, hits, wins, pnl, brier, conf, alpha, calls, tokens, cost, latency, esc = EXPECTED_BULL[window]
    assert bull.decisions == decisions
    assert (bull.hit_rate.value, bull.hit_rate.n) == (hits[0] / hits[1], hits[1])
    assert (bull.win_rate.value, bull.win_rate.n) == (wins[0] / wins[1], wins[1])
    assert bull.pnl_usd == Decimal(pnl)
    assert bull.brier == pytest.approx(brier)
    assert bull.avg_confidence == pytest.approx(conf)
    assert bull.alpha_pp == pytest.approx(alpha)
    assert bull.cost_per_alpha_usd is None  # alpha <= 0: undefined, not infinite
    assert (bull.calls, bull.tokens, bull.cost_usd) == (calls, tokens, Decimal(cost))
    assert bull.avg_latency_ms == pytest.approx(latency)
    assert bull.cost_per_decision_usd == Decimal("0.01")
    assert (bull.escalation_share.value, bull.escalation_share.n) == (esc[0] / esc[1], esc[1])
    assert bull.hit_rate.low is not None and bull.hit_rate.low < bull.hit_rate.value <= bull.hit_rate.high
    assert bull.not_distinguishable_from_baseline  # a handful of decisions never is


def test_bear_and_judge_in_the_7d_window(fixture_board):
    board, rows = _rows(window="7d")
    bear, judge = rows["claude-bear"], rows["rules-judge-x"]
    assert (bear.hit_rate.value, bear.hit_rate.n) == (0.0, 2)  # bearish twice, up twice
    assert bear.brier == pytest.approx((0.36 + 0.49) / 2)
    assert (bear.calls, bear.cost_usd, bear.unknown_cost_calls, bear.tokens) == (2, Decimal("0.02"), 1, 600)
    assert (judge.hit_rate.value, judge.hit_rate.n) == (0.5, 2)  # buy then up: hit; sell then up: miss
    assert judge.brier == pytest.approx((0.3**2 + 0.6**2) / 2)
    assert judge.cost_usd == Decimal(0)
    assert (board.baseline.decisions, board.baseline.buy_and_hold_hit_rate.value) == (2, 1.0)


@pytest.mark.parametrize(
    ("filters", "names"),
    [
        ({"role": "bull"}, ["gpt-bull"]),
        ({"provider": "anthropic"}, ["claude-bear"]),
        ({"tier": "powerful"}, ["claude-bear"]),
        ({"provider": "rules"}, ["rules-judge-x"]),
        ({"role": "risk_manager"}, []),
    ],
)
def test_profile_filters(fixture_board, filters, names):
    _board, rows = _rows(window="7d", **filters)
    assert sorted(rows) == names


def test_symbol_filter(fixture_board):
    board, rows = _rows(window="7d", symbol="BOLT")
    bull = rows["gpt-bull"]
    assert (bull.decisions, bull.hit_rate.n, bull.win_rate.value, bull.pnl_usd) == (1, 1, 0.0, Decimal(-50))
    assert (bull.calls, bull.cost_usd) == (1, Decimal("0.01"))
    assert board.baseline.decisions == 1


def test_from_to_days(fixture_board):
    day = (NOW - dt.timedelta(days=3)).date()
    _board, rows = _rows(window=None, date_from=day, date_to=day)
    assert rows["gpt-bull"].decisions == 1 and rows["gpt-bull"].pnl_usd == Decimal(-50)
    _board, rows = _rows(window=None, date_from=(NOW - dt.timedelta(days=12)).date())
    assert rows["gpt-bull"].decisions == 3
    _board, rows = _rows(window=None, date_to=(NOW - dt.timedelta(days=11)).date())
    assert rows["gpt-bull"].decisions == 1 and rows["gpt-bull"].win_rate.n == 0


# Decisions on either side of every window's first hour, for "now" at 12:37 (a rolling window
# starts on the hour: 24h starts at 12:00 yesterday), and a call outside any debate.
LATER = NOW + dt.timedelta(minutes=37)
EDGES = [
    (
        NOW - dt.timedelta(days=1, minutes=-10),
        "ACME",
        "bullish",
        "buy",
        ("win", "10", "11", "5", "0.1", False),
    ),
    (
        NOW - dt.timedelta(days=1, minutes=30),
        "BOLT",
        "bearish",
        "sell",
        ("win", "10", "9", "5", "0.1", False),
    ),
    (
        NOW - dt.timedelta(days=7, minutes=-50),
        "BOLT",
        "bullish",
        "buy",
        ("loss", "10", "9", "-5", "-0.1", False),
    ),
    (NOW - dt.timedelta(days=7, minutes=5), "ACME", "bearish", "hold", ("flat", "10", "10", "0", "0", True)),
    (NOW - dt.timedelta(days=30, minutes=-20), "ACME", "bullish", "buy", None),
    (
        NOW - dt.timedelta(days=30, minutes=70),
        "CYAN",
        "bearish",
        "sell",
        ("loss", "10", "12", "-9", "-0.2", False),
    ),
    (
        NOW - dt.timedelta(hours=23, minutes=59),
        "CYAN",
        "bullish",
        "buy",
        ("win", "10", "13", "9", "0.3", False),
    ),
    (NOW + dt.timedelta(minutes=20), "ACME", "bearish", "sell", ("win", "10", "8", "7", "0.2", False)),
]


@pytest.fixture
def edge_board(fixture_board, arena):
    for i, (at, symbol, stance, action, outcome) in enumerate(EDGES):
        calls = {"gpt-bull": Call(f"0.00{i + 1}", 10 * i, i, 10 + i), "claude-bear": Call(None, 5, 5, 50)}
        views = {"gpt-bull": (stance, 0.5 + i / 20), "claude-bear": ("bearish", 0.4)}
        _build(arena, fixture_board, Decision(symbol, at, views, action, 0.6, outcome, i % 3 == 0, calls))
    LlmCall.objects.create(  # a call outside any debate: counts towards all symbols only
        profile=fixture_board["gpt-bull"],
        role="bull",
        purpose="analysis",
        provider="openai",
        model="gpt-4o-mini",
        attempt=1,
        status="ok",
        input_tokens=7,
        output_tokens=3,
        cost_usd=Decimal("0.5"),
        latency_ms=9,
    )
    LlmCall.objects.filter(session__isnull=True).update(created_at=NOW - dt.timedelta(hours=5))
    return fixture_board


QUERIES = [{"window": w} for w in ("24h", "7d", "30d", "all")] + [
    {"window": "24h", "symbol": "CYAN"},
    {"window": "7d", "role": "bull"},
    {"window": "7d", "provider": "anthropic", "symbol": "BOLT"},
    {"window": "30d", "symbol": "ACME"},
    {"window": "30d", "role": "judge", "tier": "cheap"},
    {"window": "all", "tier": "powerful"},
    {"window": "all", "symbol": "ZZZZ"},
    {"window": None, "date_from": dt.date(2025, 6, 1), "date_to": dt.date(2025, 6, 12)},
    {"window": None, "date_from": dt.date(2025, 6, 8)},
    {"window": None, "date_to": dt.date(2025, 6, 14), "symbol": "ACME"},
    {"window": None, "date_from": dt.date(2025, 6, 14), "date_to": dt.date(2025, 6, 14), "sort": "-cost_usd"},
    {"window": "30d", "sort": "name"},
    {"window": None, "date_from": dt.date(2025, 5, 1), "date_to": dt.date(2025, 5, 31)},  # a whole month
    {"window": None, "date_from": dt.date(2025, 4, 15), "date_to": dt.date(2025, 6, 30), "symbol": "ACME"},
    {"window": None, "date_to": dt.date(2025, 5, 31), "role": "bull"},
    {"window": None, "date_from": dt.date(2025, 5, 16), "date_to": dt.date(2025, 6, 1)},
]


def _same(rolled, raw) -> None:
    assert [r.name for r in rolled.rows] == [r.name for r in raw.rows]
    assert [_flat(r) for r in rolled.rows] == [pytest.approx(_flat(r)) for r in raw.rows]
    assert _flat(rolled.baseline) == pytest.approx(_flat(raw.baseline))


@pytest.mark.parametrize("query", QUERIES)
def test_rollup_answer_equals_the_raw_aggregation(edge_board, query):
    raw = leaderboard_rows(query=LeaderboardQuery(**query), now=LATER, source="raw")
    summary = leaderboard_rollup_refresh(now=LATER)
    assert summary.complete_through == LATER.date()
    assert LeaderboardDaily.objects.filter(profile__isnull=True, grain="hour").exists()
    rolled = leaderboard_rows(query=LeaderboardQuery(**query), now=LATER)

    assert rolled.rollup_through == LATER.date() and rolled.rollup_refreshed_at == LATER
    assert raw.rollup_through is None and not rolled.raw_ranges
    assert raw.rows or query.get("symbol") == "ZZZZ"
    _same(rolled, raw)


def test_a_rolling_window_starts_on_the_hour(edge_board):
    leaderboard_rollup_refresh(now=LATER)
    board, rows = _rows(window="24h")  # at 12:00: from 12:00 yesterday
    later = leaderboard_rows(query=LeaderboardQuery(window="24h"), now=LATER)

    assert board.start == NOW - dt.timedelta(days=1) and later.start == board.start
    # 12:10 yesterday (in both), 12:01 yesterday (in both), 11:30 yesterday (in neither), and 12:20
    # today, after the first "now": the rollup holds it, so it counts in both.
    assert rows["gpt-bull"].decisions == 1 + 3
    assert {r.name: r.decisions for r in later.rows}["gpt-bull"] == 1 + 3


def test_the_rollup_reflects_new_writes_and_settlements_after_the_next_refresh(edge_board, arena):
    leaderboard_rollup_refresh(now=LATER)
    query = LeaderboardQuery(window="30d")
    before = {r.name: r for r in leaderboard_rows(query=query, now=LATER).rows}["gpt-bull"]
    pending = Outcome.objects.filter(status="pending", consensus__created_at__gte=NOW - dt.timedelta(days=31))
    assert pending.count() == 1
    pending.update(
        status="win",
        entry_price=Decimal(100),
        exit_price=Decimal(104),
        pnl_amount=Decimal(40),
        pnl_return=Decimal("0.04"),
        hypothetical=False,
        horizon_date=NOW.date(),
        settled_at=LATER + dt.timedelta(minutes=1),
        updated_at=LATER + dt.timedelta(minutes=1),
    )
    new = Decision(
        "FLUX",
        LATER + dt.timedelta(minutes=2),
        {"gpt-bull": ("bullish", 0.9)},
        "buy",
        0.8,
        ("win", "20", "21", "3", "0.05", False),
        calls={"gpt-bull": Call("0.25", 1, 1, 1)},
    )
    _build(arena, edge_board, new)
    then = LATER + dt.timedelta(minutes=3)

    stale = {r.name: r for r in leaderboard_rows(query=query, now=then).rows}["gpt-bull"]
    summary = leaderboard_rollup_refresh(now=then)
    fresh_board = leaderboard_rows(query=query, now=then)
    fresh = {r.name: r for r in fresh_board.rows}["gpt-bull"]

    assert stale == before  # as of the last refresh: the staleness contract
    assert summary.days == 2  # today (the new decision) and the settled decision's day, 30 days ago
    assert (fresh.decisions, fresh.win_rate.n, fresh.calls) == (
        before.decisions + 1,
        before.win_rate.n + 2,
        before.calls + 1,
    )
    assert fresh.pnl_usd == before.pnl_usd + 40 + 3
    assert fresh_board.rollup_refreshed_at == then
    _same(fresh_board, leaderboard_rows(query=query, now=then, source="raw"))


def test_hour_rows_are_kept_for_recent_days_only(edge_board):
    leaderboard_rollup_refresh(now=LATER)
    hours = LeaderboardDaily.objects.filter(grain="hour")
    oldest = LATER.date() - dt.timedelta(days=HOURLY_DAYS)
    assert hours.exists() and not hours.filter(day__lt=oldest).exists()
    assert LeaderboardDaily.objects.filter(grain="day", day=(NOW - dt.timedelta(days=40)).date()).exists()

    leaderboard_rollup_refresh(now=LATER + dt.timedelta(days=20))  # the same rows, 20 days on
    hours_after = LeaderboardDaily.objects.filter(grain="hour")
    assert not hours_after.filter(day__lt=oldest + dt.timedelta(days=20)).exists()
    assert hours_after.filter(day=(NOW - dt.timedelta(days=3)).date()).exists()


def test_a_day_row_is_the_sum_of_its_hour_rows(edge_board):
    leaderboard_rollup_refresh(now=LATER)
    for day_row in LeaderboardDaily.objects.filter(grain="day", day__gte=LATER.date() - dt.timedelta(days=7)):
        hours = LeaderboardDaily.objects.filter(
            profile=day_row.profile, day=day_row.day, symbol=day_row.symbol, grain="hour"
        )
        assert hours.exists()
        assert sum(h.decisions for h in hours) == day_row.decisions
        assert sum(h.calls for h in hours) == day_row.calls
        assert sum(h.cost_usd for h in hours) == day_row.cost_usd


def test_a_month_row_is_the_sum_of_its_day_rows(edge_board):
    leaderboard_rollup_refresh(now=LATER)
    months = LeaderboardDaily.objects.filter(grain="month")
    assert {m.day for m in months} == {dt.date(2025, 5, 1), dt.date(2025, 6, 1)}
    for month in months:
        days = LeaderboardDaily.objects.filter(
            profile=month.profile,
            symbol=month.symbol,
            grain="day",
            day__gte=month.day,
            day__lt=(month.day + dt.timedelta(days=32)).replace(day=1),
        )
        assert sum(d.decisions for d in days) == month.decisions
        assert sum(d.hits for d in days) == month.hits
        assert sum(d.pnl_usd for d in days) == month.pnl_usd


def test_unknown_source_is_refused():
    with pytest.raises(ValueError, match="source"):
        leaderboard_rows(query=LeaderboardQuery(), source="cache")


def _flat(row) -> dict:
    """A row as one flat dict (floats summed in another order differ in the last bits)."""
    flat = {}
    for key, value in dataclasses.asdict(row).items():
        if isinstance(value, dict):
            flat.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            flat[key] = float(value) if isinstance(value, Decimal) else value
    return {k: v for k, v in flat.items() if not isinstance(v, str) or k in ("name",)}


def test_rollup_refresh_picks_up_later_settlements_and_is_idempotent(fixture_board):
    leaderboard_rollup_refresh(now=NOW)
    rows_before = LeaderboardDaily.objects.count()
    pending = Outcome.objects.get(status="pending")
    pending.status, pending.entry_price, pending.exit_price = "win", Decimal(100), Decimal(101)
    pending.pnl_amount, pending.pnl_return = Decimal(10), Decimal("0.01")
    pending.horizon_date, pending.settled_at = NOW.date(), NOW
    pending.save()
    Outcome.objects.filter(pk=pending.pk).update(updated_at=NOW + dt.timedelta(minutes=1))  # settled after it

    summary = leaderboard_rollup_refresh(now=NOW + dt.timedelta(minutes=10))

    assert summary.days == 1  # only the decision's day is rebuilt
    assert LeaderboardDaily.objects.count() == rows_before
    rolled = leaderboard_rows(query=LeaderboardQuery(window="all"), now=NOW + dt.timedelta(minutes=10))
    assert rolled.rollup_through == NOW.date()
    assert {r.name: r.win_rate.n for r in rolled.rows}["gpt-bull"] == 4
    assert leaderboard_rollup_refresh(now=NOW + dt.timedelta(minutes=20)).days == 0


def test_trader_profiles_are_ranked_from_their_competition_decisions(traders, run_backtest):
    run = run_backtest(traders=["steady", "bold"])
    board = leaderboard_rows(query=LeaderboardQuery(kind="traders", window="all"))
    rows = {r.name: r for r in board.rows}
    assert set(rows) == {"steady", "bold"}
    steady = rows["steady"]
    assert steady.decisions == run.days_total - 1 and steady.role == "trader"
    assert steady.calls == steady.decisions * 6  # five rules analysts and a judge, free
    assert steady.cost_usd == Decimal(0) and steady.win_rate.n > 0


@pytest.mark.parametrize(
    "queries",
    [
        [
            {"window": "all"},
            {"window": "24h", "symbol": "ACME"},
            {"window": None, "date_from": dt.date(2020, 1, 1)},
        ]
    ],
)
def test_trader_rollup_answer_equals_the_raw_aggregation(traders, run_backtest, queries):
    run_backtest(traders=["steady", "bold"])
    now = dt.datetime.now(tz=dt.UTC)
    raws = [
        leaderboard_rows(query=LeaderboardQuery(kind="traders", **q), now=now, source="raw") for q in queries
    ]

    leaderboard_rollup_refresh(now=now)

    assert LeaderboardDaily.objects.filter(trader__isnull=False, grain="hour").exists()
    for query, raw in zip(queries, raws, strict=True):
        rolled = leaderboard_rows(query=LeaderboardQuery(kind="traders", **query), now=now)
        assert rolled.rollup_through == now.date() and {r.name for r in rolled.rows} == {"steady", "bold"}
        _same(rolled, raw)
    agents = leaderboard_rows(query=LeaderboardQuery(window="all"), now=now)
    assert _flat(agents.baseline) == _flat(raws[0].baseline)  # trader rows are not the baseline's


# --- luck or skill ----------------------------------------------------------------------------------


def _agent_track_record(arena, name, *, n, hit_share, seed):
    """``n`` settled decisions on which the agent's call matched the move ``hit_share`` of the time."""
    rng = random.Random(seed)
    profile = AgentProfile.objects.create(
        name=name, role=Role.TECHNICAL_ANALYST, provider=Provider.RULES, model="x"
    )
    judge = AgentProfile.objects.get(name="rules-judge")
    account = trading_account_default_get()
    sessions = DebateSession.objects.bulk_create(
        [
            DebateSession(symbol="ACME", as_of=NOW.date(), panel=arena, status=DebateStatus.COMPLETED)
            for _ in range(n)
        ]
    )
    consensuses = DebateConsensus.objects.bulk_create(
        [
            DebateConsensus(
                session=s,
                judge_profile=judge,
                action="hold",
                size=0,
                confidence=0.5,
                rationale="-",
                agreement_rate=0.5,
                valid_analysts=1,
            )
            for s in sessions
        ]
    )
    messages, outcomes = [], []
    hits = round(n * hit_share) if hit_share is not None else None
    for i, consensus in enumerate(consensuses):
        up = rng.random() < 0.5
        coin = rng.random() < 0.5
        bullish = coin if hits is None else (up if i < hits else not up)
        messages.append(
            DebateMessage(
                session=consensus.session,
                role=profile.role,
                profile=profile,
                stance="bullish" if bullish else "bearish",
                confidence=0.6,
                validation_status="valid",
            )
        )
        outcomes.append(
            Outcome(
                consensus=consensus,
                account=account,
                horizon_bars=5,
                status="flat",
                hypothetical=True,
                horizon_date=NOW.date(),
                entry_price=Decimal(100),
                exit_price=Decimal(101 if up else 99),
                pnl_amount=Decimal(0),
                pnl_return=Decimal(0),
                settled_at=NOW,
                basis="forward_return",
            )
        )
    DebateMessage.objects.bulk_create(messages)
    Outcome.objects.bulk_create(outcomes)
    DebateMessage.objects.filter(profile=profile).update(created_at=NOW - dt.timedelta(hours=1))
    DebateConsensus.objects.filter(pk__in=[c.pk for c in consensuses]).update(
        created_at=NOW - dt.timedelta(hours=1)
    )


def test_a_coin_flip_agent_is_not_distinguishable_from_baseline_but_a_skilled_one_is(arena):
    _agent_track_record(arena, "coin", n=400, hit_share=None, seed=1)
    _agent_track_record(arena, "oracle", n=400, hit_share=0.9, seed=2)

    _board, rows = _rows(window="24h")

    coin, oracle = rows["coin"], rows["oracle"]
    assert coin.hit_rate.n == 400 and 0.4 < coin.hit_rate.value < 0.6
    assert coin.not_distinguishable_from_baseline and "not distinguishable" not in oracle.name
    assert oracle.hit_rate.value == 0.9 and not oracle.not_distinguishable_from_baseline
    assert oracle.rank < coin.rank  # default sort: the hit rate's lower bound


def test_a_real_edge_needs_enough_decisions_to_show(arena):
    _agent_track_record(arena, "edge-small", n=50, hit_share=0.62, seed=3)
    _agent_track_record(arena, "edge-large", n=1000, hit_share=0.62, seed=4)

    _board, rows = _rows(window="24h")

    small, large = rows["edge-small"], rows["edge-large"]
    assert small.hit_rate.value == pytest.approx(0.62) and large.hit_rate.value == pytest.approx(0.62)
    assert (large.hit_rate.high - large.hit_rate.low) < (small.hit_rate.high - small.hit_rate.low) / 3
    assert small.not_distinguishable_from_baseline
    assert not large.not_distinguishable_from_baseline


# --- API ------------------------------------------------------------------------------------------------


def test_leaderboard_endpoint_is_staff_only(fixture_board, api_client, anon_client, staff_client):
    assert anon_client.get("/api/admin/arena/leaderboard").status_code == 401
    assert api_client.get("/api/admin/arena/leaderboard").status_code == 403
    assert staff_client.get("/api/admin/arena/leaderboard/").status_code == 200


def test_leaderboard_endpoint_sorts_pages_and_reports_intervals(fixture_board, staff_client):
    response = staff_client.get("/api/admin/arena/leaderboard?window=all&sort=-calls&page_size=2")
    body = response.json()
    assert response.status_code == 200, body
    assert body["count"] == 3 and body["next"] and body["previous"] is None
    assert [r["name"] for r in body["results"]] == ["gpt-bull", "claude-bear"]  # 4 calls, then 3
    top = body["results"][0]
    assert top["rank"] == 1 and top["rank_label"] == "1 (not distinguishable from baseline)"
    assert set(top["hit_rate"]) == {"value", "n", "low", "high"}
    assert top["cost_per_alpha_usd"] is None
    assert body["baseline"]["random_hit_rate"] == 0.5
    second = staff_client.get(body["next"]).json()
    assert [r["rank"] for r in second["results"]] == [3]
    by_name = staff_client.get("/api/admin/arena/leaderboard?window=all&sort=name").json()
    assert [r["name"] for r in by_name["results"]] == ["claude-bear", "gpt-bull", "rules-judge-x"]
    ranged = staff_client.get(
        "/api/admin/arena/leaderboard?from=2025-06-01&to=2025-06-30&kind=traders"
    ).json()
    assert ranged["results"] == [] and ranged["start"].startswith("2025-06-01")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("window=1y", "window"),
        ("from=2025-13-01", "from"),
        ("from=2025-06-10&to=2025-06-01", "to"),
        ("window=7d&from=2025-06-01", "window"),
        ("kind=robots", "kind"),
        ("sort=bogus", "sort"),
        ("sort=-", "sort"),
        ("page_size=0", "page_size"),
        ("page_size=501", "page_size"),
        ("page=0", "page"),
        ("role=cook", "role"),
        ("provider=acme-ai", "provider"),
        ("tier=gold", "tier"),
        ("symbol=%24%24", "symbol"),
        ("kind=traders&role=bull", "role"),
        ("colour=blue", "colour"),
    ],
)
def test_leaderboard_bad_parameters_are_400(staff_client, query, field):
    response = staff_client.get(f"/api/admin/arena/leaderboard?{query}")
    assert response.status_code == 400, response.content
    assert field in response.json()["extra"]["fields"]


def test_leaderboard_page_past_the_end_is_404(fixture_board, staff_client):
    assert staff_client.get("/api/admin/arena/leaderboard?page=9").status_code == 404


def test_backfilled_history_needs_a_full_rebuild(fixture_board, arena):
    leaderboard_rollup_refresh(now=NOW)
    backfill = Decision(
        "CYAN",
        NOW - dt.timedelta(days=5),
        {"gpt-bull": ("bullish", 0.7)},
        "buy",
        0.6,
        ("win", "10", "11", "5", "0.1", False),
        calls={"gpt-bull": Call("0.5", 1, 1, 1)},
    )
    _build(arena, fixture_board, backfill)
    later = NOW + dt.timedelta(minutes=10)
    query = LeaderboardQuery(window="30d")

    leaderboard_rollup_refresh(now=later)  # written "in the past": the watermark cannot see it
    stale = {r.name: r for r in leaderboard_rows(query=query, now=later).rows}["gpt-bull"]
    out = StringIO()
    call_command("leaderboard_refresh", "--full", stdout=out)
    rebuilt = {r.name: r for r in leaderboard_rows(query=query, now=later).rows}["gpt-bull"]

    assert stale.decisions == 3 and stale.cost_usd == Decimal("0.03")
    assert rebuilt.decisions == 4 and rebuilt.cost_usd == Decimal("0.53")
    assert "rebuilt" in out.getvalue()


def test_the_api_reuses_a_page_for_the_cache_period(fixture_board, arena, staff_client, settings):
    settings.ARENA_LEADERBOARD_CACHE_SECONDS = 86_400
    first = staff_client.get("/api/admin/arena/leaderboard?window=all").json()
    _build(arena, fixture_board, Decision("FLUX", dt.datetime.now(tz=dt.UTC), {}, "hold", 0.5, None))
    cached = staff_client.get("/api/admin/arena/leaderboard?window=all").json()
    settings.ARENA_LEADERBOARD_CACHE_SECONDS = 0
    fresh = staff_client.get("/api/admin/arena/leaderboard?window=all").json()

    assert cached == first
    assert fresh["computed_at"] != first["computed_at"]
    assert fresh["baseline"]["decisions"] == first["baseline"]["decisions"] + 1


def test_the_api_answers_from_the_rollup_once_it_exists(fixture_board, staff_client, settings):
    settings.ARENA_LEADERBOARD_CACHE_SECONDS = 0
    before = staff_client.get("/api/admin/arena/leaderboard?window=all&sort=name").json()
    leaderboard_rollup_refresh()
    after = staff_client.get("/api/admin/arena/leaderboard?window=all&sort=name").json()

    assert before["rollup_complete_through"] is None and before["rollup_refreshed_at"] is None
    assert after["rollup_complete_through"] and after["rollup_refreshed_at"]
    assert (after["count"], after["baseline"], after["start"]) == (
        before["count"],
        before["baseline"],
        before["start"],
    )
    for rolled, raw in zip(after["results"], before["results"], strict=True):
        assert rolled == {k: pytest.approx(v) if isinstance(v, float) else v for k, v in raw.items()}


def _serializer_answer(board, rows, *, count, next_link=None, previous_link=None):
    """The answer through DRF's generic path: ``LeaderboardOutputSerializer`` over the board's rows
    (the reference the hand-written answer must equal, field for field and in order)."""
    from competition.api.serializers import LeaderboardOutputSerializer

    results = []
    for row in rows:
        values = {f.name: getattr(row, f.name) for f in dataclasses.fields(row)}
        suffix = " (not distinguishable from baseline)" if row.not_distinguishable_from_baseline else ""
        values["rank_label"] = f"{row.rank}{suffix}"
        values["not_distinguishable_from_baseline"] = row.not_distinguishable_from_baseline
        results.append(values)
    payload = {
        "count": count,
        "next": next_link,
        "previous": previous_link,
        "start": board.start,
        "end": board.end,
        "rollup_complete_through": board.rollup_through,
        "rollup_refreshed_at": board.rollup_refreshed_at,
        "computed_at": board.computed_at,
        "baseline": {
            "decisions": board.baseline.decisions,
            "buy_and_hold_hit_rate": board.baseline.buy_and_hold_hit_rate,
            "random_hit_rate": 0.5,
        },
        "results": results,
    }
    return LeaderboardOutputSerializer(payload).data


@pytest.mark.parametrize(
    "query",
    [
        LeaderboardQuery(window="all", sort="name"),
        LeaderboardQuery(window="all", sort="-cost_usd"),
        LeaderboardQuery(window="24h"),
        LeaderboardQuery(kind="traders", window="all"),
    ],
)
@pytest.mark.parametrize("rolled", [False, True])
def test_the_hand_written_answer_equals_the_output_serializers(fixture_board, query, rolled):
    """The API writes its answer by hand (DRF's generic serializer path was most of its Python);
    ``LeaderboardOutputSerializer`` documents it. Same keys in the same order, same values - the
    decimals quantized and as text, the nulls as nulls - before and after the rollup exists."""
    import json

    from competition.api.serializers import leaderboard_output_data

    if rolled:
        leaderboard_rollup_refresh(now=NOW)
    board = leaderboard_rows(query=query, now=NOW)
    assert board.rows or query.kind == "traders"
    fast = leaderboard_output_data(
        board, board.rows, count=len(board.rows), next_link="http://testserver/x?page=2", previous_link=None
    )
    slow = _serializer_answer(
        board, board.rows, count=len(board.rows), next_link="http://testserver/x?page=2"
    )
    assert fast == slow
    assert json.dumps(fast) == json.dumps(slow)  # key order too
    rest = leaderboard_output_data(board, board.rows[1:], count=9, next_link=None, previous_link=None)
    assert rest == _serializer_answer(board, board.rows[1:], count=9)


def test_the_api_answer_matches_its_openapi_schema(fixture_board, staff_client, settings):
    """The hand-written answer against the schema drf-spectacular publishes for the endpoint
    (LeaderboardOutputSerializer): every field present, typed, nullable only where documented, and
    nothing undocumented."""
    import jsonschema

    settings.ARENA_LEADERBOARD_CACHE_SECONDS = 0
    schema = staff_client.get("/api/schema/?format=json").json()

    def closed(node):
        """The OpenAPI 3.0 schema as JSON Schema (``nullable`` as a null type), every object closed
        to undocumented properties."""
        if isinstance(node, dict):
            node = {k: closed(v) for k, v in node.items()}
            if node.get("type") == "object" and "properties" in node:
                node["additionalProperties"] = False
            if node.pop("nullable", False):
                node = (
                    {**node, "type": [node["type"], "null"]}
                    if "type" in node
                    else {"anyOf": [node, {"type": "null"}]}
                )
            return node
        if isinstance(node, list):
            return [closed(v) for v in node]
        return node

    operation = schema["paths"]["/api/admin/arena/leaderboard/"]["get"]
    answer_schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    document = {**closed(answer_schema), "components": {"schemas": closed(schema["components"]["schemas"])}}
    validator = jsonschema.Draft202012Validator(document)
    for query in ("window=all&sort=name", "window=all&page_size=1&page=2", "kind=traders&window=all"):
        body = staff_client.get(f"/api/admin/arena/leaderboard?{query}").json()
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
        assert not errors, errors
        assert body["results"] or "traders" in query


def test_the_query_is_validated_once_per_distinct_parameters(fixture_board, staff_client, settings):
    """The memo gives what the serializer gives, a fresh copy each time; bad parameters stay a 400
    every time."""
    from competition.api.serializers import LeaderboardQueryInputSerializer, leaderboard_query_validated

    params = {"window": "7d", "symbol": "acme", "sort": "-calls", "page_size": "2"}
    fresh = LeaderboardQueryInputSerializer(data=params)
    assert fresh.is_valid(), fresh.errors
    first = leaderboard_query_validated(params)
    assert first == dict(fresh.validated_data) and first["symbol"] == "ACME"
    first.pop("page_size")
    assert leaderboard_query_validated(dict(params)) == dict(fresh.validated_data)
    settings.ARENA_LEADERBOARD_CACHE_SECONDS = 0
    for _ in range(2):
        response = staff_client.get("/api/admin/arena/leaderboard?window=7d&from=2025-06-01")
        assert response.status_code == 400 and "window" in response.json()["extra"]["fields"]


def test_a_window_up_to_the_rollups_last_day_reads_its_open_month_row():
    """The month row of the month the rollup has got to sums only the day rows it holds, so a window
    whose last day is on or after the rollup's last day (or today) reads that one row instead of
    its day rows; a window that stops earlier in the month reads day rows."""
    from competition.selectors import _rollup_plan, _rows_end

    start, end = dt.datetime(2025, 5, 16, 12, tzinfo=dt.UTC), NOW  # 30d, NOW = 2025-06-15 12:00
    open_month = _rollup_plan(start, end, _rows_end(NOW.date(), NOW))
    assert open_month.months == (dt.date(2025, 6, 1), dt.date(2025, 6, 1))
    assert open_month.days == ((dt.date(2025, 5, 17), dt.date(2025, 5, 31)),)
    assert open_month.hours == (dt.date(2025, 5, 16), 12)
    # Before the first refresh, or with day rows after the window's last day: June's days.
    for held in (None, dt.date(2025, 6, 16)):
        closed = _rollup_plan(start, end, held)
        assert closed.months is None and closed.days == ((dt.date(2025, 5, 17), dt.date(2025, 6, 15)),)
    # A stale (a day behind) complete_through still cannot open a month the window ends inside of.
    assert _rows_end(dt.date(2025, 6, 14), NOW) == NOW.date()
    ten_days = _rollup_plan(start, dt.datetime(2025, 6, 11, tzinfo=dt.UTC), _rows_end(NOW.date(), NOW))
    assert ten_days.months is None and ten_days.days[-1] == (dt.date(2025, 5, 17), dt.date(2025, 6, 10))


def test_the_rollup_read_is_prepared_once_per_connection_and_reused(fixture_board):
    """PostgreSQL plans the grouped read once per connection (a prepared statement) instead of on
    every request; the answers are the same, and no other statement is prepared."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    leaderboard_rollup_refresh(now=NOW)
    first, _ = _rows(window="30d")
    second, _ = _rows(window="30d")
    assert second.rows == first.rows and first.rows
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
        held = cursor.fetchall()
    assert [runs for statement, runs in held if "competition_leaderboarddaily" in statement] == [2]
    assert len(held) == 1 and connection.connection.prepare_threshold is None


@pytest.mark.parametrize("query", ["window=all&sort=name", "window=7d&page_size=2", "kind=traders"])
def test_the_answer_is_the_bytes_drfs_json_renderer_writes(fixture_board, staff_client, settings, query):
    """The endpoint writes its JSON with orjson; the bytes are DRF's JSONRenderer's, and the browsable
    API and an indented answer are still DRF's."""
    from rest_framework.renderers import JSONRenderer

    settings.ARENA_LEADERBOARD_CACHE_SECONDS = 0
    leaderboard_rollup_refresh(now=NOW)
    response = staff_client.get(f"/api/admin/arena/leaderboard?{query}")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response.content == JSONRenderer().render(response.data)
    indented = staff_client.get(
        f"/api/admin/arena/leaderboard?{query}", HTTP_ACCEPT="application/json; indent=2"
    )
    assert indented.content == JSONRenderer().render(indented.data, "application/json; indent=2")
    page = staff_client.get(f"/api/admin/arena/leaderboard?{query}", HTTP_ACCEPT="text/html")
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("window", ["all", "30d"])
def test_the_prepared_read_settles_on_a_generic_plan(fixture_board, window):
    """After five runs PostgreSQL stops planning the statement per run, with the same answers. (At
    the benchmark's scale ``all``, an open-ended range, needed its lower bound for that; on this
    small table the planner would settle either way.)"""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    leaderboard_rollup_refresh(now=NOW)
    answers = [_rows(window=window)[0].rows for _ in range(8)]
    assert all(rows == answers[0] for rows in answers)
    with connection.cursor() as cursor:
        cursor.execute("SELECT generic_plans, custom_plans FROM pg_prepared_statements")
        assert cursor.fetchall() == [(3, 5)]
