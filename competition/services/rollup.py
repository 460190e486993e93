"""Keep the leaderboard's daily rollup (``LeaderboardDaily``) in step with the raw tables.

A refresh recomputes every UTC day that changed since the last one - days with new messages or
ledger calls, and the decision days of outcomes settled since - plus the days never rolled up, up
to yesterday. Each day is rebuilt whole from the raw aggregation (delete, insert, one transaction),
so a refresh is idempotent and a day is never half-written. The watermark trails the refresh by
``WATERMARK_LAG`` so a row created just before it by a transaction still open is seen next time.

Runs as a django-q2 schedule (``ARENA_LEADERBOARD_REFRESH_MINUTES``; migration 0002) and from
``manage.py leaderboard_refresh``. Between refreshes the leaderboard reads everything after the
watermark from the raw tables, so only outcome settlements of older days wait for the next refresh.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Min
from django.db.models.functions import TruncDate
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
)
from ..models import LeaderboardDaily, LeaderboardRollupState

WATERMARK_LAG = dt.timedelta(minutes=5)
STATE_KEY = "agents"


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
    for model in (DebateMessage, LlmCall, DebateConsensus):
        qs = model.objects.filter(created_at__lt=end)
        if since is not None:
            qs = qs.filter(created_at__gte=since)
        days.update(
            qs.annotate(day=TruncDate("created_at", tzinfo=dt.UTC)).values_list("day", flat=True).distinct()
        )
    if since is not None:
        settled = Outcome.objects.filter(updated_at__gte=since).values("consensus__session")
        days.update(
            DebateMessage.objects.filter(session__in=settled, created_at__lt=end)
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


def _rows_for(first: dt.date, last: dt.date) -> list[LeaderboardDaily]:
    """Every rollup row of the days first..last, from the raw aggregation (four grouped queries per
    family: per symbol and all symbols, per profile and the baseline)."""
    start, end = day_start(first), day_start(last + dt.timedelta(days=1))
    sums: dict[tuple[int | None, dt.date, str], dict[str, Any]] = defaultdict(dict)
    for by_symbol in (True, False):
        keys = ("profile_id", "day", "symbol") if by_symbol else ("profile_id", "day")
        for query in (*PROFILE_QUERIES, profile_call_sums):
            for row in query(ranges=[(start, end)], keys=keys):
                symbol = row.pop("symbol") if by_symbol else ALL_SYMBOLS
                if by_symbol and not symbol:
                    continue  # calls outside a debate count only towards all symbols
                sums[(row.pop("profile_id"), row.pop("day"), symbol)].update(row)
        base_keys = ("day", "symbol") if by_symbol else ("day",)
        for row in baseline_sums(ranges=[(start, end)], keys=base_keys):
            symbol = row.pop("symbol") if by_symbol else ALL_SYMBOLS
            sums[(None, row.pop("day"), symbol)].update(row)
    rows = []
    for (profile_id, day, symbol), values in sums.items():
        fields = BASELINE_SUMS if profile_id is None else SUM_FIELDS
        clean = {f: values.get(f) or 0 for f in fields}
        clean["cost_usd"] = Decimal(values.get("cost_usd") or 0) if profile_id is not None else Decimal(0)
        clean["pnl_usd"] = Decimal(values.get("pnl_usd") or 0) if profile_id is not None else Decimal(0)
        rows.append(LeaderboardDaily(profile_id=profile_id, day=day, symbol=symbol, **clean))
    return rows


def leaderboard_rollup_rebuild(*, first: dt.date, last: dt.date) -> int:
    """Rebuild the days first..last (inclusive) in one transaction; returns the rows written."""
    rows = _rows_for(first, last)
    with transaction.atomic():
        LeaderboardDaily.objects.filter(day__gte=first, day__lte=last).delete()
        LeaderboardDaily.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def leaderboard_rollup_refresh(*, now: dt.datetime | None = None, full: bool = False) -> RefreshSummary:
    """Bring the rollup up to yesterday (UTC), rebuilding only the days that changed. Idempotent;
    concurrent refreshes serialise on the state row.

    ``full`` rebuilds every day instead: needed after rows are written with past timestamps (an
    import or a backfill), which the watermark cannot see.
    """
    now = now or timezone.now()
    watermark = now - WATERMARK_LAG
    through = watermark.astimezone(dt.UTC).date() - dt.timedelta(days=1)
    with transaction.atomic():
        state, _created = LeaderboardRollupState.objects.select_for_update().get_or_create(key=STATE_KEY)
        previous = None if full else state.watermark
        changed = _days_changed_since(previous, through)
        if full:
            LeaderboardDaily.objects.exclude(day__in=changed).delete()
        if state.complete_through is not None and previous is not None:
            never = {
                state.complete_through + dt.timedelta(days=i)
                for i in range(1, (through - state.complete_through).days + 1)
            }
            changed |= never
        rows = 0
        for first, last in _ranges(changed):
            rows += leaderboard_rollup_rebuild(first=first, last=last)
        state.complete_through = through
        state.watermark = watermark
        state.refreshed_at = now
        state.save()
        _THROUGH_CACHE.clear()
    return RefreshSummary(days=len(changed), rows=rows, complete_through=through)


def rollup_state() -> LeaderboardRollupState | None:
    return LeaderboardRollupState.objects.filter(key=STATE_KEY).first()


_THROUGH_CACHE: dict[str, tuple[float, dt.date | None]] = {}
THROUGH_TTL_S = 5.0


def rollup_complete_through() -> dt.date | None:
    """How far the rollup is complete, remembered for a few seconds (a query saved per leaderboard).

    A stale answer is still exact: it can only be older than the truth (the date only moves
    forward), and an older date just sends more days to the raw tables instead of the rollup.
    """
    cached = _THROUGH_CACHE.get(STATE_KEY)
    if cached is not None and time.monotonic() - cached[0] < THROUGH_TTL_S:
        return cached[1]
    state = rollup_state()
    through = state.complete_through if state else None
    _THROUGH_CACHE[STATE_KEY] = (time.monotonic(), through)
    return through


def earliest_activity() -> dt.datetime | None:
    first = [
        DebateMessage.objects.aggregate(m=Min("created_at"))["m"],
        LlmCall.objects.aggregate(m=Min("created_at"))["m"],
    ]
    present = [f for f in first if f is not None]
    return min(present) if present else None
