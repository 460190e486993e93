"""Reads of the debates app: sessions with everything a detail view shows, market data summaries."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Max, Min, OuterRef, Prefetch, QuerySet, Subquery

from arena_project.errors import NotFoundError
from debates.models import (
    Bar,
    DebateMessage,
    DebateRound,
    DebateSession,
    Instrument,
    LlmCall,
    Timeframe,
    ToolCall,
)


def daily_bars(symbol: str | OuterRef) -> QuerySet[Bar]:
    """The daily bars of ``symbol`` (a value, or an ``OuterRef`` to one).

    The instrument is picked by a scalar subquery on its symbol rather than by joining it: PostgreSQL
    then walks the (instrument, timeframe, date) index in date order, so "the last bar on or before
    a date" reads one row (with the join it read and sorted the symbol's whole history, ~800 rows),
    and the newest ``n`` bars read ``n``.
    """
    instrument = Instrument.objects.filter(symbol=symbol).values("pk")[:1]
    return Bar.objects.filter(instrument=Subquery(instrument), timeframe=Timeframe.DAY)


def debate_session_list() -> QuerySet[DebateSession]:
    """Sessions newest first, with what a list row shows (panel, requester, consensus) in one query."""
    return DebateSession.objects.select_related("panel", "requested_by", "consensus").order_by(
        "-created_at", "-id"
    )


def debate_session_detail_qs() -> QuerySet[DebateSession]:
    """Sessions with rounds, messages (and their profiles), tool calls and the consensus, without N+1."""
    return debate_session_list().prefetch_related(
        Prefetch("rounds", queryset=DebateRound.objects.select_related("judge_profile").order_by("number")),
        Prefetch(
            "messages", queryset=DebateMessage.objects.select_related("profile").order_by("round", "id")
        ),
        Prefetch(
            "messages__llm_calls",
            queryset=LlmCall.objects.select_related("profile").order_by("attempt", "id"),
        ),
        Prefetch("tool_calls", queryset=ToolCall.objects.order_by("sequence")),
    )


def debate_session_get(*, session_id: int) -> DebateSession:
    session = debate_session_detail_qs().filter(pk=session_id).first()
    if session is None:
        raise NotFoundError(f"No debate session {session_id}.")
    return session


def instrument_list() -> QuerySet[Instrument]:
    """Instruments with the span and count of their daily bars, aggregated in SQL."""
    return (
        Instrument.objects.filter(bars__timeframe=Timeframe.DAY)
        .annotate(first_date=Min("bars__date"), last_date=Max("bars__date"), bar_count=Count("bars"))
        .order_by("symbol")
    )


def instrument_get(*, symbol: str) -> Instrument:
    instrument = Instrument.objects.filter(symbol=symbol.upper()).first()
    if instrument is None:
        raise NotFoundError(f"Unknown symbol {symbol!r}.")
    return instrument


def bar_list(*, instrument: Instrument, start: dt.date | None, end: dt.date | None) -> QuerySet[Bar]:
    qs = Bar.objects.filter(instrument=instrument, timeframe=Timeframe.DAY).order_by("date")
    if start:
        qs = qs.filter(date__gte=start)
    if end:
        qs = qs.filter(date__lte=end)
    return qs
