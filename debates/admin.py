"""Admin for debates. Messages, consensus and tool calls are records: visible, never editable."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from debates.models import Bar, DebateConsensus, DebateMessage, DebateSession, Instrument, LlmCall, ToolCall


class ReadOnlyAdminMixin:
    """A record is evidence of what happened: it can be read and filtered, not added or edited."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DebateMessageInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = DebateMessage
    fields = (
        "round",
        "role",
        "profile",
        "stance",
        "confidence",
        "validation_status",
        "repaired_by",
        "latency_ms",
        "cost_usd",
    )
    readonly_fields = fields
    extra = 0
    show_change_link = True


class LlmCallInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = LlmCall
    fk_name = "message"
    fields = (
        "attempt",
        "purpose",
        "profile",
        "status",
        "input_tokens",
        "output_tokens",
        "cached_tokens",
        "cost_usd",
        "latency_ms",
        "provider_request_id",
        "error",
    )
    readonly_fields = fields
    extra = 0


class ToolCallInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ToolCall
    fields = ("sequence", "tool", "arguments", "result_summary", "latency_ms", "error")
    readonly_fields = fields
    extra = 0


class DebateConsensusInline(ReadOnlyAdminMixin, admin.StackedInline):
    model = DebateConsensus
    readonly_fields = (
        "action",
        "size",
        "confidence",
        "agreement_rate",
        "valid_analysts",
        "escalated",
        "triggers_fired",
        "rationale",
        "risk_checks",
        "order_intent",
        "judge_profile",
    )
    fields = readonly_fields
    extra = 0


@admin.register(DebateSession)
class DebateSessionAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "symbol",
        "as_of",
        "status",
        "panel",
        "consensus_action",
        "total_cost_usd",
        "requested_by",
        "created_at",
    ]
    list_filter = ["status", "symbol", "panel"]
    search_fields = ["symbol", "error"]
    date_hierarchy = "created_at"
    list_select_related = ["panel", "requested_by", "consensus"]
    readonly_fields = [
        "symbol",
        "as_of",
        "panel",
        "status",
        "requested_by",
        "started_at",
        "finished_at",
        "lease_expires_at",
        "attempts",
        "error",
        "total_cost_usd",
        "unknown_cost_calls",
        "created_at",
        "updated_at",
    ]
    inlines = [DebateConsensusInline, DebateMessageInline, ToolCallInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # debates start through the API, the command or the hub, which validate and enqueue

    @admin.display(description="Consensus")
    def consensus_action(self, obj: DebateSession) -> str:
        consensus = getattr(obj, "consensus", None)
        return f"{consensus.action} ({consensus.size:.2f})" if consensus else "—"


@admin.register(DebateMessage)
class DebateMessageAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "session",
        "round",
        "role",
        "profile",
        "stance",
        "confidence",
        "validation_status",
        "repaired_by",
        "latency_ms",
        "cost_usd",
    ]
    list_filter = ["role", "stance", "validation_status", "repaired_by"]
    search_fields = ["reasoning", "session__symbol"]
    list_select_related = ["session", "profile"]
    inlines = [LlmCallInline]


@admin.register(LlmCall)
class LlmCallAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The cost ledger, one row per attempt: a record, never edited."""

    list_display = [
        "created_at",
        "profile",
        "purpose",
        "role",
        "attempt",
        "status",
        "input_tokens",
        "output_tokens",
        "cached_tokens",
        "cost_usd",
        "latency_ms",
        "session",
    ]
    list_filter = ["status", "purpose", "provider", "role"]
    search_fields = ["profile__name", "model", "provider_request_id", "error"]
    list_select_related = ["profile", "session"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-id"]


@admin.register(DebateConsensus)
class DebateConsensusAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "session",
        "action",
        "size",
        "confidence",
        "agreement_rate",
        "valid_analysts",
        "escalated",
    ]
    list_filter = ["action", "escalated"]
    search_fields = ["rationale", "session__symbol"]
    list_select_related = ["session"]


@admin.register(ToolCall)
class ToolCallAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["session", "sequence", "tool", "result_summary", "latency_ms", "error"]
    list_filter = ["tool"]
    search_fields = ["result_summary", "error"]
    list_select_related = ["session"]


@admin.register(Instrument)
class InstrumentAdmin(admin.ModelAdmin):
    list_display = ["symbol", "name", "source", "synthetic"]
    list_filter = ["source", "synthetic"]
    search_fields = ["symbol", "name"]


@admin.register(Bar)
class BarAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["instrument", "timeframe", "date", "open", "high", "low", "close", "volume", "source"]
    list_filter = ["timeframe", "source", "instrument"]
    search_fields = ["instrument__symbol"]
    date_hierarchy = "date"
    list_select_related = ["instrument"]
