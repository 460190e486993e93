"""Keep the leaderboard's rollup (``LeaderboardDaily``) in step with the raw tables.

A refresh recomputes every UTC day that changed since the last one - days with new messages,
ledger calls or consensuses, and the decision days of outcomes settled since - plus the days never
rolled up, up to and including today. Each day is rebuilt whole from the raw aggregation (delete,
insert, one transaction), so a refresh is idempotent and a day is never half-written. A day of the
last ``HOURLY_DAYS`` also keeps one row per hour (a rolling window's first day is partial); older
hours are pruned. The watermark trails the refresh by ``WATERMARK_LAG`` so a row created just
before it by a transaction still open is seen next time.

Runs as a django-q2 schedule (``ARENA_LEADERBOARD_REFRESH_MINUTES``; migration 0002) and from
``manage.py leaderboard_refresh``. Once a refresh has run, the leaderboard reads only the rollup:
its answers are as of the last refresh (``refreshed_at``), the staleness contract in
docs/competition.md.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Min, Sum
from django.db.models.functions import TruncDate, TruncMonth
from django.utils import timezone

from debates.models import DebateConsensus, DebateMessage, LlmCall
from outcomes.models import Outcome

from ..aggregates import (
    ALL_SYMBOLS,
    BASELINE_SUMS,
    PROFILE_QUERIES,
    SUM_FIELDS,
    baseline_sums,
    profile_call_sums,
    trader_call_sums,
    trader_decision_sums,
)
from ..models import CompetitionDecision, LeaderboardDaily, LeaderboardGrain, LeaderboardRollupState

WATERMARK_LAG = dt.timedelta(minutes=5)
STATE_KEY = "agents"
# Hours are kept for the days a rolling window can start in (30d: today - 30), with a day to spare
# for a refresh that runs late.
HOURLY_DAYS = 32
# Days rebuilt per grouped query: bounds the memory a full rebuild holds at once.
CHUNK_DAYS = 31
# After rewriting this many rows, refresh the planner's statistics of the table at once: with the
# stale ones PostgreSQL may read the whole rollup for one window (seen: 45 ms instead of 0.4 ms).
ANALYZE_AFTER_ROWS = 5000


@dataclass(frozen=True)
class RefreshSummary:
    days: int
    rows: int
    complete_through: dt.date | None

    def __str__(self) -> str:
        return f"{self.days} day(s) rebuilt, {self.rows} row(s); complete through {self.complete_through}"


def day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def _days_changed_since(since: dt.datetime | None, through: dt.date) -> set[dt.date]:
    """UTC days whose sums may differ from what the rollup holds."""
    end = day_start(through + dt.timedelta(days=1))
    days: set[dt.date] = set()
    for model in (DebateMessage, LlmCall, DebateConsensus, CompetitionDecision):
        qs = model.objects.filter(created_at__lt=end)
        if since is not None:
            qs = qs.filter(created_at__gte=since)
        days.update(
            qs.annotate(day=TruncDate("created_at", tzinfo=dt.UTC)).values_list("day", flat=True).distinct()
        )
    if since is not None:
        settled = Outcome.objects.filter(updated_at__gte=since).values("consensus__session")
        for model in (DebateMessage, DebateConsensus, CompetitionDecision):
            days.update(
                model.objects.filter(session__in=settled, created_at__lt=end)
                .annotate(day=TruncDate("created_at", tzinfo=dt.UTC))
                .values_list("day", flat=True)
                .distinct()
            )
    return {d for d in days if d <= through}


def _ranges(days: Iterable[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Contiguous runs of days, as inclusive (first, last) pairs."""
    result: list[tuple[dt.date, dt.date]] = []
    for day in sorted(days):
        if result and day == result[-1][1] + dt.timedelta(days=1):
            result[-1] = (result[-1][0], day)
        else:
            result.append((day, day))
    return result


def _chunks(first: dt.date, last: dt.date, hourly_from: dt.date) -> Iterator[tuple[dt.date, dt.date, bool]]:
    """first..last cut into runs of at most ``CHUNK_DAYS`` that do not straddle ``hourly_from``,
    each with whether its hours are kept."""
    day = first
    while day <= last:
        hourly = day >= hourly_from
        end = min(last, day + dt.timedelta(days=CHUNK_DAYS - 1))
        if not hourly and end >= hourly_from:
            end = hourly_from - dt.timedelta(days=1)
        yield day, end, hourly
        day = end + dt.timedelta(days=1)


Key = tuple[int | None, int | None, dt.date, int | None, str]  # profile, trader, day, hour, symbol


def _add_into(bucket: dict[str, Any], values: dict[str, Any]) -> None:
    for name, value in values.items():
        if value is not None:
            bucket[name] = bucket.get(name, 0) + value


def _raw_sums(first: dt.date, last: dt.date, hourly: bool) -> dict[Key, dict[str, Any]]:
    """The sums of the days first..last per (profile or trader, day, hour, symbol) from the raw
    tables: one grouped query per family, by symbol; the all-symbols (``*``) rows and, when
    ``hourly``, the whole-day rows are added up here (every figure is a sum, and each message,
    call, consensus or competition decision has one symbol - a call outside a debate has none and
    counts towards ``*`` only)."""
    ranges = [(day_start(first), day_start(last + dt.timedelta(days=1)))]
    time_key = "hour" if hourly else "day"
    keys = (time_key, "symbol")
    fine: list[tuple[int | None, int | None, dict[str, Any]]] = []
    for query in (*PROFILE_QUERIES, profile_call_sums):
        fine += [
            (row.pop("profile_id"), None, row) for row in query(ranges=ranges, keys=("profile_id", *keys))
        ]
    for trader_query in (trader_decision_sums, trader_call_sums):
        fine += [(None, row.pop("trader_id"), row) for row in trader_query(ranges=ranges, keys=keys)]
    fine += [(None, None, row) for row in baseline_sums(ranges=ranges, keys=keys)]
    sums: dict[Key, dict[str, Any]] = defaultdict(dict)
    for profile_id, trader_id, values in fine:
        day, hour = _when(values.pop(time_key))
        symbol = values.pop("symbol")
        targets = [(profile_id, trader_id, day, hour, ALL_SYMBOLS)]
        if symbol:
            targets.append((profile_id, trader_id, day, hour, symbol))
        if hour is not None:
            targets += [(p, t, d, None, s) for p, t, d, _h, s in targets]
        for key in targets:
            _add_into(sums[key], values)
    return sums


def _when(value: dt.date | dt.datetime) -> tuple[dt.date, int | None]:
    """(day, hour) of a grouped ``day`` (a date) or ``hour`` (a datetime, UTC)."""
    if isinstance(value, dt.datetime):
        value = value.astimezone(dt.UTC)
        return value.date(), value.hour
    return value, None


def _rows_for(first: dt.date, last: dt.date, hourly: bool) -> list[LeaderboardDaily]:
    """Every rollup row of the days first..last (hour rows too when ``hourly``)."""
    rows = []
    for (profile_id, trader_id, day, hour, symbol), values in _raw_sums(first, last, hourly).items():
        baseline = profile_id is None and trader_id is None
        fields = BASELINE_SUMS if baseline else SUM_FIELDS
        clean = {f: values.get(f) or 0 for f in fields}
        clean["cost_usd"] = Decimal(0) if baseline else Decimal(values.get("cost_usd") or 0)
        clean["pnl_usd"] = Decimal(0) if baseline else Decimal(values.get("pnl_usd") or 0)
        grain = LeaderboardGrain.DAY if hour is None else LeaderboardGrain.HOUR
        rows.append(
            LeaderboardDaily(
                profile_id=profile_id,
                trader_id=trader_id,
                grain=grain,
                day=day,
                hour=hour or 0,
                symbol=symbol,
                **clean,
            )
        )
    return rows


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def next_month(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def _rebuild_months(first: dt.date, last: dt.date) -> int:
    """Rewrite the month rows of every month that overlaps first..last as the sums of its day rows
    (one grouped query over the rollup itself). The caller holds the transaction."""
    lo, hi = month_start(first), next_month(last)
    days = LeaderboardDaily.objects.filter(grain=LeaderboardGrain.DAY, day__gte=lo, day__lt=hi)
    grouped = (
        days.annotate(month=TruncMonth("day"))
        .values("profile_id", "trader_id", "month", "symbol")
        .order_by()
        .annotate(**{f: Sum(f) for f in SUM_FIELDS})
    )
    keys = ("profile_id", "trader_id", "month", "symbol")
    rows = []
    for row in grouped:
        sums: dict[str, Any] = {k: v for k, v in row.items() if k not in keys}
        rows.append(
            LeaderboardDaily(
                profile_id=row["profile_id"],
                trader_id=row["trader_id"],
                grain=LeaderboardGrain.MONTH,
                day=row["month"],
                symbol=row["symbol"],
                **sums,
            )
        )
    LeaderboardDaily.objects.filter(grain=LeaderboardGrain.MONTH, day__gte=lo, day__lt=hi).delete()
    LeaderboardDaily.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def leaderboard_rollup_rebuild(*, first: dt.date, last: dt.date, hourly_from: dt.date | None = None) -> int:
    """Rebuild the days first..last (inclusive), each chunk in one transaction, then the month rows
    of their months; returns the rows written. Days from ``hourly_from`` on (default: the last
    ``HOURLY_DAYS`` before today) also get their hour rows."""
    if hourly_from is None:
        hourly_from = timezone.now().astimezone(dt.UTC).date() - dt.timedelta(days=HOURLY_DAYS)
    written = 0
    for chunk_first, chunk_last, hourly in _chunks(first, last, hourly_from):
        rows = _rows_for(chunk_first, chunk_last, hourly)
        with transaction.atomic():
            LeaderboardDaily.objects.filter(
                grain__in=(LeaderboardGrain.DAY, LeaderboardGrain.HOUR),
                day__gte=chunk_first,
                day__lte=chunk_last,
            ).delete()
            LeaderboardDaily.objects.bulk_create(rows, batch_size=2000)
        written += len(rows)
    with transaction.atomic():
        written += _rebuild_months(first, last)
    return written


def leaderboard_rollup_refresh(*, now: dt.datetime | None = None, full: bool = False) -> RefreshSummary:
    """Bring the rollup up to ``now`` (today's rows included), rebuilding only the days that
    changed. Idempotent; concurrent refreshes serialise on the state row.

    ``full`` rebuilds every day instead: needed after rows are written with past timestamps (an
    import or a backfill), which the watermark cannot see.
    """
    now = now or timezone.now()
    watermark = now - WATERMARK_LAG
    through = now.astimezone(dt.UTC).date()
    hourly_from = through - dt.timedelta(days=HOURLY_DAYS)
    with transaction.atomic():
        state, _created = LeaderboardRollupState.objects.select_for_update().get_or_create(key=STATE_KEY)
        previous = None if full else state.watermark
        changed = _days_changed_since(previous, through)
        if full:
            LeaderboardDaily.objects.all().delete()
        if state.complete_through is not None and previous is not None:
            never = {
                state.complete_through + dt.timedelta(days=i)
                for i in range(1, (through - state.complete_through).days + 1)
            }
            changed |= never
        rows = 0
        for first, last in _ranges(changed):
            rows += leaderboard_rollup_rebuild(first=first, last=last, hourly_from=hourly_from)
        LeaderboardDaily.objects.filter(grain=LeaderboardGrain.HOUR, day__lt=hourly_from).delete()
        if full or rows > ANALYZE_AFTER_ROWS:
            _analyze()
        state.complete_through = through
        state.watermark = watermark
        state.refreshed_at = now
        state.save()
        _STATE_CACHE.clear()
    return RefreshSummary(days=len(changed), rows=rows, complete_through=through)


def _analyze() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {LeaderboardDaily._meta.db_table}")


def rollup_state() -> LeaderboardRollupState | None:
    return LeaderboardRollupState.objects.filter(key=STATE_KEY).first()


@dataclass(frozen=True)
class RollupStatus:
    complete_through: dt.date | None
    refreshed_at: dt.datetime | None


_STATE_CACHE: dict[str, tuple[float, RollupStatus]] = {}
_THROUGH_CACHE = _STATE_CACHE  # the name tests/competition/conftest.py clears
STATE_TTL_S = 5.0


def rollup_status() -> RollupStatus:
    """How far the rollup goes, remembered for a few seconds (a query saved per leaderboard).

    A stale answer can only be older than the truth (a refresh only moves it forward): at worst,
    for a few seconds after the very first refresh, a process still computes from the raw tables.
    """
    cached = _STATE_CACHE.get(STATE_KEY)
    if cached is not None and time.monotonic() - cached[0] < STATE_TTL_S:
        return cached[1]
    state = rollup_state()
    status = RollupStatus(
        complete_through=state.complete_through if state else None,
        refreshed_at=state.refreshed_at if state else None,
    )
    _STATE_CACHE[STATE_KEY] = (time.monotonic(), status)
    return status


def rollup_complete_through() -> dt.date | None:
    """The last day the rollup holds (kept for callers of the earlier API)."""
    return rollup_status().complete_through


def earliest_activity() -> dt.datetime | None:
    first = [
        DebateMessage.objects.aggregate(m=Min("created_at"))["m"],
        LlmCall.objects.aggregate(m=Min("created_at"))["m"],
    ]
    present = [f for f in first if f is not None]
    return min(present) if present else None
