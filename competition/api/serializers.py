"""Input and output of the competition and leaderboard APIs (no logic: services and selectors decide)."""

from __future__ import annotations

import datetime as dt
import decimal
import functools
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from agents.models import Provider, Role, Tier
from arena_project.serializers import StrictInputSerializer

from ..models import (
    CompetitionEntry,
    CompetitionRun,
    CompetitionScore,
    EquityPoint,
    RebalanceFrequency,
    RunMode,
    RunStatus,
    TraderBroker,
    TraderProfile,
)
from ..selectors import SORT_FIELDS, WINDOWS, Leaderboard, LeaderboardRow, Rate
from ..services.traders import TRADER_FIELDS

SYMBOL_RE = r"^[A-Za-z][A-Za-z0-9.\-]{0,15}$"


def _money(**kwargs: Any) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=18, decimal_places=4, min_value=Decimal(0), **kwargs)


# --- trader profiles ------------------------------------------------------------------------------


class TraderProfileInputSerializer(StrictInputSerializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(max_length=2000, allow_blank=True, required=False)
    panel = serializers.CharField(max_length=100, help_text="Panel name.")
    symbols = serializers.ListField(
        child=serializers.RegexField(SYMBOL_RE, max_length=16),
        required=False,
        max_length=200,
        help_text="The trader's universe; empty means any symbol.",
    )
    starting_capital = _money(required=False)
    sizing_fraction = serializers.DecimalField(
        max_digits=6, decimal_places=4, min_value=Decimal(0), max_value=Decimal(1), required=False
    )
    sizing_notional = _money(required=False, allow_null=True)
    max_position_notional = _money(required=False, allow_null=True)
    max_order_notional = _money(required=False, allow_null=True)
    max_daily_notional = _money(required=False, allow_null=True)
    allow_short = serializers.BooleanField(required=False)
    slippage_bps = serializers.DecimalField(
        max_digits=8, decimal_places=2, min_value=Decimal(0), required=False
    )
    commission_bps = serializers.DecimalField(
        max_digits=8, decimal_places=2, min_value=Decimal(0), required=False
    )
    rebalance_frequency = serializers.ChoiceField(choices=RebalanceFrequency.choices, required=False)
    broker = serializers.ChoiceField(choices=TraderBroker.choices, required=False)
    active = serializers.BooleanField(required=False)


class TraderProfileOutputSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    panel = serializers.CharField(source="panel.name")

    class Meta:
        model = TraderProfile
        fields = [
            "id",
            "url",
            "name",
            *TRADER_FIELDS,
            "created_at",
            "updated_at",
        ]

    def get_url(self, obj: TraderProfile) -> str:
        return f"/api/competition/traders/{obj.pk}"


# --- runs -----------------------------------------------------------------------------------------


class CompetitionRunCreateInputSerializer(StrictInputSerializer):
    name = serializers.CharField(max_length=200, allow_blank=True, required=False)
    mode = serializers.ChoiceField(choices=RunMode.choices, required=False, default=RunMode.BACKTEST)
    traders = serializers.ListField(
        child=serializers.CharField(max_length=100), min_length=1, max_length=20, help_text="Trader names."
    )
    symbols = serializers.ListField(
        child=serializers.RegexField(SYMBOL_RE, max_length=16), min_length=1, max_length=50
    )
    start = serializers.DateField(required=False, help_text="Backtest: first day.")
    end = serializers.DateField(required=False, help_text="Backtest: last day. Paper: stop after this day.")
    tick_minutes = serializers.IntegerField(
        required=False, min_value=1, max_value=10_080, help_text="Paper only."
    )
    budget_usd = serializers.DecimalField(
        max_digits=14,
        decimal_places=6,
        min_value=Decimal(0),
        required=False,
        allow_null=True,
        help_text="LLM budget; omitted = the server default (ARENA_COMPETITION_DEFAULT_BUDGET_USD).",
    )
    confirm = serializers.BooleanField(required=False, default=False, help_text="Run even over budget.")
    seed = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("start"), attrs.get("end")
        if start and end and start > end:
            raise serializers.ValidationError({"end": ["end must not be before start."]})
        if attrs.get("mode", RunMode.BACKTEST) == RunMode.BACKTEST:
            missing = {f: ["Required for a backtest."] for f in ("start", "end") if not attrs.get(f)}
            if missing:
                raise serializers.ValidationError(missing)
        return attrs


class CompetitionEntryOutputSerializer(serializers.ModelSerializer):
    trader = serializers.CharField(source="trader.name", allow_null=True, default=None)

    class Meta:
        model = CompetitionEntry
        fields = ["id", "kind", "label", "trader", "last_date", "decisions", "cost_usd"]


class CompetitionRunOutputSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    requested_by = serializers.CharField(source="requested_by.get_username", allow_null=True, default=None)
    entries = CompetitionEntryOutputSerializer(many=True)

    class Meta:
        model = CompetitionRun
        fields = [
            "id",
            "url",
            "name",
            "mode",
            "status",
            "symbols",
            "start_date",
            "end_date",
            "tick_minutes",
            "seed",
            "budget_usd",
            "cost_estimate_usd",
            "confirmed",
            "cost_usd",
            "progress",
            "days_done",
            "days_total",
            "last_date",
            "requested_by",
            "created_at",
            "started_at",
            "finished_at",
            "error",
            "entries",
        ]

    def get_url(self, obj: CompetitionRun) -> str:
        return f"/api/competition/runs/{obj.pk}"


class IntervalOutputSerializer(serializers.Serializer):
    value = serializers.FloatField(allow_null=True)
    low = serializers.FloatField(allow_null=True, help_text="95 % interval, lower bound.")
    high = serializers.FloatField(allow_null=True)
    n = serializers.IntegerField(help_text="Observations behind it (days or decisions).")


class CompetitionScoreOutputSerializer(serializers.ModelSerializer):
    entry = serializers.IntegerField(source="entry_id")
    label = serializers.CharField(source="entry.label")  # type: ignore[assignment]
    kind = serializers.CharField(source="entry.kind")
    rank_label = serializers.SerializerMethodField()
    not_distinguishable_from_baseline = serializers.SerializerMethodField()
    total_return = serializers.SerializerMethodField()
    sharpe = serializers.SerializerMethodField()
    win_rate = serializers.SerializerMethodField()

    class Meta:
        model = CompetitionScore
        fields = [
            "entry",
            "label",
            "kind",
            "rank",
            "rank_label",
            "distinguishable",
            "not_distinguishable_from_baseline",
            "days",
            "total_return",
            "annualised_return",
            "sharpe",
            "sortino",
            "max_drawdown",
            "win_rate",
            "trades",
            "decisions",
            "exposure",
            "final_equity",
            "llm_cost_usd",
            "llm_cost_unknown_calls",
            "alpha_pp",
            "cost_per_alpha_usd",
        ]

    def get_rank_label(self, obj: CompetitionScore) -> str:
        return str(obj.rank) if obj.distinguishable else f"{obj.rank} (not distinguishable from baseline)"

    def get_not_distinguishable_from_baseline(self, obj: CompetitionScore) -> bool:
        return not obj.distinguishable

    @extend_schema_field(IntervalOutputSerializer)
    def get_total_return(self, obj: CompetitionScore) -> dict[str, Any]:
        return {
            "value": obj.total_return,
            "low": obj.total_return_low,
            "high": obj.total_return_high,
            "n": obj.days,
        }

    @extend_schema_field(IntervalOutputSerializer)
    def get_sharpe(self, obj: CompetitionScore) -> dict[str, Any]:
        return {"value": obj.sharpe, "low": obj.sharpe_low, "high": obj.sharpe_high, "n": obj.days}

    @extend_schema_field(IntervalOutputSerializer)
    def get_win_rate(self, obj: CompetitionScore) -> dict[str, Any]:
        return {
            "value": obj.win_rate,
            "low": obj.win_rate_low,
            "high": obj.win_rate_high,
            "n": obj.active_days,
        }


class EquityPointOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = EquityPoint
        fields = ["date", "equity", "cash", "gross_exposure", "cost_usd"]


class EquityCurveOutputSerializer(serializers.Serializer):
    entry = serializers.IntegerField()
    label = serializers.CharField()  # type: ignore[assignment]
    kind = serializers.CharField()
    points = EquityPointOutputSerializer(many=True)


class CompetitionRunDetailOutputSerializer(CompetitionRunOutputSerializer):
    cost_estimate = serializers.JSONField(help_text="How the estimate was made, per trader and seat.")
    scores = CompetitionScoreOutputSerializer(many=True)
    equity_curves = serializers.SerializerMethodField()

    class Meta(CompetitionRunOutputSerializer.Meta):
        fields = [*CompetitionRunOutputSerializer.Meta.fields, "cost_estimate", "scores", "equity_curves"]

    @extend_schema_field(EquityCurveOutputSerializer(many=True))
    def get_equity_curves(self, obj: CompetitionRun) -> list[dict[str, Any]]:
        curves = self.context.get("equity_curves", {})
        return [
            {
                "entry": entry.pk,
                "label": entry.label,
                "kind": entry.kind,
                "points": EquityPointOutputSerializer(curves.get(entry.pk, []), many=True).data,
            }
            for entry in obj.entries.all()
        ]


class CompetitionRunListInputSerializer(StrictInputSerializer):
    status = serializers.ChoiceField(choices=RunStatus.choices, required=False)
    mode = serializers.ChoiceField(choices=RunMode.choices, required=False)
    page = serializers.IntegerField(required=False, min_value=1)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=500)


# --- leaderboard ----------------------------------------------------------------------------------

SORT_CHOICES = [*SORT_FIELDS, *(f"-{f}" for f in SORT_FIELDS)]
MIN_DAY, MAX_DAY = dt.date(1970, 1, 1), dt.date(9998, 12, 31)


class LeaderboardQueryInputSerializer(StrictInputSerializer):
    kind = serializers.ChoiceField(choices=["agents", "traders"], required=False, default="agents")
    window = serializers.ChoiceField(
        choices=list(WINDOWS), required=False, help_text="Rolling window ending now (default 30d)."
    )
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    provider = serializers.ChoiceField(choices=Provider.choices, required=False)
    tier = serializers.ChoiceField(choices=Tier.choices, required=False)
    symbol = serializers.RegexField(SYMBOL_RE, max_length=16, required=False)
    sort = serializers.ChoiceField(
        choices=SORT_CHOICES,
        required=False,
        default="-hit_rate_low",
        help_text="A column, '-' for descending; rows without a value go last.",
    )
    page = serializers.IntegerField(required=False, min_value=1)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=500)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # "from" and "to" are Python keywords: added here rather than declared as attributes.
        fields["from"] = serializers.DateField(
            required=False, help_text="First UTC day (instead of a window)."
        )
        fields["to"] = serializers.DateField(required=False, help_text="Last UTC day, inclusive.")
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "from" in attrs:
            attrs["date_from"] = attrs.pop("from")
        if "to" in attrs:
            attrs["date_to"] = attrs.pop("to")
        for name, value in (("from", attrs.get("date_from")), ("to", attrs.get("date_to"))):
            if value is not None and not MIN_DAY <= value <= MAX_DAY:
                raise serializers.ValidationError({name: [f"Must be between {MIN_DAY} and {MAX_DAY}."]})
        ranged = "date_from" in attrs or "date_to" in attrs
        if ranged and "window" in attrs:
            raise serializers.ValidationError({"window": ["Give either a window or from/to, not both."]})
        if (
            ranged
            and attrs.get("date_from")
            and attrs.get("date_to")
            and attrs["date_from"] > attrs["date_to"]
        ):
            raise serializers.ValidationError({"to": ["to must not be before from."]})
        if attrs.get("kind") == "traders":
            wrong = {
                f: ["Not a filter of the trader leaderboard."]
                for f in ("role", "provider", "tier")
                if f in attrs
            }
            if wrong:
                raise serializers.ValidationError(wrong)
        if not ranged:
            attrs.setdefault("window", "30d")
        if attrs.get("symbol"):
            attrs["symbol"] = attrs["symbol"].upper()
        return attrs


class RateOutputSerializer(serializers.Serializer):
    value = serializers.FloatField(allow_null=True)
    n = serializers.IntegerField()
    low = serializers.FloatField(allow_null=True, help_text="Wilson 95 % interval.")
    high = serializers.FloatField(allow_null=True)


class LeaderboardRowOutputSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    rank_label = serializers.CharField()
    kind = serializers.CharField()
    id = serializers.IntegerField()
    name = serializers.CharField()
    role = serializers.CharField()
    provider = serializers.CharField()
    model = serializers.CharField(help_text="The model; for a trader, its panel.")
    tier = serializers.CharField()
    decisions = serializers.IntegerField()
    hit_rate = RateOutputSerializer()
    win_rate = RateOutputSerializer()
    pnl_usd = serializers.DecimalField(max_digits=18, decimal_places=4)
    avg_confidence = serializers.FloatField(allow_null=True)
    confidence_n = serializers.IntegerField()
    brier = serializers.FloatField(allow_null=True, help_text="Mean (confidence - hit)^2; lower is better.")
    brier_n = serializers.IntegerField()
    brier_low = serializers.FloatField(allow_null=True)
    brier_high = serializers.FloatField(allow_null=True)
    calls = serializers.IntegerField()
    tokens = serializers.IntegerField()
    cost_usd = serializers.DecimalField(max_digits=18, decimal_places=6)
    unknown_cost_calls = serializers.IntegerField()
    cost_per_decision_usd = serializers.DecimalField(max_digits=18, decimal_places=6, allow_null=True)
    alpha_pp = serializers.FloatField(
        allow_null=True, help_text="Return above buy-and-hold, percentage points."
    )
    alpha_n = serializers.IntegerField()
    cost_per_alpha_usd = serializers.DecimalField(
        max_digits=18, decimal_places=6, allow_null=True, help_text="Undefined (null) when alpha <= 0."
    )
    avg_latency_ms = serializers.FloatField(allow_null=True)
    escalation_share = RateOutputSerializer()
    hit_rate_distinguishable = serializers.BooleanField()
    win_rate_distinguishable = serializers.BooleanField()
    not_distinguishable_from_baseline = serializers.BooleanField()


class LeaderboardBaselineOutputSerializer(serializers.Serializer):
    decisions = serializers.IntegerField()
    buy_and_hold_hit_rate = RateOutputSerializer(
        help_text="Always long: the share of decisions whose symbol rose."
    )
    random_hit_rate = serializers.FloatField(
        help_text="A fair coin: 0.5, with a row's own n for its interval."
    )


class LeaderboardOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    start = serializers.DateTimeField(allow_null=True)
    end = serializers.DateTimeField()
    rollup_complete_through = serializers.DateField(
        allow_null=True, help_text="The last UTC day the rollup holds; null: computed from the raw tables."
    )
    rollup_refreshed_at = serializers.DateTimeField(
        allow_null=True,
        help_text="The answer is as of this refresh of the rollup (every ARENA_LEADERBOARD_REFRESH_MINUTES).",
    )
    computed_at = serializers.DateTimeField(
        help_text="Answers are reused for ARENA_LEADERBOARD_CACHE_SECONDS."
    )
    baseline = LeaderboardBaselineOutputSerializer()
    results = LeaderboardRowOutputSerializer(many=True)


# The leaderboard's answer, written out by hand: ``LeaderboardOutputSerializer`` documents it (the
# OpenAPI schema) and a test checks the two give the same data, field for field and in the same
# order. DRF's generic path (a field object per value, a copied decimal context per decimal) was
# most of a computed answer's Python.

_DECIMAL_CONTEXT = decimal.Context(prec=18, rounding=decimal.ROUND_HALF_EVEN)
_FOUR_PLACES = Decimal("0.0001")
_SIX_PLACES = Decimal("0.000001")


def _decimal(value: Decimal | None, places: Decimal) -> str | None:
    """A ``DecimalField(max_digits=18, decimal_places=...)``'s text of ``value`` (None stays None:
    DRF skips a None attribute)."""
    if value is None:
        return None
    return f"{value.quantize(places, context=_DECIMAL_CONTEXT):f}"


def _rate_data(rate: Rate) -> dict[str, Any]:
    return {"value": rate.value, "n": rate.n, "low": rate.low, "high": rate.high}


def leaderboard_row_data(row: LeaderboardRow) -> dict[str, Any]:
    """``LeaderboardRowOutputSerializer``'s data for ``row``. The row's fields already have the
    types the serializer's fields give (ints, floats, text, booleans: the selector builds them so),
    so only the decimals are formatted."""
    suffix = " (not distinguishable from baseline)" if row.not_distinguishable_from_baseline else ""
    return {
        "rank": row.rank,
        "rank_label": f"{row.rank}{suffix}",
        "kind": row.kind,
        "id": row.id,
        "name": row.name,
        "role": row.role,
        "provider": row.provider,
        "model": row.model,
        "tier": row.tier,
        "decisions": row.decisions,
        "hit_rate": _rate_data(row.hit_rate),
        "win_rate": _rate_data(row.win_rate),
        "pnl_usd": _decimal(row.pnl_usd, _FOUR_PLACES),
        "avg_confidence": row.avg_confidence,
        "confidence_n": row.confidence_n,
        "brier": row.brier,
        "brier_n": row.brier_n,
        "brier_low": row.brier_low,
        "brier_high": row.brier_high,
        "calls": row.calls,
        "tokens": row.tokens,
        "cost_usd": _decimal(row.cost_usd, _SIX_PLACES),
        "unknown_cost_calls": row.unknown_cost_calls,
        "cost_per_decision_usd": _decimal(row.cost_per_decision_usd, _SIX_PLACES),
        "alpha_pp": row.alpha_pp,
        "alpha_n": row.alpha_n,
        "cost_per_alpha_usd": _decimal(row.cost_per_alpha_usd, _SIX_PLACES),
        "avg_latency_ms": row.avg_latency_ms,
        "escalation_share": _rate_data(row.escalation_share),
        "hit_rate_distinguishable": row.hit_rate_distinguishable,
        "win_rate_distinguishable": row.win_rate_distinguishable,
        "not_distinguishable_from_baseline": not row.hit_rate_distinguishable,
    }


@functools.cache
def _page_fields() -> dict[str, serializers.Field]:
    """The answer's date and time fields, bound once (DRF formats them: time zone, ISO 8601)."""
    return dict(LeaderboardOutputSerializer().fields)


def _when(name: str, value: Any) -> Any:
    return None if value is None else _page_fields()[name].to_representation(value)


def leaderboard_output_data(
    board: Leaderboard,
    rows: Iterable[LeaderboardRow],
    *,
    count: int,
    next_link: str | None,
    previous_link: str | None,
) -> dict[str, Any]:
    """``LeaderboardOutputSerializer``'s data for a page of ``board``: ``rows``, of ``count`` in all."""
    return {
        "count": count,
        "next": next_link,
        "previous": previous_link,
        "start": _when("start", board.start),
        "end": _when("end", board.end),
        "rollup_complete_through": _when("rollup_complete_through", board.rollup_through),
        "rollup_refreshed_at": _when("rollup_refreshed_at", board.rollup_refreshed_at),
        "computed_at": _when("computed_at", board.computed_at),
        "baseline": {
            "decisions": board.baseline.decisions,
            "buy_and_hold_hit_rate": _rate_data(board.baseline.buy_and_hold_hit_rate),
            "random_hit_rate": 0.5,
        },
        "results": [leaderboard_row_data(row) for row in rows],
    }


# --- the query: validated once per distinct parameters -------------------------------------------

_QUERY_MEMO: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
_QUERY_MEMO_MAX = 256


def leaderboard_query_validated(params: dict[str, str]) -> dict[str, Any]:
    """``LeaderboardQueryInputSerializer``'s ``validated_data`` for ``params`` (a copy).

    Validation is a pure function of the parameters (choices and ranges fixed in code), and the
    page and the admin ask for the same few queries over and over: each distinct valid set is
    validated once per process (a bounded memo) - building the serializer alone deep-copies its 11
    fields. Invalid parameters are validated every time (a 400 naming the field).
    """
    key = tuple(sorted(params.items()))
    validated = _QUERY_MEMO.get(key)
    if validated is None:
        serializer = LeaderboardQueryInputSerializer(data=params)
        serializer.is_valid(raise_exception=True)
        validated = dict(serializer.validated_data)
        if len(_QUERY_MEMO) >= _QUERY_MEMO_MAX:
            _QUERY_MEMO.clear()
        _QUERY_MEMO[key] = validated
    return dict(validated)
