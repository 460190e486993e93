"""Reads of the competition app: runs with scores and curves, trader profiles, and the leaderboard.

The leaderboard is computed by SQL aggregation: once the rollup exists (``LeaderboardDaily``, kept by
``competition.services.rollup``), one grouped query over it answers every window and filter - whole
days from its day rows, a rolling window's first (partial) day from its hour rows - as of its last
refresh. Before the first refresh, or when asked (``source="raw"``), the same sums come from the raw
tables (``competition.aggregates``; the reference the rollup is tested against). Python then only
turns each profile's sums into rates with their intervals, sorts and pages the rows (one row per
profile).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.models import Prefetch, Q, QuerySet, Sum
from django.utils import timezone

from agents.models import AgentProfile
from arena_project.errors import NotFoundError
from arena_project.pgtuning import prepared_statements

from . import metrics
from .aggregates import (
    ALL_SYMBOLS,
    PROFILE_QUERIES,
    SUM_FIELDS,
    baseline_sums,
    profile_call_sums,
    trader_call_sums,
    trader_decision_sums,
)
from .models import (
    CompetitionEntry,
    CompetitionRun,
    CompetitionScore,
    EquityPoint,
    LeaderboardDaily,
    LeaderboardGrain,
    TraderProfile,
)
from .services.rollup import day_start, month_start, next_month, rollup_status

# --- runs and traders ---------------------------------------------------------------------------


def competition_run_list() -> QuerySet[CompetitionRun]:
    return (
        CompetitionRun.objects.select_related("requested_by")
        .prefetch_related(
            Prefetch("entries", queryset=CompetitionEntry.objects.select_related("trader").order_by("id"))
        )
        .order_by("-created_at", "-id")
    )


def competition_run_get(*, run_id: int) -> CompetitionRun:
    """A run with its entries and scores (ranked), without N+1."""
    run = (
        competition_run_list()
        .prefetch_related(
            Prefetch("scores", queryset=CompetitionScore.objects.select_related("entry").order_by("rank"))
        )
        .filter(pk=run_id)
        .first()
    )
    if run is None:
        raise NotFoundError(f"No competition run {run_id}.")
    return run


def equity_curves(*, run: CompetitionRun) -> dict[int, list[EquityPoint]]:
    """Each entry's equity points in date order: one query for the run."""
    curves: dict[int, list[EquityPoint]] = defaultdict(list)
    for point in EquityPoint.objects.filter(entry__run=run).order_by("entry_id", "date"):
        curves[point.entry_id].append(point)
    return curves


def trader_profile_list() -> QuerySet[TraderProfile]:
    return TraderProfile.objects.select_related("panel").order_by("name")


def trader_profile_get(*, trader_id: int) -> TraderProfile:
    trader = trader_profile_list().filter(pk=trader_id).first()
    if trader is None:
        raise NotFoundError(f"No trader profile {trader_id}.")
    return trader


# --- leaderboard ----------------------------------------------------------------------------------

WINDOWS = {
    "24h": dt.timedelta(hours=24),
    "7d": dt.timedelta(days=7),
    "30d": dt.timedelta(days=30),
    "all": None,
}
SORT_FIELDS = (
    "name",
    "decisions",
    "hit_rate",
    "hit_rate_low",
    "win_rate",
    "win_rate_low",
    "pnl_usd",
    "avg_confidence",
    "brier",
    "calls",
    "tokens",
    "cost_usd",
    "cost_per_decision_usd",
    "cost_per_alpha_usd",
    "alpha_pp",
    "avg_latency_ms",
    "escalation_share",
)


@dataclass(frozen=True)
class LeaderboardQuery:
    kind: str = "agents"  # "agents" | "traders"
    window: str | None = "30d"
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    role: str | None = None
    provider: str | None = None
    tier: str | None = None
    symbol: str | None = None
    sort: str = "-hit_rate_low"

    def bounds(self, now: dt.datetime) -> tuple[dt.datetime | None, dt.datetime]:
        """[start, end) of the window: from/to are whole UTC days; a rolling window ends now and
        starts on the hour (24h at 14:37 starts at 14:00 the day before), the rollup's grain."""
        if self.date_from is not None or self.date_to is not None:
            start = day_start(self.date_from) if self.date_from else None
            end = day_start(self.date_to + dt.timedelta(days=1)) if self.date_to else now
            return start, end
        span = WINDOWS[self.window or "all"]
        if span is None:
            return None, now
        return (now - span).astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0), now


@dataclass(frozen=True)
class Rate:
    value: float | None
    n: int
    low: float | None
    high: float | None

    @classmethod
    def wilson(cls, k: int, n: int) -> Rate:
        return _wilson_rate(k, n)

    def interval(self) -> metrics.Interval | None:
        if self.low is None or self.high is None:
            return None
        return metrics.Interval(self.low, self.high, self.n, "wilson")


@dataclass(frozen=True)
class Baseline:
    """What doing nothing clever scores on the same decisions: always long, or a coin flip."""

    decisions: int
    directional: int
    buy_and_hold_hit_rate: Rate

    def overlaps(self, rate: Rate) -> bool:
        """Whether ``rate``'s interval overlaps buy-and-hold's or a fair coin's over the same n
        (no interval, no data: it cannot be told from either)."""
        return _overlaps_baseline(rate, self.buy_and_hold_hit_rate)


# A leaderboard asks for the same few (k, n) pairs on every request of a window: the intervals are
# pure functions of their arguments, so they are computed once per process (bounded caches).


@functools.lru_cache(maxsize=8192)
def _wilson_rate(k: int, n: int) -> Rate:
    interval = metrics.wilson(k, n)
    return Rate(
        k / n if n else None, n, interval.low if interval else None, interval.high if interval else None
    )


@functools.lru_cache(maxsize=8192)
def _overlaps_baseline(rate: Rate, held_rate: Rate) -> bool:
    own = rate.interval()
    if own is None:
        return True
    coin = metrics.wilson_p(0.5, rate.n)
    if coin is not None and own.overlaps(coin):
        return True
    held = held_rate.interval()  # None: no settled decision to compare with
    return held is not None and own.overlaps(held)


@dataclass(frozen=True)
class LeaderboardRow:
    kind: str
    id: int
    name: str
    role: str
    provider: str
    model: str
    tier: str
    decisions: int
    hit_rate: Rate
    win_rate: Rate
    escalation_share: Rate
    brier: float | None
    brier_n: int
    brier_low: float | None
    brier_high: float | None
    avg_confidence: float | None
    confidence_n: int
    pnl_usd: Decimal
    alpha_pp: float | None
    alpha_n: int
    calls: int
    tokens: int
    cost_usd: Decimal
    unknown_cost_calls: int
    cost_per_decision_usd: Decimal | None
    cost_per_alpha_usd: Decimal | None
    avg_latency_ms: float | None
    hit_rate_distinguishable: bool
    win_rate_distinguishable: bool
    rank: int = 0

    @property
    def not_distinguishable_from_baseline(self) -> bool:
        """The row's verdict: its hit rate cannot be told from buy-and-hold's or a coin's."""
        return not self.hit_rate_distinguishable

    def sort_value(self, key: str) -> Any:
        if key in ("hit_rate", "win_rate"):
            return getattr(self, key).value
        if key in ("hit_rate_low", "win_rate_low"):
            return getattr(self, key.removesuffix("_low")).low
        if key == "escalation_share":
            return self.escalation_share.value
        return getattr(self, key)


@dataclass(frozen=True)
class Leaderboard:
    rows: list[LeaderboardRow]
    baseline: Baseline
    start: dt.datetime | None
    end: dt.datetime
    rollup_through: dt.date | None
    computed_at: dt.datetime
    raw_ranges: list[tuple[dt.datetime | None, dt.datetime]] = field(default_factory=list)
    rollup_refreshed_at: dt.datetime | None = None  # the rollup's answers are as of this time


def _add(target: dict[Any, dict[str, Any]], key_field: str, rows: Iterable[dict[str, Any]]) -> None:
    """Add grouped sums into ``target`` keyed by ``key_field`` (NULL sums count as nothing)."""
    for row in rows:
        _add_one(target[row.pop(key_field)], row)


def _add_one(bucket: dict[str, Any], values: dict[str, Any]) -> None:
    for name, value in values.items():
        if value is not None:
            bucket[name] = bucket.get(name, 0) + value


def _profile_filter(query: LeaderboardQuery, prefix: str = "") -> Q | None:
    terms = {
        f"{prefix}{name}": getattr(query, name)
        for name in ("role", "provider", "tier")
        if getattr(query, name)
    }
    return Q(**terms) if terms else None


PROFILE_META = ("name", "role", "provider", "model", "tier")


@dataclass(frozen=True)
class _CompiledQuery:
    sql: str
    params: tuple[Any, ...]
    names: tuple[str, ...]
    casts: tuple[Callable[[Any], Any] | None, ...]  # per column: int/float/Decimal, or None
    converters: tuple[tuple[int, tuple[Any, ...], Any], ...]  # any other converter Django applies


_COMPILED: dict[tuple[Any, ...], _CompiledQuery] = {}
_COMPILED_MAX = 512
_CASTS = {"FloatField": float, "DecimalField": Decimal}


def _cast(expression: Any, convs: tuple[Any, ...]) -> Callable[[Any], Any] | None:
    """The plain cast Django's only converter for ``expression`` amounts to (its
    ``BaseExpression.convert_value``: None stays None, else float/int/Decimal of the value), or None
    when the column has another converter (then applied as Django would)."""
    if len(convs) != 1 or convs[0] is not getattr(expression, "convert_value", None):
        return None
    internal = expression.output_field.get_internal_type()
    return _CASTS.get(internal) or (int if internal.endswith("IntegerField") else None)


@dataclass(frozen=True)
class _Names:
    """Columns of ``model`` joined onto a grouped query's rows by their ``key`` column (the model's
    primary key; NULL for the baseline's group)."""

    model: type[models.Model]
    key: str
    fields: tuple[str, ...]

    def wrap(self, sql: str, connection: Any) -> str:
        qn = connection.ops.quote_name
        meta = self.model._meta
        columns = ", ".join(f"n.{qn(self._column(f))}" for f in self.fields)
        # Only quoted identifiers from the model's own metadata: no value is spliced into the SQL.
        return (
            f"SELECT g.*, {columns} FROM ({sql}) g LEFT OUTER JOIN {qn(meta.db_table)} n "  # noqa: S608
            f"ON n.{qn(meta.pk.column)} = g.{qn(self.key)}"
        )

    def _column(self, name: str) -> str:
        field = self.model._meta.get_field(name)
        if not isinstance(field, models.Field):
            raise TypeError(f"{name} is not a column of {self.model.__name__}")
        return str(field.column)


def _compile(qs: QuerySet[Any], names: _Names | None) -> _CompiledQuery:
    compiler = qs.query.get_compiler(using=qs.db)
    sql, params = compiler.as_sql()
    selected = [column[0] for column in compiler.select[: compiler.col_count]]
    casts: list[Callable[[Any], Any] | None] = [None] * len(selected)
    others = []
    for pos, (convs, expression) in compiler.get_converters(selected).items():
        cast = _cast(expression, tuple(convs))
        if cast is None:
            others.append((pos, tuple(convs), expression))
        else:
            casts[pos] = cast
    columns = (*qs.query.values_select, *qs.query.annotation_select)
    if names is not None:
        sql = names.wrap(sql, connections[qs.db])
        columns = (*columns, *names.fields)
        casts += [None] * len(names.fields)  # text columns: as the driver gives them
    return _CompiledQuery(
        sql=sql, params=tuple(params), names=columns, casts=tuple(casts), converters=tuple(others)
    )


def _values_memo(
    key: tuple[Any, ...], build: Callable[[], QuerySet[Any]], names: _Names | None = None
) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    """The column names and rows (tuples) of ``build()`` (a grouped ``values()`` query), its SQL
    compiled once per ``key``; with ``names``, the named columns joined onto each group after
    grouping (by the primary key alone: joining them to every rollup row and grouping by them
    too cost PostgreSQL a third of the query).

    The query still runs on every call; only Django's building and compiling of it (19 sums, a
    join and the window's conditions: longer than PostgreSQL takes to run it on the rollup) is
    remembered, with the converters Django would apply to each column (its plain int/float/Decimal
    casts as a per-column cast). ``key`` must determine the SQL and its parameters.
    """
    connection = connections[DEFAULT_DB_ALIAS]
    full_key = (connection.vendor, connection.settings_dict["NAME"], *key)
    compiled = _COMPILED.get(full_key)
    if compiled is None:
        qs = build()
        if qs.query.is_empty():
            return (), []
        compiled = _compile(qs, names)
        if len(_COMPILED) >= _COMPILED_MAX:
            _COMPILED.clear()
        _COMPILED[full_key] = compiled
    with connection.cursor() as cursor, prepared_statements(connection):
        cursor.execute(compiled.sql, compiled.params)  # planned once per connection, then reused
        fetched = cursor.fetchall()
    casts = compiled.casts
    rows = [
        tuple([v if c is None or v is None else c(v) for c, v in zip(casts, raw, strict=True)])
        for raw in fetched
    ]
    if compiled.converters:
        rows = [_converted(row, compiled.converters, connection) for row in rows]
    return compiled.names, rows


def _converted(row: tuple[Any, ...], converters: Iterable[Any], connection: Any) -> tuple[Any, ...]:
    values = list(row)
    for pos, convs, expression in converters:
        for converter in convs:
            values[pos] = converter(values[pos], expression, connection)
    return tuple(values)


Span = tuple[dt.date | None, dt.date]  # inclusive; None: from the beginning


@dataclass(frozen=True)
class RollupPlan:
    """Which rollup rows make up a window: the hour rows of its first day from ``hours[1]`` on
    (when it starts within a day), the month rows of the months it covers whole, the day rows of
    the days left. Each part is a contiguous range of the read index."""

    hours: tuple[dt.date, int] | None
    months: Span | None
    days: tuple[Span, ...]


def _rollup_plan(
    start: dt.datetime | None, end: dt.datetime, held_through: dt.date | None = None
) -> RollupPlan:
    """The rollup rows of [start, end). ``held_through``: a day after which the rollup holds no day
    row (``_rows_end``), so a window whose last day is on or after it takes its last month's row
    however far that month has got (the sum of the day rows it has) instead of those day rows:
    one row instead of up to 30 per profile and symbol."""
    end_utc = end.astimezone(dt.UTC)
    last = end_utc.date() if end_utc.time() != dt.time.min else end_utc.date() - dt.timedelta(days=1)
    hours = None
    first: dt.date | None = None
    if start is not None:
        start_utc = start.astimezone(dt.UTC)
        first = start_utc.date()
        if start_utc.time() != dt.time.min:
            hours = (first, start_utc.hour)
            first += dt.timedelta(days=1)
    # Whole months: from the first that starts on or after ``first`` to the last that ends on or
    # before ``last`` (by its first day); without a start, every month up to there.
    months_from = None if first is None else (first if first.day == 1 else next_month(first))
    whole_last = next_month(last) - dt.timedelta(days=1) == last or (
        held_through is not None and last >= held_through
    )
    months_to = month_start(last) if whole_last else month_start(month_start(last) - dt.timedelta(days=1))
    if months_from is not None and months_from > months_to:
        days = ((first, last),) if first is None or first <= last else ()
        return RollupPlan(hours=hours, months=None, days=days)
    days_left: list[Span] = []
    if first is not None and months_from is not None and first < months_from:
        days_left.append((first, months_from - dt.timedelta(days=1)))
    if next_month(months_to) <= last:
        days_left.append((next_month(months_to), last))
    return RollupPlan(hours=hours, months=(months_from, months_to), days=tuple(days_left))


def _span(grain: str, span: Span) -> Q:
    """Rows of ``grain`` in ``span``. An open start is bounded by the first representable day (the
    same rows): with both bounds PostgreSQL estimates the range as narrow, so the prepared
    statement keeps its generic plan instead of being planned again on every run."""
    lo, hi = span
    return Q(grain=grain, day__lte=hi, day__gte=dt.date.min if lo is None else lo)


def _rollup_rows(plan: RollupPlan, symbol: str | None) -> QuerySet[LeaderboardDaily]:
    """The rollup rows of ``plan`` for ``symbol`` (None: all symbols)."""
    parts = Q()
    if plan.hours is not None:
        parts |= Q(grain=LeaderboardGrain.HOUR, day=plan.hours[0], hour__gte=plan.hours[1])
    if plan.months is not None:
        parts |= _span(LeaderboardGrain.MONTH, plan.months)
    for days in plan.days:
        parts |= _span(LeaderboardGrain.DAY, days)
    if not parts:
        return LeaderboardDaily.objects.none()
    return LeaderboardDaily.objects.filter(parts, symbol=symbol or ALL_SYMBOLS)


Sums = dict[str, Any]


def _group_sums(names: tuple[str, ...], row: tuple[Any, ...], first: int, last: int | None = None) -> Sums:
    """A grouped row's sums, columns ``first`` to ``last`` (a NULL sum counts as nothing)."""
    return {
        name: value
        for name, value in zip(names[first:last], row[first:last], strict=True)
        if value is not None
    }


def _agent_sums_rollup(
    query: LeaderboardQuery, plan: RollupPlan
) -> tuple[dict[Any, Sums], Sums, dict[int, dict[str, str]]]:
    """Per-profile sums, the baseline's and the profiles' names from the rollup: one query (the
    baseline rows are its NULL-profile group, the names are joined onto the groups). The query
    groups by profile, so each profile (and the baseline) is one row."""

    def build() -> QuerySet[Any]:
        rolled = _rollup_rows(plan, query.symbol).filter(trader__isnull=True)
        profile_filter = _profile_filter(query, "profile__")
        if profile_filter is not None:
            rolled = rolled.filter(profile_filter | Q(profile__isnull=True))
        return rolled.values("profile_id").order_by().annotate(**{f: Sum(f) for f in SUM_FIELDS})

    key = ("agents", plan, query.symbol, query.role, query.provider, query.tier)
    columns, rows = _values_memo(key, build, _Names(AgentProfile, "profile_id", PROFILE_META))
    last = len(columns) - len(PROFILE_META)
    sums: dict[Any, Sums] = {}
    base: Sums = {}
    meta: dict[int, dict[str, str]] = {}
    for row in rows:
        profile_id = row[0]
        if profile_id is None:
            base = _group_sums(columns, row, 1, last)
        else:
            meta[profile_id] = dict(zip(PROFILE_META, row[last:], strict=True))
            sums[profile_id] = _group_sums(columns, row, 1, last)
    return sums, base, meta


def _trader_sums_rollup(
    query: LeaderboardQuery, plan: RollupPlan
) -> tuple[dict[Any, Sums], Sums, dict[int, dict[str, str]]]:
    """Per-trader sums, the baseline's and the traders' names from the rollup: one query."""

    def build() -> QuerySet[Any]:
        rolled = _rollup_rows(plan, query.symbol).filter(profile__isnull=True)
        return (
            rolled.values("trader_id", "trader__name", "trader__panel__name")
            .order_by()
            .annotate(**{f: Sum(f) for f in SUM_FIELDS})
        )

    columns, rows = _values_memo(("traders", plan, query.symbol), build)
    sums: dict[Any, Sums] = {}
    base: Sums = {}
    meta: dict[int, dict[str, str]] = {}
    for row in rows:
        trader_id, name, panel = row[:3]
        if trader_id is None:
            base = _group_sums(columns, row, 3)
        else:
            meta[trader_id] = {"name": name, "role": "trader", "provider": "", "model": panel, "tier": ""}
            sums[trader_id] = _group_sums(columns, row, 3)
    return sums, base, meta


def _trader_sums_raw(
    query: LeaderboardQuery, ranges: list[Any]
) -> tuple[dict[Any, dict[str, Any]], dict[str, Any], dict[int, dict[str, str]]]:
    sums: dict[Any, dict[str, Any]] = defaultdict(dict)
    _add(sums, "trader_id", trader_decision_sums(ranges=ranges, symbol=query.symbol))
    _add(sums, "trader_id", trader_call_sums(ranges=ranges, symbol=query.symbol))
    base: dict[str, Any] = {}
    _add_one(base, baseline_sums(ranges=ranges, symbol=query.symbol))
    traders = TraderProfile.objects.filter(pk__in=list(sums)).select_related("panel")
    meta = {
        t.pk: {"name": t.name, "role": "trader", "provider": "", "model": t.panel.name, "tier": ""}
        for t in traders
    }
    return sums, base, meta


def _agent_sums_raw(
    query: LeaderboardQuery, ranges: list[Any]
) -> tuple[dict[Any, dict[str, Any]], dict[str, Any], dict[int, dict[str, str]]]:
    """The same sums from the raw tables: one query per family."""
    sums: dict[Any, dict[str, Any]] = defaultdict(dict)
    profile_filter = _profile_filter(query, "profile__")
    for query_sums in (*PROFILE_QUERIES, profile_call_sums):
        rows = query_sums(ranges=ranges, symbol=query.symbol, profile_filter=profile_filter)
        _add(sums, "profile_id", rows)
    base: dict[str, Any] = {}
    _add_one(base, baseline_sums(ranges=ranges, symbol=query.symbol))
    meta: dict[int, dict[str, str]] = {}
    for profile in AgentProfile.objects.filter(pk__in=list(sums)).values("pk", *PROFILE_META):
        meta[profile.pop("pk")] = profile
    return sums, base, meta


def _row_values(kind: str, ident: int, meta: dict[str, str], s: Sums, baseline: Baseline) -> dict[str, Any]:
    """A row's fields (all but ``rank``) from its sums: rates with their intervals, averages, costs."""
    decisions = int(s.get("decisions", 0))
    cost = Decimal(s.get("cost_usd", 0) or 0)
    calls = int(s.get("calls", 0))
    brier_n = int(s.get("brier_n", 0))
    brier = s.get("brier_sum", 0.0) / brier_n if brier_n else None
    brier_ci = metrics.mean_interval(
        float(s.get("brier_sum", 0.0)), float(s.get("brier_sq_sum", 0.0)), brier_n
    )
    alpha_n = int(s.get("alpha_n", 0))
    alpha_pp = float(s.get("alpha_sum", 0.0)) * 100 if alpha_n else None
    per_alpha = metrics.cost_per_alpha(float(cost), alpha_pp)
    hit = Rate.wilson(int(s.get("hits", 0)), int(s.get("directional", 0)))
    win = Rate.wilson(int(s.get("wins", 0)), int(s.get("settled", 0)))
    confidence_n = int(s.get("confidence_n", 0))
    return {
        **meta,
        "kind": kind,
        "id": ident,
        "decisions": decisions,
        "hit_rate": hit,
        "win_rate": win,
        "escalation_share": Rate.wilson(int(s.get("escalated", 0)), decisions),
        "brier": brier,
        "brier_n": brier_n,
        "brier_low": max(0.0, brier_ci.low) if brier_ci else None,
        "brier_high": min(1.0, brier_ci.high) if brier_ci else None,
        "avg_confidence": s.get("confidence_sum", 0.0) / confidence_n if confidence_n else None,
        "confidence_n": confidence_n,
        "pnl_usd": Decimal(s.get("pnl_usd", 0) or 0),
        "alpha_pp": alpha_pp,
        "alpha_n": alpha_n,
        "calls": calls,
        "tokens": int(s.get("tokens", 0)),
        "cost_usd": cost,
        "unknown_cost_calls": int(s.get("unknown_cost_calls", 0)),
        "cost_per_decision_usd": (cost / decisions).quantize(SIX_PLACES) if decisions else None,
        "cost_per_alpha_usd": None if per_alpha is None else Decimal(str(per_alpha)).quantize(SIX_PLACES),
        "avg_latency_ms": s.get("latency_ms_sum", 0) / calls if calls else None,
        "hit_rate_distinguishable": not baseline.overlaps(hit),
        "win_rate_distinguishable": not baseline.overlaps(win),
    }


SIX_PLACES = Decimal("0.000001")


def _sort_value(values: dict[str, Any], key: str) -> Any:
    """``LeaderboardRow.sort_value`` over a row's fields before the row is built."""
    if key in ("hit_rate", "win_rate", "escalation_share"):
        return values[key].value
    if key in ("hit_rate_low", "win_rate_low"):
        return values[key.removesuffix("_low")].low
    return values[key]


def _sorted(rows: list[dict[str, Any]], sort: str) -> list[LeaderboardRow]:
    """The rows built in ``sort`` order (``-`` for descending) with their ranks; rows without a
    value always go last; ties by name. Sorted as field dicts, so each row is built once, rank
    included."""
    key = sort.removeprefix("-")
    descending = sort.startswith("-")
    keyed = [(_sort_value(r, key), r) for r in rows]
    present = [(value, r) for value, r in keyed if value is not None]
    missing = [r for value, r in keyed if value is None]
    present.sort(key=lambda pair: pair[1]["name"])
    present.sort(key=lambda pair: pair[0], reverse=descending)
    missing.sort(key=lambda r: r["name"])
    ordered = [r for _, r in present] + missing
    return [LeaderboardRow(**r, rank=rank) for rank, r in enumerate(ordered, start=1)]


SOURCES = ("auto", "rollup", "raw")


def _rows_end(complete_through: dt.date | None, now: dt.datetime) -> dt.date | None:
    """A day after which the rollup holds no day row: the later of its ``complete_through`` (the
    refresh builds no day after it; read from a few-seconds cache, so possibly a day behind) and
    today (no activity is dated after now). None before the first refresh."""
    if complete_through is None:
        return None
    return max(complete_through, now.astimezone(dt.UTC).date())


def leaderboard_rows(
    *, query: LeaderboardQuery, now: dt.datetime | None = None, source: str = "auto"
) -> Leaderboard:
    """Ranked rows of agent profiles (``kind="agents"``) or trader profiles over the query's window.

    ``source``: ``auto`` reads the rollup once it exists (answers as of its last refresh, see
    ``rollup_refreshed_at``) and the raw tables before; ``raw`` always aggregates the raw tables
    (exact as of now, slow at scale: the reference); ``rollup`` always reads the rollup. Agent
    and trader rows alike.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, not {source!r}")
    now = now or timezone.now()
    start, end = query.bounds(now)
    status = rollup_status()
    rolled = source == "rollup" or (source == "auto" and status.complete_through is not None)
    raw: list[Any] = [] if rolled else [(start, end)]
    plan = _rollup_plan(start, end, _rows_end(status.complete_through, now))
    if query.kind == "traders":
        sums, base, meta = _trader_sums_rollup(query, plan) if rolled else _trader_sums_raw(query, raw)
    elif rolled:
        sums, base, meta = _agent_sums_rollup(query, plan)
    else:
        sums, base, meta = _agent_sums_raw(query, raw)
    baseline = Baseline(
        decisions=int(base.get("decisions") or 0),
        directional=int(base.get("directional") or 0),
        buy_and_hold_hit_rate=Rate.wilson(int(base.get("hits") or 0), int(base.get("directional") or 0)),
    )
    rows = [
        _row_values(query.kind, ident, meta[ident], s, baseline) for ident, s in sums.items() if ident in meta
    ]
    return Leaderboard(
        rows=_sorted(rows, query.sort),
        baseline=baseline,
        start=start,
        end=end,
        rollup_through=status.complete_through if rolled else None,
        computed_at=now,
        raw_ranges=raw,
        rollup_refreshed_at=status.refreshed_at if rolled else None,
    )


def leaderboard_rows_cached(*, query: LeaderboardQuery) -> Leaderboard:
    """``leaderboard_rows``, reused for up to ``ARENA_LEADERBOARD_CACHE_SECONDS`` (0: never).

    The staff page and API ask for the same few windows over and over; the answer is recomputed
    at most once per period per query (its ``end`` says when it was computed).
    """
    ttl = settings.ARENA_LEADERBOARD_CACHE_SECONDS
    if ttl <= 0:
        return leaderboard_rows(query=query)
    period = int(time.time() // ttl)
    key = "arena:leaderboard:" + hashlib.sha256(f"{query!r}|{period}".encode()).hexdigest()
    board: Leaderboard | None = cache.get(key)
    if board is None:
        board = leaderboard_rows(query=query)
        cache.set(key, board, timeout=ttl)
    return board
