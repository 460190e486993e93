"""The leaderboard's sums, as SQL aggregations over the raw tables (shared by reads and the rollup).

Every leaderboard figure is a ratio of sums, so the same sums serve a window read straight from the
raw tables, a day stored in the rollup, and any mix of the two: rollup days plus raw edges add up to
exactly what one raw aggregation over the whole window gives (tested).

Definitions (docs/competition.md):

* a profile *took part* in a decision when it has a message in a debate that reached a consensus;
  decision-level sums (decisions, settled, wins, PnL, alpha, escalations) count each decision once
  per profile, on its first message in that debate;
* a *call* has a direction when it is an analyst's bullish or bearish stance or a judge's buy or
  sell; it *hits* when the decision's settled outcome moved that way (exit price above or below the
  entry price: the fill, or the next open when nothing traded, to the exit or the horizon close);
* Brier terms are ``(confidence - hit)^2`` over directional calls with a confidence;
* a decision's *alpha* is its actual return minus the symbol's own move over the same span (what
  buy-and-hold earned): the traded return for a trade, 0 for a decision that traded nothing (hold,
  rejected, unfilled), minus ``exit / entry - 1``;
* PnL counts money actually made or lost (hypothetical PnL of untraded decisions is left out);
* calls, tokens, cost and latency come from the cost ledger by the call's own time; decisions by
  the time of the profile's message (the decision's time, not its settlement's).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.db.models import (
    Case,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, TruncDate, TruncHour

from debates.models import DebateConsensus, DebateMessage, LlmCall
from outcomes.models import OutcomeStatus

from .models import CompetitionDecision

ALL_SYMBOLS = "*"
SETTLED = (OutcomeStatus.WIN, OutcomeStatus.LOSS, OutcomeStatus.FLAT)

# The sums a leaderboard row is made of, in the rollup's field names.
DECISION_SUMS = ("decisions", "escalated", "settled", "wins", "pnl_usd", "alpha_sum", "alpha_n")
CALL_DIRECTION_SUMS = (
    "directional",
    "hits",
    "brier_n",
    "brier_sum",
    "brier_sq_sum",
    "confidence_n",
    "confidence_sum",
)
LEDGER_SUMS = ("calls", "tokens", "cost_usd", "latency_ms_sum", "unknown_cost_calls")
SUM_FIELDS = DECISION_SUMS + CALL_DIRECTION_SUMS + LEDGER_SUMS
BASELINE_SUMS = ("decisions", "settled", "directional", "hits")


def _float(expression: Any) -> Any:
    return Cast(expression, FloatField())


def _outcome_terms(prefix: str) -> dict[str, Any]:
    """Expressions over the decision's outcome, reached through ``prefix`` (a path to the consensus,
    empty when the query is over consensuses)."""
    o = f"{prefix}outcome__"
    settled = Q(**{f"{o}status__in": SETTLED})
    priced = settled & Q(**{f"{o}entry_price__gt": 0, f"{o}exit_price__isnull": False})
    moved_up = Q(**{f"{o}exit_price__gt": F(f"{o}entry_price")})
    moved_down = Q(**{f"{o}exit_price__lt": F(f"{o}entry_price")})
    symbol_return = _float(F(f"{o}exit_price")) / _float(F(f"{o}entry_price")) - Value(1.0)
    actual = Case(
        When(**{f"{o}hypothetical": True}, then=Value(0.0)),
        default=_float(F(f"{o}pnl_return")),
        output_field=FloatField(),
    )
    return {
        "settled": settled,
        "priced": priced,
        "moved_up": moved_up,
        "moved_down": moved_down,
        "alpha": ExpressionWrapper(actual - symbol_return, output_field=FloatField()),
        "won": Q(**{f"{o}status": OutcomeStatus.WIN}),
        "pnl": Case(
            When(**{f"{o}hypothetical": False, f"{o}pnl_amount__isnull": False}, then=F(f"{o}pnl_amount")),
            default=Value(Decimal(0)),
        ),
        "escalated": Q(**{f"{prefix}escalated": True}),
    }


def _direction_sums(up: Q, down: Q, confidence: str, terms: dict[str, Any]) -> dict[str, Any]:
    directional = (up | down) & terms["priced"]
    hit = (up & terms["moved_up"]) | (down & terms["moved_down"])
    hit = hit & terms["priced"]
    with_conf = Q(**{f"{confidence}__isnull": False})
    c = _float(F(confidence))
    miss_term = c * c
    hit_term = (Value(1.0) - c) * (Value(1.0) - c)
    return {
        "directional": Count("id", filter=directional),
        "hits": Count("id", filter=hit),
        "brier_n": Count("id", filter=directional & with_conf),
        "brier_sum": Sum(
            Case(When(hit & with_conf, then=hit_term), When(directional & with_conf, then=miss_term)),
            output_field=FloatField(),
        ),
        "brier_sq_sum": Sum(
            Case(
                When(hit & with_conf, then=hit_term * hit_term),
                When(directional & with_conf, then=miss_term * miss_term),
            ),
            output_field=FloatField(),
        ),
        "confidence_n": Count(confidence),
        "confidence_sum": Sum(_float(F(confidence)), output_field=FloatField()),
    }


def _decision_sums(first: Q, terms: dict[str, Any]) -> dict[str, Any]:
    priced_first = first & terms["priced"]
    return {
        "decisions": Count("id", filter=first),
        "escalated": Count("id", filter=first & terms["escalated"]),
        "settled": Count("id", filter=first & terms["settled"]),
        "wins": Count("id", filter=first & terms["won"]),
        "pnl_usd": Sum(Case(When(first, then=terms["pnl"]), default=Value(Decimal(0)))),
        "alpha_sum": Sum(
            Case(When(priced_first, then=terms["alpha"]), default=Value(0.0)), output_field=FloatField()
        ),
        "alpha_n": Count("id", filter=priced_first),
    }


Ranges = Sequence[tuple[dt.datetime | None, dt.datetime | None]]


def _window(qs: QuerySet[Any], field: str, ranges: Ranges) -> QuerySet[Any]:
    """Rows whose ``field`` falls in any of the [start, end) ranges (None: open-ended)."""
    condition = Q()
    for start, end in ranges:
        bounds = Q()
        if start is not None:
            bounds &= Q(**{f"{field}__gte": start})
        if end is not None:
            bounds &= Q(**{f"{field}__lt": end})
        condition |= bounds
    return qs.filter(condition) if ranges else qs


def _group(qs: QuerySet[Any], keys: Sequence[str], time_field: str, symbol_path: str) -> QuerySet[Any]:
    """``values()`` by the requested keys: ``day`` is the UTC date of ``time_field``, ``hour`` its UTC
    hour (a datetime), ``symbol`` the debate's (joined only when asked for, so the planner is not
    pushed into a needless join)."""
    if "day" in keys:
        qs = qs.annotate(day=TruncDate(time_field, tzinfo=dt.UTC))
    if "hour" in keys:
        qs = qs.annotate(hour=TruncHour(time_field, tzinfo=dt.UTC))
    if "symbol" in keys and symbol_path != "symbol":  # else the model's own column
        qs = qs.annotate(symbol=Coalesce(F(symbol_path), Value("")))
    return qs.values(*keys).order_by()


def _profile_messages(
    ranges: Ranges, symbol: str | None, profile_filter: Q | None
) -> QuerySet[DebateMessage]:
    qs = DebateMessage.objects.filter(session__consensus__isnull=False)
    qs = _window(qs, "created_at", ranges)
    if symbol:
        qs = qs.filter(session__symbol=symbol)
    if profile_filter is not None:
        qs = qs.filter(profile_filter)
    return qs


def profile_decision_sums(
    *,
    ranges: Ranges,
    keys: Sequence[str] = ("profile_id",),
    symbol: str | None = None,
    profile_filter: Q | None = None,
) -> QuerySet[Any]:
    """Per agent profile (and ``keys``: ``day``, ``symbol``): each decision it took part in, once
    (on its first message in the debate, should it speak in two rounds)."""
    earlier = DebateMessage.objects.filter(
        session=OuterRef("session"), profile=OuterRef("profile"), round__lt=OuterRef("round")
    )
    qs = _profile_messages(ranges, symbol, profile_filter).filter(~Exists(earlier))
    terms = _outcome_terms("session__consensus__")
    return _group(qs, keys, "created_at", "session__symbol").annotate(
        **_decision_sums(Q(pk__isnull=False), terms)
    )


def profile_direction_sums(
    *,
    ranges: Ranges,
    keys: Sequence[str] = ("profile_id",),
    symbol: str | None = None,
    profile_filter: Q | None = None,
) -> QuerySet[Any]:
    """Per agent profile (and ``keys``): every call it made, its direction, hit, confidence, Brier."""
    qs = _profile_messages(ranges, symbol, profile_filter)
    terms = _outcome_terms("session__consensus__")
    judge = Q(role="judge")
    up = Q(stance="bullish") | (judge & Q(session__consensus__action="buy"))
    down = Q(stance="bearish") | (judge & Q(session__consensus__action="sell"))
    return _group(qs, keys, "created_at", "session__symbol").annotate(
        **_direction_sums(up, down, "confidence", terms)
    )


PROFILE_QUERIES = (profile_decision_sums, profile_direction_sums)


def profile_call_sums(
    *,
    ranges: Ranges,
    keys: Sequence[str] = ("profile_id",),
    symbol: str | None = None,
    profile_filter: Q | None = None,
) -> QuerySet[Any]:
    """Per agent profile (and ``keys``): calls, tokens, known cost, latency and unpriced calls."""
    qs = _window(LlmCall.objects.all(), "created_at", ranges)
    if symbol:
        qs = qs.filter(session__symbol=symbol)
    if profile_filter is not None:
        qs = qs.filter(profile_filter)
    return _group(qs, keys, "created_at", "session__symbol").annotate(**ledger_sums())


def ledger_sums() -> dict[str, Any]:
    """The ledger's sums. ``unknown_cost_calls`` comes before the ``cost_usd`` alias: once that alias
    exists (it shadows the column of the same name), a filter on ``cost_usd`` would mean the SUM."""
    return {
        "calls": Count("id"),
        "tokens": Sum(Coalesce("input_tokens", 0) + Coalesce("output_tokens", 0)),
        "unknown_cost_calls": Count("id", filter=Q(cost_usd__isnull=True)),
        "latency_ms_sum": Sum("latency_ms"),
        "cost_usd": Sum("cost_usd"),
    }


def baseline_sums(*, ranges: Ranges, keys: Sequence[str] = (), symbol: str | None = None) -> Any:
    """Over every decision (each once, at its consensus's time): how often the symbol rose.

    A buy-and-hold agent "calls up" every time, so its hit rate is the share of priced decisions
    whose symbol went up; that is the baseline a profile's hit and win rates are held against.
    Grouped by ``keys`` (``day``, ``symbol``) for the rollup; one dict of totals without keys.
    """
    qs = _window(DebateConsensus.objects.all(), "created_at", ranges)
    if symbol:
        qs = qs.filter(session__symbol=symbol)
    terms = _outcome_terms("")
    sums = {
        "decisions": Count("id"),
        "settled": Count("id", filter=terms["settled"]),
        "directional": Count("id", filter=terms["priced"]),
        "hits": Count("id", filter=terms["priced"] & terms["moved_up"]),
    }
    if not keys:
        return qs.aggregate(**sums)
    return _group(qs, keys, "created_at", "session__symbol").annotate(**sums)


def trader_decision_sums(
    *, ranges: Ranges, keys: Sequence[str] = (), symbol: str | None = None
) -> QuerySet[Any]:
    """Per trader profile (and ``keys``: ``day``, ``hour``, ``symbol``, by the decision's time): its
    competition decisions, judged by the judge's call and the outcomes."""
    qs = CompetitionDecision.objects.filter(entry__trader__isnull=False, session__consensus__isnull=False)
    qs = _window(qs, "created_at", ranges)
    if symbol:
        qs = qs.filter(symbol=symbol)
    terms = _outcome_terms("session__consensus__")
    up = Q(session__consensus__action="buy")
    down = Q(session__consensus__action="sell")
    qs = qs.annotate(trader_id=F("entry__trader_id"))
    return _group(qs, ("trader_id", *keys), "created_at", "symbol").annotate(
        **_decision_sums(Q(pk__isnull=False), terms),
        **_direction_sums(up, down, "session__consensus__confidence", terms),
    )


def trader_call_sums(*, ranges: Ranges, keys: Sequence[str] = (), symbol: str | None = None) -> QuerySet[Any]:
    """Per trader profile (and ``keys``, by the call's time): the ledger of its competition debates.

    Driven from the competition's decisions (a few per trader and day) to their sessions' calls
    through the ledger's session index, rather than from the whole ledger in the window.
    """
    decisions = CompetitionDecision.objects.filter(entry__trader__isnull=False)
    if symbol:
        decisions = decisions.filter(symbol=symbol)
    qs = _window(LlmCall.objects.filter(session_id__in=decisions.values("session_id")), "created_at", ranges)
    qs = qs.annotate(trader_id=F("session__competition_decision__entry__trader_id"))
    return _group(qs, ("trader_id", *keys), "created_at", "session__symbol").annotate(**ledger_sums())
