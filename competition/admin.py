"""Admin for the competition. Trader profiles are settings (editable); what a run wrote is a record.

Runs start through the API or ``run_competition`` (which estimate the cost and guard the budget), so
the admin does not add them; it cancels them. The leaderboard has its own page (``Leaderboard``),
the same rows the staff API serves.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from arena_project.errors import ArenaError
from debates.admin import ReadOnlyAdminMixin

from .models import (
    CompetitionDecision,
    CompetitionEntry,
    CompetitionRun,
    CompetitionScore,
    EquityPoint,
    Leaderboard,
    LeaderboardDaily,
    LeaderboardRollupState,
    RunStatus,
    TraderProfile,
)
from .selectors import WINDOWS, LeaderboardQuery, leaderboard_rows_cached
from .services.rollup import leaderboard_rollup_refresh
from .services.runs import competition_run_cancel
from .services.traders import symbols_normalise


class TraderProfileForm(forms.ModelForm):
    class Meta:
        model = TraderProfile
        fields = [
            "name",
            "description",
            "panel",
            "symbols",
            "active",
            "starting_capital",
            "sizing_fraction",
            "sizing_notional",
            "max_position_notional",
            "max_order_notional",
            "max_daily_notional",
            "allow_short",
            "rebalance_frequency",
            "broker",
            "slippage_bps",
            "commission_bps",
        ]

    def clean_symbols(self) -> list[str]:
        """The same rule as the API: known instruments, upper-case, no duplicates."""
        symbols = self.cleaned_data.get("symbols") or []
        if not isinstance(symbols, list):
            raise ValidationError('Give a JSON list of symbols, e.g. ["ACME", "BOLT"].')
        try:
            return symbols_normalise(symbols)
        except ValidationError as exc:
            raise ValidationError(exc.message_dict.get("symbols", exc.messages)) from exc


@admin.register(TraderProfile)
class TraderProfileAdmin(admin.ModelAdmin):
    form = TraderProfileForm
    list_display = [
        "name",
        "panel",
        "rebalance_frequency",
        "broker",
        "starting_capital",
        "sizing_fraction",
        "active",
    ]
    list_filter = ["rebalance_frequency", "broker", "active", "panel"]
    search_fields = ["name", "description"]
    list_select_related = ["panel"]
    ordering = ["name"]
    fieldsets = [
        (None, {"fields": ["name", "description", "panel", "symbols", "active"]}),
        ("Capital and sizing", {"fields": ["starting_capital", "sizing_fraction", "sizing_notional"]}),
        (
            "Risk limits",
            {"fields": ["max_position_notional", "max_order_notional", "max_daily_notional", "allow_short"]},
        ),
        ("Execution", {"fields": ["rebalance_frequency", "broker", "slippage_bps", "commission_bps"]}),
    ]


class CompetitionEntryInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = CompetitionEntry
    fields = ("label", "kind", "trader", "account", "last_date", "decisions", "cost_usd")
    readonly_fields = fields
    extra = 0
    show_change_link = True


class CompetitionScoreInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = CompetitionScore
    fields = (
        "rank",
        "entry",
        "distinguishable",
        "total_return",
        "total_return_low",
        "total_return_high",
        "sharpe",
        "sortino",
        "max_drawdown",
        "win_rate",
        "trades",
        "llm_cost_usd",
        "alpha_pp",
        "cost_per_alpha_usd",
    )
    readonly_fields = fields
    extra = 0
    ordering = ["rank"]


@admin.register(CompetitionRun)
class CompetitionRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "name",
        "mode",
        "status",
        "start_date",
        "end_date",
        "progress_pct",
        "cost_usd",
        "cost_estimate_usd",
        "budget_usd",
        "created_at",
    ]
    list_filter = ["mode", "status"]
    search_fields = ["name", "error"]
    date_hierarchy = "created_at"
    list_select_related = ["requested_by"]
    readonly_fields = [f.name for f in CompetitionRun._meta.concrete_fields]
    inlines = [CompetitionScoreInline, CompetitionEntryInline]
    actions = ["cancel_runs"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_staff and obj is None  # the changelist (and its cancel action), not edits

    @admin.display(description="Progress")
    def progress_pct(self, obj: CompetitionRun) -> str:
        return f"{obj.progress:.0%}"

    @admin.action(description="Cancel the selected queued or running runs")
    def cancel_runs(self, request: HttpRequest, queryset: QuerySet[CompetitionRun]) -> None:
        done = 0
        for run in queryset.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]):
            try:
                competition_run_cancel(run=run)
                done += 1
            except ArenaError as exc:
                self.message_user(request, exc.message, messages.WARNING)
        self.message_user(request, f"Cancelled {done} run(s).", messages.SUCCESS)


@admin.register(CompetitionEntry)
class CompetitionEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["run", "label", "kind", "trader", "account", "last_date", "decisions", "cost_usd"]
    list_filter = ["kind"]
    search_fields = ["label"]
    list_select_related = ["run", "trader", "account"]


@admin.register(CompetitionDecision)
class CompetitionDecisionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["entry", "symbol", "date", "action", "size", "session"]
    list_filter = ["action", "symbol"]
    date_hierarchy = "date"
    list_select_related = ["entry__run", "session"]
    raw_id_fields = ["entry", "session"]


@admin.register(EquityPoint)
class EquityPointAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["entry", "date", "equity", "cash", "gross_exposure", "cost_usd"]
    date_hierarchy = "date"
    list_select_related = ["entry__run"]
    raw_id_fields = ["entry"]


@admin.register(CompetitionScore)
class CompetitionScoreAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "run",
        "rank",
        "entry",
        "distinguishable",
        "total_return",
        "sharpe",
        "max_drawdown",
        "win_rate",
        "trades",
        "llm_cost_usd",
        "alpha_pp",
        "cost_per_alpha_usd",
    ]
    list_filter = ["distinguishable"]
    list_select_related = ["run", "entry"]
    ordering = ["-run", "rank"]


@admin.register(LeaderboardDaily)
class LeaderboardDailyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "day",
        "grain",
        "hour",
        "profile",
        "trader",
        "symbol",
        "decisions",
        "directional",
        "hits",
        "settled",
        "wins",
        "calls",
        "cost_usd",
    ]
    list_filter = ["grain", "symbol"]
    date_hierarchy = "day"
    list_select_related = ["profile", "trader"]


@admin.register(LeaderboardRollupState)
class LeaderboardRollupStateAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["key", "complete_through", "watermark", "refreshed_at"]
    actions = ["refresh"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_staff and obj is None

    @admin.action(description="Refresh the leaderboard rollup now")
    def refresh(self, request: HttpRequest, queryset: QuerySet[LeaderboardRollupState]) -> None:
        self.message_user(request, f"Rollup refreshed: {leaderboard_rollup_refresh()}.", messages.SUCCESS)


@admin.register(Leaderboard)
class LeaderboardAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The leaderboard as a page: the rows ``GET /api/admin/arena/leaderboard`` serves."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_staff)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        kind = request.GET.get("kind", "agents")
        window = request.GET.get("window", "30d")
        query = LeaderboardQuery(
            kind=kind if kind in ("agents", "traders") else "agents",
            window=window if window in WINDOWS else "30d",
        )
        board = leaderboard_rows_cached(query=query)
        context = {
            **self.admin_site.each_context(request),
            "title": "Leaderboard",
            "opts": self.model._meta,
            "board": board,
            "query": query,
            "windows": list(WINDOWS),
        }
        return TemplateResponse(request, "admin/competition/leaderboard.html", context)
