"""Admin for outcomes. Accounts are settings (editable); everything the pipeline wrote is a record."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from arena_project.errors import ArenaError
from debates.admin import ReadOnlyAdminMixin
from outcomes.models import (
    BrokerOrder,
    Fill,
    OrderIntent,
    Outcome,
    RiskCheck,
    SessionAccount,
    SimFill,
    SimOrder,
    SimPosition,
    TradingAccount,
)
from outcomes.services import broker_order_cancel, broker_order_sync, outcome_settle


def _link(obj: Model | None, label: str | None = None) -> SafeString | str:
    """A link to ``obj``'s admin page: how the trail decision -> intent -> order -> fills is walked."""
    if obj is None:
        return "—"
    meta = obj._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, label or str(obj))


class SimPositionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = SimPosition
    fields = ("symbol", "quantity", "average_price", "updated_at")
    readonly_fields = fields
    extra = 0


@admin.register(TradingAccount)
class TradingAccountAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "broker",
        "live",
        "is_default",
        "active",
        "kill_switch",
        "cash",
        "outcome_horizon_bars",
    ]
    list_filter = ["broker", "live", "active", "kill_switch"]
    search_fields = ["name", "description"]
    ordering = ["name"]
    readonly_fields = ["cash", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "description", "broker", "live", "is_default", "active"]}),
        ("Book (simulated broker)", {"fields": ["starting_cash", "cash"]}),
        ("Sizing", {"fields": ["sizing_fraction", "sizing_notional"]}),
        (
            "Risk limits",
            {
                "fields": [
                    "kill_switch",
                    "max_order_notional",
                    "max_position_notional",
                    "max_daily_notional",
                    "allowed_symbols",
                    "allow_short",
                ]
            },
        ),
        (
            "Simulated execution",
            {"fields": ["slippage_bps", "commission_per_order", "commission_bps", "max_bar_participation"]},
        ),
        ("Scoring", {"fields": ["outcome_horizon_bars", "flat_band", "hold_band"]}),
        ("Times", {"fields": ["created_at", "updated_at"]}),
    ]
    inlines = [SimPositionInline]
    actions = ["kill_switch_on", "kill_switch_off"]

    def save_model(self, request: HttpRequest, obj: TradingAccount, form: Any, change: bool) -> None:
        if not change:
            obj.cash = obj.starting_cash  # a new book starts with its starting cash
        super().save_model(request, obj, form, change)

    @admin.action(description="Kill switch ON (refuse new orders)")
    def kill_switch_on(self, request: HttpRequest, queryset: QuerySet[TradingAccount]) -> None:
        self.message_user(request, f"Kill switch on for {queryset.update(kill_switch=True)} account(s).")

    @admin.action(description="Kill switch OFF")
    def kill_switch_off(self, request: HttpRequest, queryset: QuerySet[TradingAccount]) -> None:
        self.message_user(request, f"Kill switch off for {queryset.update(kill_switch=False)} account(s).")


@admin.register(SessionAccount)
class SessionAccountAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["session", "account"]
    list_select_related = ["session", "account"]
    list_filter = ["account"]


class RiskCheckInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = RiskCheck
    fields = ("sequence", "name", "passed", "detail")
    readonly_fields = fields
    extra = 0


@admin.register(OrderIntent)
class OrderIntentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "decision",
        "account",
        "symbol",
        "side",
        "quantity",
        "order_type",
        "status",
        "as_of",
        "created_at",
    ]
    list_filter = ["status", "side", "account", "order_type"]
    search_fields = ["symbol", "client_order_id", "rejection_reason"]
    date_hierarchy = "created_at"
    list_select_related = ["consensus__session", "account"]
    readonly_fields = (
        "decision",
        "debate",
        "broker_order_link",
        "outcome_link",
        "account",
        "symbol",
        "side",
        "quantity",
        "order_type",
        "limit_price",
        "time_in_force",
        "as_of",
        "size_fraction",
        "reference_price",
        "notional",
        "status",
        "rejection_reason",
        "client_order_id",
        "attempts",
        "lease_expires_at",
        "last_error",
        "submitted_at",
        "created_at",
    )
    fields = readonly_fields
    inlines = [RiskCheckInline]

    @admin.display(description="Decision")
    def decision(self, obj: OrderIntent) -> SafeString | str:
        return _link(obj.consensus, f"#{obj.consensus_id} {obj.consensus.action}")

    @admin.display(description="Debate")
    def debate(self, obj: OrderIntent) -> SafeString | str:
        return _link(obj.consensus.session)

    @admin.display(description="Broker order")
    def broker_order_link(self, obj: OrderIntent) -> SafeString | str:
        return _link(getattr(obj, "broker_order", None))

    @admin.display(description="Outcome")
    def outcome_link(self, obj: OrderIntent) -> SafeString | str:
        return _link(getattr(obj, "outcome", None))


class FillInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Fill
    fields = ("broker_fill_id", "quantity", "price", "commission", "filled_at", "trade_date")
    readonly_fields = fields
    extra = 0


@admin.register(BrokerOrder)
class BrokerOrderAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "broker",
        "symbol",
        "side",
        "quantity",
        "status",
        "filled_qty",
        "filled_avg_price",
        "submitted_at",
    ]
    list_filter = ["broker", "status", "side", "account"]
    search_fields = ["symbol", "client_order_id", "broker_order_id"]
    list_select_related = ["account"]
    readonly_fields = (
        "intent_link",
        "account",
        "broker",
        "broker_order_id",
        "client_order_id",
        "symbol",
        "side",
        "quantity",
        "order_type",
        "limit_price",
        "time_in_force",
        "status",
        "status_reason",
        "filled_qty",
        "filled_avg_price",
        "metadata",
        "raw",
        "submitted_at",
        "last_synced_at",
    )
    fields = readonly_fields
    inlines = [FillInline]
    actions = ["sync_from_broker", "cancel_at_broker"]

    @admin.display(description="Intent")
    def intent_link(self, obj: BrokerOrder) -> SafeString | str:
        return _link(obj.intent)

    @admin.action(description="Sync state and fills from the broker")
    def sync_from_broker(self, request: HttpRequest, queryset: QuerySet[BrokerOrder]) -> None:
        self._each(request, queryset, broker_order_sync, "synced")

    @admin.action(description="Cancel at the broker (what has not filled)")
    def cancel_at_broker(self, request: HttpRequest, queryset: QuerySet[BrokerOrder]) -> None:
        self._each(request, queryset, broker_order_cancel, "cancelled")

    def _each(self, request: HttpRequest, queryset: QuerySet[BrokerOrder], service: Any, verb: str) -> None:
        done = 0
        for order in queryset:
            try:
                service(broker_order_id=order.pk)
                done += 1
            except ArenaError as exc:
                self.message_user(request, f"Order {order.pk}: {exc.message}", level=messages.ERROR)
        self.message_user(request, f"{done} order(s) {verb}.")


@admin.register(Fill)
class FillAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "broker_order",
        "account",
        "symbol",
        "side",
        "quantity",
        "price",
        "commission",
        "trade_date",
    ]
    list_filter = ["account", "side", "symbol"]
    search_fields = ["symbol", "broker_fill_id"]
    list_select_related = ["broker_order", "account"]


@admin.register(Outcome)
class OutcomeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "decision",
        "symbol",
        "account",
        "status",
        "basis",
        "pnl_amount",
        "pnl_return",
        "horizon_date",
    ]
    list_filter = ["status", "basis", "hypothetical", "account"]
    search_fields = ["consensus__session__symbol", "rule"]
    list_select_related = ["consensus__session", "account"]
    readonly_fields = (
        "decision",
        "debate",
        "intent_link",
        "broker_order_link",
        "account",
        "status",
        "basis",
        "hypothetical",
        "horizon_bars",
        "horizon_date",
        "quantity",
        "entry_price",
        "exit_price",
        "pnl_amount",
        "pnl_return",
        "rule",
        "detail",
        "settled_at",
        "created_at",
    )
    fields = readonly_fields
    actions = ["settle_now"]

    @admin.display(description="Symbol")
    def symbol(self, obj: Outcome) -> str:
        return obj.consensus.session.symbol

    @admin.display(description="Decision")
    def decision(self, obj: Outcome) -> SafeString | str:
        return _link(obj.consensus, f"#{obj.consensus_id} {obj.consensus.action}")

    @admin.display(description="Debate")
    def debate(self, obj: Outcome) -> SafeString | str:
        return _link(obj.consensus.session)

    @admin.display(description="Intent")
    def intent_link(self, obj: Outcome) -> SafeString | str:
        return _link(obj.intent)

    @admin.display(description="Broker order")
    def broker_order_link(self, obj: Outcome) -> SafeString | str:
        return _link(getattr(obj.intent, "broker_order", None) if obj.intent else None)

    @admin.action(description="Settle now if judgeable")
    def settle_now(self, request: HttpRequest, queryset: QuerySet[Outcome]) -> None:
        settled = sum(outcome_settle(outcome_id=o.pk).status != "pending" for o in queryset)
        self.message_user(request, f"{settled} of {queryset.count()} outcome(s) settled.")


class SimFillInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = SimFill
    fields = ("bar_date", "quantity", "price", "commission", "filled_at")
    readonly_fields = fields
    extra = 0


@admin.register(SimOrder)
class SimOrderAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "account",
        "client_order_id",
        "symbol",
        "side",
        "quantity",
        "status",
        "filled_qty",
        "as_of",
    ]
    list_filter = ["status", "account", "side"]
    search_fields = ["symbol", "client_order_id"]
    list_select_related = ["account"]
    inlines = [SimFillInline]


@admin.register(SimPosition)
class SimPositionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["account", "symbol", "quantity", "average_price", "updated_at"]
    list_filter = ["account"]
    list_select_related = ["account"]


@admin.register(SimFill)
class SimFillAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "order", "bar_date", "quantity", "price", "commission"]
    list_filter = ["order__account"]
    list_select_related = ["order"]


@admin.register(RiskCheck)
class RiskCheckAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["intent", "sequence", "name", "passed", "detail"]
    list_filter = ["name", "passed"]
    search_fields = ["detail"]
    list_select_related = ["intent"]
