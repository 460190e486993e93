"""Admin for debates. Messages, consensus and tool calls are records: visible, never editable."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from arena_project.errors import ArenaError
from debates.models import (
    Bar,
    DebateConsensus,
    DebateMessage,
    DebateRound,
    DebateSession,
    Instrument,
    LlmCall,
    ToolCall,
)
from debates.services import debate_session_cancel


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


def _triggers_text(fired: list[dict[str, Any]]) -> str:
    return "; ".join(str(f.get("detail") or f.get("trigger")) for f in fired) or "—"


class DebateRoundInline(ReadOnlyAdminMixin, admin.TabularInline):
    """Per round: what it measured, which triggers fired, what escalated, its cost and latency."""

    model = DebateRound
    fields = (
        "number",
        "agreement_rate",
        "mean_confidence",
        "weighted_confidence",
        "valid_analysts",
        "high_risk",
        "triggers",
        "escalated",
        "judge_profile",
        "judge_switched",
        "cost_usd",
        "latency_ms",
        "notes_text",
    )
    readonly_fields = fields
    extra = 0

    @admin.display(description="Triggers fired")
    def triggers(self, obj: DebateRound) -> str:
        return _triggers_text(obj.triggers_fired)

    @admin.display(description="Escalated roles")
    def escalated(self, obj: DebateRound) -> str:
        return "; ".join(f"{r['role']} → {r['profile']} ({r['reason']})" for r in obj.escalated_roles) or "—"

    @admin.display(description="Notes")
    def notes_text(self, obj: DebateRound) -> str:
        return "; ".join(obj.notes) or "—"


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
        "decided_in_round",
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
        "escalated",
        "total_cost_usd",
        "requested_by",
        "created_at",
    ]
    list_filter = ["status", "consensus__escalated", "symbol", "panel"]
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
        "cancel_requested_at",
        "error",
        "total_cost_usd",
        "unknown_cost_calls",
        "created_at",
        "updated_at",
    ]
    inlines = [DebateConsensusInline, DebateRoundInline, DebateMessageInline, ToolCallInline]
    actions = ["cancel_debates"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # debates start through the API, the command or the hub, which validate and enqueue

    @admin.display(description="Consensus")
    def consensus_action(self, obj: DebateSession) -> str:
        consensus = getattr(obj, "consensus", None)
        return f"{consensus.action} ({consensus.size:.2f})" if consensus else "—"

    @admin.display(description="Escalated", boolean=True)
    def escalated(self, obj: DebateSession) -> bool | None:
        consensus = getattr(obj, "consensus", None)
        return consensus.escalated if consensus else None

    @admin.action(description="Cancel selected debates (queued now, running at their next safe point)")
    def cancel_debates(self, request: HttpRequest, queryset: QuerySet[DebateSession]) -> None:
        stopped, flagged, refused = 0, 0, []
        for session_id in queryset.values_list("pk", flat=True):
            try:
                _session, now = debate_session_cancel(session_id=session_id, user=request.user)
            except ArenaError as exc:
                refused.append(f"#{session_id}: {exc.message}")
                continue
            stopped, flagged = stopped + now, flagged + (not now)
        self.message_user(request, f"Cancelled {stopped}; asked {flagged} running debate(s) to stop.")
        if refused:
            self.message_user(request, " ".join(refused), level=messages.WARNING)


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
